"""Penultimate-layer features of one model on one dataset (rule extract_features)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.config import FeatureOptions
from transferstudy.transfer.features import extract_features
from transferstudy.logs import log_to

log_to(snakemake.log[0], requested=snakemake.resources)
options = FeatureOptions.from_mapping({**snakemake.params.options, "workers": snakemake.resources.workers})
extract_features(snakemake.input.model, snakemake.input.dataset, snakemake.output[0],
                 model_name=snakemake.wildcards.model, options=options,
                 threads=max(1, snakemake.threads - options.workers), device=snakemake.params.device)
