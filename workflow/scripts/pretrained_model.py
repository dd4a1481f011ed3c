"""Check a model's weights (torchvision, timm, pretrainedmodels, python) and write its zoo record (rule pretrained_model)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.logs import log_to
from transferstudy.nets.zoo import describe

log_to(snakemake.log[0], requested=snakemake.resources)
describe(snakemake.params.spec, snakemake.output[0], model_name=snakemake.wildcards.model,
         imagenet_val=snakemake.params.imagenet_val, batch_size=snakemake.params.batch_size,
         workers=snakemake.resources.workers, device=snakemake.params.device)
