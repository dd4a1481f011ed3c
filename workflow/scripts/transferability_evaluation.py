"""The estimators judged against the measured transfer and the baselines, and the stability of their ranking
(rule transferability_evaluation)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import pandas as pd

from transferstudy.analysis.transferability import evaluation_tables
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
tables = evaluation_tables(pd.read_csv(snakemake.input.accuracy), pd.read_csv(snakemake.input.scores),
                           pd.read_csv(snakemake.input.few_labels), seed=snakemake.params.seed)
for name, table in tables.items():
    write_csv(table, snakemake.output[name])
