"""Correlations of source top-1 with transfer accuracy (rule correlation_table)."""

import pandas as pd

from transferstudy.aggregate import write_csv
from transferstudy.logs import log_to
from transferstudy.stats import correlation_table

log_to(snakemake.log[0])
write_csv(correlation_table(pd.read_csv(snakemake.input[0])), snakemake.output[0])
