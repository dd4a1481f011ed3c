"""Draw one paper-style figure from the accuracy table (rule figure)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

import pandas as pd

from transferstudy.figures import FIGURES, save
from transferstudy.logs import log_to

log_to(snakemake.log[0])
figure = FIGURES[snakemake.wildcards.figure](pd.read_csv(snakemake.input[0]))
save(figure, [snakemake.output.pdf, snakemake.output.png])
