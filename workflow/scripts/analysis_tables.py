"""Correlation, mixed-effects and accuracy-matrix tables from the accuracy table (rule analysis_tables)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from pathlib import Path

import pandas as pd

from transferstudy.analysis.tables import write_tables
from transferstudy.logs import log_to

log_to(snakemake.log[0])
written = write_tables(pd.read_csv(snakemake.input[0]), Path(snakemake.output.correlation).parent,
                       seed=snakemake.params.seed)
missing = set(map(str, snakemake.output)) - set(map(str, written))
if missing:
    raise RuntimeError(f"analysis wrote no {sorted(missing)}: do the configured settings match the table's?")
