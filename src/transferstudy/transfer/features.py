"""Extract penultimate-layer features of a pretrained network for every split of a dataset, to HDF5.

The output has groups ``train``, ``val``, ``test``, each with ``features`` (float32 [N, D]) and
``labels``; file attributes record the model, weights file and hash, layer, preprocessing, split seed,
skipped images and library versions. No augmentation: each image is resized to the network's native size
(its own interpolation, antialiased) and centre-cropped, as in the paper. Image files are decoded in
DataLoader workers; the network runs channels_last, on CUDA in bfloat16 autocast from pinned memory.

The model is a workflow checkpoint (``.pt``), a zoo record (``results/models/<model>/pretrain.json``), or
``torchvision:NAME[:WEIGHTS]`` / ``timm:NAME.TAG`` / ``pretrainedmodels:NAME`` (weights from the local caches)
/ ``python:FILE.py:FUNCTION`` (a builder of one's own):

    python -m transferstudy features CHECKPOINT.pt DATASET.h5 --out FEATURES.h5
    python -m transferstudy features torchvision:resnet50:IMAGENET1K_V1 DATASET.h5 --out FEATURES.h5 --workers 8
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from ..config import FeatureOptions
from ..data import images
from ..errors import InputError
from ..io import SOURCE_HEAD, read_dataset, write_split_file
from ..nets import pretrained
from ..nets.inference import MEMORY_FORMAT, penultimate_features, precision, precision_label
from ..provenance import library_versions, sha256_file
from ..switches import switches_label

log = logging.getLogger(__name__)

# Dataset attributes copied into the features file, so a probe needs nothing else.
_DATASET_ATTRS = ("dataset", "metric", "multilabel", "num_classes", "classes", "seed", "val_split", "split_seed",
                  "val_fraction", "options", "root", "missing_images")


def extract_features(model_ref, dataset_path, out_path, *, model_name=None, options=None, threads=1, device="cpu"):
    """Penultimate features of every split of a dataset file, with ``options`` (``FeatureOptions``: batch size,
    decoding workers, autocast, unreadable images); writes and returns ({split: arrays}, attributes)."""
    options = FeatureOptions.of(options)
    batch_size, workers, amp, unreadable = options.batch_size, options.workers, options.amp, options.unreadable
    torch.set_num_threads(threads)
    loaded = pretrained.load(model_ref)
    loaded.body.to(device, memory_format=MEMORY_FORMAT)
    cfg, info = loaded.pretrained_cfg, loaded.info
    splits, data_attrs = read_dataset(dataset_path)
    transform = images.eval_transform(cfg)
    started = time.time()
    out, skipped_files, count = {}, {}, 0
    for split, data in splits.items():
        paths, labels = data.paths, data.labels
        dataset = images.SplitImages(data.images, paths, data.root, transform=transform, unreadable=unreadable)
        feats, skipped = penultimate_features(loaded, dataset, batch_size=batch_size,
                                              workers=workers if paths is not None else 0, device=device, amp=amp)
        if not np.isfinite(feats).all():
            raise InputError(f"{model_ref} on {dataset_path}/{split}: {np.count_nonzero(~np.isfinite(feats))} "
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
    head = loaded.head if isinstance(loaded.head, torch.nn.Linear) else None  # the source classifier, if any
    attrs = {key: data_attrs[key] for key in _DATASET_ATTRS if key in data_attrs}
    attrs.update({
        "model": model_name or info.arch,
        "arch": info.arch,
        "checkpoint": info.weights_file,
        "checkpoint_sha256": info.sha256,
        "weights": info.weights,
        "source_dataset": info.source_dataset,
        "layer": info.layer,
        # The regularisation switches its pretraining turned on (workflow checkpoints only).
        "switches": None if info.switches is None else switches_label(info.switches),
        "feature_dim": int(loaded.num_features),
        # The source classifier's classes (0: the network has none); the classifier itself is group source_head.
        "source_classes": int(head.out_features) if head is not None else 0,
        "image_size": cfg.image_size,
        "preprocessing": {"resize": "shorter side to image_size / crop_pct", "interpolation": cfg.interpolation,
                          "antialias": True, "crop": "centre", "crop_pct": cfg.crop_pct,
                          "mean": cfg.mean, "std": cfg.std, "augmentation": None},
        "skipped_images": skipped_files,
        "dataset_sha256": sha256_file(dataset_path),
        "device": str(device),
        "amp": precision_label(amp_dtype),
        "images_per_second": round(count / max(seconds, 1e-9), 1),
        "versions": library_versions(),
    })
    written = dict(out)
    if head is not None:  # LEEP and NCE read it from here, without torch
        bias = head.bias if head.bias is not None else torch.zeros(head.out_features)
        written[SOURCE_HEAD] = {"weight": head.weight.detach().float().cpu().numpy(),
                                "bias": bias.detach().float().cpu().numpy()}
    write_split_file(out_path, written, {k: v for k, v in attrs.items() if v is not None})
    return out, attrs
