"""Target datasets of one's own, declared in the config (``config.DatasetDeclaration``), no code:

- ``image_folder``: ``root/<split>/<class>/<image>`` with ``train`` and ``test`` (a ``val`` folder is the
  official validation split), or ``root/<class>/<image>`` split by ``test_fraction``; image files are those
  with torchvision's image suffixes, in sub-folders too; other files are counted and ignored;
- ``csv``: a manifest with columns ``path,label[,split]``, paths relative to the manifest's folder; with
  metric ``map11`` a row's labels are one ``separator``-joined list (empty: no class present);
- ``arrays``: an ``.npz`` or ``.h5`` file with ``<split>_images`` (uint8, N x H x W or N x H x W x C with C 1 or
  3) and ``<split>_labels`` (class indices [N] or [N, 1]; multi-label 0/1 [N, classes]) for ``train``, ``test``
  and optionally ``val``, as the MNIST family and MedMNIST ship.

Classes are the sorted class names unless ``classes`` gives their order (arrays: 0..C-1, named by
``classes`` when given). Without a test split, a seeded, stratified ``test_fraction`` of the training data
becomes it (the study ``seed``, as Caltech-101's random training images). Everything is checked before a
network sees the data: every listed file present and decodable to RGB (``images.to_rgb``; or, with
``features.unreadable: skip``, left out and counted), listed once (paths compared resolved), not all one
picture, a test split that does not mostly repeat train and val (a few repeats are counted), every class
present in train and test, labels within the classes; grayscale becomes 3-channel. Errors name the file, the
line, the key or the class, and what would be valid.

``build`` returns what the registry's builders return (``{"classes", split: (images or paths, labels)}``),
with the ``root`` that paths are relative to and the provenance of the declared data (``declared``).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

import numpy as np

from ..config import DATASET_FORMATS, DatasetDeclaration
from ..errors import InputError
from ..io import SPLITS
from ..provenance import sha256_file
from .splits import check_test_repeats, check_test_rows, hold_out

log = logging.getLogger(__name__)

# torchvision.datasets.folder.IMG_EXTENSIONS
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
# How many offending files or rows an error lists.
SHOWN = 5


class DeclaredDataError(InputError):
    """Declared data that cannot be used as declared; the message names the dataset, file, line or class."""

    def __init__(self, name, message):
        super().__init__(f"dataset {name}: {message}")


def check_location(name, declaration):
    """The declared root, manifest or file exists (cheap: the workflow checks it before planning any job)."""
    declaration = DatasetDeclaration.of(declaration)
    path = Path(declaration.location)
    wanted_dir = declaration.format == "image_folder"
    if not (path.is_dir() if wanted_dir else path.is_file()):
        what = "folder" if wanted_dir else "file"
        found = "not found" if not path.exists() else f"is not a {what}"
        key = f"datasets.{name}.{DATASET_FORMATS[declaration.format]}"
        raise DeclaredDataError(name, f"{declaration.format} {what} {path} ({path.resolve()}) {found}; {key} must "
                                      "name it (relative paths are relative to the working directory)")
    if declaration.format == "arrays" and path.suffix.lower() not in (".npz", ".h5", ".hdf5"):
        raise DeclaredDataError(name, f"arrays file {path} is neither .npz nor .h5/.hdf5")


def build(name, declaration, rng, *, unreadable="error"):
    """Read and check a declared dataset; ``rng`` draws the test split where the data have none."""
    declaration = DatasetDeclaration.of(declaration)
    check_location(name, declaration)
    reader = {"image_folder": _read_image_folder, "csv": _read_csv, "arrays": _read_arrays}[declaration.format]
    data = reader(name, declaration)
    classes, splits = _encode(name, declaration, data["splits"])
    if "test" not in splits:
        if declaration.test_fraction is None:
            raise DeclaredDataError(name, f"{declaration.location} has no test split; give "
                                          f"datasets.{name}.test_fraction (e.g. 0.2) to hold one out of train")
        splits = _hold_out_test(name, splits, declaration.test_fraction, rng, classes)
    elif declaration.test_fraction is not None:
        raise DeclaredDataError(name, f"{declaration.location} has a test split; test_fraction is only for data "
                                      "without one (remove it)")
    skipped, repeats = [], 0
    if data.get("root") is not None:
        splits, skipped, repeats = _check_images(name, splits, data["root"], unreadable)
    _check_classes_present(name, classes, splits, declaration.multilabel)
    if data.get("root") is None:
        repeats = _check_arrays(name, splits)
    out = {"classes": classes, **splits, "root": data.get("root")}
    out["declared"] = {"format": declaration.format, "location": str(Path(declaration.location).resolve()),
                       **data["provenance"], "unreadable_images": len(skipped), "test_images_repeated": repeats}
    return out


# --- readers: -> {"splits": {split: (items, labels)}, "root", "provenance"} -----------------------------------
# Labels are class names (a tuple of names per multi-label row) for files, integers or 0/1 rows for arrays.

def _image_files(folder):
    """Image files under ``folder`` (recursively, sorted) and how many other files were ignored."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    return images, len(files) - len(images)


def _read_image_folder(name, declaration):
    root = Path(declaration.root)
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    split_layout = "train" in folders
    if split_layout:
        strays = [d for d in folders if d not in SPLITS]
        if strays:
            raise DeclaredDataError(name, f"{root} has a train folder, so its folders are splits (train, test and "
                                          f"optionally val), but it also holds {strays}")
        split_roots = {split: root / split for split in SPLITS if split in folders}
    else:
        split_roots = {"train": root}
    splits, ignored, listing = {}, 0, hashlib.sha256()
    for split, folder in split_roots.items():
        class_folders = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        loose = [p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if loose:
            raise DeclaredDataError(name, f"{folder} holds image files outside any class folder (e.g. {loose[0]}); "
                                          "put each image in the folder of its class")
        if not class_folders:
            raise DeclaredDataError(name, f"{folder} has no class folders; expected {folder}/<class>/<image>")
        paths, labels = [], []
        for class_folder in class_folders:
            files, others = _image_files(class_folder)
            ignored += others
            paths += [str(f.relative_to(root)) for f in files]
            labels += [class_folder.name] * len(files)
        splits[split] = (paths, labels)
        for path in paths:
            listing.update(f"{path}\t{(root / path).stat().st_size}\n".encode())
    if ignored:
        log.info("%s: ignored %d files that are not images (suffixes: %s)", name, ignored, ", ".join(IMAGE_SUFFIXES))
    return {"splits": splits, "root": root.resolve(),
            "provenance": {"layout": "splits" if split_layout else "classes", "files_sha256": listing.hexdigest(),
                           "ignored_files": ignored}}


def _read_csv(name, declaration):
    manifest = Path(declaration.manifest)
    root = manifest.parent.resolve()
    with open(manifest, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [column for column in ("path", "label") if column not in columns]
        if missing:
            raise DeclaredDataError(name, f"{manifest}: no column {missing[0]!r} in its header {columns}; the header "
                                          "must be path,label[,split]")
        has_split = "split" in columns
        splits, seen, missing_files = {}, {}, []
        for row in reader:
            line = reader.line_num
            where = f"{manifest} line {line}"
            path, label = (row.get("path") or "").strip(), (row.get("label") or "").strip()
            if not path:
                raise DeclaredDataError(name, f"{where}: empty path")
            split = (row.get("split") or "").strip() if has_split else "train"
            if split not in SPLITS:
                raise DeclaredDataError(name, f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
            if declaration.multilabel:
                label = tuple(sorted({part.strip() for part in label.split(declaration.separator) if part.strip()}))
            elif not label:
                raise DeclaredDataError(name, f"{where}: empty label")
            elif declaration.separator in label and declaration.separator != "":
                raise DeclaredDataError(name, f"{where}: label {label!r} lists several classes; a {declaration.metric} "
                                              "dataset has one class per image (multi-label data: metric map11)")
            resolved = (root / path).resolve()  # img/a.png, ./img/a.png and a link to it are one file
            if resolved in seen:
                first_line, first_path = seen[resolved]
                again = "" if first_path == path else f" as {first_path}"
                raise DeclaredDataError(name, f"{where}: {path} is listed again (first on line {first_line}{again}); "
                                              "an image in two rows or two splits would leak between them")
            seen[resolved] = (line, path)
            if not (root / path).is_file():
                missing_files.append(f"line {line}: {path}")
            paths, labels = splits.setdefault(split, ([], []))
            paths.append(path)
            labels.append(label)
    if missing_files:
        raise DeclaredDataError(name, f"{manifest}: {len(missing_files)} listed file(s) not found (paths are relative "
                                      f"to {root}): {'; '.join(missing_files[:SHOWN])}")
    if not splits:
        raise DeclaredDataError(name, f"{manifest} lists no images")
    if "train" not in splits:
        raise DeclaredDataError(name, f"{manifest}: no row of split train (found: {', '.join(splits)})")
    return {"splits": splits, "root": root,
            "provenance": {"manifest_sha256": sha256_file(manifest), "layout": "splits" if has_split else "train"}}


def _read_arrays(name, declaration):
    path = Path(declaration.file)
    try:
        arrays = _load_arrays(path)
    except (OSError, ValueError) as error:
        raise DeclaredDataError(name, f"{path}: cannot read it as {path.suffix} ({error})") from error
    present = [split for split in SPLITS if f"{split}_images" in arrays or f"{split}_labels" in arrays]
    if "train" not in present:
        raise DeclaredDataError(name, f"{path} has no train_images/train_labels; it holds {sorted(arrays)}. Expected "
                                      "<split>_images and <split>_labels for train, test and optionally val")
    splits = {}
    for split in present:
        for key in (f"{split}_images", f"{split}_labels"):
            if key not in arrays:
                raise DeclaredDataError(name, f"{path} has {split}_{'labels' if key.endswith('images') else 'images'} "
                                              f"but no {key}")
        images = _three_channel(name, path, f"{split}_images", arrays[f"{split}_images"])
        labels = _array_labels(name, path, f"{split}_labels", arrays[f"{split}_labels"], declaration.multilabel)
        if len(labels) != len(images):
            raise DeclaredDataError(name, f"{path}: {split}_images has {len(images)} images but {split}_labels "
                                          f"{len(labels)} labels")
        splits[split] = (images, labels)
    return {"splits": splits, "root": None, "provenance": {"file_sha256": sha256_file(path)}}


def _load_arrays(path):
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    import h5py

    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in f.keys() if isinstance(f[key], h5py.Dataset)}


def _three_channel(name, path, key, images):
    if images.dtype != np.uint8:
        raise DeclaredDataError(name, f"{path}: {key} has dtype {images.dtype}; expected uint8 pixels 0-255 (from "
                                      "floats in [0, 1]: (x * 255).round().astype(np.uint8))")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DeclaredDataError(name, f"{path}: {key} has shape {images.shape}; expected N x H x W (grayscale) or "
                                      "N x H x W x C with C 1 or 3")
    return np.ascontiguousarray(np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images)


def _array_labels(name, path, key, labels, multilabel):
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1 and not multilabel:
        labels = labels[:, 0]  # MedMNIST's [N, 1]
    if multilabel and labels.ndim != 2:
        raise DeclaredDataError(name, f"{path}: {key} has shape {labels.shape}; metric map11 needs 0/1 labels "
                                      "N x classes")
    if not multilabel and labels.ndim != 1:
        raise DeclaredDataError(name, f"{path}: {key} has shape {labels.shape}; expected class indices [N] (0/1 "
                                      "labels N x classes are multi-label: metric map11)")
    if labels.dtype.kind not in "iub":
        integral = labels.dtype.kind == "f" and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
        if not integral:
            raise DeclaredDataError(name, f"{path}: {key} has dtype {labels.dtype} with non-integer values; expected "
                                          "integer class indices")
    labels = labels.astype(np.int64)
    if multilabel and not np.isin(labels, (0, 1)).all():
        raise DeclaredDataError(name, f"{path}: {key} holds values other than 0 and 1; multi-label labels mark each "
                                      "class present (1) or absent (0)")
    if labels.size and labels.min() < 0:
        raise DeclaredDataError(name, f"{path}: {key} holds a negative class index ({labels.min()})")
    return labels


# --- classes and splits ---------------------------------------------------------------------------------------

def _encode(name, declaration, splits):
    """Class names and splits with integer labels ([N], or [N, C] 0/1 for multi-label)."""
    first = next(iter(splits.values()))[1]
    if isinstance(first, np.ndarray):  # arrays: indices already
        found = max((int(labels.max()) + 1 if labels.ndim == 1 else labels.shape[1])
                    for _, labels in splits.values() if len(labels))
        widths = {labels.shape[1] for _, labels in splits.values() if labels.ndim == 2}
        if len(widths) > 1:
            raise DeclaredDataError(name, f"{declaration.file}: the splits' labels have different numbers of classes "
                                          f"({sorted(widths)})")
        classes = list(declaration.classes) if declaration.classes else [str(k) for k in range(found)]
        if found > len(classes):
            raise DeclaredDataError(name, f"{declaration.file}: labels reach class index {found - 1}, but "
                                          f"datasets.{name}.classes names {len(classes)} classes")
        return classes, splits
    names = sorted({c for _, labels in splits.values() for label in labels
                    for c in (label if declaration.multilabel else (label,))})
    classes = list(declaration.classes) if declaration.classes else names
    index = {c: k for k, c in enumerate(classes)}
    unknown = [c for c in names if c not in index]
    if unknown:
        raise DeclaredDataError(name, f"class {unknown[0]!r} of {declaration.location} is not in "
                                      f"datasets.{name}.classes; valid: {', '.join(classes)}")
    encoded = {}
    for split, (paths, labels) in splits.items():
        if declaration.multilabel:
            rows = np.zeros((len(labels), len(classes)), np.uint8)
            for i, label in enumerate(labels):
                rows[i, [index[c] for c in label]] = 1
            encoded[split] = (paths, rows)
        else:
            encoded[split] = (paths, np.asarray([index[c] for c in labels], np.int64))
    return classes, encoded


def _hold_out_test(name, splits, fraction, rng, classes):
    """A seeded, stratified (multi-label: plain) test split held out of train."""
    items, labels = splits["train"]
    try:
        train, test = hold_out(rng, labels, fraction, what="a test split", key=f"datasets.{name}.test_fraction",
                               classes=classes)
    except ValueError as error:
        raise DeclaredDataError(name, str(error)) from error
    take = (lambda idx: items[idx]) if isinstance(items, np.ndarray) else (lambda idx: [items[i] for i in idx])
    return {**{k: v for k, v in splits.items() if k != "train"}, "train": (take(train), labels[train]),
            "test": (take(test), labels[test])}


def _check_classes_present(name, classes, splits, multilabel):
    for split in ("train", "test"):
        labels = splits[split][1]
        counts = labels.sum(0) if multilabel else np.bincount(labels, minlength=len(classes))
        absent = [classes[k] for k in np.flatnonzero(counts == 0)]
        if absent:
            what = "positive example" if multilabel else "image"
            raise DeclaredDataError(name, f"class {absent[0]!r} has no {what} in {split}"
                                          + (f" (nor {len(absent) - 1} more: {', '.join(absent[1:SHOWN])})"
                                             if len(absent) > 1 else "")
                                          + "; every class needs examples in train and test to be learnt and scored")


def _check_images(name, splits, root, unreadable):
    """Every image file decodes to RGB pixels (``images.to_rgb``; JPEG at reduced scale: the whole file is still
    read and entropy-decoded); ``unreadable="skip"`` leaves unreadable files out (and logs them). Returns (splits,
    skipped files, test files whose content is a training or validation file's)."""
    from PIL import Image

    from .images import UnreadableImage, to_rgb

    checked, skipped, contents, pictures = {}, [], {}, set()
    for split, (paths, labels) in splits.items():
        keep = np.ones(len(paths), bool)
        contents[split] = []
        for i, path in enumerate(paths):
            try:
                with Image.open(root / path) as image:
                    image.draft("RGB", (64, 64))
                    image.load()
                    pixels = to_rgb(image, path)
            except (OSError, ValueError, Image.DecompressionBombError) as error:
                keep[i] = False
                skipped.append(str(error) if isinstance(error, UnreadableImage) else f"{path} ({error})")
                continue
            if len(pictures) < 2:  # two different pictures are enough to know they are not all one
                pictures.add(hashlib.blake2b(pixels.tobytes(), digest_size=16).digest())
            with open(root / path, "rb") as f:
                contents[split].append((hashlib.file_digest(f, "blake2b").digest(), path))
        checked[split] = ([p for p, k in zip(paths, keep) if k], labels[keep])
    if skipped and unreadable != "skip":
        raise DeclaredDataError(name, f"{len(skipped)} image file(s) under {root} cannot be decoded: "
                                      f"{'; '.join(skipped[:SHOWN])}. Replace them, or set features.unreadable: skip "
                                      "to leave them out (counted in the dataset's summary)")
    for line in skipped:
        log.warning("%s: left out an unreadable image: %s", name, line)
    _check_not_one_picture(name, len(pictures), sum(len(paths) for paths, _ in checked.values()), f"files under {root}")
    fitted = dict(item for split in ("train", "val") for item in contents.get(split, []))
    repeats = [f"{path} = {fitted[digest]}" for digest, path in contents["test"] if digest in fitted]
    check_test_repeats(f"dataset {name}", len(repeats), len(contents["test"]), "image files", repeats[:3])
    return checked, skipped, len(repeats)


def _check_arrays(name, splits):
    """The images of a declared arrays file are not all one picture, and its test split does not repeat train or
    val (``splits.check_test_rows``); returns how many test images repeat one."""
    total = sum(len(images) for images, _ in splits.values())
    first = next(iter(splits.values()))[0][0]
    differ = any(np.any(images[i:i + 1024] != first) for images, _ in splits.values()
                 for i in range(0, len(images), 1024))
    _check_not_one_picture(name, 2 if differ else 1, total, "arrays")
    return check_test_rows(f"dataset {name}", [splits[split][0] for split in ("train", "val") if split in splits],
                           splits["test"][0], "images")


def _check_not_one_picture(name, pictures, images, where):
    if images > 1 and pictures < 2:
        raise DeclaredDataError(name, f"its {images} images ({where}) are all the same picture once read as RGB: "
                                      "every network would see one input, and every score would be chance. Were the "
                                      "images written as intended?")
