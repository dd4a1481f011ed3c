"""Logistic-regression probe of one features file (rule probe)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import torch

from transferstudy.logs import log_to
from transferstudy.transfer.probe import run_probe

log_to(snakemake.log[0], requested=snakemake.resources)
torch.set_num_threads(snakemake.threads)
run_probe(snakemake.input[0], snakemake.output.result, snakemake.output.predictions,
          solver=snakemake.params.solver, device=snakemake.params.device)
