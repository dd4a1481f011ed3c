"""The paper's three transfer metrics; each dataset names the one it is scored by.

- ``top1``: fraction of examples whose highest-scoring class is the label.
- ``mean_per_class``: top-1 computed per class, then averaged over classes (Aircraft, Pets, Caltech,
  Flowers in the paper).
- ``map11``: VOC 2007's 11-point interpolated average precision per class, averaged over classes.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

# The metric names a dataset is scored by; the multi-label ones need labels [N, C] of 0/1.
METRICS = ("top1", "mean_per_class", "map11")
MULTILABEL_METRICS = ("map11",)


def top1(labels, scores):
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def mean_per_class_accuracy(labels, scores):
    correct = np.argmax(scores, axis=1) == labels
    return float(np.mean([correct[labels == k].mean() for k in np.unique(labels)]))


def average_precision_11point(targets, scores):
    """VOC 2007 AP: mean over recall thresholds t in {0, 0.1, ..., 1} of the best precision at recall >= t.

    ``targets`` is 0/1 per example for one class; ties in ``scores`` are ranked in input order.
    """
    return float(average_precision_11point_rows(targets, np.asarray(scores)[None])[0])


def average_precision_11point_rows(targets, scores):
    """11-point AP of each row of ``scores`` [R, N] against one class's 0/1 ``targets`` [N], vectorised
    (for permutation tests, which rank the same examples many times)."""
    targets = np.asarray(targets).astype(bool)
    if not targets.any():
        raise InputError("11-point AP is undefined for a class with no positive example")
    order = np.argsort(-scores, axis=1, kind="stable")
    true_pos = np.cumsum(targets[order], axis=1)
    precision = true_pos / np.arange(1, scores.shape[1] + 1)
    recall = true_pos / targets.sum()
    # Precision is non-negative, so "0 where recall < t" leaves the max over recall >= t (0 if none).
    return np.mean([np.where(recall >= t, precision, 0.0).max(axis=1) for t in np.linspace(0, 1, 11)], axis=0)


def mean_average_precision_11point(targets, scores):
    """Mean 11-point AP over the classes (columns) that have at least one positive example."""
    targets = np.asarray(targets)
    present = np.flatnonzero(targets.sum(axis=0) > 0)
    if not len(present):
        raise InputError("11-point mAP is undefined: no class has a positive example")
    return float(np.mean([average_precision_11point(targets[:, k], scores[:, k]) for k in present]))


METRIC_FUNCTIONS = {
    "top1": top1,
    "mean_per_class": mean_per_class_accuracy,
    "map11": mean_average_precision_11point,
}


def score(metric, labels, scores):
    """Score ``scores`` ([N, C]) against ``labels`` ([N] classes or [N, C] 0/1) with the named metric."""
    if metric not in METRIC_FUNCTIONS:
        raise InputError(f"unknown metric {metric!r}; valid: {', '.join(METRIC_FUNCTIONS)}")
    return METRIC_FUNCTIONS[metric](np.asarray(labels), np.asarray(scores))
