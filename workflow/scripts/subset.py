"""A subset of k examples per class of a dataset's or a features file's train and val splits (rules subset_dataset,
subset_features)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.data.subsets import write_subset
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_subset(snakemake.input[0], snakemake.output[0], shots=int(snakemake.wildcards.shots),
             seed=int(snakemake.wildcards.seed))
