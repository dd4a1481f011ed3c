"""What a features file must hold before anything is fitted or scored on it: the probe and the
transferability estimators refuse the same things, with the same messages, before any work."""

from __future__ import annotations

import numpy as np

from ..data.splits import check_test_rows
from ..errors import InputError


def check_features(path, splits, num_classes, multilabel):
    """Refuse features nothing can be fitted or scored on, naming the file, split and problem: fewer than 2
    classes, an empty split, features that are not [N, D] with D >= 1, NaN or inf, training features identical
    for every example (a network whose outputs carry nothing: every fit would be the class prior), labels that
    are not whole class indices (or 0/1 columns, multi-label) or leave a class without a training example, a test
    split that mostly repeats the training and validation features (``check_test_rows``)."""
    if num_classes < 2:
        raise InputError(f"{path}: {num_classes} class(es); a classifier needs at least 2 (every score would be "
                         "perfect)")
    for split, arrays in splits.items():
        feats, labels = arrays["features"], arrays["labels"]
        if len(labels) == 0:
            raise InputError(f"{path}: split '{split}' has no examples")
        if feats.ndim != 2 or feats.shape[1] == 0:
            raise InputError(f"{path}: split '{split}' features must be [N, D] with D >= 1, got shape {feats.shape}")
        bad = np.count_nonzero(~np.isfinite(feats))
        if bad:
            raise InputError(f"{path}: split '{split}' has {bad} NaN/inf feature values")
        if split == "train" and len(feats) > 1 and np.array_equal(feats.min(axis=0), feats.max(axis=0)):
            raise InputError(f"{path}: split 'train' has the same features for every example (each of its "
                             f"{feats.shape[1]} dimensions is constant): they carry no information about the labels; "
                             "were the network's weights or the images loaded as intended?")
        if multilabel:
            if labels.ndim != 2 or labels.shape[1] != num_classes:
                raise InputError(f"{path}: split '{split}' multi-label labels must be [N, {num_classes}] 0/1, "
                                 f"got shape {labels.shape}")
            if split == "train":
                missing = np.flatnonzero(labels.sum(0) == 0)
                if len(missing):
                    raise InputError(f"{path}: split 'train' has no positive example of class(es) {missing.tolist()}")
            elif not labels.any():
                raise InputError(f"{path}: split '{split}' has no positive example of any class: its mAP, which "
                                 "chooses the penalty or scores the probe, is undefined")
        else:
            if labels.ndim != 1:
                raise InputError(f"{path}: split '{split}' labels must be [N] class indices, got shape {labels.shape}")
            if not np.issubdtype(labels.dtype, np.integer):
                raise InputError(f"{path}: split '{split}' labels must be whole class indices, got {labels.dtype} "
                                 "values")
            outside = labels[(labels < 0) | (labels >= num_classes)]
            if len(outside):
                raise InputError(f"{path}: split '{split}' has labels outside [0, {num_classes}): "
                                 f"{sorted(set(outside.tolist()))[:10]}")
            missing = np.setdiff1d(np.arange(num_classes), labels)
            if len(missing):
                raise InputError(f"{path}: class(es) {missing.tolist()[:20]} missing from split '{split}'")
    if "test" in splits:
        check_test_rows(str(path), [splits[split]["features"] for split in ("train", "val") if split in splits],
                        splits["test"]["features"], "feature rows")
