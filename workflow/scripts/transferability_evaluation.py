"""The estimators judged against the measured transfer (rule transferability_evaluation)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import pandas as pd

from transferstudy.analysis.transferability import evaluation_table
from transferstudy.io import write_csv
from transferstudy.logs import log_to

log_to(snakemake.log[0])
write_csv(evaluation_table(pd.read_csv(snakemake.input.accuracy), pd.read_csv(snakemake.input.scores),
                           seed=snakemake.params.seed), snakemake.output[0])
