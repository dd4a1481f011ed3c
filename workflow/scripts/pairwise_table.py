"""Pairwise model comparisons on per-example test predictions (rule pairwise_table)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.aggregate import load_predictions
from transferstudy.io import write_csv
from transferstudy.logs import log_to
from transferstudy.analysis.stats import pairwise_table

log_to(snakemake.log[0])
table = pairwise_table(load_predictions(snakemake.input), n_permutations=snakemake.params.n_permutations,
                       seed=snakemake.params.seed)
write_csv(table, snakemake.output[0])
