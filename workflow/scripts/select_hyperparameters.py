"""Pick the grid point with the best validation metric, recording successive halving's rungs where it ran (rule
select_hyperparameters)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.transfer.search import select_hyperparameters
from transferstudy.logs import log_to

log_to(snakemake.log[0])
select_hyperparameters(snakemake.input.grid, snakemake.output[0], rungs=snakemake.input.rungs)
