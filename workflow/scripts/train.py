"""One fine-tune or scratch run: a grid point (rule train_grid_point, or train_rung_point at a rung of successive
halving) or the refit of the selected pair on train+val (rule train_refit)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.logs import log_to
from transferstudy.transfer.finetune import TrainRun, train
from transferstudy.transfer.search import check_promoted, refit_options

log_to(snakemake.log[0], requested=snakemake.resources)
options = dict(snakemake.params.run, workers=snakemake.resources.workers)
if "selection" in snakemake.input.keys():
    options.update(refit_options(snakemake.input.selection), fit="trainval", predictions=snakemake.output.predictions)
else:
    options.update(snakemake.params.point, fit="train")
    if snakemake.input.get("promoted"):
        check_promoted(snakemake.input.promoted, options["lr"], options["weight_decay"])
run = TrainRun(snakemake.input.model, snakemake.input.dataset, snakemake.output[0], snakemake.params.state,
               model_name=snakemake.wildcards.model, keep_state=False, **options)
train(run, threads=max(1, snakemake.threads - run.workers))
