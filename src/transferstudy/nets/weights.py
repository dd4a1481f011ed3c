"""Weights files of any origin loaded into an architecture, and the hash of what was loaded.

A weights file is a ``.safetensors`` file or a torch file holding a state dict (or a checkpoint with one under
``state_dict``, ``model`` or ``state_dict_ema``, as training scripts save them). Checkpoints saved by another
implementation of an architecture name their parameters otherwise; ``key_map`` says how to read them:

- a mapping ``{regex: replacement}``, applied in order to every name of the file (``re.sub``), e.g.
  ``{"^module\\.": "", "^fc\\.": "head.fc."}``;
- ``positional``: the file's tensors taken in their stored order for the architecture's, each shape checked.

Whatever the mapping, loading is strict: a name of the file that matches none of the architecture's, a name of
the architecture the file lacks, or a shape that differs is an error that lists them.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch

from ..errors import InputError, cause

# Where training scripts put the state dict inside a checkpoint.
CHECKPOINT_KEYS = ("state_dict", "model", "state_dict_ema", "model_state_dict")
POSITIONAL = "positional"
SHOWN = 10


class WeightsMismatch(InputError):
    """A weights file whose names or shapes do not fit the architecture; the message lists them."""


def read_state_dict(path):
    """The tensors of a weights file, by name, in stored order."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a torch file
        raise InputError(f"{path}: cannot read it as a torch weights file ({cause(error)})") from error
    if isinstance(loaded, dict):
        nested = [key for key in CHECKPOINT_KEYS if isinstance(loaded.get(key), dict)]
        if nested and not any(torch.is_tensor(value) for value in loaded.values()):
            loaded = loaded[nested[0]]
    if not isinstance(loaded, dict) or not all(torch.is_tensor(value) for value in loaded.values()):
        raise InputError(f"{path}: holds no state dict (a mapping of names to tensors; also looked under "
                         f"{', '.join(CHECKPOINT_KEYS)})")
    return loaded


def check_key_map(key_map):
    """``key_map`` as given in a config (mapping of regex to replacement, or ``positional``); ValueError if not."""
    if key_map is None or key_map == POSITIONAL:
        return
    if not isinstance(key_map, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in key_map.items()):
        raise InputError(f"key_map must be a mapping of regular expressions to replacements, or {POSITIONAL!r}; "
                         f"got {key_map!r}")
    for pattern in key_map:
        try:
            re.compile(pattern)
        except re.error as error:
            raise InputError(f"key_map: {pattern!r} is not a regular expression ({error})") from error


def remap(state, key_map, target):
    """``state`` with the names of ``target`` (a state dict), following ``key_map``."""
    check_key_map(key_map)
    if key_map == POSITIONAL:
        names = list(target)
        if len(state) != len(names):
            raise WeightsMismatch(f"key_map positional: the file holds {len(state)} tensors, the architecture "
                                  f"{len(names)}")
        out = {}
        for position, ((given, tensor), name) in enumerate(zip(state.items(), names)):
            if tensor.shape != target[name].shape:
                raise WeightsMismatch(f"key_map positional: tensor {position} of the file, {given} "
                                      f"{tuple(tensor.shape)}, does not fit the architecture's {name} "
                                      f"{tuple(target[name].shape)}")
            out[name] = tensor
        return out
    out = {}
    for given, tensor in state.items():
        name = given
        for pattern, replacement in (key_map or {}).items():
            name = re.sub(pattern, replacement, name)
        if name in out:
            raise WeightsMismatch(f"key_map maps two names of the file to {name!r}")
        out[name] = tensor
    return out


def load_weights(model, path, key_map=None):
    """Load the weights file ``path`` into ``model`` strictly, names mapped by ``key_map``."""
    target = model.state_dict()
    state = remap(read_state_dict(path), key_map, target)
    unmatched = [name for name in state if name not in target]
    missing = [name for name in target if name not in state]
    wrong = [f"{name} {tuple(state[name].shape)} (architecture: {tuple(target[name].shape)})"
             for name in state if name in target and state[name].shape != target[name].shape]
    if unmatched or missing or wrong:
        parts = [f"{len(items)} {what}: {', '.join(items[:SHOWN])}{' ...' if len(items) > SHOWN else ''}"
                 for what, items in (("names of the file match none of the architecture's", unmatched),
                                     ("names of the architecture are not in the file", missing),
                                     ("shapes differ", wrong)) if items]
        raise WeightsMismatch(f"{path} does not fit the architecture: {'; '.join(parts)}. Map the file's names "
                              f"with key_map (regular expressions), or key_map: {POSITIONAL} to take its tensors in "
                              "order")
    model.load_state_dict(state, strict=True)
    return model


def state_dict_sha256(model):
    """A hash of a network's weights (names, shapes, dtypes and values, in order): what was loaded, whatever
    the file or builder it came from."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()
