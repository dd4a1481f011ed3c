"""Training-set-size subsets: a dataset (or a features file of it) with ``k`` examples per class in its training
and validation splits, drawn with a seed; the test split whole.

A subset is a dataset of its own to the workflow, named ``<dataset>.<k>shot.seed<s>`` (``stars_fine.5shot.seed1``),
so that probes, estimators and the training arms run on it unchanged. Its split files are cut from the full
dataset's file (images or paths, for training) and from each network's features file (for the probe), never
extracted again.

- **Drawn per class, nested**: each class's examples are shuffled with the seed and the first ``k`` taken, so
  the 2-shot subset of a seed lies inside its 5-shot subset (curves over sizes differ by the added examples,
  not by a new draw).
- **Validation**: ``k`` examples per class of the dataset's own validation split (its official one, or the
  hold-out of ``split``), drawn the same way: hyper-parameters are chosen on as little data per class as the
  model is trained on, as a few-shot user would have to.
- **Capped, recorded**: a class with fewer than ``k`` examples in a split keeps all it has; the file records
  which classes were capped and their counts (``capped``), and the tables carry the count of capped classes.
- **Single-label datasets only**: "examples per class" has no meaning when an example has several labels
  (the configuration refuses multi-label datasets in ``subsets.datasets``).

    python -m transferstudy subset results/data/stars_fine.h5 --shots 5 --seed 1 --out stars_fine.5shot.seed1.h5
"""

from __future__ import annotations

import hashlib
import logging
import numbers
import re

import numpy as np

from ..errors import InputError
from ..io import SOURCE_HEAD, SPLITS, open_hdf5, read_attrs, write_split_file
from ..provenance import library_versions, sha256_file

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<dataset>.+)\.(?P<shots>[1-9][0-9]*)shot\.seed(?P<seed>[0-9]+)$")
SUBSET_SPLITS = ("train", "val")  # cut to k per class; test stays whole


def subset_name(dataset, shots, seed):
    """The name of a subset as a dataset of the study: ``stars_fine.5shot.seed1``."""
    return f"{dataset}.{shots}shot.seed{seed}"


def parse_subset_name(name):
    """(dataset, shots, seed) of a subset's name, or None for a name that is not one."""
    match = _NAME.match(name)
    if match is None:
        return None
    return match["dataset"], int(match["shots"]), int(match["seed"])


def draw(labels, shots, seed):
    """Sorted indices of ``shots`` examples per class of ``labels`` (all of a class with fewer), nested over
    ``shots`` for one seed; and ``{class: available}`` for the classes that had fewer."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise InputError(f"subsets need one label per example; got labels of shape {labels.shape} (multi-label)")
    rng = np.random.default_rng(seed)
    taken, capped = [], {}
    for k in np.unique(labels):
        members = np.flatnonzero(labels == k)
        order = members[rng.permutation(len(members))]  # a permutation per class: the same for every ``shots``
        taken.append(order[:shots])
        if len(members) < shots:
            capped[int(k)] = int(len(members))
    return np.sort(np.concatenate(taken)), capped


def _indices_sha256(indices):
    return hashlib.sha256(np.asarray(indices, np.int64).tobytes()).hexdigest()


def write_subset(source_path, out_path, *, shots, seed):
    """Cut a split file (a dataset's or a features file) to ``shots`` examples per class in train and val, with
    ``seed``; every array of each split is cut alike, test is copied whole. Returns the subset's attributes."""
    for name, value, least in (("shots", shots, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
            raise InputError(f"{name} = {value!r} (--{name}): give a whole number of at least {least}")
    attrs = read_attrs(source_path, required=("dataset", "multilabel"))
    if attrs["multilabel"]:
        raise InputError(f"{source_path}: dataset {attrs['dataset']!r} is multi-label; a subset of k examples per "
                         "class needs one label per example")
    splits, record = {}, {}
    with open_hdf5(source_path) as f:
        for split in SPLITS:
            arrays = {name: f[split][name][()] for name in f[split]}
            if split in SUBSET_SPLITS:
                indices, capped = draw(arrays["labels"], shots, seed)
                arrays = {name: array[indices] for name, array in arrays.items()}
                record[split] = {"size": int(len(indices)), "of": int(len(f[split]["labels"])),
                                 "indices_sha256": _indices_sha256(indices), "capped": capped}
                if capped:
                    log.warning("%s: %d class(es) have fewer than %d examples; all of theirs taken: %s", split,
                                len(capped), shots, dict(list(capped.items())[:5]))
            splits[split] = arrays
        if SOURCE_HEAD in f:  # a features file's source classifier, for LEEP and NCE on the subset
            splits[SOURCE_HEAD] = {name: f[SOURCE_HEAD][name][()] for name in f[SOURCE_HEAD]}
    base = attrs["dataset"]
    attrs.update({"dataset": subset_name(base, shots, seed),
                  "subset": {"dataset": base, "shots": shots, "seed": seed, "source_sha256": sha256_file(source_path),
                             **record},
                  "versions": library_versions()})
    write_split_file(out_path, splits, attrs)
    return attrs
