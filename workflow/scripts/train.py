"""One fine-tune or scratch run: a grid point (rule train_grid_point, or train_rung_point at a rung of successive
halving) or the refit of the selected pair on train+val (rule train_refit)."""

import _library  # noqa: F401  (makes transferstudy importable in any job environment)

from transferstudy.transfer.finetune import train_run
from transferstudy.transfer.search import check_promoted, refit_options
from transferstudy.logs import log_to

log_to(snakemake.log[0])
options = dict(snakemake.params.run)
if "selection" in snakemake.input.keys():
    options.update(refit_options(snakemake.input.selection), fit="trainval",
                   predictions_path=snakemake.output.predictions)
else:
    options.update(lr=float(snakemake.wildcards.lr), weight_decay=float(snakemake.wildcards.wd), fit="train")
    if snakemake.input.get("promoted"):
        check_promoted(snakemake.input.promoted, options["lr"], options["weight_decay"])
train_run(snakemake.input.model, snakemake.input.dataset, snakemake.output[0], snakemake.params.state,
          model_name=snakemake.wildcards.model, threads=max(1, snakemake.threads - options["workers"]),
          keep_state=False, **options)
