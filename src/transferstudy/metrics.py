"""The paper's three transfer metrics; each dataset names the one it is scored by.

- ``top1``: fraction of examples whose highest-scoring class is the label.
- ``mean_per_class``: top-1 computed per class, then averaged over classes (Aircraft, Pets, Caltech,
  Flowers in the paper).
- ``map11``: VOC 2007's 11-point interpolated average precision per class, averaged over classes.
"""

from __future__ import annotations

import numpy as np


def top1(labels, scores):
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def mean_per_class_accuracy(labels, scores):
    correct = np.argmax(scores, axis=1) == labels
    return float(np.mean([correct[labels == k].mean() for k in np.unique(labels)]))


def average_precision_11point(targets, scores):
    """VOC 2007 AP: mean over recall thresholds t in {0, 0.1, ..., 1} of the best precision at recall >= t.

    ``targets`` is 0/1 per example for one class; ties in ``scores`` are ranked in input order.
    """
    targets = np.asarray(targets).astype(bool)
    if not targets.any():
        raise ValueError("11-point AP is undefined for a class with no positive example")
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits = targets[order]
    true_pos = np.cumsum(hits)
    precision = true_pos / np.arange(1, len(hits) + 1)
    recall = true_pos / hits.sum()
    points = [precision[recall >= t].max() if (recall >= t).any() else 0.0 for t in np.linspace(0, 1, 11)]
    return float(np.mean(points))


def mean_average_precision_11point(targets, scores):
    """Mean 11-point AP over the classes (columns) that have at least one positive example."""
    targets = np.asarray(targets)
    present = np.flatnonzero(targets.sum(axis=0) > 0)
    return float(np.mean([average_precision_11point(targets[:, k], scores[:, k]) for k in present]))


METRIC_FUNCTIONS = {
    "top1": top1,
    "mean_per_class": mean_per_class_accuracy,
    "map11": mean_average_precision_11point,
}


def score(metric, labels, scores):
    """Score ``scores`` ([N, C]) against ``labels`` ([N] classes or [N, C] 0/1) with the named metric."""
    if metric not in METRIC_FUNCTIONS:
        raise ValueError(f"unknown metric {metric!r}; valid: {', '.join(METRIC_FUNCTIONS)}")
    return METRIC_FUNCTIONS[metric](np.asarray(labels), np.asarray(scores))
