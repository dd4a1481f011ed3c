"""Transferability estimators on one (model, dataset)'s features (rule transferability)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import torch

from transferstudy.logs import log_to
from transferstudy.transfer.transferability import score_features

log_to(snakemake.log[0], requested=snakemake.resources)
torch.set_num_threads(snakemake.threads)
score_features(snakemake.input.features, snakemake.input.model, snakemake.output[0],
               estimators=snakemake.params.estimators)
