"""A pretrained network split at its penultimate layer (``Pretrained``), what its loader knows of it
(``NetworkInfo``), and the module surgery every source uses to split a network at its classifier."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..data.preprocessing import PretrainedCfg
from ..errors import InputError
from ..settings import PRETRAINING_DATA, SOURCE_PROPERTIES


@dataclass(frozen=True)
class NetworkInfo:
    """What a source's loader knows of a network: the provenance of its features and results, the source top-1
    its weights' metadata or published results give (``top1``, a fraction, with ``top1_from``), and what they give of
    its other source properties (``published``: accuracies on ImageNet's other test sets, ``settings.
    SOURCE_ACCURACIES``, with ``published_from``; ``pretraining_data``, with ``pretraining_data_from``)."""

    spec: dict
    arch: str
    weights_file: str
    sha256: str  # of the weights as loaded (the checkpoint hash every result carries)
    layer: str  # which layer is the penultimate one, in words
    source_dataset: str = "imagenet-1k"
    weights: str | None = None  # torchvision's weights enum member
    recipe: str | None = None  # torchvision's weights' training recipe
    top1: float | None = None
    top1_from: str | None = None
    published: dict | None = None
    published_from: str | None = None
    pretraining_data: str | None = None
    pretraining_data_from: str | None = None
    model_options: dict | None = None  # the workflow's own checkpoints: the architecture's switches
    switches: dict | None = None
    builder_file: str | None = None  # a network of one's own: its builder's file and hash,
    builder_sha256: str | None = None
    weights_file_sha256: str | None = None  # and the hash of the weights file it loads


@dataclass
class Pretrained:
    """A pretrained network split at its penultimate layer.

    ``body(x)`` gives the penultimate features ([N, num_features]); ``head`` is the original classifier
    (``head(body(x))`` are the source logits); ``pretrained_cfg`` its preprocessing; ``info`` its provenance.
    """

    body: nn.Module
    head: nn.Module | None
    num_features: int
    pretrained_cfg: PretrainedCfg
    info: NetworkInfo
    _fresh: Callable[[int], nn.Module] = field(repr=False, default=None)
    _attach_head: Callable[[nn.Module, int], None] = field(repr=False, default=None)

    @torch.no_grad()
    def penultimate(self, x):
        return self.body(x)

    def network(self):
        """The whole network as its source trained it: body, then its classifier (where it has one)."""
        return self.body if self.head is None else nn.Sequential(self.body, self.head)

    def with_new_head(self, num_classes):
        """The pretrained network with a new linear classifier (in the current RNG state): for fine-tuning."""
        model = copy.deepcopy(self.body)
        self._attach_head(model, num_classes)
        return model

    def random_init(self, num_classes):
        """The same architecture freshly initialised (in the current RNG state): for training from scratch."""
        return self._fresh(num_classes)

    def source_top1(self):
        """The source (ImageNet) top-1 the spec, else the weights' metadata or the published results give, as a
        fraction, and where it came from; (None, None) when none knows it."""
        if self.info.spec.get("source_top1") is not None:
            return float(self.info.spec["source_top1"]), "config"
        return self.info.top1, self.info.top1_from

    def source_properties(self):
        """The source properties other than top-1 and size that the spec (``source_properties``) or the loader
        know: {property: (value, where it came from)}, in ``settings.SOURCE_PROPERTIES`` order; the spec's win."""
        known = {name: (value, self.info.published_from) for name, value in (self.info.published or {}).items()}
        if self.info.pretraining_data is not None:
            known[PRETRAINING_DATA] = (self.info.pretraining_data, self.info.pretraining_data_from)
        known.update({name: (value, "config") for name, value in (self.info.spec.get("source_properties") or {}).items()
                      if value is not None})
        return {name: known[name] for name in SOURCE_PROPERTIES if name in known}


def split_at_head(model, path):
    """Replace the classifier at ``path`` by the identity, so that ``model`` outputs the penultimate
    features; returns the classifier."""
    head = model.get_submodule(path)
    set_module(model, path, nn.Identity())
    return head


def set_module(model, path, module):
    parent, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def linear_head_at(path, num_features):
    """A function that puts a new linear classifier of ``num_classes`` outputs at ``path``."""
    def attach(model, num_classes):
        set_module(model, path, nn.Linear(num_features, num_classes))
    return attach


def final_linear(model):
    """The module path of a network's last ``nn.Linear`` (registration order): its final classifier."""
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise InputError("the network has no nn.Linear classifier; name its final classifier with penultimate")
    return linears[-1]


def drop_aux_heads(model):
    """Auxiliary classifiers (GoogLeNet, Inception v3) only served pretraining: they feed neither the features
    nor the fine-tuned head."""
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for attr in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, attr):
                setattr(model, attr, None)


class BGR(nn.Module):
    """RGB to BGR channel order, in front of networks ported from Caffe (BN-Inception)."""

    def forward(self, x):
        return x.flip(1)
