"""Check every model of the study against the libraries and files that define it, before any network is trained (rule
check_models)."""

import logging
import sys

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.config import ConfigError
from transferstudy.logs import log_to
from transferstudy.nets.zoo import check_models

log_to(snakemake.log[0])
try:
    check_models(snakemake.params.specs, snakemake.params.recipes, snakemake.output[0])
except ConfigError as error:
    # A configuration error, not a crash: said on the terminal (stdout is not the log) as well as in the log.
    logging.getLogger("check_models").error("%s", error)
    print(f"\n{error}\n", flush=True)
    sys.exit(1)
