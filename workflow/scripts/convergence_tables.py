"""Validation curves of the selected fine-tune and scratch runs, steps to threshold and the median speed-up
(rule convergence_tables)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.analysis.convergence import curves_table, speedup_summary, steps_to_threshold
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
curves = curves_table(snakemake.input)
write_csv(curves, snakemake.output.curves)
steps = steps_to_threshold(curves, snakemake.params.fraction)
write_csv(steps, snakemake.output.steps)
write_csv(speedup_summary(steps, seed=snakemake.params.seed), snakemake.output.speedup)
