"""The estimators' scores of every (model, dataset) as one table, with the probe's time, and their scores on the
few-label subsets (rule transferability_table)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.transferability import few_labels_table, transferability_table
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_csv(transferability_table(snakemake.input.scores, snakemake.input.probes), snakemake.output.scores)
write_csv(few_labels_table(snakemake.input.scores), snakemake.output.few_labels)
