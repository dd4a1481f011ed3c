"""Collect all result JSONs into the tidy accuracy table (rule accuracy_table)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.aggregate import accuracy_table
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_csv(accuracy_table(snakemake.input.results, snakemake.input.pretrain), snakemake.output[0])
