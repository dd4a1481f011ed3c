"""Pretrain one zoo model on the source dataset (rule pretrain)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.logs import log_to
from transferstudy.train.pretrain import pretrain

log_to(snakemake.log[0], requested=snakemake.resources)
pretrain(snakemake.params.arch, snakemake.input.source, snakemake.output.checkpoint, snakemake.output.metrics,
         recipe=snakemake.params.recipe, seed=snakemake.params.seed,
         threads=max(1, snakemake.threads - snakemake.resources.workers), device=snakemake.params.device,
         state_path=snakemake.params.state, workers=snakemake.resources.workers, amp=snakemake.params.amp)
