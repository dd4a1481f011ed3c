"""The paper's 12 transfer datasets, read from their official on-disk formats with the paper's splits.

Each loader takes the dataset's ``root`` (the directory torchvision would be given) and returns the classes
and, per split, image files (paths relative to ``root``; CIFAR: the images themselves) with labels. Where
torchvision has the dataset and can read it as distributed, its class lists the files (Food-101, Stanford
Cars, FGVC Aircraft, DTD, Oxford-IIIT Pets, VOC 2007); the others are parsed here from the same files:
CIFAR and Flowers-102 (torchvision refuses any copy whose md5 differs from the archive's, so a subset or a
re-packed copy would not load), SUN397 (torchvision ignores the official partitions; the paper uses split 1),
Caltech-101 (torchvision drops the background class; the paper counts 102 classes) and Birdsnap (not in
torchvision; distributed as image URLs, many dead: the images that were fetched are used and the missing
ones counted).

Splits (Kornblith et al. 2019, with SimCLR's appendix B.8): the creators' validation sets for FGVC Aircraft,
VOC 2007, DTD (split 1) and Flowers-102; SUN397 split 1; Caltech-101 30 random training images per class
(seeded), the rest for test; elsewhere the official train/test, and the validation split is a seeded
hold-out of train (``splits.holdout_split``). VOC 2007 is multi-label: an image is positive for every class
with an object in its annotation (objects marked difficult included).

    python -m transferstudy datasets food101 --root /data/food101 --out food101.h5
"""

from __future__ import annotations

import pickle
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..errors import InputError

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")
CALTECH101_TRAIN_PER_CLASS = 30

# Published sizes (classes, train, val, test): the paper's Table 1, where "train" includes the validation split
# a study holds out (val 0), and the creators' train/val division where there is one (Aircraft, VOC 2007, DTD
# split 1, Flowers-102); ImageNet's ILSVRC 2012 train and val. What a cost plan counts before the data is built.
PUBLISHED_SIZES = {
    "food101": (101, 75_750, 0, 25_250),
    "cifar10": (10, 50_000, 0, 10_000),
    "cifar100": (100, 50_000, 0, 10_000),
    "birdsnap": (500, 47_386, 0, 2_443),
    "sun397": (397, 19_850, 0, 19_850),
    "stanford_cars": (196, 8_144, 0, 8_041),
    "fgvc_aircraft": (100, 3_334, 3_333, 3_333),
    "voc2007": (20, 2_501, 2_510, 4_952),
    "dtd": (47, 1_880, 1_880, 1_880),
    "oxford_iiit_pet": (37, 3_680, 0, 3_669),
    "caltech101": (102, 3_060, 0, 6_084),
    "flowers102": (102, 1_020, 1_020, 6_149),
    "imagenet": (1_000, 1_281_167, 50_000, 0),
}

# How to obtain each dataset (the message of a missing root); "torchvision" where download: true works.
OBTAIN = {
    "food101": "torchvision.datasets.Food101(root, download=True), or extract food-101.tar.gz into root",
    "cifar10": "torchvision.datasets.CIFAR10(root, download=True): root/cifar-10-batches-py/",
    "cifar100": "torchvision.datasets.CIFAR100(root, download=True): root/cifar-100-python/",
    "birdsnap": "the Birdsnap archive (birdsnap.tgz: species.txt, images.txt, test_images.txt) extracted into "
                "root and its get_birdsnap.py run there (images under root/download/images/)",
    "sun397": "torchvision.datasets.SUN397(root, download=True) for root/SUN397/, and the official "
              "Partitions.zip (Training_01.txt, Testing_01.txt) extracted into root/Partitions/",
    "stanford_cars": "the Stanford Cars archives in torchvision's layout: root/stanford_cars/{cars_train,"
                     "cars_test,devkit,cars_test_annos_withlabels.mat} (torchvision's download link is dead)",
    "fgvc_aircraft": "torchvision.datasets.FGVCAircraft(root, download=True): root/fgvc-aircraft-2013b/",
    "voc2007": "torchvision.datasets.VOCDetection(root, year='2007', image_set=..., download=True) for "
               "trainval and test: root/VOCdevkit/VOC2007/",
    "dtd": "torchvision.datasets.DTD(root, download=True): root/dtd/dtd/",
    "oxford_iiit_pet": "torchvision.datasets.OxfordIIITPet(root, download=True): root/oxford-iiit-pet/",
    "caltech101": "torchvision.datasets.Caltech101(root, download=True): root/caltech101/101_ObjectCategories/",
    "flowers102": "torchvision.datasets.Flowers102(root, download=True): root/flowers-102/",
    "imagenet": "ILSVRC 2012 from image-net.org (registration required): root/train/<synset>/*.JPEG as "
                "extracted, and root/val/<synset>/*.JPEG (the validation images moved into one directory per "
                "synset, e.g. with the widely used valprep.sh)",
}
# Datasets torchvision can download (download: true); the value builds its download calls.
DOWNLOADERS = {
    "food101": lambda tv, root: [tv.Food101(root, split=s, download=True) for s in ("train", "test")],
    "cifar10": lambda tv, root: tv.CIFAR10(root, download=True),
    "cifar100": lambda tv, root: tv.CIFAR100(root, download=True),
    "sun397": lambda tv, root: tv.SUN397(root, download=True),
    "fgvc_aircraft": lambda tv, root: tv.FGVCAircraft(root, download=True),
    "voc2007": lambda tv, root: [tv.VOCDetection(root, year="2007", image_set=s, download=True)
                                 for s in ("trainval", "test")],
    "dtd": lambda tv, root: tv.DTD(root, download=True),
    "oxford_iiit_pet": lambda tv, root: tv.OxfordIIITPet(root, download=True),
    "caltech101": lambda tv, root: tv.Caltech101(root, download=True),
    "flowers102": lambda tv, root: tv.Flowers102(root, download=True),
}


class DatasetNotFound(InputError, FileNotFoundError):
    """A configured dataset root lacks a file of the official layout; the message says how to get it."""


def require(path, dataset, root):
    path = Path(path)
    if not path.exists():
        raise DatasetNotFound(f"dataset {dataset}: {path} is missing under root {root}. To get it: "
                              f"{OBTAIN[dataset]}")
    return path


def download(name, root):
    """Fetch a dataset into ``root`` with torchvision (only where torchvision can)."""
    import torchvision.datasets

    if name not in DOWNLOADERS:
        raise InputError(f"dataset {name}: torchvision cannot download it; get it by hand: {OBTAIN[name]}")
    Path(root).mkdir(parents=True, exist_ok=True)
    DOWNLOADERS[name](torchvision.datasets, str(root))


def _relative(paths, root):
    root = Path(root).resolve()
    return [str(Path(p).resolve().relative_to(root)) for p in paths]


def _files(split_files, labels, root):
    return _relative(split_files, root), np.asarray(labels, np.int64)


def _torchvision(cls, name, root, **kwargs):
    try:
        return cls(root, **kwargs)
    except RuntimeError as error:  # torchvision's "Dataset not found"
        raise DatasetNotFound(f"dataset {name}: torchvision.datasets.{cls.__name__} found no dataset under root "
                              f"{root} ({error}). To get it: {OBTAIN[name]}") from error


def image_folder(folder):
    """(files, labels, classes) of an ImageFolder layout: one directory per class, classes sorted by name
    (torchvision's and timm's class indices for ImageNet synsets)."""
    folder = Path(folder)
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    files, labels = [], []
    for label, name in enumerate(classes):
        members = sorted(f for f in (folder / name).iterdir() if f.is_file())
        files += members
        labels += [label] * len(members)
    return files, labels, classes


# --- the loaders: root -> {"classes": [...], split: (files or images, labels), ...} ---------------------------

def imagenet(root, rng):
    """ImageNet (ILSVRC 2012) as a source dataset: the train and val folders, one directory per synset."""
    out = {}
    for split in ("train", "val"):
        files, labels, classes = image_folder(require(Path(root) / split, "imagenet", root))
        if split == "val" and classes != out["classes"]:
            raise DatasetNotFound(f"dataset imagenet: {Path(root) / 'val'} has {len(classes)} synset directories "
                                  f"that differ from train's {len(out['classes'])}; give the validation images "
                                  f"one directory per synset. To get it: {OBTAIN['imagenet']}")
        out["classes"] = classes
        out[split] = _files(files, labels, root)
    return out


def food101(root, rng):
    from torchvision.datasets import Food101

    out = {}
    for split in ("train", "test"):
        ds = _torchvision(Food101, "food101", root, split=split)
        out[split] = _files(ds._image_files, ds._labels, root)
        out["classes"] = ds.classes
    return out


def _cifar(name, folder, batches, label_key, meta_file, meta_key, root):
    base = require(Path(root) / folder, name, root)
    out = {"classes": [c.decode() if isinstance(c, bytes) else c
                       for c in _unpickle(require(base / meta_file, name, root))[meta_key]]}
    for split, files in batches.items():
        images, labels = [], []
        for file in files:
            entry = _unpickle(require(base / file, name, root))
            images.append(np.asarray(entry["data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels += list(entry[label_key])
        out[split] = (np.ascontiguousarray(np.concatenate(images)), np.asarray(labels, np.int64))
    return out


def _unpickle(path):
    with open(path, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}


def cifar10(root, rng):
    return _cifar("cifar10", "cifar-10-batches-py",
                  {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                  "labels", "batches.meta", "label_names", root)


def cifar100(root, rng):
    return _cifar("cifar100", "cifar-100-python", {"train": ["train"], "test": ["test"]},
                  "fine_labels", "meta", "fine_label_names", root)


def birdsnap(root, rng):
    root = Path(root)
    species = [line.split("\t") for line in require(root / "species.txt", "birdsnap", root).read_text().splitlines()[1:]]
    classes = [row[1] for row in species]
    index = {int(row[0]): i for i, row in enumerate(species)}
    rows = [line.split("\t") for line in require(root / "images.txt", "birdsnap", root).read_text().splitlines()]
    column = {name: i for i, name in enumerate(rows[0])}
    test = set(require(root / "test_images.txt", "birdsnap", root).read_text().split()[1:])
    images_dir = next((d for d in (root / "download" / "images", root / "images") if d.is_dir()), None)
    if images_dir is None:
        raise DatasetNotFound(f"dataset birdsnap: no image folder (download/images/ or images/) under root "
                              f"{root}. To get it: {OBTAIN['birdsnap']}")
    out = {"classes": classes, "train": ([], []), "test": ([], [])}
    missing = 0
    for row in rows[1:]:
        path = row[column["path"]]
        if not (images_dir / path).is_file():
            missing += 1  # a dead link at download time
            continue
        files, labels = out["test" if path in test else "train"]
        files.append(str((images_dir / path).relative_to(root)))
        labels.append(index[int(row[column["species_id"]])])
    out = {k: (v if k == "classes" else (v[0], np.asarray(v[1], np.int64))) for k, v in out.items()}
    out["missing_images"] = missing
    return out


def sun397(root, rng):
    root = Path(root)
    data = require(root / "SUN397", "sun397", root)
    classes = [line.strip() for line in require(data / "ClassName.txt", "sun397", root).read_text().splitlines()
               if line.strip()]
    index = {name: i for i, name in enumerate(classes)}
    out = {"classes": [name[3:] for name in classes]}  # "/a/abbey" -> "abbey", as torchvision names them
    for split, file in (("train", "Training_01.txt"), ("test", "Testing_01.txt")):
        lines = [line.strip() for line in require(root / "Partitions" / file, "sun397", root).read_text().splitlines()
                 if line.strip()]
        out[split] = ([str(Path("SUN397") / line.lstrip("/")) for line in lines],
                      np.asarray([index[line.rsplit("/", 1)[0]] for line in lines], np.int64))
    return out


def stanford_cars(root, rng):
    from torchvision.datasets import StanfordCars

    out = {}
    for split in ("train", "test"):
        ds = _torchvision(StanfordCars, "stanford_cars", root, split=split)
        files, labels = zip(*ds._samples) if ds._samples else ((), ())
        out[split] = _files(files, labels, root)
        out["classes"] = list(ds.classes)
    return out


def fgvc_aircraft(root, rng):
    from torchvision.datasets import FGVCAircraft

    out = {}
    for split in ("train", "val", "test"):
        ds = _torchvision(FGVCAircraft, "fgvc_aircraft", root, split=split, annotation_level="variant")
        out[split] = _files(ds._image_files, ds._labels, root)
        out["classes"] = ds.classes
    return out


def voc2007(root, rng):
    from torchvision.datasets import VOCDetection

    out = {"classes": list(VOC_CLASSES)}
    index = {name: i for i, name in enumerate(VOC_CLASSES)}
    for split in ("train", "val", "test"):
        ds = _torchvision(VOCDetection, "voc2007", root, year="2007", image_set=split)
        labels = np.zeros((len(ds.images), len(VOC_CLASSES)), np.uint8)
        for i, annotation in enumerate(ds.targets):
            for obj in ET.parse(require(annotation, "voc2007", root)).getroot().iter("object"):
                name = obj.findtext("name").strip()
                if name not in index:
                    raise InputError(f"{annotation}: object class {name!r} is not a VOC 2007 class")
                labels[i, index[name]] = 1
        out[split] = (_relative(ds.images, root), labels)
    return out


def dtd(root, rng):
    from torchvision.datasets import DTD

    out = {}
    for split in ("train", "val", "test"):
        ds = _torchvision(DTD, "dtd", root, split=split, partition=1)
        out[split] = _files(ds._image_files, ds._labels, root)
        out["classes"] = ds.classes
    return out


def oxford_iiit_pet(root, rng):
    from torchvision.datasets import OxfordIIITPet

    out = {}
    for split, tv_split in (("train", "trainval"), ("test", "test")):
        ds = _torchvision(OxfordIIITPet, "oxford_iiit_pet", root, split=tv_split)
        out[split] = _files(ds._images, ds._labels, root)
        out["classes"] = ds.classes
    return out


def caltech101(root, rng):
    root = Path(root)
    folder = require(root / "caltech101" / "101_ObjectCategories", "caltech101", root)
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    train, test = ([], []), ([], [])
    for label, name in enumerate(classes):
        files = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() == ".jpg")
        if len(files) <= CALTECH101_TRAIN_PER_CLASS:
            raise InputError(f"dataset caltech101: class {name} has {len(files)} images under {folder / name}; "
                             f"the protocol takes {CALTECH101_TRAIN_PER_CLASS} for training and tests on the rest")
        chosen = set(rng.choice(len(files), CALTECH101_TRAIN_PER_CLASS, replace=False).tolist())
        for i, file in enumerate(files):
            target = train if i in chosen else test
            target[0].append(str(file.relative_to(root)))
            target[1].append(label)
    return {"classes": classes, "train": (train[0], np.asarray(train[1], np.int64)),
            "test": (test[0], np.asarray(test[1], np.int64))}


def flowers102(root, rng):
    from scipy.io import loadmat

    base = require(Path(root) / "flowers-102", "flowers102", root)
    labels = loadmat(require(base / "imagelabels.mat", "flowers102", root), squeeze_me=True)["labels"] - 1
    set_ids = loadmat(require(base / "setid.mat", "flowers102", root), squeeze_me=True)
    out = {"classes": [str(k) for k in range(1, int(labels.max()) + 2)]}
    for split, key in (("train", "trnid"), ("val", "valid"), ("test", "tstid")):
        ids = np.atleast_1d(set_ids[key]).astype(int)
        out[split] = ([f"flowers-102/jpg/image_{i:05d}.jpg" for i in ids], labels[ids - 1].astype(np.int64))
    return out
