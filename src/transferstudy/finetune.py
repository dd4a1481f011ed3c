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
configuration is refused, not resumed.

    python -m transferstudy.finetune CHECKPOINT.pt DATASET.h5 --init pretrained --lr 0.01 \
        --weight-decay 1e-4 --fit train --out RESULT.json --state STATE.pt
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics, models
from .features import preprocess
from .io import read_split_file, save_torch, write_json, write_predictions
from .pretrain import images_to_tensor, load_checkpoint, normalize
from .provenance import library_versions, sha256_file
from .training import set_cosine_lr, sgd_nesterov

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
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


def augment(x, size, generator, scale_min):
    """Random resized crop (area fraction in [scale_min, 1], aspect ratio in [3/4, 4/3]) and horizontal flip,
    per example; ``x`` is float [N, 3, H, W]."""
    n, _, h, w = x.shape
    out = torch.empty(n, x.shape[1], size, size)
    area = torch.empty(n).uniform_(scale_min, 1.0, generator=generator) * h * w
    log_ratio = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator)
    position = torch.rand(n, 2, generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    for i in range(n):
        ratio = math.exp(log_ratio[i].item())
        ch = max(1, min(h, round(math.sqrt(area[i].item() / ratio))))
        cw = max(1, min(w, round(math.sqrt(area[i].item() * ratio))))
        top = int(position[i, 0].item() * (h - ch + 1))
        left = int(position[i, 1].item() * (w - cw + 1))
        crop = x[i:i + 1, :, top:top + ch, left:left + cw]
        crop = F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[i] = crop[0].flip(-1) if flips[i] else crop[0]
    return out


def build_model(init, pretrained, arch, num_classes, seed):
    """The pretrained network with a new classifier, or its architecture freshly initialised (seeded)."""
    torch.manual_seed(seed)
    if init == "random":
        return models.create_model(arch, num_classes=num_classes)
    pretrained.fc = torch.nn.Linear(pretrained.num_features, num_classes)
    return pretrained


def _bn_momentum(steps_per_epoch):
    """PyTorch momentum for TensorFlow's batch-norm decay max(1 - 10/s, 0.9)."""
    return 1.0 - max(1.0 - 10.0 / steps_per_epoch, 0.9)


def _loss(logits, y, multilabel):
    if multilabel:
        return F.binary_cross_entropy_with_logits(logits, y.float())
    return F.cross_entropy(logits, y)


@torch.no_grad()
def predict(model, x, batch_size=256):
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def _config_hash(config):
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def train_run(checkpoint_path, dataset_path, out_path, state_path, *, init, lr, weight_decay, fit,
              recipe=None, predictions_path=None, model_name=None, threads=1):
    """One fine-tune or scratch run, resumable; writes the result JSON (and test predictions for a refit)."""
    recipe = {**DEFAULT_RECIPE, **(recipe or {})}
    check_run(lr, weight_decay, recipe, init, fit)
    torch.set_num_threads(threads)
    started = time.time()
    splits, attrs = read_split_file(dataset_path, ("images", "labels"))
    eval_split = FITS[fit][1]
    if fit == "trainval":
        train_images = np.concatenate([splits["train"]["images"], splits["val"]["images"]])
        train_labels = np.concatenate([splits["train"]["labels"], splits["val"]["labels"]])
    else:
        train_images, train_labels = splits["train"]["images"], splits["train"]["labels"]
    if recipe["batch_size"] > len(train_labels):
        raise ValueError(f"batch size {recipe['batch_size']} is larger than the training split of {dataset_path} "
                         f"({len(train_labels)} examples)")
    eval_images, eval_labels = splits[eval_split]["images"], splits[eval_split]["labels"]
    multilabel, metric = bool(attrs["multilabel"]), attrs["metric"]
    pretrained, checkpoint = load_checkpoint(checkpoint_path)
    cfg = checkpoint["pretrained_cfg"]
    size = cfg["input_size"][-1]

    # Augmentation crops the stored image; normalisation follows, as for evaluation.
    x_train_raw = images_to_tensor(train_images)
    y_train = torch.as_tensor(train_labels)
    y_train = y_train if multilabel else y_train.long()
    x_eval = preprocess(eval_images, cfg)

    config = {"init": init, "lr": lr, "weight_decay": weight_decay, "fit": fit, "recipe": recipe,
              "checkpoint_sha256": sha256_file(checkpoint_path), "dataset_sha256": sha256_file(dataset_path)}
    config_hash = _config_hash(config)
    model = build_model(init, pretrained, checkpoint["arch"], int(attrs["num_classes"]), recipe["seed"])
    steps_per_epoch = math.ceil(len(y_train) / recipe["batch_size"])
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = _bn_momentum(steps_per_epoch)
    optimizer = sgd_nesterov(model, lr, recipe["momentum"], weight_decay / lr)
    step, history, resumed_from = 0, [], None
    state_path = Path(state_path)
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state["config_hash"] != config_hash:
            raise ValueError(f"{state_path} was written by a run with another configuration "
                             f"({state['config']}); delete it to start this run ({config}) afresh")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step, history, resumed_from = state["step"], state["history"], state["step"]
        log.info("resuming from %s at step %d of %d", state_path, step, recipe["steps"])

    def save_state():
        save_torch({"config_hash": config_hash, "config": config, "step": step, "history": history,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict()}, state_path)

    def evaluate():
        return metrics.score(metric, eval_labels, predict(model, x_eval))

    first_step, loop_started = step, time.time()
    while step < recipe["steps"]:
        epoch, position = divmod(step, steps_per_epoch)
        order = torch.randperm(len(y_train), generator=_step_generator(recipe["seed"], epoch, 0))
        idx = order[position * recipe["batch_size"]:(position + 1) * recipe["batch_size"]]
        xb = normalize(augment(x_train_raw[idx], size, _step_generator(recipe["seed"], step, 1),
                               recipe["crop_scale_min"]), cfg["mean"], cfg["std"])
        torch.manual_seed((recipe["seed"] * 1_000_003 + step) * 7 + 2)  # dropout and any other global draws
        set_cosine_lr(optimizer, lr, step, recipe["steps"])
        model.train()
        loss = _loss(model(xb), y_train[idx], multilabel)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss became {loss.item()} at step {step} (lr {lr}): the run diverged")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step % recipe["eval_every"] == 0 or step == recipe["steps"]:
            history.append({"step": step, "metric": evaluate(), "loss": loss.item()})
            log.info("step %d/%d  loss %.4f  %s %s %.4f", step, recipe["steps"], loss.item(), eval_split, metric,
                     history[-1]["metric"])
        if step % recipe["checkpoint_every"] == 0 or step == recipe["steps"]:
            save_state()
    train_seconds = time.time() - loop_started

    scores = predict(model, x_eval)
    result = {
        "model": model_name or checkpoint["arch"], "dataset": attrs["dataset"],
        "setting": "finetune" if init == "pretrained" else "scratch", "init": init, "fit": fit,
        "lr": lr, "weight_decay": weight_decay, "metric": metric, "eval_split": eval_split,
        "final_metric": metrics.score(metric, eval_labels, scores), "history": history,
        "steps_per_epoch": steps_per_epoch, "bn_momentum": _bn_momentum(steps_per_epoch),
        "sizes": {"train": len(y_train), eval_split: len(eval_labels)}, "recipe": recipe,
        "resumed_from_step": resumed_from, "config_hash": config_hash, "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": config["checkpoint_sha256"], "dataset_sha256": config["dataset_sha256"],
        "train_seconds": round(train_seconds, 3),
        "images_per_second": round((step - first_step) * recipe["batch_size"] / max(train_seconds, 1e-9), 1),
        "wall_seconds": round(time.time() - started, 2), "versions": library_versions(),
    }
    if predictions_path is not None:
        write_predictions(predictions_path, eval_labels, scores,
                          {"model": result["model"], "dataset": result["dataset"], "setting": result["setting"],
                           "metric": metric})
    write_json(out_path, result)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="pretrained checkpoint (for init=random: its architecture)")
    parser.add_argument("dataset", help="dataset HDF5 (from transferstudy.datasets)")
    parser.add_argument("--init", choices=INITS, default="pretrained")
    parser.add_argument("--lr", type=float, required=True)
    parser.add_argument("--weight-decay", type=float, default=0.0, help="divided by the learning rate, as in the paper")
    parser.add_argument("--fit", choices=sorted(FITS), default="train")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--state", required=True, help="resumable state file")
    parser.add_argument("--predictions", help="HDF5 for the evaluation split's scores")
    parser.add_argument("--model-name")
    parser.add_argument("--threads", type=int, default=1)
    for key, default in DEFAULT_RECIPE.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = {key: args.pop(key) for key in DEFAULT_RECIPE}
    train_run(args["checkpoint"], args["dataset"], args["out"], args["state"], init=args["init"], lr=args["lr"],
              weight_decay=args["weight_decay"], fit=args["fit"], recipe=recipe,
              predictions_path=args["predictions"], model_name=args["model_name"], threads=args["threads"])


if __name__ == "__main__":
    main()
