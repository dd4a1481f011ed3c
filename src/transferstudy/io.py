"""Atomic file output and the HDF5 split-file format shared by datasets and features.

A split file holds one group per split (``train``, ``val``, ``test``), each with the same arrays
(``images`` or ``paths`` + ``labels`` for a dataset, ``features`` + ``labels`` for features), and file attributes
for provenance. Attribute values that are not scalars are stored as JSON strings. ``read_split_file`` reads
any of them; ``read_dataset`` gives a dataset's splits as ``SplitData``. A features file of a network with a
source classifier also holds it, group ``source_head`` (``weight`` [Z, D], ``bias`` [Z]; ``read_source_head``),
so that the estimators that need its outputs (LEEP, NCE) run without the network, or torch.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from .errors import InputError, cause

SPLITS = ("train", "val", "test")
SOURCE_HEAD = "source_head"  # the group of a features file holding the network's source classifier


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    An interrupted or failed write therefore never leaves a file that looks complete.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); give it the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_torch(obj, path):
    """torch.save, atomically. Saving through a buffer keeps the archive's inner name fixed (torch.save
    writes the file's own name into it), so identical objects give identical bytes, and hashes."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def write_csv(table, path):
    """A pandas table as CSV, atomically."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)


def write_json(path, data):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path, required=()):
    """A JSON file's object; a damaged file, or one without the ``required`` keys, is an error naming it."""
    with open(path) as f:
        try:
            data = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(f"{path}: not valid JSON ({error}); a truncated or hand-edited file? Delete it so that "
                             "the job that writes it runs again") from error
    return require_keys(data, required, path)


def read_table(path, what="table"):
    """A CSV table; a file that is empty, not text or not CSV is an error naming it."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read it as a CSV {what} ({cause(error)})") from error


def require_keys(data, keys, path):
    """``data`` (a JSON object read from ``path``) if it has every one of ``keys``, else an error naming them."""
    missing = [key for key in keys if not isinstance(data, dict) or key not in data]
    if missing:
        raise InputError(f"{path}: lacks the key(s) {', '.join(missing)}; not a file this step reads, or one "
                         "written by another version")
    return data


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _encode_attr(value):
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    return json.dumps(value, default=_json_default, sort_keys=True)


def _decode_attr(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str) and value[:1] in "[{":
        with contextlib.suppress(ValueError):
            return json.loads(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_split_file(path, splits, attrs):
    """Write ``{split: {array_name: ndarray}}`` and provenance ``attrs`` to HDF5, atomically."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in attrs.items():
                f.attrs[key] = _encode_attr(value)
            for split, arrays in splits.items():
                group = f.create_group(split)
                for name, array in arrays.items():
                    group.create_dataset(name, data=np.asarray(array))


@contextlib.contextmanager
def open_hdf5(path):
    """An HDF5 file open for reading; a file that is not one (truncated, or another format) is an error naming
    it."""
    if not Path(path).exists():
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    if Path(path).is_dir():
        raise IsADirectoryError(errno.EISDIR, "a directory, not an HDF5 file", str(path))
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise InputError(f"{path}: cannot read it as HDF5 ({error}); a truncated or foreign file? Delete it so that "
                         "the job that writes it runs again") from error
    with f:
        yield f


# The attributes every split file (dataset or features) has, which the steps reading it need.
SPLIT_FILE_ATTRS = ("dataset", "metric", "num_classes", "multilabel")


def _required_attrs(path, attrs, required):
    missing = [key for key in required if key not in attrs]
    if missing:
        raise InputError(f"{path}: lacks the attribute(s) {', '.join(missing)}; a split file written by the "
                         "workflow's dataset or features step has them (python -m transferstudy datasets/features)")
    return attrs


def read_attrs(path, required=()):
    """A split file's attributes; an error naming the file if any of ``required`` is absent."""
    with open_hdf5(path) as f:
        return _required_attrs(path, {key: _decode_attr(value) for key, value in f.attrs.items()}, required)


def read_split_file(path, arrays, splits=SPLITS, required=(), optional=()):
    """Read ``arrays`` (and those of ``optional`` a group has) from each of ``splits``; returns (``{split: {name:
    ndarray}}``, attrs).

    Raises ``ValueError`` naming the file when a split, an array or a ``required`` attribute is missing or
    lengths disagree.
    """
    path = Path(path)
    out = {}
    with open_hdf5(path) as f:
        _required_attrs(path, f.attrs, required)
        for split in splits:
            if split not in f:
                raise InputError(f"{path}: missing group '{split}' (found: {sorted(f.keys())})")
            group = f[split]
            out[split] = {}
            for name in arrays:
                if name not in group:
                    raise InputError(f"{path}: group '{split}' has no dataset '{name}' (found: {sorted(group.keys())})")
                out[split][name] = group[name][()]
            out[split].update({name: group[name][()] for name in optional if name in group})
            lengths = {name: len(a) for name, a in out[split].items()}
            if len(set(lengths.values())) > 1:
                raise InputError(f"{path}: group '{split}' has arrays of different lengths: {lengths}")
        attrs = {key: _decode_attr(value) for key, value in f.attrs.items()}
    return out, attrs


def read_source_head(path):
    """The source classifier a features file holds, (weight [Z, D], bias [Z]) float32, or None."""
    with open_hdf5(path) as f:
        if SOURCE_HEAD not in f:
            return None
        group = f[SOURCE_HEAD]
        weight, bias = group["weight"][()], group["bias"][()]
    if weight.ndim != 2 or bias.shape != (weight.shape[0],):
        raise InputError(f"{path}: group '{SOURCE_HEAD}' must hold weight [Z, D] and bias [Z], got "
                         f"{weight.shape} and {bias.shape}")
    return weight, bias


@dataclass
class SplitData:
    """One split of a dataset file: its labels, and its images in memory (uint8 [N, H, W, 3]) or their files
    (``paths`` relative to ``root``)."""

    labels: np.ndarray
    images: np.ndarray | None = None
    paths: list | None = None
    root: str | None = None


def read_dataset(path, splits=SPLITS, required=()):
    """The ``splits`` of a dataset file, read at once: (``{split: SplitData}``, attrs)."""
    groups, attrs = read_split_file(path, ("labels",), splits, required, optional=("images", "paths"))
    out = {}
    for split, arrays in groups.items():
        if "images" not in arrays and "paths" not in arrays:
            raise InputError(f"{path}: group '{split}' has neither 'images' nor 'paths'")
        paths = [p.decode() for p in arrays["paths"]] if "paths" in arrays else None
        out[split] = SplitData(labels=arrays["labels"], images=arrays.get("images"), paths=paths,
                               root=attrs["root"] if paths is not None else None)
    return out, attrs


def write_predictions(path, labels, scores, attrs):
    """A model's scores on a test split ([N, C] float32, with its labels), for per-example comparisons."""
    write_split_file(path, {"test": {"scores": np.asarray(scores, np.float32), "labels": labels}}, attrs)


def read_predictions(path):
    """(labels, scores, attrs) of a predictions file."""
    splits, attrs = read_split_file(path, ("scores", "labels"), splits=("test",))
    return splits["test"]["labels"], splits["test"]["scores"], attrs
