"""Training-set-size tables: every subset result, their means over seeds, and the correlation with source top-1
at each size (rule subsets_tables)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import pandas as pd

from transferstudy.analysis.subsets import write_subset_tables
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_subset_tables(snakemake.input.results, pd.read_csv(snakemake.input.accuracy), snakemake.output.subsets,
                    snakemake.output.summary, snakemake.output.correlation, seed=snakemake.params.seed)
