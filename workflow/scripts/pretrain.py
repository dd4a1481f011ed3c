"""Pretrain one zoo model on the source dataset (rule pretrain)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.logs import log_to
from transferstudy.pretrain import pretrain

log_to(snakemake.log[0])
pretrain(snakemake.params.arch, snakemake.input.source, snakemake.output.checkpoint, snakemake.output.metrics,
         recipe=snakemake.params.recipe, seed=snakemake.params.seed, threads=snakemake.threads,
         device=snakemake.params.device)
