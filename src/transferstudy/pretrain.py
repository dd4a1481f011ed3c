"""Pretrain a zoo architecture on the source dataset (the ImageNet stand-in) with one shared recipe.

Writes a checkpoint (weights + the preprocessing the network was trained with, like timm's
``pretrained_cfg``) and a JSON with the measured source top-1 on the source validation split.

    python -m transferstudy.pretrain mini_resnet8 shapes64.h5 --checkpoint ckpt.pt --metrics metrics.json
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import models
from .io import read_split_file, save_torch, write_json
from .provenance import library_versions, sha256_file
from .training import set_cosine_lr, sgd_nesterov

log = logging.getLogger(__name__)

DEFAULT_RECIPE = {
    "epochs": 8,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "label_smoothing": 0.0,
    "augment": True,
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


def pretrain(arch, source_path, checkpoint_path, metrics_path, *, recipe=None, seed=0, threads=1, device="cpu"):
    recipe = {**DEFAULT_RECIPE, **(recipe or {})}
    unknown = set(recipe) - set(DEFAULT_RECIPE)
    if unknown:
        raise ValueError(f"pretrain recipe: unknown key(s) {sorted(unknown)}; valid: {sorted(DEFAULT_RECIPE)}")
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
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

    num_classes = int(attrs["num_classes"])
    model = models.create_model(arch, num_classes=num_classes).to(device)
    optimizer = sgd_nesterov(model, recipe["lr"], recipe["momentum"], recipe["weight_decay"])
    steps_per_epoch = math.ceil(len(x_train) / recipe["batch_size"])
    total_steps = recipe["epochs"] * steps_per_epoch

    log.info("pretraining %s (%d parameters) on %s: %d images, %d classes, %d epochs",
             arch, sum(p.numel() for p in model.parameters()), attrs["dataset"], len(x_train), num_classes,
             recipe["epochs"])
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
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=recipe["label_smoothing"])
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

    source_top1 = evaluate_top1(model, x_val, y_val)
    log.info("source top-1 on %s/val: %.4f", attrs["dataset"], source_top1)
    checkpoint = {
        "arch": arch,
        "num_classes": num_classes,
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
        "pretrained_cfg": {"input_size": [3, *x_train.shape[2:]], "mean": mean, "std": std,
                           "interpolation": "bilinear", "crop_pct": 1.0},
        "recipe": recipe,
        "seed": seed,
        "source_dataset": attrs["dataset"],
    }
    save_torch(checkpoint, checkpoint_path)
    metrics = {
        "arch": arch, "source_dataset": attrs["dataset"], "source_top1": source_top1,
        "source_val_size": len(x_val), "recipe": recipe, "seed": seed,
        "checkpoint_sha256": sha256_file(checkpoint_path), "wall_seconds": round(time.time() - started, 2),
        "history": history, "versions": library_versions(),
    }
    write_json(metrics_path, metrics)
    return metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("arch", choices=models.list_models())
    parser.add_argument("source", help="source dataset HDF5 (from transferstudy.datasets)")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--metrics", required=True)
    parser.add_argument("--epochs", type=int, default=DEFAULT_RECIPE["epochs"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    pretrain(args.arch, args.source, args.checkpoint, args.metrics, recipe={"epochs": args.epochs},
             seed=args.seed, threads=args.threads, device=args.device)


if __name__ == "__main__":
    main()
