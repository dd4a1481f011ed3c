"""Seeded splits of a dataset's labelled examples: a validation split held out of train (``holdout_split``),
and the test split of declared data that come without one; and the check that a test split does not repeat
the data fitted on (``check_test_repeats``).

Class labels are split per class (stratified), each class keeping at least one example on each side;
multi-label rows ([N, C] of 0/1) are split as a whole.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)


def stratified_take(rng, labels, fraction):
    """Indices of a stratified ``fraction`` of ``labels`` (at least one per class) and of the rest."""
    taken = []
    for k in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == k))
        taken.append(members[: max(1, int(round(fraction * len(members))))])
    taken = np.sort(np.concatenate(taken))
    rest = np.setdiff1d(np.arange(len(labels)), taken)
    return taken, rest


def hold_out(rng, labels, fraction, what="a validation split", key="split.val_fraction", classes=None):
    """(kept, held out) sorted index arrays: a ``fraction`` of ``labels`` held out, drawn with ``rng``. Refused,
    naming ``key`` (the option that sets ``fraction``) and the class, where a class would keep no example (a
    multi-label class no positive example) to train on."""
    labels = np.asarray(labels)
    name = (lambda k: repr(classes[k]) if classes is not None else str(k))
    if labels.ndim == 2:
        order = rng.permutation(len(labels))
        n_held = int(round(fraction * len(labels)))
        kept, held = np.sort(order[n_held:]), np.sort(order[:n_held])
        lost = np.flatnonzero((labels.sum(0) > 0) & (labels[kept].sum(0) == 0))
        if len(lost):
            raise InputError(f"{key} = {fraction} holds out {what} of {n_held} of the {len(labels)} training images, "
                             f"leaving class {name(int(lost[0]))} no positive example to train on; lower {key}")
        return kept, held
    counts = np.bincount(labels)
    for k in np.flatnonzero(counts):
        n = int(counts[k])
        n_held = max(1, int(round(fraction * n)))
        if n - n_held < 1:
            raise InputError(f"{key} = {fraction} cannot hold out {what}: class {name(int(k))} has {n} training "
                             f"example(s), and holding out {n_held} (at least one per class) leaves none to train on"
                             + (f"; lower {key}" if n > 1 else ""))
    held, kept = stratified_take(rng, labels, fraction)
    return kept, held


def holdout_split(labels, fraction, seed, classes=None):
    """Split training indices into (train, val), seeded: stratified for class labels, plain for multi-label."""
    return hold_out(np.random.default_rng(seed), labels, fraction, classes=classes)


def row_digests(rows):
    """A 16-byte digest of each row's bytes (``rows``: an array [N, ...]): equal rows, equal digests."""
    rows = np.ascontiguousarray(rows)
    return [hashlib.blake2b(row, digest_size=16).digest() for row in rows]


def check_test_rows(where, fitted, test, what):
    """``check_test_repeats`` of the rows of ``test`` (an array [N, ...]) equal to a row of the ``fitted`` arrays
    (train's and val's); returns how many there are."""
    seen = {digest for rows in fitted for digest in row_digests(rows)}
    repeats = sum(digest in seen for digest in row_digests(test))
    check_test_repeats(where, repeats, len(test), what)
    return repeats


def check_test_repeats(where, repeats, total, what="examples", examples=()):
    """Refuse a test split that mostly repeats the data fitted on (train and val): the same data given twice,
    whose test score would measure memory, not transfer. A few repeats are a property of some published datasets
    (exact duplicates across their splits): they are logged, not refused."""
    if not repeats:
        return
    shown = f" (e.g. {', '.join(map(str, examples))})" if examples else ""
    if 2 * repeats >= total:
        raise InputError(f"{where}: {repeats} of the {total} test {what} are identical to training or validation "
                         f"{what}{shown}: the test split repeats the data fitted on (the same data given twice?), so "
                         "a test score would measure memory, not transfer; give test data of its own")
    log.warning("%s: %d of the %d test %s are identical to training or validation %s%s; their test scores count "
                "examples the model was fitted on", where, repeats, total, what, what, shown)
