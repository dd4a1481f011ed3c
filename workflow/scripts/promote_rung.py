"""The points of a rung of successive halving that go on to the next (checkpoint rule promote_rung)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.transfer.search import promote
from transferstudy.logs import log_to

log_to(snakemake.log[0])
promote(snakemake.input, snakemake.params.keep, snakemake.output[0])
