"""Extract penultimate-layer features of a pretrained network for every split of a dataset, to HDF5.

The output has groups ``train``, ``val``, ``test``, each with ``features`` (float32 [N, D]) and
``labels``; file attributes record the model, checkpoint hash, layer, preprocessing, split seed and
library versions. No augmentation: images are resized to the network's native size (bilinear,
antialiased) and centre-cropped, as in the paper.

    python -m transferstudy.features CHECKPOINT.pt DATASET.h5 --out FEATURES.h5
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import models
from .io import SPLITS, read_split_file, write_split_file
from .pretrain import images_to_tensor, load_checkpoint, normalize
from .provenance import library_versions, sha256_file

log = logging.getLogger(__name__)

# Dataset attributes copied into the features file, so a probe needs nothing else.
_DATASET_ATTRS = ("dataset", "metric", "multilabel", "num_classes", "classes", "seed", "val_split", "split_seed",
                  "val_fraction", "options")


def resize_center_crop(x, size, crop_pct=1.0):
    """Resize the shorter side to ``size / crop_pct`` (bilinear, antialiased), then centre-crop ``size``."""
    h, w = x.shape[-2:]
    scale_to = int(round(size / crop_pct))
    if (h, w) != (scale_to, scale_to) or h != w:
        factor = scale_to / min(h, w)
        new_hw = (max(size, round(h * factor)), max(size, round(w * factor)))
        x = F.interpolate(x, size=new_hw, mode="bilinear", antialias=True, align_corners=False)
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def preprocess(images, cfg):
    """Evaluation preprocessing of uint8 [N, H, W, 3] images for a network with ``pretrained_cfg`` ``cfg``:
    resize, centre crop to its native size, normalise with its statistics; float32 [N, 3, S, S]."""
    x = resize_center_crop(images_to_tensor(images), cfg["input_size"][-1], cfg.get("crop_pct", 1.0))
    return normalize(x, cfg["mean"], cfg["std"])


@torch.no_grad()
def penultimate_features(model, images, cfg, *, batch_size=256, device="cpu"):
    """Features of uint8 [N, H, W, 3] images under the network's own preprocessing, float32 [N, D]."""
    out = []
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start:start + batch_size], cfg)
        out.append(models.penultimate(model, x.to(device)).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.num_features), np.float32)


def extract_features(checkpoint_path, dataset_path, out_path, *, model_name=None, batch_size=256, threads=1,
                     device="cpu"):
    torch.set_num_threads(threads)
    model, checkpoint = load_checkpoint(checkpoint_path)
    model.to(device)
    cfg = checkpoint["pretrained_cfg"]
    splits, data_attrs = read_split_file(dataset_path, ("images", "labels"))
    started = time.time()
    out = {}
    for split in SPLITS:
        images, labels = splits[split]["images"], splits[split]["labels"]
        feats = penultimate_features(model, images, cfg, batch_size=batch_size, device=device)
        if not np.isfinite(feats).all():
            raise ValueError(f"{checkpoint_path} on {dataset_path}/{split}: {np.count_nonzero(~np.isfinite(feats))} "
                             "non-finite feature values")
        out[split] = {"features": feats, "labels": labels}
        log.info("%s: %d images -> features %s (%.1f s)", split, len(images), feats.shape, time.time() - started)
    attrs = {key: data_attrs[key] for key in _DATASET_ATTRS if key in data_attrs}
    attrs.update({
        "model": model_name or checkpoint["arch"],
        "arch": checkpoint["arch"],
        "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": sha256_file(checkpoint_path),
        "source_dataset": checkpoint["source_dataset"],
        "layer": model.penultimate_layer,
        "feature_dim": int(out["train"]["features"].shape[1]),
        "image_size": int(cfg["input_size"][-1]),
        "preprocessing": {"resize": "shorter side to image_size / crop_pct", "interpolation": cfg["interpolation"],
                          "antialias": True, "crop": "centre", "crop_pct": cfg.get("crop_pct", 1.0),
                          "mean": cfg["mean"], "std": cfg["std"], "augmentation": None},
        "dataset_sha256": sha256_file(dataset_path),
        "device": str(device),
        "versions": library_versions(),
    })
    write_split_file(out_path, out, attrs)
    return out, attrs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("dataset", help="dataset HDF5 (from transferstudy.datasets)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-name")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    extract_features(args.checkpoint, args.dataset, args.out, model_name=args.model_name,
                     batch_size=args.batch_size, threads=args.threads, device=args.device)


if __name__ == "__main__":
    main()
