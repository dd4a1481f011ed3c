"""Fine-tune a pretrained network, or train its architecture from random initialisation, on a target
dataset: the paper's second and third settings, the training arms.

One run is one (model, dataset, init, learning rate, weight decay, fit) job, with a ``config.ArmRecipe``. SGD
with Nesterov momentum 0.9 and cosine decay over a fixed number of steps; random-resized-crop + flip
augmentation; resize + centre-crop evaluation; batch-norm momentum max(1 - 10/s, 0.9) (TensorFlow's decay;
PyTorch's momentum is one minus it) with s steps per epoch; the weight decay given is divided by the learning
rate, as in the paper's grid. ``fit="train"`` trains on train and scores val (a grid point); ``fit="trainval"``
trains on train+val and scores test (the refit). A grid point records its validation metric every ``eval_every``
steps (its curve); a refit records its loss there and scores test once, at the end.

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

import dataclasses
import functools
import hashlib
import json
import logging
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
from ..data.splits import check_test_repeats, check_test_rows
from ..errors import InputError
from ..io import SPLIT_FILE_ATTRS, read_dataset, write_json, write_predictions
from ..nets import pretrained
from ..nets.network import Pretrained
from ..nets.inference import MEMORY_FORMAT, network_outputs, precision_label, predict
from ..provenance import library_versions, sha256_file
from ..results import TransferResult
from ..settings import INIT_ARM
from ..train.batches import CropBatches
from ..train.loop import StepLoop, sgd_nesterov

log = logging.getLogger(__name__)

INITS = tuple(INIT_ARM)
FITS = {"train": ("train", "val"), "trainval": ("train+val", "test")}


def check_run(lr, weight_decay, init, fit):
    """Refuse settings that cannot give a meaningful run, before any work."""
    if init not in INITS:
        raise InputError(f"init {init!r} is not one of {INITS}")
    if fit not in FITS:
        raise InputError(f"fit {fit!r} is not one of {sorted(FITS)}")
    low, high = LR_RANGE
    if not low < lr <= high:
        raise InputError(f"learning rate {lr} (--lr; the config's <arm>.lr) is outside ({low}, {high}]")
    if weight_decay < 0:
        raise InputError(f"weight decay {weight_decay} (--weight-decay; the config's <arm>.weight_decay) is negative")


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
    if FITS[fit][1] == "test":
        fitted_all = [parts[split] for split in ("train", "val") if split in parts]
        if evaluated.images is not None:
            check_test_rows(str(dataset_path), [part.images for part in fitted_all], evaluated.images, "images")
        else:
            listed = {path for part in fitted_all for path in part.paths}
            check_test_repeats(str(dataset_path), sum(path in listed for path in evaluated.paths),
                               len(evaluated.paths), "images")
    sizes = {split: len(part.labels) for split, part in parts.items()}
    return train, (evaluated.images, evaluated.paths, evaluated.labels), parts["train"].root, attrs, sizes


@dataclass(frozen=True)
class TrainRun:
    """One fine-tune or scratch run: the network it starts from, the data, the grid point, how it trains and
    where it writes.

    ``checkpoint``: the pretrained checkpoint or zoo record (with ``init="random"``: its architecture);
    ``fit="train"`` trains on train and scores val (a grid point), ``"trainval"`` trains on train+val and scores
    test (a refit, which also writes ``predictions``). ``keep_state=False`` deletes the state file once the
    result is written; ``record`` holds extra fields for the result JSON (the selection a refit comes from).
    """

    checkpoint: str | Path
    dataset: str | Path
    out: str | Path
    state: str | Path
    init: str
    lr: float
    weight_decay: float
    fit: str = "train"
    recipe: ArmRecipe = ArmRecipe()
    predictions: str | Path | None = None
    model_name: str | None = None
    device: str = StudyOptions.device
    amp: bool | None = TrainingArm.amp
    workers: int = TrainingArm.workers
    keep_state: bool = True
    record: dict | None = None


@dataclass
class _Setup:
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


def _setup(run):
    recipe, device = run.recipe, run.device
    (train_images, train_paths, train_labels), (eval_images, eval_paths, eval_labels), root, attrs, sizes = \
        _read_training_data(run.dataset, run.fit)
    if recipe.batch_size > len(train_labels):
        raise InputError(f"batch size {recipe.batch_size} is larger than the training split of {run.dataset} "
                         f"({len(train_labels)} examples)")
    num_classes = int(attrs["num_classes"])
    loaded = pretrained.load(run.checkpoint)
    cfg = loaded.pretrained_cfg
    config = {"init": run.init, "lr": run.lr, "weight_decay": run.weight_decay, "fit": run.fit,
              "recipe": recipe.as_dict(), "checkpoint_sha256": loaded.info.sha256,
              "dataset_sha256": sha256_file(run.dataset)}
    model = build_model(run.init, loaded, num_classes, recipe.seed).to(device)
    optimizer = sgd_nesterov(model, run.lr, recipe.momentum, run.weight_decay / run.lr)
    loop = StepLoop(model, optimizer, lr=run.lr, total_steps=recipe.steps, device=device, amp=run.amp,
                    draws_seed=recipe.seed, state_path=run.state, state_config=config,
                    checkpoint_every=recipe.checkpoint_every, name="refit" if run.fit == "trainval" else "grid point")
    # Datasets held in the split file live on the device and are cropped there; datasets of image files
    # stream through DataLoader workers that decode and crop.
    batches = CropBatches(train_labels, images_uint8=train_images, paths=train_paths, root=root,
                          size=cfg.image_size, mean=cfg.mean, std=cfg.std, seed=recipe.seed,
                          batch_size=recipe.batch_size, crop_scale_min=recipe.crop_scale_min,
                          total_steps=recipe.steps, first_step=loop.step, device=device, workers=run.workers)
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
                                   workers=run.workers, device=device, amp=run.amp)[0]
    return _Setup(loaded=loaded, attrs=attrs, sizes=sizes, config=config, loop=loop, batches=batches, scores=scores,
                  eval_labels=eval_labels, n_fit=len(train_labels))


def train(run, *, threads=1):
    """Train one ``TrainRun``, resumable from its state file; writes the result JSON (and test predictions for a
    refit) and returns the result.

    A grid point (``fit="train"``) whose loss becomes non-finite is recorded as diverged (no metric) rather
    than failing, since a too-large learning rate is a legitimate grid outcome; a diverging refit raises.
    """
    run = dataclasses.replace(run, recipe=ArmRecipe.of(run.recipe))
    check_run(run.lr, run.weight_decay, run.init, run.fit)
    torch.set_num_threads(threads)
    started = time.time()
    setup = _setup(run)
    selection = (run.record or {}).get("selection")
    if selection is not None:
        this = {"model": run.model_name or setup.loaded.info.arch, "dataset": setup.attrs["dataset"],
                "setting": INIT_ARM[run.init]}
        other = {key: selection.get(key) for key in this}
        if other != this:
            raise InputError(f"the selection was made for {other}, not for this run's {this}; refit with the "
                             "selection of this model, dataset and setting")
    metric, eval_split = setup.attrs["metric"], FITS[run.fit][1]
    scored = {}  # the scores of the last report: at the last step, the final scores too (not computed twice)

    def report(step, stats):
        # A grid point's validation curve is what selection and the convergence analysis read; a refit's test
        # split is scored once, at the end (its curve would be read by nothing and cost a tenth of the run).
        if run.fit == "trainval":
            setup.loop.history.append({"step": step, "loss": stats["loss"]})
            log.info("step %d/%d  loss %.4f", step, run.recipe.steps, stats["loss"])
            return
        scored.update(step=step, scores=setup.scores())
        setup.loop.history.append({"step": step, "metric": metrics.score(metric, setup.eval_labels, scored["scores"]),
                                   "loss": stats["loss"]})
        log.info("step %d/%d  loss %.4f  %s %s %.4f", step, run.recipe.steps, stats["loss"], eval_split, metric,
                 setup.loop.history[-1]["metric"])

    diverged_at = setup.loop.run(setup.batches, functools.partial(_classification_step,
                                                                  multilabel=bool(setup.attrs["multilabel"])),
                                 report_every=run.recipe.eval_every, report=report,
                                 on_divergence="stop" if run.fit == "train" else "raise")
    if diverged_at:
        final_scores = None
    else:
        final_scores = scored["scores"] if scored.get("step") == run.recipe.steps else setup.scores()
    result = _result(setup, run, final_scores=final_scores, diverged_at=diverged_at, started=started)
    if run.predictions is not None:
        write_predictions(run.predictions, setup.eval_labels, final_scores,
                          {"model": result["model"], "dataset": result["dataset"], "setting": result["setting"],
                           "metric": metric})
    write_json(run.out, result)
    if not run.keep_state:
        Path(run.state).unlink(missing_ok=True)
    return result


def _classification_step(model, x, y, *, multilabel):
    """(loss, logits) of a batch: cross-entropy, or per-class binary cross-entropy for multi-label datasets."""
    logits = model(x).float()
    return _loss(logits, y, multilabel), logits


def _result(setup, run, *, final_scores, diverged_at, started):
    """What a run's JSON records: the outcome, its curve, and what traces it."""
    loop, metric, steps_per_epoch, recipe = setup.loop, setup.attrs["metric"], setup.batches.steps_per_epoch, run.recipe
    core = TransferResult(
        model=run.model_name or setup.loaded.info.arch, dataset=setup.attrs["dataset"], setting=INIT_ARM[run.init],
        metric=metric, value=None if diverged_at else metrics.score(metric, setup.eval_labels, final_scores),
        eval_split=FITS[run.fit][1], sizes=setup.sizes, arch=setup.loaded.info.arch,
        checkpoint_sha256=setup.config["checkpoint_sha256"], split_seed=setup.attrs.get("split_seed"),
        hyperparameters={"lr": run.lr, "weight_decay": run.weight_decay})
    return {
        **core.as_dict(), "init": run.init, "fit": run.fit, "lr": run.lr, "weight_decay": run.weight_decay,
        "diverged_at_step": diverged_at, "history": loop.history,
        "steps_per_epoch": steps_per_epoch, "bn_momentum": _bn_momentum(steps_per_epoch), "n_fit": setup.n_fit,
        "recipe": recipe.as_dict(), "device": str(loop.device), "amp": precision_label(loop.amp_dtype),
        "resumed_from_step": loop.resumed_from, "config_hash": _config_hash(setup.config),
        "checkpoint": str(run.checkpoint), "dataset_sha256": setup.config["dataset_sha256"], "train_seconds": round(loop.seconds, 3),
        "images_per_second": round(loop.steps_per_second * recipe.batch_size, 1),
        "wall_seconds": round(time.time() - started, 2), "versions": library_versions(), **(run.record or {}),
    }
