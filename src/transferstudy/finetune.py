"""Fine-tune a pretrained network, or train its architecture from random initialisation, on a target
dataset: the paper's second and third arms.

One run is one (model, dataset, init, learning rate, weight decay, fit) job. SGD with Nesterov momentum
0.9 and cosine decay over a fixed number of steps; random-resized-crop + flip augmentation; resize +
centre-crop evaluation; batch-norm momentum max(1 - 10/s, 0.9) (TensorFlow's decay; PyTorch's momentum is
one minus it) with s steps per epoch; the weight decay given is divided by the learning rate, as in the
paper's grid. ``fit="train"`` trains on train and scores val (a grid point); ``fit="trainval"`` trains on
train+val and scores test (the refit). The evaluation metric is recorded every ``eval_every`` steps.

A run saves its state every ``checkpoint_every`` steps, atomically, and resumes from it when started again
after any interruption. Every random choice (data order, augmentation, dropout) is a function of
(seed, step), so a resumed run ends exactly where an uninterrupted one would. A state written for another
configuration is refused, not resumed. On CUDA, a run uses bfloat16 autocast and channels_last. A dataset
held in its split file lives on the device and each batch is cropped and flipped there in one batched call;
a dataset of image files streams through DataLoader workers that decode and crop each image with the same
draws, so both give the same run.

    python -m transferstudy.finetune CHECKPOINT.pt DATASET.h5 --init pretrained --lr 0.01 \
        --weight-decay 1e-4 --fit train --out RESULT.json --state STATE.pt
    python -m transferstudy.finetune select GRID_RESULT.json... --out SELECTED.json
    python -m transferstudy.finetune CHECKPOINT.pt DATASET.h5 --selection SELECTED.json --fit trainval \
        --out REFIT.json --state REFIT_STATE.pt --predictions TEST_SCORES.h5
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from . import images, metrics, pretrained
from .features import network_outputs, preprocess
from .io import SPLITS, read_attrs, read_json, write_json, write_predictions
from .pretrain import images_to_tensor, normalize
from .provenance import library_versions, sha256_file
from .training import precision, resume, save_state, set_cosine_lr, sgd_nesterov, step_seed

log = logging.getLogger(__name__)

DEFAULT_RECIPE = {
    "steps": 200,
    "batch_size": 64,
    "momentum": 0.9,
    "eval_every": 50,
    "checkpoint_every": 50,
    "crop_scale_min": 0.35,
    "seed": 0,
}
INITS = ("pretrained", "random")
FITS = {"train": ("train", "val"), "trainval": ("train+val", "test")}


def check_run(lr, weight_decay, recipe, init, fit):
    """Refuse settings that cannot give a meaningful run, before any work."""
    if init not in INITS:
        raise ValueError(f"init {init!r} is not one of {INITS}")
    if fit not in FITS:
        raise ValueError(f"fit {fit!r} is not one of {sorted(FITS)}")
    if not 0 < lr <= 10:
        raise ValueError(f"learning rate {lr} is outside (0, 10]")
    if weight_decay < 0:
        raise ValueError(f"weight decay {weight_decay} is negative")
    unknown = set(recipe) - set(DEFAULT_RECIPE)
    if unknown:
        raise ValueError(f"fine-tune recipe: unknown key(s) {sorted(unknown)}; valid: {sorted(DEFAULT_RECIPE)}")
    for key in ("steps", "batch_size", "eval_every", "checkpoint_every"):
        if int(recipe[key]) < 1:
            raise ValueError(f"fine-tune recipe: {key} = {recipe[key]} must be at least 1")


def _step_generator(seed, step, stream):
    """A generator for one (seed, step, stream): randomness that does not depend on where a run resumed."""
    return torch.Generator().manual_seed(step_seed(seed, step, stream))


def crop_draws(n, generator, scale_min):
    """The random-resized-crop and flip draws of ``n`` examples (area fraction in [scale_min, 1], aspect ratio
    in [3/4, 4/3], position, flip), independent of the images' sizes; from ``generator`` (CPU)."""
    area = torch.empty(n).uniform_(scale_min, 1.0, generator=generator)
    ratio = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator).exp()
    position = torch.rand(n, 2, generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return area, ratio, position, flips


def crop_boxes(h, w, area, ratio, position):
    """roi_align boxes (left, top, right, bottom) in an h x w image for the draws of ``crop_draws``."""
    area = area * h * w
    ch = (area / ratio).sqrt().round().clamp(1, h)
    cw = (area * ratio).sqrt().round().clamp(1, w)
    top = (position[..., 0] * (h - ch + 1)).floor()
    left = (position[..., 1] * (w - cw + 1)).floor()
    return torch.stack([left, top, left + cw, top + ch], dim=-1)


def augment(x, size, generator, scale_min):
    """Random resized crop and horizontal flip, per example, for a whole batch at once: ``x`` is float
    [N, 3, H, W] on any device; the crop parameters come from ``generator`` (CPU), so they do not depend on the
    device. roi_align resamples each crop bilinearly, averaging several samples per output pixel when it
    shrinks (antialiased)."""
    n, _, h, w = x.shape
    area, ratio, position, flips = crop_draws(n, generator, scale_min)
    boxes = torch.cat([torch.arange(n, dtype=torch.float32)[:, None], crop_boxes(h, w, area, ratio, position)], 1)
    out = roi_align(x, boxes.to(x.device, x.dtype), output_size=(size, size), sampling_ratio=-1, aligned=True)
    flips = flips.to(x.device)
    return torch.where(flips.view(-1, 1, 1, 1), out.flip(-1), out)


class FileCrops(torch.utils.data.Dataset):
    """Training crops of image files, made in DataLoader workers: item (index, area, ratio, y, x, flip) is
    image ``index`` cropped and flipped as ``augment`` would, float [3, size, size] in [0, 1]."""

    def __init__(self, paths, root, size):
        self.paths, self.root, self.size = paths, Path(root), size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, item):
        index, area, ratio, y, x, flip = item
        image = images.decode(self.root / self.paths[index]).float().div_(255.0)[None]
        box = crop_boxes(image.shape[-2], image.shape[-1], torch.tensor(area), torch.tensor(ratio),
                         torch.tensor([y, x]))
        out = roi_align(image, torch.cat([torch.zeros(1), box])[None], output_size=(self.size, self.size),
                        sampling_ratio=-1, aligned=True)[0]
        return out.flip(-1) if flip else out


def build_model(init, loaded, num_classes, seed):
    """The pretrained network (a ``pretrained.Pretrained``) with a new classifier, or its architecture freshly
    initialised; seeded."""
    torch.manual_seed(seed)
    return loaded.random_init(num_classes) if init == "random" else loaded.with_new_head(num_classes)


def _bn_momentum(steps_per_epoch):
    """PyTorch momentum for TensorFlow's batch-norm decay max(1 - 10/s, 0.9)."""
    return 1.0 - max(1.0 - 10.0 / steps_per_epoch, 0.9)


def _loss(logits, y, multilabel):
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


@torch.no_grad()
def predict(model, x, batch_size=256, amp_dtype=None):
    """Float32 scores of ``x`` (already preprocessed, on the model's device), as a NumPy array."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out.append(model(x[i:i + batch_size]).float().cpu())
    return torch.cat(out).numpy()


def _config_hash(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def _read_training_data(dataset_path, fit):
    """The fitted data (images or files, labels), the evaluated split (images or files, labels), the files'
    root, the dataset's attributes and every split's size."""
    parts = {split: images.split_source(dataset_path, split) for split in SPLITS}
    fitted = ("train", "val") if fit == "trainval" else ("train",)
    arrays, paths = [parts[s][0] for s in fitted], [parts[s][1] for s in fitted]
    train = (np.concatenate(arrays) if arrays[0] is not None else None,
             sum(paths, []) if paths[0] is not None else None,
             np.concatenate([parts[s][2] for s in fitted]))
    sizes = {split: len(parts[split][2]) for split in SPLITS}
    return train, parts[FITS[fit][1]][:3], parts["train"][3], read_attrs(dataset_path), sizes


@functools.lru_cache(maxsize=2)
def _epoch_order(seed, epoch, n):
    return torch.randperm(n, generator=_step_generator(seed, epoch, 0))


def batch_indices(seed, step, steps_per_epoch, n, batch_size):
    """The examples of a step: a slice of the epoch's seeded permutation."""
    epoch, position = divmod(step, steps_per_epoch)
    return _epoch_order(seed, epoch, n)[position * batch_size:(position + 1) * batch_size]


class _StepBatches:
    """Batch sampler of image-file training: per step from ``first_step`` on, the items of ``FileCrops`` (the
    step's examples with their crop draws), made lazily so a 40,000-step run holds none of them in advance."""

    def __init__(self, n, recipe, first_step, steps_per_epoch):
        self.n, self.recipe, self.first_step, self.steps_per_epoch = n, recipe, first_step, steps_per_epoch

    def __len__(self):
        return self.recipe["steps"] - self.first_step

    def __iter__(self):
        recipe = self.recipe
        for step in range(self.first_step, recipe["steps"]):
            idx = batch_indices(recipe["seed"], step, self.steps_per_epoch, self.n, recipe["batch_size"])
            area, ratio, position, flips = crop_draws(len(idx), _step_generator(recipe["seed"], step, 1),
                                                      recipe["crop_scale_min"])
            yield [(int(i), float(a), float(r), float(p[0]), float(p[1]), bool(f))
                   for i, a, r, p, f in zip(idx, area, ratio, position, flips)]


def file_batches(paths, root, size, recipe, first_step, steps_per_epoch, workers):
    """The augmented training batches of image files from ``first_step`` on, decoded and cropped in workers,
    with the same draws per step as the in-memory path."""
    loader = torch.utils.data.DataLoader(
        FileCrops(paths, root, size), batch_sampler=_StepBatches(len(paths), recipe, first_step, steps_per_epoch),
        num_workers=workers, worker_init_fn=images.single_threaded_worker if workers else None,
        prefetch_factor=4 if workers else None)
    return iter(loader)


def train_run(checkpoint_path, dataset_path, out_path, state_path, *, init, lr, weight_decay, fit,
              recipe=None, predictions_path=None, model_name=None, threads=1, device="cpu", amp=None,
              workers=0, keep_state=True, record=None):
    """One fine-tune or scratch run, resumable; writes the result JSON (and test predictions for a refit).

    A grid point (``fit="train"``) whose loss becomes non-finite is recorded as diverged (no metric) rather
    than failing, since a too-large learning rate is a legitimate grid outcome; a diverging refit raises.
    ``keep_state=False`` deletes the state file once the result is written. ``record`` holds extra fields
    for the result JSON (e.g. the selection that chose this refit's learning rate and weight decay).
    """
    recipe = {**DEFAULT_RECIPE, **(recipe or {})}
    check_run(lr, weight_decay, recipe, init, fit)
    torch.set_num_threads(threads)
    device = torch.device(device)
    amp_dtype = precision(device, amp)
    started = time.time()
    (train_images, train_paths, train_labels), (eval_images, eval_paths, eval_labels), root, attrs, sizes = \
        _read_training_data(dataset_path, fit)
    if recipe["batch_size"] > len(train_labels):
        raise ValueError(f"batch size {recipe['batch_size']} is larger than the training split of {dataset_path} "
                         f"({len(train_labels)} examples)")
    eval_split = FITS[fit][1]
    multilabel, metric = bool(attrs["multilabel"]), attrs["metric"]
    loaded = pretrained.load(checkpoint_path)
    cfg = loaded.pretrained_cfg
    size = cfg["input_size"][-1]
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format

    # Datasets held in the split file live on the device; augmentation crops the stored image there.
    # Datasets of image files stream through DataLoader workers that decode and crop. Normalisation
    # follows on the device, as for evaluation.
    if train_images is not None:
        x_train_raw = images_to_tensor(train_images).to(device)
    y_train = torch.as_tensor(train_labels)
    y_train = (y_train if multilabel else y_train.long()).to(device)
    if eval_images is not None:
        x_eval = preprocess(eval_images, cfg).to(device, memory_format=memory_format)
    else:
        eval_files = images.SplitImages(paths=eval_paths, root=root, transform=images.eval_transform(cfg))

    config = {"init": init, "lr": lr, "weight_decay": weight_decay, "fit": fit, "recipe": recipe,
              "checkpoint_sha256": loaded.info["sha256"], "dataset_sha256": sha256_file(dataset_path)}
    config_hash = _config_hash(config)
    model = build_model(init, loaded, int(attrs["num_classes"]), recipe["seed"])
    steps_per_epoch = math.ceil(len(y_train) / recipe["batch_size"])
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = _bn_momentum(steps_per_epoch)
    model = model.to(device, memory_format=memory_format)
    optimizer = sgd_nesterov(model, lr, recipe["momentum"], weight_decay / lr)
    step, history, resumed_from, diverged_at = 0, [], None, None
    state_path = Path(state_path)
    state = resume(state_path, config, model, optimizer, device)
    if state is not None:
        step, history, resumed_from = state["step"], state["history"], state["step"]

    def scores():
        if eval_images is not None:
            return predict(model, x_eval, amp_dtype=amp_dtype)
        model.eval()
        return network_outputs(model, eval_files, cfg, width=int(attrs["num_classes"]),
                               batch_size=recipe["batch_size"], workers=workers, device=device, amp=amp)[0]

    def evaluate():
        return metrics.score(metric, eval_labels, scores())

    first_step, loop_started = step, time.time()
    if train_images is None:
        batches = file_batches(train_paths, root, size, recipe, step, steps_per_epoch, workers)
    while step < recipe["steps"]:
        idx = batch_indices(recipe["seed"], step, steps_per_epoch, len(y_train), recipe["batch_size"]).to(device)
        if train_images is not None:
            xb = augment(x_train_raw[idx], size, _step_generator(recipe["seed"], step, 1), recipe["crop_scale_min"])
        else:
            xb = next(batches).to(device, non_blocking=True)
        xb = normalize(xb, cfg["mean"], cfg["std"]).contiguous(memory_format=memory_format)
        torch.manual_seed(step_seed(recipe["seed"], step, 2))  # dropout and any other global draws
        set_cosine_lr(optimizer, lr, step, recipe["steps"])
        model.train()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = _loss(model(xb).float(), y_train[idx], multilabel)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step % recipe["eval_every"] == 0 or step == recipe["steps"]:
            loss_value = loss.item()  # one host synchronisation per evaluation, not per step
            if not math.isfinite(loss_value):
                if fit == "trainval":
                    raise FloatingPointError(f"loss became {loss_value} by step {step} (lr {lr}): the refit "
                                             "diverged")
                diverged_at = step
                log.warning("loss became %s by step %d (lr %g): recording this grid point as diverged",
                            loss_value, step, lr)
                break
            history.append({"step": step, "metric": evaluate(), "loss": loss_value})
            log.info("step %d/%d  loss %.4f  %s %s %.4f", step, recipe["steps"], loss_value, eval_split, metric,
                     history[-1]["metric"])
        if step % recipe["checkpoint_every"] == 0 or step == recipe["steps"]:
            save_state(state_path, config, model, optimizer, step=step, history=history)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    train_seconds = time.time() - loop_started

    final_scores = None if diverged_at else scores()
    result = {
        "model": model_name or loaded.info["arch"], "arch": loaded.info["arch"], "dataset": attrs["dataset"],
        "setting": "finetune" if init == "pretrained" else "scratch", "init": init, "fit": fit,
        "lr": lr, "weight_decay": weight_decay, "metric": metric, "eval_split": eval_split,
        "final_metric": None if diverged_at else metrics.score(metric, eval_labels, final_scores),
        "diverged_at_step": diverged_at, "history": history,
        "steps_per_epoch": steps_per_epoch, "bn_momentum": _bn_momentum(steps_per_epoch),
        "sizes": sizes, "n_fit": len(y_train), "split_seed": attrs.get("split_seed"), "recipe": recipe,
        "device": str(device), "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else None,
        "resumed_from_step": resumed_from, "config_hash": config_hash, "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": config["checkpoint_sha256"], "dataset_sha256": config["dataset_sha256"],
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round((step - first_step) * recipe["batch_size"] / max(train_seconds, 1e-9), 1),
        "wall_seconds": round(time.time() - started, 2), "versions": library_versions(), **(record or {}),
    }
    if predictions_path is not None:
        write_predictions(predictions_path, eval_labels, final_scores,
                          {"model": result["model"], "dataset": result["dataset"], "setting": result["setting"],
                           "metric": metric})
    write_json(out_path, result)
    if not keep_state:
        state_path.unlink(missing_ok=True)
    return result


def select_hyperparameters(grid_paths, out_path=None):
    """The grid point with the best final validation metric (ties: the smaller learning rate, then the
    smaller weight decay); diverged points are listed but never chosen. Returns (and writes) the selection:
    the chosen pair, every grid point's outcome, and the chosen run's validation curve."""
    runs = sorted((read_json(path) | {"path": str(path)} for path in grid_paths),
                  key=lambda run: (run["lr"], run["weight_decay"]))
    if not runs:
        raise ValueError("no grid results to select from")
    keys = {(run["model"], run["dataset"], run["setting"], run["fit"]) for run in runs}
    if len(keys) > 1 or runs[0]["fit"] != "train":
        raise ValueError(f"grid results mix runs (model, dataset, setting, fit): {sorted(keys)}")
    finished = [run for run in runs if run["final_metric"] is not None]
    if not finished:
        raise ValueError("every grid point diverged: " + ", ".join(run["path"] for run in runs)
                         + "; lower the learning rates in the config")
    best = max(finished, key=lambda run: run["final_metric"])  # max keeps the first of equals
    selection = {
        "model": best["model"], "dataset": best["dataset"], "setting": best["setting"], "metric": best["metric"],
        "lr": best["lr"], "weight_decay": best["weight_decay"], "val_metric": best["final_metric"],
        "history": best["history"], "steps": best["recipe"]["steps"],
        "grid": [{"lr": run["lr"], "weight_decay": run["weight_decay"], "val_metric": run["final_metric"],
                  "diverged_at_step": run["diverged_at_step"], "config_hash": run["config_hash"],
                  "path": run["path"]} for run in runs],
    }
    if out_path is not None:
        write_json(out_path, selection)
    return selection


def refit_options(selection_path):
    """The ``train_run`` options of a refit from a selection file: its learning rate and weight decay, and
    the selection itself, recorded in the result."""
    selection = read_json(selection_path)
    return {"lr": selection["lr"], "weight_decay": selection["weight_decay"], "record": {"selection": selection}}


def _select_main(argv):
    parser = argparse.ArgumentParser(prog="python -m transferstudy.finetune select",
                                     description="Pick the grid point with the best validation metric.")
    parser.add_argument("grid", nargs="+", help="grid-point result JSONs of one (model, dataset, setting)")
    parser.add_argument("--out", required=True, help="selection JSON")
    args = parser.parse_args(argv)
    selection = select_hyperparameters(args.grid, args.out)
    print(f"lr {selection['lr']:g}, weight decay {selection['weight_decay']:g}: "
          f"validation {selection['metric']} {selection['val_metric']:.4f}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["select"]:
        return _select_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="pretrained checkpoint .pt or zoo record .json (for init=random: its "
                                           "architecture)")
    parser.add_argument("dataset", help="dataset HDF5 (from transferstudy.datasets)")
    parser.add_argument("--init", choices=INITS, default="pretrained")
    parser.add_argument("--lr", type=float)
    parser.add_argument("--weight-decay", type=float, default=0.0, help="divided by the learning rate, as in the paper")
    parser.add_argument("--selection", help="selection JSON (from `select`): its lr and weight decay, recorded")
    parser.add_argument("--fit", choices=sorted(FITS), default="train")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--state", required=True, help="resumable state file")
    parser.add_argument("--predictions", help="HDF5 for the evaluation split's scores")
    parser.add_argument("--model-name")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="image-decoding processes (for file datasets)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bfloat16 autocast (default: on for CUDA, off for CPU)")
    for key, default in DEFAULT_RECIPE.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    refit = refit_options(args["selection"]) if args["selection"] else {"record": None}
    args.update(lr=refit.get("lr", args["lr"]), weight_decay=refit.get("weight_decay", args["weight_decay"]))
    if args["lr"] is None:
        parser.error("give --lr (and --weight-decay), or --selection")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = {key: args.pop(key) for key in DEFAULT_RECIPE}
    train_run(args["checkpoint"], args["dataset"], args["out"], args["state"], init=args["init"], lr=args["lr"],
              weight_decay=args["weight_decay"], fit=args["fit"], recipe=recipe,
              predictions_path=args["predictions"], model_name=args["model_name"], threads=args["threads"],
              device=args["device"], amp=args["amp"], workers=args["workers"], record=refit["record"])


if __name__ == "__main__":
    main()
