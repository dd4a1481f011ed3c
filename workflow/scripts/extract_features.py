"""Penultimate-layer features of one model on one dataset (rule extract_features)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.features import extract_features
from transferstudy.logs import log_to

log_to(snakemake.log[0])
extract_features(snakemake.input.model, snakemake.input.dataset, snakemake.output[0],
                 model_name=snakemake.wildcards.model, batch_size=snakemake.params.batch_size,
                 threads=max(1, snakemake.threads - snakemake.params.workers), workers=snakemake.params.workers,
                 device=snakemake.params.device, amp=snakemake.params.amp, unreadable=snakemake.params.unreadable)
