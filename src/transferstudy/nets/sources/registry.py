"""The registry of network sources: which source a model spec names, and the checks every spec gets while
planning. Free of torch, as every source module is until it loads."""

from __future__ import annotations

from pathlib import Path

from .embedded import EmbeddedSource
from ...errors import InputError
from .pretrainedmodels import PretrainedmodelsSource
from .python import PythonSource
from .timm import TimmSource
from .torchvision import TorchvisionSource

# spec key -> source, in the order messages list them.
SOURCES = {source.key: source for source in (EmbeddedSource(), TorchvisionSource(), TimmSource(),
                                             PretrainedmodelsSource(), PythonSource())}


def get_source(spec):
    """The source a model spec names (exactly one of ``SOURCES``); ValueError otherwise."""
    named = [key for key in SOURCES if key in spec]
    if len(named) != 1:
        raise InputError(f"a model spec names exactly one of {tuple(SOURCES)}; got {sorted(spec)}")
    return SOURCES[named[0]]


def check_spec(spec, *, can_measure_top1=False):
    """A model spec checked while planning, without torch: its source's own checks, a ``weights_file`` that
    exists, and a source top-1 where its source publishes none and the study cannot measure it
    (``can_measure_top1``: an ImageNet validation folder is given). ValueError naming the key."""
    source = get_source(spec)
    source.check(spec)
    if not source.publishes_top1 and spec.get("source_top1") is None and not can_measure_top1:
        raise InputError("source_top1 is missing: the ImageNet top-1 (a fraction) of a network of one's own, unless "
                         "source.imagenet_val is given to measure it")
    if spec.get("weights_file") and not Path(spec["weights_file"]).is_file():
        raise InputError(f"weights_file {spec['weights_file']} ({Path(spec['weights_file']).resolve()}) not found "
                         "(relative paths are relative to the working directory)")
    return source


def model_reference(text):
    """A command's model argument: ``torchvision:NAME[:WEIGHTS]``, ``timm:NAME``, ``pretrainedmodels:NAME`` or
    ``python:FILE.py:FUNCTION`` as a spec; anything else (a checkpoint or zoo record path) unchanged."""
    key, _, rest = text.partition(":")
    if key in SOURCES and key != "arch" and rest:
        return SOURCES[key].spec_from_reference(rest)
    return text
