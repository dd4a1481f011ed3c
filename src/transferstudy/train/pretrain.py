"""Pretrain an architecture on the source dataset (the ImageNet stand-in, or ImageNet) with a recipe
(``config.PretrainRecipe``).

Writes a checkpoint (weights + the preprocessing the network was trained with, like timm's
``pretrained_cfg``) and a JSON with the measured source top-1 on the source validation split.

The recipe holds the paper's four regularisation switches (``switches.SWITCHES``) as the keys ``bn_gamma``
(false: batch norm without its scale), ``label_smoothing`` (amount), ``dropout`` (rate before the classifier) and
``aux_head`` (an auxiliary classifier whose loss is added with weight ``aux_weight``); all off is the controlled
recipe. Gamma and dropout are part of the network, so they stay in it when it is fine-tuned; the auxiliary head
only serves pretraining and is dropped when the checkpoint is loaded.

A source held in its split file (the mini-study's) trains in memory with random translations and flips. A
source of image files (ImageNet) streams random-resized crops through workers, step by step, saving a resumable
state every ``checkpoint_every`` steps: a killed job started again continues from there, and ends where an
uninterrupted one would. Both run through ``loop.StepLoop``.

    python -m transferstudy pretrain mini_resnet8 shapes64.h5 --checkpoint ckpt.pt --metrics metrics.json \
        [--no-bn-gamma] [--label-smoothing 0.1] [--dropout 0.2] [--aux-head --aux-weight 0.4]
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import PretrainRecipe, StudyOptions
from ..data import images
from ..data.preprocessing import PretrainedCfg
from ..errors import InputError
from ..io import SPLIT_FILE_ATTRS, read_dataset, save_torch, write_json
from ..nets import architectures
from ..nets.costs import size_record
from ..nets.inference import network_outputs, predict
from ..provenance import library_versions, sha256_file
from ..switches import model_options, switches_label, switches_on
from .batches import CropBatches, TranslateFlipBatches
from .loop import StepLoop, sgd_nesterov

log = logging.getLogger(__name__)

# ImageNet's per-channel statistics: the preprocessing of networks pretrained on image files.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _loss(recipe):
    """The pretraining loss: cross-entropy (label-smoothed by the recipe), plus ``aux_weight`` times each
    auxiliary classifier's; (loss, main logits)."""
    def loss(model, x, y):
        logits, aux_logits = architectures.train_outputs(model, x)
        value = F.cross_entropy(logits.float(), y, label_smoothing=recipe.label_smoothing)
        for aux in aux_logits:
            value = value + recipe.aux_weight * F.cross_entropy(aux.float(), y, label_smoothing=recipe.label_smoothing)
        return value, logits
    return loss


def pretrain(arch, source_path, checkpoint_path, metrics_path, *, recipe=None, seed=StudyOptions.seed, threads=1,
             device="cpu", state_path=None, workers=0, amp=None):
    """Pretrain ``arch`` on the source dataset with ``recipe`` (a ``PretrainRecipe``, or a mapping of its keys);
    writes the checkpoint and the metrics JSON (returned). A source of image files needs ``state_path``."""
    recipe = PretrainRecipe.of(recipe)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    started = time.time()
    splits, attrs = read_dataset(source_path, ("train", "val"), required=SPLIT_FILE_ATTRS)
    num_classes = int(attrs["num_classes"])
    options = model_options(recipe.as_dict())
    model = architectures.create_model(arch, num_classes=num_classes, **options).to(device)
    switches = switches_on(recipe.as_dict())
    log.info("pretraining %s (%d parameters) on %s: %d classes, %d epochs, switches on: %s", arch,
             sum(p.numel() for p in model.parameters()), attrs["dataset"], num_classes, recipe.epochs,
             switches_label(switches))
    if splits["val"].paths is None:
        run = _pretrain_in_memory(model, arch, splits, recipe, seed, device)
    else:
        if state_path is None:
            raise InputError(f"{source_path} is a dataset of image files: pretraining on it needs a state file "
                             "to resume from (state_path)")
        run = _pretrain_on_files(model, arch, source_path, splits, num_classes, recipe, seed, device, state_path,
                                 workers, amp)
    log.info("source top-1 on %s/val: %.4f", attrs["dataset"], run["source_top1"])
    checkpoint = {
        "arch": arch, "num_classes": num_classes, "model_options": options, "switches": switches,
        "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "pretrained_cfg": run["cfg"].as_dict(),
        "recipe": recipe.as_dict(), "seed": seed, "source_dataset": attrs["dataset"],
    }
    save_torch(checkpoint, checkpoint_path)
    metrics = {
        "arch": arch, "source_dataset": attrs["dataset"], "source_top1": run["source_top1"],
        "source_val_size": run["val_size"], **size_record(model, run["cfg"].image_size),
        "pretraining_data": attrs["dataset"], "pretraining_data_from": "the workflow's own pretraining",
        "recipe": recipe.as_dict(), "switches": switches, "seed": seed,
        "checkpoint_sha256": sha256_file(checkpoint_path), "wall_seconds": round(time.time() - started, 2),
        "resumed_from_step": run["loop"].resumed_from, "history": run["loop"].history,
        "versions": library_versions(),
    }
    write_json(metrics_path, metrics)
    if state_path is not None:
        Path(state_path).unlink(missing_ok=True)
    return metrics


def _epoch_report(loop, steps_per_epoch):
    """Each epoch's mean training loss and top-1 into the loop's history, and the log."""
    def report(step, stats):
        epoch = math.ceil(step / steps_per_epoch)
        loop.history.append({"step": step, "epoch": epoch, "train_loss": stats["loss"], "train_top1": stats["top1"]})
        log.info("step %d/%d (epoch %d)  loss %.4f  train top-1 %.4f", step, loop.total_steps, epoch,
                 stats["loss"], stats["top1"])
    return report


def _pretrain_in_memory(model, arch, splits, recipe, seed, device):
    generator = torch.Generator().manual_seed(seed)
    x_train = images.images_to_tensor(splits["train"].images)
    y_train = torch.from_numpy(splits["train"].labels).long()
    x_val = images.images_to_tensor(splits["val"].images)
    y_val = splits["val"].labels
    # Like ImageNet's constants: per-channel statistics of the source training set.
    mean = x_train.mean(dim=(0, 2, 3)).tolist()
    std = x_train.std(dim=(0, 2, 3)).tolist()
    x_train, x_val = images.normalize(x_train, mean, std).to(device), images.normalize(x_val, mean, std).to(device)
    batches = TranslateFlipBatches(x_train, y_train.to(device), batch_size=recipe.batch_size, generator=generator,
                                   augment=recipe.augment)
    optimizer = sgd_nesterov(model, recipe.lr, recipe.momentum, recipe.weight_decay)
    # The order, translations and flips come from one generator in sequence, and so do the global draws
    # (dropout): this run does not resume.
    loop = StepLoop(model, optimizer, lr=recipe.lr, total_steps=recipe.epochs * batches.steps_per_epoch,
                    device=device, amp=False, name=f"pretraining of {arch}")
    loop.run(batches, _loss(recipe), report_every=batches.steps_per_epoch,
             report=_epoch_report(loop, batches.steps_per_epoch))
    cfg = PretrainedCfg(input_size=(3, *x_train.shape[2:]), mean=tuple(mean), std=tuple(std), crop_pct=1.0)
    top1 = float((predict(model, x_val, batch_size=512).argmax(1) == y_val).mean())
    return {"source_top1": top1, "val_size": len(x_val), "cfg": cfg, "loop": loop}


def _pretrain_on_files(model, arch, source_path, splits, num_classes, recipe, seed, device, state_path, workers,
                       amp):
    device = torch.device(device)
    train_paths, y_train, root = splits["train"].paths, splits["train"].labels, splits["train"].root
    val_paths, y_val = splits["val"].paths, splits["val"].labels
    size = recipe.image_size
    cfg = PretrainedCfg(input_size=(3, size, size), mean=IMAGENET_MEAN, std=IMAGENET_STD, crop_pct=0.875)
    steps_per_epoch = math.ceil(len(y_train) / recipe.batch_size)
    total_steps = recipe.epochs * steps_per_epoch
    optimizer = sgd_nesterov(model, recipe.lr, recipe.momentum, recipe.weight_decay)
    loop = StepLoop(model, optimizer, lr=recipe.lr,
                    total_steps=total_steps, device=device, amp=amp, draws_seed=seed, state_path=state_path,
                    state_config={"arch": arch, "recipe": recipe.as_dict(), "seed": seed,
                                  "source_sha256": sha256_file(source_path)},
                    checkpoint_every=recipe.checkpoint_every, name=f"pretraining of {arch}")
    # The crop draws and the order of examples are functions of (seed, step): a resumed run sees the same.
    batches = CropBatches(y_train, paths=train_paths, root=root, size=size, mean=cfg.mean, std=cfg.std,
                          seed=seed, batch_size=recipe.batch_size, crop_scale_min=recipe.crop_scale_min,
                          total_steps=total_steps, first_step=loop.step, device=device, workers=workers)
    loop.run(batches, _loss(recipe), report_every=steps_per_epoch,
             report=_epoch_report(loop, steps_per_epoch))
    model.eval()
    val = images.SplitImages(paths=val_paths, root=root, transform=images.eval_transform(cfg))
    scores, _ = network_outputs(model, val, cfg, width=num_classes, batch_size=recipe.batch_size, workers=workers,
                                device=device, amp=amp)
    top1 = float((scores.argmax(1) == np.asarray(y_val)).mean())
    return {"source_top1": top1, "val_size": len(y_val), "cfg": cfg, "loop": loop}
