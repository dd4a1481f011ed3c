"""Summarise the checked datasets (rule check_data): sizes, classes, metric, root, missing images."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.data.datasets import summarize
from transferstudy.logs import log_to

log_to(snakemake.log[0])
summarize(snakemake.input, snakemake.output[0])
