"""Write the study's cost plan (rule cost_plan): one row per job type and (model, dataset); its summary to the log."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.logs import log_to
from transferstudy.study.cost import plan_study, write_rows

log = log_to(snakemake.log[0])
plan, text = plan_study(snakemake.config, data_dir=snakemake.params.data_dir)
write_rows(plan, snakemake.output[0])
log.write(text + "\n")
