"""Draw one paper-style figure from the analysis tables it needs (rule figure)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import pandas as pd

from transferstudy.analysis.figures import FIGURES
from transferstudy.analysis.plotting import save
from transferstudy.logs import log_to

log_to(snakemake.log[0])
tables = {name: pd.read_csv(path) for name, path in snakemake.input.items()}
save(FIGURES[snakemake.wildcards.figure](**tables), [snakemake.output.pdf, snakemake.output.png])
