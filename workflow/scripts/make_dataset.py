"""Build one dataset's HDF5 split file (rule dataset)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.data.datasets import prepare_dataset
from transferstudy.logs import log_to

log_to(snakemake.log[0])
prepare_dataset(snakemake.wildcards.dataset, snakemake.output[0], seed=snakemake.params.seed,
                unreadable=snakemake.params.unreadable, **snakemake.params.split, **snakemake.params.options)
