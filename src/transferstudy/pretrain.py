"""Pretrain a zoo architecture on the source dataset (the ImageNet stand-in) with one shared recipe.

Writes a checkpoint (weights + the preprocessing the network was trained with, like timm's
``pretrained_cfg``) and a JSON with the measured source top-1 on the source validation split.

The recipe holds the paper's four regularisation switches (``switches.SWITCHES``: no_bn_gamma, label_smoothing,
dropout, aux_head) as the keys ``bn_gamma`` (false: batch norm without its scale), ``label_smoothing``
(amount), ``dropout`` (rate before the classifier) and ``aux_head`` (an auxiliary classifier whose loss is
added with weight ``aux_weight``); all off is the controlled recipe.
Gamma and dropout are part of the network, so they stay in it when it is fine-tuned; the auxiliary head
only serves pretraining and is dropped when the checkpoint is loaded.

    python -m transferstudy.pretrain mini_resnet8 shapes64.h5 --checkpoint ckpt.pt --metrics metrics.json \
        [--no-bn-gamma] [--label-smoothing 0.1] [--dropout 0.2] [--aux-head --aux-weight 0.4]
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import images, models
from .io import read_attrs, read_split_file, save_torch, write_json
from .provenance import library_versions, sha256_file
from .switches import model_options, switches_label, switches_on
from .training import precision, resume, save_state, set_cosine_lr, sgd_nesterov, step_seed

log = logging.getLogger(__name__)

# ImageNet's per-channel statistics: the preprocessing of networks pretrained on image files.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DEFAULT_RECIPE = {
    "epochs": 8,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "label_smoothing": 0.0,
    "augment": True,
    "bn_gamma": True,
    "dropout": 0.0,
    "aux_head": False,
    "aux_weight": 0.4,
    # Sources of image files (ImageNet) only: crop size, smallest crop area, steps between saved states.
    "image_size": 224,
    "crop_scale_min": 0.08,
    "checkpoint_every": 1000,
}
def images_to_tensor(images):
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def normalize(x, mean, std):
    """Per-channel (x - mean) / std, on ``x``'s device and dtype."""
    mean = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def augment_batch(x, generator, pad=3):
    """Random translation (reflect-pad, crop) and horizontal flip, per example."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = offsets[i].tolist()
        crop = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


@torch.no_grad()
def evaluate_top1(model, x, y, batch_size=512):
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size])
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum().item()
    return correct / len(x)


def _loss(logits, aux_logits, y, recipe):
    """Cross-entropy (label-smoothed by the recipe), plus ``aux_weight`` times each auxiliary classifier's."""
    loss = F.cross_entropy(logits, y, label_smoothing=recipe["label_smoothing"])
    for aux in aux_logits:
        loss = loss + recipe["aux_weight"] * F.cross_entropy(aux, y, label_smoothing=recipe["label_smoothing"])
    return loss


def pretrain(arch, source_path, checkpoint_path, metrics_path, *, recipe=None, seed=0, threads=1, device="cpu",
             state_path=None, workers=0, amp=None):
    """Pretrain ``arch`` on the source dataset; writes the checkpoint and the metrics JSON (returned).

    A source of images in the split file (the mini-study's) trains in memory, per epoch. A source of image
    files (ImageNet) streams them through ``workers`` with random-resized crops, step by step, saving a
    resumable state to ``state_path`` every ``checkpoint_every`` steps: a killed job started again
    continues from there, and ends where an uninterrupted one would.
    """
    recipe = {**DEFAULT_RECIPE, **(recipe or {})}
    unknown = set(recipe) - set(DEFAULT_RECIPE)
    if unknown:
        raise ValueError(f"pretrain recipe: unknown key(s) {sorted(unknown)}; valid: {sorted(DEFAULT_RECIPE)}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    started = time.time()
    attrs = read_attrs(source_path)
    num_classes = int(attrs["num_classes"])
    options = model_options(recipe)
    model = models.create_model(arch, num_classes=num_classes, **options).to(device)
    switches = switches_on(recipe)
    log.info("pretraining %s (%d parameters) on %s: %d classes, %d epochs, switches on: %s", arch,
             sum(p.numel() for p in model.parameters()), attrs["dataset"], num_classes, recipe["epochs"],
             switches_label(switches))
    if images.split_source(source_path, "val")[1] is None:
        run = _pretrain_in_memory(model, source_path, recipe, seed, device)
    else:
        if state_path is None:
            raise ValueError(f"{source_path} is a dataset of image files: pretraining on it needs a state file "
                             "to resume from (state_path)")
        run = _pretrain_on_files(model, arch, source_path, num_classes, recipe, seed, device, state_path, workers,
                                 amp)
    log.info("source top-1 on %s/val: %.4f", attrs["dataset"], run["source_top1"])
    checkpoint = {
        "arch": arch, "num_classes": num_classes, "model_options": options, "switches": switches,
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "pretrained_cfg": run["cfg"],
        "recipe": recipe, "seed": seed, "source_dataset": attrs["dataset"],
    }
    save_torch(checkpoint, checkpoint_path)
    metrics = {
        "arch": arch, "source_dataset": attrs["dataset"], "source_top1": run["source_top1"],
        "source_val_size": run["val_size"], "recipe": recipe, "switches": switches, "seed": seed,
        "checkpoint_sha256": sha256_file(checkpoint_path), "wall_seconds": round(time.time() - started, 2),
        "resumed_from_step": run.get("resumed_from_step"), "history": run["history"],
        "versions": library_versions(),
    }
    write_json(metrics_path, metrics)
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)
    return metrics


def _pretrain_in_memory(model, source_path, recipe, seed, device):
    generator = torch.Generator().manual_seed(seed)
    splits, attrs = read_split_file(source_path, ("images", "labels"), splits=("train", "val"))
    x_train = images_to_tensor(splits["train"]["images"])
    y_train = torch.from_numpy(splits["train"]["labels"]).long()
    x_val = images_to_tensor(splits["val"]["images"])
    y_val = torch.from_numpy(splits["val"]["labels"]).long()
    # Like ImageNet's constants: per-channel statistics of the source training set.
    mean = x_train.mean(dim=(0, 2, 3)).tolist()
    std = x_train.std(dim=(0, 2, 3)).tolist()
    x_train, x_val = normalize(x_train, mean, std).to(device), normalize(x_val, mean, std).to(device)
    y_train, y_val = y_train.to(device), y_val.to(device)
    optimizer = sgd_nesterov(model, recipe["lr"], recipe["momentum"], recipe["weight_decay"])
    steps_per_epoch = math.ceil(len(x_train) / recipe["batch_size"])
    total_steps = recipe["epochs"] * steps_per_epoch
    history = []
    started = time.time()
    for epoch in range(recipe["epochs"]):
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        loss_sum = correct = 0.0
        for step in range(steps_per_epoch):
            idx = order[step * recipe["batch_size"]:(step + 1) * recipe["batch_size"]].to(device)
            xb, yb = x_train[idx], y_train[idx]
            if recipe["augment"]:
                xb = augment_batch(xb, generator)
            set_cosine_lr(optimizer, recipe["lr"], epoch * steps_per_epoch + step, total_steps)
            logits, aux_logits = models.train_outputs(model, xb)
            loss = _loss(logits, aux_logits, yb, recipe)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
        entry = {"epoch": epoch + 1, "train_loss": loss_sum / len(x_train), "train_top1": correct / len(x_train),
                 "seconds": round(time.time() - started, 2)}
        history.append(entry)
        log.info("epoch %d/%d  loss %.4f  train top-1 %.4f  (%.0f s)", epoch + 1, recipe["epochs"],
                 entry["train_loss"], entry["train_top1"], entry["seconds"])
    cfg = {"input_size": [3, *x_train.shape[2:]], "mean": mean, "std": std, "interpolation": "bilinear",
           "crop_pct": 1.0}
    return {"source_top1": evaluate_top1(model, x_val, y_val), "val_size": len(x_val), "history": history,
            "cfg": cfg}


def _pretrain_on_files(model, arch, source_path, num_classes, recipe, seed, device, state_path, workers, amp):
    from .features import network_outputs
    from .finetune import batch_indices, file_batches

    device = torch.device(device)
    amp_dtype = precision(device, amp)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    _, train_paths, y_train, root = images.split_source(source_path, "train")
    _, val_paths, y_val, _ = images.split_source(source_path, "val")
    size = recipe["image_size"]
    cfg = {"input_size": [3, size, size], "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
           "interpolation": "bilinear", "crop_pct": 0.875}
    steps_per_epoch = math.ceil(len(y_train) / recipe["batch_size"])
    total_steps = recipe["epochs"] * steps_per_epoch
    # The crop draws and the order of examples are functions of (seed, step): a resumed run sees the same.
    stream = {"steps": total_steps, "seed": seed, "batch_size": recipe["batch_size"],
              "crop_scale_min": recipe["crop_scale_min"]}
    y_train = torch.as_tensor(y_train).long().to(device)
    model.to(memory_format=memory_format)
    optimizer = sgd_nesterov(model, recipe["lr"], recipe["momentum"], recipe["weight_decay"])
    config = {"arch": arch, "recipe": recipe, "seed": seed, "source_sha256": sha256_file(source_path)}
    step, history, resumed_from, loss_sum = 0, [], None, 0.0
    state = resume(state_path, config, model, optimizer, device)
    if state is not None:
        step, history, resumed_from, loss_sum = state["step"], state["history"], state["step"], state["loss_sum"]
    batches = file_batches(train_paths, root, size, stream, step, steps_per_epoch, workers)
    while step < total_steps:
        idx = batch_indices(seed, step, steps_per_epoch, len(y_train), recipe["batch_size"]).to(device)
        xb = next(batches).to(device, non_blocking=True)
        xb = normalize(xb, cfg["mean"], cfg["std"]).contiguous(memory_format=memory_format)
        torch.manual_seed(step_seed(seed, step, 2))  # dropout's draws, per step
        set_cosine_lr(optimizer, recipe["lr"], step, total_steps)
        model.train()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits, aux_logits = models.train_outputs(model, xb)
            loss = _loss(logits.float(), [aux.float() for aux in aux_logits], y_train[idx], recipe)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        loss_sum += loss.item()
        if step % steps_per_epoch == 0 or step == total_steps:
            history.append({"step": step, "epoch": math.ceil(step / steps_per_epoch),
                            "train_loss": loss_sum / ((step - 1) % steps_per_epoch + 1)})
            log.info("step %d/%d (epoch %d)  loss %.4f", step, total_steps, history[-1]["epoch"],
                     history[-1]["train_loss"])
            loss_sum = 0.0
        if step % recipe["checkpoint_every"] == 0 or step == total_steps:
            save_state(state_path, config, model, optimizer, step=step, history=history, loss_sum=loss_sum)
    model.eval()
    val = images.SplitImages(paths=val_paths, root=root, transform=images.eval_transform(cfg))
    scores, _ = network_outputs(model, val, cfg, width=num_classes, batch_size=recipe["batch_size"],
                                workers=workers, device=device, amp=amp)
    top1 = float((scores.argmax(1) == np.asarray(y_val)).mean())
    return {"source_top1": top1, "val_size": len(y_val), "history": history, "cfg": cfg,
            "resumed_from_step": resumed_from}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", help=f"one of {', '.join(models.list_models())}, or a torchvision architecture")
    parser.add_argument("source", help="source dataset HDF5 (from transferstudy.datasets)")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--epochs", type=int, default=DEFAULT_RECIPE["epochs"])
    parser.add_argument("--no-bn-gamma", dest="bn_gamma", action="store_false", help="batch norm without its scale")
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout rate before the classifier")
    parser.add_argument("--aux-head", action="store_true", help="an auxiliary classifier, for pretraining only")
    parser.add_argument("--aux-weight", type=float, default=DEFAULT_RECIPE["aux_weight"])
    parser.add_argument("--image-size", type=int, default=DEFAULT_RECIPE["image_size"], help="image-file sources")
    parser.add_argument("--state", help="resumable state file (needed for sources of image files)")
    parser.add_argument("--workers", type=int, default=0, help="image-decoding processes (image-file sources)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recipe = {key: args[key] for key in ("epochs", "bn_gamma", "label_smoothing", "dropout", "aux_head",
                                         "aux_weight", "image_size")}
    pretrain(args["arch"], args["source"], args["checkpoint"], args["metrics"], recipe=recipe, seed=args["seed"],
             threads=args["threads"], device=args["device"], state_path=args["state"], workers=args["workers"])


if __name__ == "__main__":
    main()
