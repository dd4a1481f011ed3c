"""Seeded splits of a dataset's labelled examples: a validation split held out of train (``holdout_split``),
and the test split of declared data that come without one.

Class labels are split per class (stratified), each class keeping at least one example on each side;
multi-label rows ([N, C] of 0/1) are split as a whole.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def stratified_take(rng, labels, fraction):
    """Indices of a stratified ``fraction`` of ``labels`` (at least one per class) and of the rest."""
    taken = []
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        taken.append(members[: max(1, int(round(fraction * len(members))))])
    taken = np.sort(np.concatenate(taken))
    rest = np.setdiff1d(np.arange(len(labels)), taken)
    return taken, rest


def hold_out(rng, labels, fraction, what="a validation split"):
    """(kept, held out) sorted index arrays: a ``fraction`` of ``labels`` held out, drawn with ``rng``."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        order = rng.permutation(len(labels))
        n_held = int(round(fraction * len(labels)))
        return np.sort(order[n_held:]), np.sort(order[:n_held])
    counts = np.bincount(labels)
    if counts[counts > 0].min() < 2:
        raise InputError(f"cannot hold out {what}: class {int(np.flatnonzero(counts == 1)[0])} has fewer than 2 "
                         "training examples")
    held, kept = stratified_take(rng, labels, fraction)
    return kept, held


def holdout_split(labels, fraction, seed):
    """Split training indices into (train, val), seeded: stratified for class labels, plain for multi-label."""
    return hold_out(np.random.default_rng(seed), labels, fraction)
