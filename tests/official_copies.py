"""Tiny copies of the paper's 12 datasets in their official on-disk layouts (file names, list files,
pickles, .mat and XML annotations as distributed), for testing the real loaders offline.

``make_copy(name, root)`` writes one and returns what the loader should find: the split sizes and the number
of classes. Images are small JPEGs of varied sizes whose colour depends on the class, so a probe can learn.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = [(40, 30), (28, 36), (33, 33)]


def _jpeg(path, label, index, size=None):
    rng = np.random.default_rng(1000 * label + index)
    w, h = size or SIZES[index % len(SIZES)]
    colour = np.array([(label * 97) % 256, (label * 57 + 80) % 256, (label * 31 + 160) % 256], np.float32)
    pixels = np.clip(colour + rng.normal(0, 25, (h, w, 3)), 0, 255).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)


def _write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def food101(root):
    classes = ["apple_pie", "baby_back_ribs", "baklava"]
    base = root / "food-101"
    meta = {"train": {}, "test": {}}
    for label, name in enumerate(classes):
        for i in range(6):
            split = "train" if i < 4 else "test"
            meta[split].setdefault(name, []).append(f"{name}/{100 + i}")
            _jpeg(base / "images" / name / f"{100 + i}.jpg", label, i)
    for split in meta:
        _write(base / "meta" / f"{split}.json", json.dumps(meta[split]))
    _write(base / "meta" / "classes.txt", "\n".join(classes) + "\n")
    return {"train": 12, "test": 6, "classes": 3}


def _cifar_images(labels, seed):
    rng = np.random.default_rng(seed)
    colour = (np.asarray(labels)[:, None] * 70 % 256).astype(np.float32)
    data = np.clip(colour + rng.normal(0, 20, (len(labels), 3072)), 0, 255).astype(np.uint8)
    return data


def _pickle(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def cifar10(root):
    base = root / "cifar-10-batches-py"
    for i in range(1, 6):
        labels = [0, 1, 2, 0] if i < 5 else [1, 2, 0, 1]
        _pickle(base / f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                            b"labels": labels, b"data": _cifar_images(labels, i),
                                            b"filenames": [b"x.png"] * 4})
    _pickle(base / "test_batch", {b"labels": [0, 1, 2], b"data": _cifar_images([0, 1, 2], 9)})
    _pickle(base / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird"], b"num_vis": 3072})
    return {"train": 20, "test": 3, "classes": 3}


def cifar100(root):
    base = root / "cifar-100-python"
    train = [0, 1, 2] * 4
    _pickle(base / "train", {b"fine_labels": train, b"coarse_labels": [0] * 12, b"data": _cifar_images(train, 1)})
    _pickle(base / "test", {b"fine_labels": [2, 1, 0], b"coarse_labels": [0] * 3, b"data": _cifar_images([2, 1, 0], 2)})
    _pickle(base / "meta", {b"fine_label_names": [b"apple", b"aquarium_fish", b"baby"],
                            b"coarse_label_names": [b"fruit"]})
    return {"train": 12, "test": 3, "classes": 3}


def birdsnap(root):
    species = [(1, "Acadian Flycatcher", "Empidonax virescens", "Acadian_Flycatcher"),
               (2, "Acorn Woodpecker", "Melanerpes formicivorus", "Acorn_Woodpecker"),
               (3, "Alder Flycatcher", "Empidonax alnorum", "Alder_Flycatcher")]
    _write(root / "species.txt", "id\tcommon\tscientific\tdir\n"
           + "".join(f"{i}\t{c}\t{s}\t{d}\n" for i, c, s, d in species))
    rows, test = ["url\tmd5\tpath\tspecies_id\tbb_x1\tbb_y1\tbb_x2\tbb_y2"], []
    for label, (sid, _, _, folder) in enumerate(species):
        for i in range(6):
            path = f"{folder}/{i}.jpg"
            rows.append(f"http://example.org/{i}.jpg\t0\t{path}\t{sid}\t0\t0\t10\t10")
            if i >= 4:
                test.append(path)
            if not (label == 2 and i == 0):  # one dead link: never downloaded
                _jpeg(root / "download" / "images" / path, label, i)
    _write(root / "images.txt", "\n".join(rows) + "\n")
    _write(root / "test_images.txt", "path\n" + "\n".join(test) + "\n")
    return {"train": 11, "test": 6, "classes": 3, "missing_images": 1}


def sun397(root):
    classes = ["/a/abbey", "/b/bedroom", "/o/office/cubicle"]
    _write(root / "SUN397" / "ClassName.txt", "\n".join(classes) + "\n")
    train, test = [], []
    for label, name in enumerate(classes):
        for i in range(5):
            file = f"{name}/sun_{label}x{i}.jpg"
            _jpeg(root / "SUN397" / file.lstrip("/"), label, i)
            (train if i < 3 else test).append(file)
    _write(root / "Partitions" / "Training_01.txt", "\n".join(train) + "\n")
    _write(root / "Partitions" / "Testing_01.txt", "\n".join(test) + "\n")
    # Split 2 exists too and must be ignored.
    _write(root / "Partitions" / "Training_02.txt", "\n".join(test) + "\n")
    return {"train": 9, "test": 6, "classes": 3}


def _savemat(path, data):
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, data)


def _cars_annotations(files, labels):
    table = np.zeros(len(files), dtype=[("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"),
                                        ("class", "O"), ("fname", "O")])
    for i, (file, label) in enumerate(zip(files, labels)):
        table[i] = (1, 1, 10, 10, label + 1, file)
    return {"annotations": table.reshape(1, -1)}


def stanford_cars(root):
    base = root / "stanford_cars"
    names = np.array(["AM General Hummer SUV 2000", "Acura RL Sedan 2012", "Acura TL Sedan 2012"], dtype=object)
    _savemat(base / "devkit" / "cars_meta.mat", {"class_names": names.reshape(1, -1)})
    for split, folder, annotation_file in (("train", "cars_train", base / "devkit" / "cars_train_annos.mat"),
                                       ("test", "cars_test", base / "cars_test_annos_withlabels.mat")):
        count = 4 if split == "train" else 2
        files, labels = [], []
        for label in range(3):
            for i in range(count):
                files.append(f"{label:02d}{i:03d}.jpg")
                labels.append(label)
                _jpeg(base / folder / files[-1], label, i)
        _savemat(annotation_file, _cars_annotations(files, labels))
    return {"train": 12, "test": 6, "classes": 3}


def fgvc_aircraft(root):
    data = root / "fgvc-aircraft-2013b" / "data"
    variants = ["707-320", "727-200", "A300B4"]
    _write(data / "variants.txt", "\n".join(variants) + "\n")
    counts = {"train": 3, "val": 2, "test": 2}
    image = 1000000
    for split, count in counts.items():
        lines = []
        for label, variant in enumerate(variants):
            for i in range(count):
                image += 1
                lines.append(f"{image} {variant}")
                _jpeg(data / "images" / f"{image}.jpg", label, i)
        _write(data / f"images_variant_{split}.txt", "\n".join(lines) + "\n")
    return {"train": 9, "val": 6, "test": 6, "classes": 3}


def _voc_xml(objects):
    body = "".join(f"<object><name>{name}</name><difficult>{int(difficult)}</difficult>"
                   "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object>"
                   for name, difficult in objects)
    return f"<annotation><folder>VOC2007</folder><size><width>40</width><height>30</height></size>{body}</annotation>"


def _voc_objects(j, split):
    """Objects of image ``j`` of a split: two classes each, so every split has every class; the third training
    image also holds a difficult person."""
    from transferstudy.data.official import VOC_CLASSES

    objects = [(VOC_CLASSES[2 * j], 0), (VOC_CLASSES[2 * j + 1], 0)]
    return objects + [("person", 1)] if (split, j) == ("train", 2) else objects


def voc2007(root):
    base = root / "VOCdevkit" / "VOC2007"
    sets = {"train": [], "val": [], "test": []}
    number = 0
    for split in sets:
        for j in range(10):
            number += 1
            image_id = f"{number:06d}"
            sets[split].append(image_id)
            _jpeg(base / "JPEGImages" / f"{image_id}.jpg", 2 * j, number)
            _write(base / "Annotations" / f"{image_id}.xml", _voc_xml(_voc_objects(j, split)))
    sets["trainval"] = sets["train"] + sets["val"]
    for name, members in sets.items():
        _write(base / "ImageSets" / "Main" / f"{name}.txt", "\n".join(members) + "\n")
    return {"train": 10, "val": 10, "test": 10, "classes": 20}


def dtd(root):
    base = root / "dtd" / "dtd"
    classes = ["banded", "blotchy", "braided"]
    lists = {"train": [], "val": [], "test": []}
    for label, name in enumerate(classes):
        for i in range(7):
            file = f"{name}/{name}_{i + 1:04d}.jpg"
            _jpeg(base / "images" / file, label, i)
            lists["train" if i < 3 else "val" if i < 5 else "test"].append(file)
    for split, files in lists.items():
        _write(base / "labels" / f"{split}1.txt", "\n".join(files) + "\n")
    _write(base / "labels" / "train2.txt", "\n".join(lists["test"]) + "\n")  # another split, ignored
    return {"train": 9, "val": 6, "test": 6, "classes": 3}


def oxford_iiit_pet(root):
    base = root / "oxford-iiit-pet"
    breeds = [("Abyssinian", 1), ("american_bulldog", 2), ("Bengal", 1)]
    lists = {"trainval": [], "test": []}
    for label, (breed, species) in enumerate(breeds):
        for i in range(6):
            image_id = f"{breed}_{i + 1}"
            _jpeg(base / "images" / f"{image_id}.jpg", label, i)
            lists["trainval" if i < 4 else "test"].append(f"{image_id} {label + 1} {species} 1")
    for split, lines in lists.items():
        _write(base / "annotations" / f"{split}.txt", "\n".join(lines) + "\n")
    return {"train": 12, "test": 6, "classes": 3}


def caltech101(root):
    base = root / "caltech101" / "101_ObjectCategories"
    classes = ["BACKGROUND_Google", "Faces_easy", "accordion"]
    for label, name in enumerate(classes):
        for i in range(31 + label):
            _jpeg(base / name / f"image_{i + 1:04d}.jpg", label, i, size=(12, 10))
    return {"train": 90, "test": 1 + 2 + 3, "classes": 3}


def flowers102(root):
    base = root / "flowers-102"
    labels = np.array([1, 2, 3] * 5)
    for i, label in enumerate(labels, 1):
        _jpeg(base / "jpg" / f"image_{i:05d}.jpg", int(label) - 1, i)
    _savemat(base / "imagelabels.mat", {"labels": labels.reshape(1, -1)})
    _savemat(base / "setid.mat", {"trnid": np.arange(1, 4).reshape(1, -1), "valid": np.arange(4, 7).reshape(1, -1),
                                  "tstid": np.arange(7, 16).reshape(1, -1)})
    return {"train": 3, "val": 3, "test": 9, "classes": 3}


COPIES = {f.__name__: f for f in (food101, cifar10, cifar100, birdsnap, sun397, stanford_cars, fgvc_aircraft,
                                   voc2007, dtd, oxford_iiit_pet, caltech101, flowers102)}


def make_copy(name, root):
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return COPIES[name](root)
