"""Dataset registry: each dataset knows its classes, its splits and the metric the paper scores it by.

Embedded datasets (the mini-study's) are built in memory; the paper's 12 (``OFFICIAL``) are read from their
official on-disk formats under a root directory (``data.official``); datasets of one's own are declared in the
config (``dataset_info`` with a ``format``: a class-folder tree, a CSV manifest or arrays; ``data.declared``).
``prepare_dataset`` writes any of them once to an HDF5 split file: per split ``labels`` ([N] or [N, C] 0/1) and
the images, as ``images`` (uint8 [N, H, W, 3]) for embedded datasets, CIFAR and declared arrays, or as ``paths``
(files relative to the ``root`` attribute) for the rest. Where a dataset has no official validation split, a
stratified, seeded hold-out of its training split becomes one (``holdout_split``), as the paper does.

    python -m transferstudy datasets shapes64 --out shapes64.h5
    python -m transferstudy datasets dtd --root /data/dtd --out dtd.h5
    python -m transferstudy datasets mine --out mine.h5 \\
        --declare '{"format": "image_folder", "root": "mine", "metric": "top1", "test_fraction": 0.2}'
"""

from __future__ import annotations

import functools
import itertools
import logging
import zlib
from pathlib import Path
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from . import declared, official, synthetic
from ..errors import InputError
from .splits import holdout_split, stratified_take
from ..config import DatasetDeclaration
from ..io import open_hdf5, read_attrs, write_json, write_split_file
from ..metrics import METRICS
from ..provenance import library_versions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    metric: str
    description: str
    build: Callable[..., dict]
    options: dict = field(default_factory=dict)
    multilabel: bool = False
    official_val: bool = False
    role: str = "target"
    kind: str = "embedded"  # embedded: generated here; official: read from files under a root
    # options -> DatasetSizes, known before the dataset is built (what a cost plan counts); None: unknown
    sizes: Callable[..., DatasetSizes] | None = None


@dataclass(frozen=True)
class DatasetSizes:
    """Examples per split and classes. ``val`` is 0 where the validation split is held out of ``train`` (which
    then holds both), as the paper counts "train (incl. val)"."""

    classes: int
    train: int
    val: int
    test: int

    def held_out(self, val_fraction):
        """The sizes once a validation split of ``val_fraction`` is held out of train (where there is none)."""
        if self.val:
            return self
        val = round(self.train * val_fraction)
        return DatasetSizes(self.classes, self.train - val, val, self.test)


def read_sizes(path):
    """The sizes of a built dataset file (``prepare_dataset``'s)."""
    with open_hdf5(path) as f:
        counts = {split: len(f[split]["labels"]) if split in f else 0 for split in ("train", "val", "test")}
        return DatasetSizes(classes=int(f.attrs["num_classes"]), **counts)


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(name, *, metric, description, options=None, multilabel=False, official_val=False,
                     role="target", kind="embedded", sizes=None):
    """Register ``build(rng, **options) -> {'classes': [...], 'train': (x, y), 'test'|'val': (x, y)}``, and
    ``sizes(**options) -> DatasetSizes`` where they are known before building."""
    if metric not in METRICS:
        raise InputError(f"dataset {name}: metric {metric!r} is not one of {METRICS}")

    def decorator(build):
        _REGISTRY[name] = DatasetInfo(name, metric, description, build, dict(options or {}), multilabel,
                                      official_val, role, kind, sizes)
        return build

    return decorator


def list_datasets(role=None, kind=None):
    return sorted(name for name, info in _REGISTRY.items()
                  if (role is None or info.role == role) and (kind is None or info.kind == kind))


def get_dataset_info(name) -> DatasetInfo:
    if name not in _REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; valid: {', '.join(list_datasets())}")
    return _REGISTRY[name]


def dataset_seed(name, seed):
    """A per-dataset seed, so that datasets built from one study seed differ from each other."""
    return (zlib.crc32(name.encode()) + 1_000_003 * int(seed)) % (2**32)


def _per_class(classes):
    """The sizes of a balanced embedded dataset from its per-class options."""
    return lambda train_per_class, test_per_class=0, val_per_class=0, **_: DatasetSizes(
        classes, classes * train_per_class, classes * val_per_class, classes * test_per_class)


# Images in scikit-learn's digits.
DIGITS = 1797


def _balanced_labels(rng, num_classes, per_class):
    labels = np.repeat(np.arange(num_classes), per_class)
    return labels[rng.permutation(len(labels))]


def _glyph_split(rng, classes, labels, size, scale, distractors=0.0, shape_fns=synthetic.SHAPES):
    """Images of one glyph each; ``classes[label] = (shape, pattern)``, pattern None = random."""
    n = len(labels)
    shapes = np.array([classes[k][0] for k in labels])
    patterns = np.array([classes[k][1] or synthetic.PATTERNS[rng.integers(len(synthetic.PATTERNS))]
                         for k in labels])
    image = synthetic.backgrounds(rng, n, size)
    if distractors > 0:
        present = rng.random(n) < distractors
        synthetic.draw_glyphs(image, rng, rng.choice(synthetic.SOURCE_SHAPES, n),
                              rng.choice(synthetic.PATTERNS, n), scale=(0.15, 0.3), center_range=0.7,
                              present=present)
    synthetic.draw_glyphs(image, rng, shapes, patterns, scale=scale, center_range=0.25, shape_fns=shape_fns)
    return synthetic.to_uint8(image)


@register_dataset("shapes64", metric="top1", role="source", official_val=True,
                  options={"train_per_class": 100, "val_per_class": 25, "image_size": 32},
                  description="ImageNet stand-in: 8 shapes x 8 fill patterns, random colours, clutter",
                  sizes=_per_class(len(synthetic.SOURCE_SHAPES) * len(synthetic.PATTERNS)))
def _shapes64(rng, train_per_class, val_per_class, image_size):
    classes = list(itertools.product(synthetic.SOURCE_SHAPES, synthetic.PATTERNS))
    out = {"classes": [f"{s}_{p}" for s, p in classes]}
    for split, per_class in (("train", train_per_class), ("val", val_per_class)):
        labels = _balanced_labels(rng, len(classes), per_class)
        out[split] = (_glyph_split(rng, classes, labels, image_size, (0.5, 0.75), distractors=0.5), labels)
    return out


@register_dataset("glyphs_fewshot", metric="mean_per_class", official_val=True,
                  options={"train_per_class": 5, "val_per_class": 5, "test_per_class": 20, "image_size": 32},
                  description="few-shot: 5 shapes the source never shows x 4 patterns (like Flowers-102)",
                  sizes=_per_class(len(synthetic.NOVEL_SHAPES) * 4))
def _glyphs_fewshot(rng, train_per_class, val_per_class, test_per_class, image_size):
    classes = list(itertools.product(synthetic.NOVEL_SHAPES, ("solid", "stripes", "checker", "dots")))
    out = {"classes": [f"{s}_{p}" for s, p in classes]}
    for split, per_class in (("train", train_per_class), ("val", val_per_class), ("test", test_per_class)):
        labels = _balanced_labels(rng, len(classes), per_class)
        out[split] = (_glyph_split(rng, classes, labels, image_size, (0.5, 0.75)), labels)
    return out


@register_dataset("stars_fine", metric="top1",
                  options={"train_per_class": 40, "test_per_class": 20, "image_size": 32},
                  description="fine-grained: stars differing only in tip count and depth (like Stanford Cars)",
                  sizes=_per_class(6 * 3))
def _stars_fine(rng, train_per_class, test_per_class, image_size):
    specs = list(itertools.product(range(4, 10), (0.3, 0.5, 0.7)))
    shape_fns = {f"star{k}_{inner}": synthetic.star_shape(k, inner) for k, inner in specs}
    classes = [(name, None) for name in shape_fns]
    out = {"classes": list(shape_fns)}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = _balanced_labels(rng, len(classes), per_class)
        out[split] = (_glyph_split(rng, classes, labels, image_size, (0.65, 0.85), shape_fns=shape_fns), labels)
    return out


@register_dataset("textures", metric="top1",
                  options={"train_per_class": 40, "test_per_class": 20, "image_size": 32},
                  description="texture-like: 6 periodic patterns x 2 scales filling the image (like DTD)",
                  sizes=_per_class(6 * 2))
def _textures(rng, train_per_class, test_per_class, image_size):
    classes = list(itertools.product(("stripes", "checker", "dots", "rings", "grid", "waves"), (1.5, 3.5)))
    out = {"classes": [f"{p}_{f}" for p, f in classes]}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        labels = _balanced_labels(rng, len(classes), per_class)
        patterns = [classes[k][0] for k in labels]
        freqs = [classes[k][1] for k in labels]
        out[split] = (synthetic.to_uint8(synthetic.texture_images(rng, patterns, freqs, image_size)), labels)
    return out


@register_dataset("glyphs_multilabel", metric="map11", multilabel=True,
                  options={"train_size": 600, "test_size": 300, "image_size": 32, "max_objects": 3},
                  description="multi-label: 1-3 small glyphs of 8 shapes per image, 11-point mAP (like VOC 2007)",
                  sizes=lambda train_size, test_size, **_: DatasetSizes(len(synthetic.SOURCE_SHAPES), train_size, 0,
                                                                        test_size))
def _glyphs_multilabel(rng, train_size, test_size, image_size, max_objects):
    categories = synthetic.SOURCE_SHAPES
    out = {"classes": list(categories)}
    for split, n in (("train", train_size), ("test", test_size)):
        count = rng.integers(1, max_objects + 1, n)
        chosen = np.argsort(rng.random((n, len(categories))), axis=1)[:, :max_objects]
        labels = np.zeros((n, len(categories)), np.uint8)
        image = synthetic.backgrounds(rng, n, image_size)
        for slot in range(max_objects):
            present = count > slot
            labels[present, chosen[present, slot]] = 1
            synthetic.draw_glyphs(image, rng, np.array(categories)[chosen[:, slot]],
                                  rng.choice(synthetic.PATTERNS, n), scale=(0.28, 0.4), center_range=0.6,
                                  present=present)
        out[split] = (synthetic.to_uint8(image), labels)
    return out


@register_dataset("digits", metric="top1", options={"test_fraction": 1 / 3},
                  description="real: scikit-learn's handwritten digits (8x8, ships offline), seeded test split",
                  sizes=lambda test_fraction: DatasetSizes(10, DIGITS - round(DIGITS * test_fraction), 0,
                                                           round(DIGITS * test_fraction)))
def _digits(rng, test_fraction):
    from sklearn.datasets import load_digits

    data = load_digits()
    grey = np.round(data.images / 16.0 * 255.0).astype(np.uint8)
    images = np.repeat(grey[..., None], 3, axis=-1)
    test_idx, train_idx = stratified_take(rng, data.target, test_fraction)
    return {"classes": [str(k) for k in range(10)], "train": (images[train_idx], data.target[train_idx]),
            "test": (images[test_idx], data.target[test_idx])}


# The paper's 12 datasets (Table 1), read from their official formats (see data.official).
OFFICIAL = {  # name: (metric, multi-label, official validation split, description)
    "food101": ("top1", False, False, "Food-101: 101 dishes, 75,750 train / 25,250 test"),
    "cifar10": ("top1", False, False, "CIFAR-10: 10 classes, 32x32, 50,000 / 10,000"),
    "cifar100": ("top1", False, False, "CIFAR-100: 100 classes, 32x32, 50,000 / 10,000"),
    "birdsnap": ("top1", False, False, "Birdsnap: 500 bird species, image folder + manifest"),
    "sun397": ("top1", False, False, "SUN397: 397 scenes, split 1 (19,850 / 19,850)"),
    "stanford_cars": ("top1", False, False, "Stanford Cars: 196 models, 8,144 / 8,041"),
    "fgvc_aircraft": ("mean_per_class", False, True, "FGVC Aircraft: 100 variants, official train/val/test"),
    "voc2007": ("map11", True, True, "PASCAL VOC 2007 classification: 20 classes, multi-label"),
    "dtd": ("top1", False, True, "DTD: 47 textures, split 1 with its validation set"),
    "oxford_iiit_pet": ("mean_per_class", False, False, "Oxford-IIIT Pets: 37 breeds, trainval / test"),
    "caltech101": ("mean_per_class", False, False, "Caltech-101: 102 classes, 30 training images each"),
    "flowers102": ("mean_per_class", False, True, "Oxford 102 Flowers: official train/val/test"),
}


def _published_sizes(name):
    return lambda **_: DatasetSizes(*official.PUBLISHED_SIZES[name])


def _official_builder(name):
    loader = getattr(official, name)

    def build(rng, root, download=False):
        if root is None:
            raise InputError(f"dataset {name}: give its root directory (datasets.{name}.root in the config)")
        if download:
            official.download(name, root)
        return loader(root, rng)

    return build


for _name, (_metric, _multilabel, _official_val, _description) in OFFICIAL.items():
    register_dataset(_name, metric=_metric, multilabel=_multilabel, official_val=_official_val,
                     description=_description, options={"root": None, "download": False},
                     kind="official", sizes=_published_sizes(_name))(_official_builder(_name))
# The paper's source: pretraining the workflow's own networks at full scale (the regularisation ablation).
register_dataset("imagenet", metric="top1", official_val=True, role="source", kind="official",
                 options={"root": None, "download": False},
                 description="ImageNet (ILSVRC 2012): 1,000 synsets, train and val folders",
                 sizes=_published_sizes("imagenet"))(_official_builder("imagenet"))


def _split_arrays(images, labels):
    """A split's arrays: ``images`` (uint8 [N, H, W, 3]) or ``paths`` (file names relative to the dataset's root,
    stored as UTF-8 bytes), and ``labels``."""
    if isinstance(images, np.ndarray):
        return {"images": images, "labels": labels}
    return {"paths": np.array([p.encode() for p in images], dtype=bytes), "labels": labels}


def _check_files_exist(name, root, splits):
    """Every listed image file exists, so that a broken copy fails here and not hours into a GPU job."""
    missing = [p.decode() for arrays in splits.values() for p in arrays.get("paths", [])
               if not (Path(root) / p.decode()).is_file()]
    if missing:
        raise official.DatasetNotFound(
            f"dataset {name}: {len(missing)} listed image file(s) are missing under root {root}, e.g. "
            f"{', '.join(missing[:3])}. To get the dataset: {official.OBTAIN[name]}")


def dataset_info(name, options=None) -> DatasetInfo:
    """The ``DatasetInfo`` of a registered dataset, or of one declared in the config (options with a ``format``:
    ``config.DatasetDeclaration``, read by ``data.declared``)."""
    if not (options or {}).get("format"):
        return get_dataset_info(name)
    if name in _REGISTRY:
        raise InputError(f"datasets.{name} declares data of its own (format: {options['format']}) under the name of "
                         "a built-in dataset; choose another name")
    declaration = DatasetDeclaration.from_mapping(options, f"datasets.{name}")
    return DatasetInfo(name, declaration.metric, declaration.description or f"declared ({declaration.format})",
                       functools.partial(declared.build, name, declaration), declaration.as_dict(),
                       multilabel=declaration.multilabel, kind="declared")


def prepare_dataset(name, path, *, seed, split_seed, val_fraction, unreadable="error", **overrides):
    """Build dataset ``name``, add a hold-out validation split (``split_seed``, ``val_fraction``; None where it
    has an official one) if it has no official one, write HDF5. ``unreadable``: what a declared dataset's
    undecodable image file does (``FeatureOptions.unreadable``)."""
    info = dataset_info(name, overrides)
    rng = np.random.default_rng(dataset_seed(name, seed))
    if info.kind == "declared":
        options = info.options
        log.info("reading %s as declared: %s", name, options)
        built = info.build(rng, unreadable=unreadable)
    else:
        unknown = set(overrides) - set(info.options)
        if unknown:
            raise InputError(f"dataset {name}: unknown option(s) {sorted(unknown)}; valid: {sorted(info.options)}")
        options = {**info.options, **overrides}
        log.info("building %s with %s", name, options)
        built = info.build(rng, **options)
    if len(built["classes"]) < 2:
        raise InputError(f"dataset {name} has {len(built['classes'])} class(es) {built['classes']}; a classifier "
                         "needs at least 2 (every score would be perfect)")
    root = built.get("root") or (options["root"] if info.kind == "official" else None)
    splits = {split: _split_arrays(*built[split]) for split in ("train", "val", "test") if split in built}
    if info.kind == "official":
        _check_files_exist(name, root, splits)
    official_val = "val" in splits
    if not official_val:
        if split_seed is None or val_fraction is None:
            raise InputError(f"dataset {name} has no official validation split: a split_seed and val_fraction "
                             "are needed to hold one out of train")
        try:
            train_idx, val_idx = holdout_split(splits["train"]["labels"], val_fraction, split_seed, built["classes"])
        except InputError as error:
            raise InputError(f"dataset {name}: {error}") from error
        train = splits.pop("train")
        splits = {"train": {k: v[train_idx] for k, v in train.items()},
                  "val": {k: v[val_idx] for k, v in train.items()}, **splits}
    attrs = {
        "dataset": name, "role": info.role, "kind": info.kind, "metric": info.metric, "multilabel": info.multilabel,
        "num_classes": len(built["classes"]), "classes": built["classes"], "seed": seed,
        "val_split": "official" if official_val else "holdout",
        "split_seed": None if official_val else split_seed, "val_fraction": None if official_val else val_fraction,
        "options": options, "versions": library_versions(),
        "root": str(Path(root).resolve()) if root is not None else None,
        "missing_images": built.get("missing_images"), "declared": built.get("declared"),
    }
    attrs = {k: v for k, v in attrs.items() if v is not None}
    write_split_file(path, splits, attrs)
    for split, arrays in splits.items():
        log.info("%s/%s: %d images%s", name, split, len(arrays["labels"]),
                 f" of shape {arrays['images'].shape[1:]}" if "images" in arrays else " (files)")
    return splits, attrs


def summarize(split_files, out_path=None):
    """One line per dataset split file (sizes, classes, metric, where its files are, images missing): what
    the run is about to use, checked. Returns (and writes, as JSON) ``{dataset: summary}``."""
    summary = {}
    for path in split_files:
        attrs = read_attrs(path)
        with open_hdf5(path) as f:
            sizes = {split: len(f[split]["labels"]) for split in ("train", "val", "test") if split in f}
        summary[attrs["dataset"]] = {
            "file": str(path), "sizes": sizes, "num_classes": attrs["num_classes"], "metric": attrs["metric"],
            "val_split": attrs["val_split"], "root": attrs.get("root"), "missing_images": attrs.get("missing_images"),
            "unreadable_images": (attrs.get("declared") or {}).get("unreadable_images"),
            "test_images_repeated": (attrs.get("declared") or {}).get("test_images_repeated"),
        }
        entry = summary[attrs["dataset"]]
        log.info("%s: %s, %d classes, %s%s%s%s", attrs["dataset"], sizes, attrs["num_classes"], attrs["metric"],
                 f", {entry['missing_images']} listed images missing" if entry["missing_images"] else "",
                 f", {entry['unreadable_images']} unreadable images left out" if entry["unreadable_images"] else "",
                 f", {entry['test_images_repeated']} test images identical to training or validation images"
                 if entry["test_images_repeated"] else "")
    if out_path is not None:
        write_json(out_path, summary)
    return summary
