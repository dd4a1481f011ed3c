"""Validation curves of the selected fine-tune and scratch runs, and steps to threshold (rule
convergence_tables)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.convergence import curves_table, steps_to_threshold
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
curves = curves_table(snakemake.input)
write_csv(curves, snakemake.output.curves)
write_csv(steps_to_threshold(curves, snakemake.params.fraction), snakemake.output.steps)
