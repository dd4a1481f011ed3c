"""Extract penultimate-layer features of a pretrained network for every split of a dataset, to HDF5.

The output has groups ``train``, ``val``, ``test``, each with ``features`` (float32 [N, D]) and
``labels``; file attributes record the model, weights file and hash, layer, preprocessing, split seed,
skipped images and library versions. No augmentation: each image is resized to the network's native size
(its own interpolation, antialiased) and centre-cropped, as in the paper. Image files are decoded in
DataLoader workers; on CUDA the network runs in bfloat16 autocast and channels_last, from pinned memory.

The model is a workflow checkpoint (``.pt``), a zoo record (``results/models/<model>/pretrain.json``), or
``torchvision:NAME[:WEIGHTS]`` / ``timm:NAME.TAG`` (weights from the local caches):

    python -m transferstudy.features CHECKPOINT.pt DATASET.h5 --out FEATURES.h5
    python -m transferstudy.features torchvision:resnet50:IMAGENET1K_V1 DATASET.h5 --out FEATURES.h5 --workers 8
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from . import images, pretrained
from .io import SPLITS, read_attrs, write_split_file
from .pretrain import images_to_tensor, normalize
from .switches import switches_label
from .provenance import library_versions, sha256_file
from .training import precision

log = logging.getLogger(__name__)

# Dataset attributes copied into the features file, so a probe needs nothing else.
_DATASET_ATTRS = ("dataset", "metric", "multilabel", "num_classes", "classes", "seed", "val_split", "split_seed",
                  "val_fraction", "options", "root", "missing_images")


def preprocess(images_uint8, cfg):
    """Evaluation preprocessing of a batch of uint8 [N, H, W, 3] images for a network with ``pretrained_cfg``
    ``cfg``: resize, centre crop to its native size, normalise with its statistics; float32 [N, 3, S, S]."""
    x = images.resize_center_crop(images_to_tensor(images_uint8), int(cfg["input_size"][-1]),
                                  cfg.get("crop_pct", 1.0), cfg.get("interpolation", "bilinear"))
    return normalize(x, cfg["mean"], cfg["std"])


@torch.no_grad()
def network_outputs(forward, dataset, cfg, *, width, batch_size=256, workers=0, device="cpu", amp=None):
    """``forward`` of every image of a ``SplitImages`` (already in eval preprocessing), normalised with the
    network's statistics on ``device``: float32 [N, width], and the indices of the images it skipped."""
    device = torch.device(device)
    amp_dtype = precision(device, amp)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    out, skipped = [], []
    batches = images.loader(dataset, batch_size=batch_size, workers=workers, pin_memory=device.type == "cuda")
    for x, _, skipped_here in batches:
        skipped += skipped_here
        if x is None:
            continue
        x = normalize(x.to(device, non_blocking=True), cfg["mean"], cfg["std"]).contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out.append(forward(x).float().cpu().numpy())
    return (np.concatenate(out) if out else np.zeros((0, width), np.float32)), skipped


def penultimate_features(loaded, dataset, *, batch_size=256, workers=0, device="cpu", amp=None):
    """Features of a ``SplitImages`` (float32 [N, D]) and the indices of the images it skipped."""
    return network_outputs(loaded.penultimate, dataset, loaded.pretrained_cfg, width=loaded.num_features,
                           batch_size=batch_size, workers=workers, device=device, amp=amp)


def extract_features(model_ref, dataset_path, out_path, *, model_name=None, batch_size=256, threads=1,
                     device="cpu", workers=0, amp=None, unreadable="error"):
    torch.set_num_threads(threads)
    loaded = pretrained.load(model_ref)
    loaded.body.to(device)
    if torch.device(device).type == "cuda":
        loaded.body.to(memory_format=torch.channels_last)
    cfg = loaded.pretrained_cfg
    data_attrs = read_attrs(dataset_path)
    transform = images.eval_transform(cfg)
    started = time.time()
    out, skipped_files, count = {}, {}, 0
    for split in SPLITS:
        array, paths, labels, root = images.split_source(dataset_path, split)
        dataset = images.SplitImages(array, paths, root, transform=transform, unreadable=unreadable)
        feats, skipped = penultimate_features(loaded, dataset, batch_size=batch_size,
                                              workers=workers if paths is not None else 0, device=device, amp=amp)
        if not np.isfinite(feats).all():
            raise ValueError(f"{model_ref} on {dataset_path}/{split}: {np.count_nonzero(~np.isfinite(feats))} "
                             "non-finite feature values")
        if skipped:
            skipped_files[split] = [paths[i] for i in skipped]
            log.warning("%s: skipped %d unreadable image(s), e.g. %s", split, len(skipped), skipped_files[split][:3])
            labels = np.delete(labels, skipped, axis=0)
        out[split] = {"features": feats, "labels": labels}
        count += len(dataset)
        log.info("%s: %d images -> features %s (%.1f s)", split, len(dataset), feats.shape, time.time() - started)
    seconds = time.time() - started
    amp_dtype = precision(device, amp)
    attrs = {key: data_attrs[key] for key in _DATASET_ATTRS if key in data_attrs}
    attrs.update({
        "model": model_name or loaded.info["arch"],
        "arch": loaded.info["arch"],
        "checkpoint": loaded.info["weights_file"],
        "checkpoint_sha256": loaded.info["sha256"],
        "weights": loaded.info.get("weights"),
        "source_dataset": loaded.info["source_dataset"],
        "layer": loaded.info["layer"],
        # The regularisation switches its pretraining turned on (workflow checkpoints only).
        "switches": None if loaded.info.get("switches") is None else switches_label(loaded.info["switches"]),
        "feature_dim": int(loaded.num_features),
        "image_size": int(cfg["input_size"][-1]),
        "preprocessing": {"resize": "shorter side to image_size / crop_pct", "interpolation": cfg["interpolation"],
                          "antialias": True, "crop": "centre", "crop_pct": cfg.get("crop_pct", 1.0),
                          "mean": cfg["mean"], "std": cfg["std"], "augmentation": None},
        "skipped_images": skipped_files,
        "dataset_sha256": sha256_file(dataset_path),
        "device": str(device),
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else None,
        "images_per_second": round(count / max(seconds, 1e-9), 1),
        "versions": library_versions(),
    })
    write_split_file(out_path, out, {k: v for k, v in attrs.items() if v is not None})
    return out, attrs


def model_reference(text):
    """A CLI model argument: a path, or ``torchvision:NAME[:WEIGHTS]`` / ``timm:NAME``, as a spec."""
    source, _, rest = text.partition(":")
    if source == "torchvision" and rest:
        name, _, weights = rest.partition(":")
        return {"torchvision": name, "weights": weights or "DEFAULT"}
    if source == "timm" and rest:
        return {"timm": rest}
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="checkpoint .pt, zoo record .json, torchvision:NAME[:WEIGHTS] or timm:NAME")
    parser.add_argument("dataset", help="dataset HDF5 (from transferstudy.datasets)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model-name")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="image-decoding processes (for file datasets)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="bfloat16 autocast (default: on for CUDA, off for CPU)")
    parser.add_argument("--unreadable", choices=images.UNREADABLE, default="error",
                        help="an image that cannot be read: fail naming it, or skip it and count it")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    extract_features(model_reference(args.model), args.dataset, args.out, model_name=args.model_name,
                     batch_size=args.batch_size, threads=args.threads, device=args.device, workers=args.workers,
                     amp=args.amp, unreadable=args.unreadable)


if __name__ == "__main__":
    main()
