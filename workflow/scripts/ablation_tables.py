"""The regularisation ablation's tables from the accuracy table (rule ablation_tables)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from pathlib import Path

import pandas as pd

from transferstudy.analysis.ablation import write_ablation_tables
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_ablation_tables(pd.read_csv(snakemake.input[0]), Path(snakemake.output.ablation).parent,
                      snakemake.params.mixed_zoo, seed=snakemake.params.seed)
