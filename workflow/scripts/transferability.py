"""Transferability estimators on one (model, dataset)'s features, and on its few-label subsets (rule
transferability): from the features file alone, its source classifier included, so the job never imports torch."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from threadpoolctl import threadpool_limits

from transferstudy.logs import log_to
from transferstudy.transfer.transferability import score_features

log_to(snakemake.log[0], requested=snakemake.resources)
with threadpool_limits(snakemake.threads):
    score_features(snakemake.input.features, out_path=snakemake.output[0], estimators=snakemake.params.estimators,
                   examples_per_class=snakemake.params.examples_per_class, seeds=snakemake.params.seeds)
