"""Logistic-regression probe of one features file (rule probe)."""

import torch

from transferstudy.logs import log_to
from transferstudy.probe import run_probe

log_to(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
run_probe(snakemake.input[0], snakemake.output[0], **{**snakemake.params.solver, "device": snakemake.params.device})
