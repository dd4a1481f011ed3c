"""Fine-tune a pretrained network, or train its architecture from random initialisation, on a target
dataset: the paper's second and third settings, the training arms.

One run is one (model, dataset, init, learning rate, weight decay, fit) job, with a ``config.ArmRecipe``. SGD
with Nesterov momentum 0.9 and cosine decay over a fixed number of steps; random-resized-crop + flip
augmentation; resize + centre-crop evaluation; batch-norm momentum max(1 - 10/s, 0.9) (TensorFlow's decay;
PyTorch's momentum is one minus it) with s steps per epoch; the weight decay given is divided by the learning
rate, as in the paper's grid. ``fit="train"`` trains on train and scores val (a grid point); ``fit="trainval"``
trains on train+val and scores test (the refit). The evaluation metric is recorded every ``eval_every`` steps.

The steps run through ``train.loop.StepLoop``: the state is saved every ``checkpoint_every`` steps and a run
started again resumes from it, ending exactly where an uninterrupted one would (every random choice is a
function of (seed, step)); a state written for another configuration is refused. Channels_last; on CUDA, bfloat16
autocast. The batches come from ``train.batches.CropBatches``: in memory or streamed from image files, the
same crops.

    python -m transferstudy finetune CHECKPOINT.pt DATASET.h5 --init pretrained --lr 0.01 \
        --weight-decay 1e-4 --fit train --out RESULT.json --state STATE.pt
    python -m transferstudy finetune select GRID_RESULT.json... --out SELECTED.json
    python -m transferstudy finetune CHECKPOINT.pt DATASET.h5 --selection SELECTED.json --fit trainval \
        --out REFIT.json --state REFIT_STATE.pt --predictions TEST_SCORES.h5
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import metrics
from ..config import LR_RANGE, ArmRecipe, StudyOptions, TrainingArm
from ..data import images
from ..io import SPLIT_FILE_ATTRS, read_dataset, write_json, write_predictions
from ..nets import pretrained
from ..nets.network import Pretrained
from ..nets.inference import MEMORY_FORMAT, network_outputs, precision_label, predict
from ..provenance import library_versions, sha256_file
from ..settings import ARM_INIT, INIT_ARM
from ..train.batches import CropBatches
from ..train.loop import StepLoop, sgd_nesterov
from .search import refit_options

log = logging.getLogger(__name__)

INITS = tuple(INIT_ARM)
FITS = {"train": ("train", "val"), "trainval": ("train+val", "test")}


def check_run(lr, weight_decay, init, fit):
    """Refuse settings that cannot give a meaningful run, before any work."""
    if init not in INITS:
        raise ValueError(f"init {init!r} is not one of {INITS}")
    if fit not in FITS:
        raise ValueError(f"fit {fit!r} is not one of {sorted(FITS)}")
    low, high = LR_RANGE
    if not low < lr <= high:
        raise ValueError(f"learning rate {lr} is outside ({low}, {high}]")
    if weight_decay < 0:
        raise ValueError(f"weight decay {weight_decay} is negative")


def build_model(init, loaded, num_classes, seed):
    """The pretrained network (a ``nets.network.Pretrained``) with a new classifier, or its architecture
    freshly initialised; seeded."""
    torch.manual_seed(seed)
    return loaded.random_init(num_classes) if init == "random" else loaded.with_new_head(num_classes)


def _bn_momentum(steps_per_epoch):
    """PyTorch momentum for TensorFlow's batch-norm decay max(1 - 10/s, 0.9)."""
    return 1.0 - max(1.0 - 10.0 / steps_per_epoch, 0.9)


def _loss(logits, y, multilabel):
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


def _config_hash(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _read_training_data(dataset_path, fit):
    """The fitted data (images or files, labels), the evaluated split (images or files, labels), the files'
    root, the dataset's attributes and every split's size."""
    parts, attrs = read_dataset(dataset_path, required=SPLIT_FILE_ATTRS)
    fitted = [parts[split] for split in (("train", "val") if fit == "trainval" else ("train",))]
    train = (np.concatenate([part.images for part in fitted]) if fitted[0].images is not None else None,
             sum([part.paths for part in fitted], []) if fitted[0].paths is not None else None,
             np.concatenate([part.labels for part in fitted]))
    evaluated = parts[FITS[fit][1]]
    sizes = {split: len(part.labels) for split, part in parts.items()}
    return train, (evaluated.images, evaluated.paths, evaluated.labels), parts["train"].root, attrs, sizes


@dataclass
class _Run:
    """A run set up: what it trains, how it is scored, and what its result records."""

    loaded: Pretrained
    attrs: dict
    sizes: dict
    config: dict
    loop: StepLoop
    batches: CropBatches
    scores: Callable[[], np.ndarray]
    eval_labels: np.ndarray
    n_fit: int


def _setup(checkpoint_path, dataset_path, state_path, *, init, lr, weight_decay, fit, recipe, device, amp, workers):
    (train_images, train_paths, train_labels), (eval_images, eval_paths, eval_labels), root, attrs, sizes = \
        _read_training_data(dataset_path, fit)
    if recipe.batch_size > len(train_labels):
        raise ValueError(f"batch size {recipe.batch_size} is larger than the training split of {dataset_path} "
                         f"({len(train_labels)} examples)")
    num_classes = int(attrs["num_classes"])
    loaded = pretrained.load(checkpoint_path)
    cfg = loaded.pretrained_cfg
    config = {"init": init, "lr": lr, "weight_decay": weight_decay, "fit": fit, "recipe": recipe.as_dict(),
              "checkpoint_sha256": loaded.info.sha256, "dataset_sha256": sha256_file(dataset_path)}
    model = build_model(init, loaded, num_classes, recipe.seed).to(device)
    optimizer = sgd_nesterov(model, lr, recipe.momentum, weight_decay / lr)
    loop = StepLoop(model, optimizer, lr=lr, total_steps=recipe.steps, device=device, amp=amp,
                    draws_seed=recipe.seed, state_path=state_path, state_config=config,
                    checkpoint_every=recipe.checkpoint_every, name="refit" if fit == "trainval" else "grid point")
    # Datasets held in the split file live on the device and are cropped there; datasets of image files
    # stream through DataLoader workers that decode and crop.
    batches = CropBatches(train_labels, images_uint8=train_images, paths=train_paths, root=root,
                          size=cfg.image_size, mean=cfg.mean, std=cfg.std, seed=recipe.seed,
                          batch_size=recipe.batch_size, crop_scale_min=recipe.crop_scale_min,
                          total_steps=recipe.steps, first_step=loop.step, device=device, workers=workers)
    for module in model.modules():  # batch-norm momentum is not part of the state: set it whether resumed or not
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = _bn_momentum(batches.steps_per_epoch)
    if eval_images is not None:
        x_eval = images.preprocess(eval_images, cfg).to(device, memory_format=MEMORY_FORMAT)

        def scores():
            return predict(model, x_eval, amp_dtype=loop.amp_dtype)
    else:
        eval_files = images.SplitImages(paths=eval_paths, root=root, transform=images.eval_transform(cfg))

        def scores():
            model.eval()
            return network_outputs(model, eval_files, cfg, width=num_classes, batch_size=recipe.batch_size,
                                   workers=workers, device=device, amp=amp)[0]
    return _Run(loaded=loaded, attrs=attrs, sizes=sizes, config=config, loop=loop, batches=batches, scores=scores,
                eval_labels=eval_labels, n_fit=len(train_labels))


def train_run(checkpoint_path, dataset_path, out_path, state_path, *, init, lr, weight_decay, fit,
              recipe=None, predictions_path=None, model_name=None, threads=1, device="cpu", amp=None,
              workers=0, keep_state=True, record=None):
    """One fine-tune or scratch run with ``recipe`` (an ``ArmRecipe``, or a mapping of its keys), resumable;
    writes the result JSON (and test predictions for a refit).

    A grid point (``fit="train"``) whose loss becomes non-finite is recorded as diverged (no metric) rather
    than failing, since a too-large learning rate is a legitimate grid outcome; a diverging refit raises.
    ``keep_state=False`` deletes the state file once the result is written. ``record`` holds extra fields
    for the result JSON (e.g. the selection that chose this refit's learning rate and weight decay).
    """
    recipe = ArmRecipe.of(recipe)
    check_run(lr, weight_decay, init, fit)
    torch.set_num_threads(threads)
    started = time.time()
    run = _setup(checkpoint_path, dataset_path, state_path, init=init, lr=lr, weight_decay=weight_decay, fit=fit,
                 recipe=recipe, device=device, amp=amp, workers=workers)
    selection = (record or {}).get("selection")
    if selection is not None:
        this = {"model": model_name or run.loaded.info.arch, "dataset": run.attrs["dataset"],
                "setting": INIT_ARM[init]}
        other = {key: selection.get(key) for key in this}
        if other != this:
            raise ValueError(f"the selection was made for {other}, not for this run's {this}; refit with the "
                             "selection of this model, dataset and setting")
    metric, eval_split = run.attrs["metric"], FITS[fit][1]

    def report(step, stats):
        run.loop.history.append({"step": step, "metric": metrics.score(metric, run.eval_labels, run.scores()),
                                 "loss": stats["loss"]})
        log.info("step %d/%d  loss %.4f  %s %s %.4f", step, recipe.steps, stats["loss"], eval_split, metric,
                 run.loop.history[-1]["metric"])

    diverged_at = run.loop.run(run.batches, functools.partial(_classification_step,
                                                              multilabel=bool(run.attrs["multilabel"])),
                               report_every=recipe.eval_every, report=report,
                               on_divergence="stop" if fit == "train" else "raise")
    final_scores = None if diverged_at else run.scores()
    result = _result(run, recipe, init=init, lr=lr, weight_decay=weight_decay, fit=fit, model_name=model_name,
                     final_scores=final_scores, diverged_at=diverged_at, checkpoint_path=checkpoint_path,
                     started=started, record=record)
    if predictions_path is not None:
        write_predictions(predictions_path, run.eval_labels, final_scores,
                          {"model": result["model"], "dataset": result["dataset"], "setting": result["setting"],
                           "metric": metric})
    write_json(out_path, result)
    if not keep_state:
        Path(state_path).unlink(missing_ok=True)
    return result


def _classification_step(model, x, y, *, multilabel):
    """(loss, logits) of a batch: cross-entropy, or per-class binary cross-entropy for multi-label datasets."""
    logits = model(x).float()
    return _loss(logits, y, multilabel), logits


def _result(run, recipe, *, init, lr, weight_decay, fit, model_name, final_scores, diverged_at, checkpoint_path,
            started, record):
    """What a run's JSON records: the outcome, its curve, and what traces it."""
    loop, metric, steps_per_epoch = run.loop, run.attrs["metric"], run.batches.steps_per_epoch
    return {
        "model": model_name or run.loaded.info.arch, "arch": run.loaded.info.arch,
        "dataset": run.attrs["dataset"], "setting": INIT_ARM[init], "init": init, "fit": fit,
        "lr": lr, "weight_decay": weight_decay, "metric": metric, "eval_split": FITS[fit][1],
        "final_metric": None if diverged_at else metrics.score(metric, run.eval_labels, final_scores),
        "diverged_at_step": diverged_at, "history": loop.history,
        "steps_per_epoch": steps_per_epoch, "bn_momentum": _bn_momentum(steps_per_epoch),
        "sizes": run.sizes, "n_fit": run.n_fit, "split_seed": run.attrs.get("split_seed"), "recipe": recipe.as_dict(),
        "device": str(loop.device), "amp": precision_label(loop.amp_dtype), "resumed_from_step": loop.resumed_from,
        "config_hash": _config_hash(run.config), "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": run.config["checkpoint_sha256"], "dataset_sha256": run.config["dataset_sha256"],
        "train_seconds": round(loop.seconds, 3),
        "images_per_second": round(loop.steps_per_second * recipe.batch_size, 1),
        "wall_seconds": round(time.time() - started, 2), "versions": library_versions(), **(record or {}),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["select"]:
        from . import search

        return search.main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="pretrained checkpoint .pt or zoo record .json (for init=random: its "
                                           "architecture)")
    parser.add_argument("dataset", help="dataset HDF5 (from `transferstudy datasets`)")
    parser.add_argument("--init", choices=INITS, default=ARM_INIT["finetune"])
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float, default=0.0, help="divided by the learning rate, as in the paper")
    parser.add_argument("--selection", help="selection JSON (from `select`): its lr and weight decay, recorded")
    parser.add_argument("--fit", choices=sorted(FITS), default="train")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--state", required=True, help="resumable state file")
    parser.add_argument("--predictions", help="HDF5 for the evaluation split's scores")
    parser.add_argument("--model-name")
    parser.add_argument("--threads", type=int, default=StudyOptions.threads)
    parser.add_argument("--device", default=StudyOptions.device, help="cpu, cuda, cuda:1, ...")
    TrainingArm.add_arguments(parser, skip=("lr", "weight_decay", "enabled", "datasets", "recipe", "search"))
    ArmRecipe.add_arguments(parser)
    args = parser.parse_args(argv)
    refit = refit_options(args.selection) if args.selection else {"lr": args.lr, "weight_decay": args.weight_decay}
    if refit["lr"] is None:
        parser.error("give --lr (and --weight-decay), or --selection")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train_run(args.checkpoint, args.dataset, args.out, args.state, init=args.init, fit=args.fit,
              recipe=ArmRecipe.from_arguments(args), predictions_path=args.predictions, model_name=args.model_name,
              threads=args.threads, device=args.device, amp=args.amp, workers=args.workers, **refit)
