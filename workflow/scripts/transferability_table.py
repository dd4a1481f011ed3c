"""The estimators' scores of every (model, dataset) as one table, with the probe's time (rule transferability_table)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.transferability import transferability_table
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_csv(transferability_table(snakemake.input.scores, snakemake.input.probes), snakemake.output[0])
