"""Load any pretrained network the study compares: the workflow's own checkpoints, torchvision's weights and
timm's models, behind one interface (``Pretrained``).

A model is described by a *spec* (the config's ``models.<name>`` entry): ``{"arch": ...}`` for a network the
workflow pretrains itself (then loaded from its checkpoint), ``{"torchvision": NAME, "weights": ENUM}`` or
``{"timm": "NAME.TAG"}``, with optional ``source_top1`` (a fraction), ``check_hash`` (torchvision: the file's
sha256 against the prefix in its published name) and, for timm, ``weights_file`` (a local file instead of
the cache: also the way to load weights of your own).

The penultimate layer, per family, is the input to the final classifier after global pooling:

- workflow zoo: the input to ``fc``;
- torchvision: the input to the last linear layer of the classifier (``catalogue.TORCHVISION_HEADS`` names it per
  family: ``fc`` for ResNet, GoogLeNet, Inception v3, RegNet, ShuffleNet; ``classifier`` for DenseNet; the
  last layer of the ``classifier`` sequence for VGG, AlexNet, MobileNet, MnasNet, EfficientNet, ConvNeXt;
  ``heads.head`` for ViT, ``head`` for Swin);
- timm: the model's pre-logits (``forward_head(..., pre_logits=True)``, the output with ``num_classes=0``).

Auxiliary classifiers (GoogLeNet, Inception v3) are dropped: they feed neither the features nor the
fine-tuned head. Each network keeps its own native resolution and preprocessing (``pretrained_cfg``: input
size, mean, std, interpolation, crop fraction), read from torchvision's weights or timm's config.

Weights are read offline: torchvision's from ``$TORCH_HOME/hub/checkpoints/<file of the weights' URL>``,
timm's from the Hugging Face cache (``$HF_HOME/hub``) or ``weights_file``. A missing file is an error that
names the expected path and the command that fetches it on a connected machine.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from . import architectures
from ..io import read_json
from ..provenance import sha256_file
from .catalogue import TIMM_TOP1_SOURCE, TORCHVISION_AUX, spec_source, timm_published_top1, torchvision_head

_TORCHVISION_HASH = re.compile(r"-([a-f0-9]{6,})\.")


class WeightsNotFound(FileNotFoundError):
    """Pretrained weights are not on this machine; the message says where they are expected and how to get them."""


@dataclass
class Pretrained:
    """A pretrained network split at its penultimate layer.

    ``body(x)`` gives the penultimate features ([N, num_features]); ``head`` is the original classifier
    (``head(body(x))`` are the source logits); ``pretrained_cfg`` its preprocessing; ``info`` the provenance
    (spec, weights file and hash, layer, source top-1 where known).
    """

    body: nn.Module
    head: nn.Module | None
    num_features: int
    pretrained_cfg: dict
    info: dict
    _fresh: Callable[[int], nn.Module] = field(repr=False, default=None)
    _attach_head: Callable[[nn.Module, int], None] = field(repr=False, default=None)

    @torch.no_grad()
    def penultimate(self, x):
        return self.body(x)

    def with_new_head(self, num_classes):
        """The pretrained network with a new linear classifier (in the current RNG state): for fine-tuning."""
        model = copy.deepcopy(self.body)
        self._attach_head(model, num_classes)
        return model

    def random_init(self, num_classes):
        """The same architecture freshly initialised (in the current RNG state): for training from scratch."""
        return self._fresh(num_classes)


def load(spec_or_checkpoint, *, check_hash=None):
    """A ``Pretrained`` from a workflow checkpoint (``.pt``), a zoo record (``.json``) or a model spec (dict)."""
    if isinstance(spec_or_checkpoint, (str, Path)):
        path = Path(spec_or_checkpoint)
        if path.suffix == ".json":  # a zoo record (rule pretrained_model), which holds its spec
            return load(read_json(path)["spec"], check_hash=check_hash)
        return _load_checkpoint(path)
    spec = dict(spec_or_checkpoint)
    source = spec_source(spec)
    if source == "arch":
        raise ValueError(f"model spec {spec}: a workflow zoo network is loaded from its checkpoint file")
    if check_hash is not None:
        spec["check_hash"] = check_hash
    return _load_torchvision(spec) if source == "torchvision" else _load_timm(spec)


def model_reference(text):
    """A command's model argument: a path (checkpoint or zoo record), or ``torchvision:NAME[:WEIGHTS]`` /
    ``timm:NAME`` as a spec."""
    source, _, rest = text.partition(":")
    if source == "torchvision" and rest:
        name, _, weights = rest.partition(":")
        return {"torchvision": name, "weights": weights or "DEFAULT"}
    if source == "timm" and rest:
        return {"timm": rest}
    return text


def source_top1(loaded):
    """The source (ImageNet) top-1 the spec, the weights' metadata (torchvision) or timm's published results
    give, in that order, as a fraction, and where it came from; (None, None) when none knows it."""
    if loaded.info.get("spec", {}).get("source_top1") is not None:
        return float(loaded.info["spec"]["source_top1"]), "config"
    if loaded.info.get("metadata_top1") is not None:
        return loaded.info["metadata_top1"], "weights metadata"
    if loaded.info.get("published_top1") is not None:
        size, crop = loaded.pretrained_cfg["input_size"][-1], loaded.pretrained_cfg["crop_pct"]
        return loaded.info["published_top1"], f"{TIMM_TOP1_SOURCE}, at {size} px, crop_pct {crop:g}"
    return None, None


# --- the workflow's own checkpoints -------------------------------------------------------------------------

def _load_checkpoint(path):
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    options = checkpoint.get("model_options", {})
    arch = checkpoint["arch"]
    model = architectures.create_model(arch, num_classes=checkpoint["num_classes"], **options)
    model.load_state_dict(checkpoint["state_dict"])
    # The auxiliary classifiers only served pretraining.
    if isinstance(model, architectures.MiniNet):
        model.aux = None
        head_path, layer = "fc", architectures.MiniNet.penultimate_layer
    else:  # a torchvision architecture pretrained by the workflow (at full scale)
        _drop_aux_heads(model)
        head_path = torchvision_head(arch)
        layer = f"input to {head_path} (the final classifier)"
    head = split_at_head(model, head_path)
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=head.in_features,
        pretrained_cfg=checkpoint["pretrained_cfg"],
        info={"spec": {"arch": arch}, "arch": arch, "weights_file": str(path), "sha256": sha256_file(path),
              "layer": layer, "source_dataset": checkpoint["source_dataset"], "model_options": options,
              "switches": checkpoint.get("switches")},
        _fresh=lambda n: architectures.create_model(arch, num_classes=n, **{**options, "aux_head": False}),
        _attach_head=_linear_head_at(head_path, head.in_features),
    )


# --- torchvision --------------------------------------------------------------------------------------------

def torchvision_weights(name, weights="DEFAULT"):
    """The weights enum member of a torchvision model (``weights`` is a member name such as IMAGENET1K_V1)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as error:
        raise ValueError(f"torchvision has no classification model {name!r}; valid: "
                         f"{', '.join(torchvision.models.list_models(module=torchvision.models))}") from error
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError as error:
        raise ValueError(f"torchvision model {name!r} has no weights {weights!r}; valid: "
                         f"{', '.join(member.name for member in enum)}") from error


def torchvision_weights_path(weights):
    """Where torchvision looks for (and would download) a weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def torchvision_cfg(weights):
    """The ``pretrained_cfg`` (native size, crop fraction, statistics, interpolation) of torchvision weights,
    from their evaluation transforms."""
    transforms = weights.transforms()
    crop, resize = int(transforms.crop_size[0]), int(transforms.resize_size[0])
    return {"input_size": [3, crop, crop], "mean": list(transforms.mean), "std": list(transforms.std),
            "interpolation": transforms.interpolation.value, "crop_pct": crop / resize}


def _check_published_hash(path, sha256):
    match = _TORCHVISION_HASH.search(path.name)
    if match and not sha256.startswith(match.group(1)):
        raise ValueError(f"{path}: sha256 {sha256[:12]}... does not start with {match.group(1)}, the hash "
                         "torchvision publishes in the file name: the file is truncated or holds other weights. "
                         "Fetch it again, or set check_hash: false for weights you made yourself")


def _aux_kwargs(name):
    """Builder options of a torchvision model without pretrained weights: no auxiliary heads, and for those
    families their (truncated-normal) initialisation chosen explicitly (the default is about to change)."""
    return {"aux_logits": False, "init_weights": True} if name.startswith(TORCHVISION_AUX) else {}


def _drop_aux_heads(model):
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for attr in ("AuxLogits", "aux1", "aux2"):
            if hasattr(model, attr):
                setattr(model, attr, None)


def torchvision_weights_file(spec):
    """The weights enum member of a torchvision spec and the file torchvision reads it from; an error naming
    the file and how to get it when it is not on this machine."""
    name = spec["torchvision"]
    weights = torchvision_weights(name, spec.get("weights", "DEFAULT"))
    if spec.get("weights_file"):
        raise ValueError(f"torchvision model {name!r}: weights_file is for timm models; torchvision's weights are "
                         f"read from {torchvision_weights_path(weights).parent} (set TORCH_HOME to move it). For "
                         "weights of your own, use the timm name of the architecture with weights_file")
    path = torchvision_weights_path(weights)
    if not path.is_file():
        raise WeightsNotFound(
            f"torchvision weights {weights} for model {name!r} are expected at {path} and are not there "
            "(this machine does not download). On a connected machine run\n"
            f"    python -c \"import torchvision; torchvision.models.get_weight('{weights}').get_state_dict()\"\n"
            f"and copy {path.name} from its $TORCH_HOME/hub/checkpoints/ to {path.parent}/")
    return weights, path


def _load_torchvision(spec):
    import torchvision

    name = spec["torchvision"]
    head_path = torchvision_head(name)
    weights, path = torchvision_weights_file(spec)
    sha256 = sha256_file(path)
    if spec.get("check_hash", True):
        _check_published_hash(path, sha256)
    # torchvision's own builder reads the cached file and applies its per-family fixes (DenseNet's old key
    # names, GoogLeNet's and Inception's input transform); it would download only a missing file.
    model = torchvision.models.get_model(name, weights=weights, progress=False)
    _drop_aux_heads(model)
    cfg = torchvision_cfg(weights)
    head = split_at_head(model, head_path)
    top1 = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=head.in_features, pretrained_cfg=cfg,
        info={"spec": spec, "arch": name, "weights": str(weights), "weights_file": str(path), "sha256": sha256,
              "layer": f"input to {head_path} (the final classifier)", "source_dataset": "imagenet-1k",
              "metadata_top1": None if top1 is None else top1 / 100.0, "recipe": weights.meta.get("recipe")},
        _fresh=lambda n: torchvision.models.get_model(name, weights=None, num_classes=n, **_aux_kwargs(name)),
        _attach_head=_linear_head_at(head_path, head.in_features),
    )


# --- timm ---------------------------------------------------------------------------------------------------

def timm_weights_path(pretrained_cfg):
    """The cached Hugging Face file of a timm model's weights, or None."""
    from huggingface_hub import try_to_load_from_cache

    repo = pretrained_cfg.get("hf_hub_id")
    if not repo:
        return None
    for filename in (pretrained_cfg.get("hf_hub_filename"), "model.safetensors", "pytorch_model.bin"):
        if filename:
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
    return None


def check_timm_name(name):
    import timm

    if not timm.is_model(name.split(".")[0]):
        raise ValueError(f"timm has no model {name!r} (see timm.list_pretrained())")
    if "." in name and name not in timm.list_pretrained(name):
        raise ValueError(f"timm has no pretrained weights {name!r}; valid tags: "
                         f"{', '.join(timm.list_pretrained(name.split('.')[0] + '.*')) or 'none'}")


def timm_weights_file(spec):
    """The pretrained config of a timm spec (its default tag's when it names none) and its weights file (the
    Hugging Face cache's, or ``weights_file``); an error naming where it was expected when it is missing."""
    from timm.models import get_pretrained_cfg

    name = spec["timm"]
    check_timm_name(name)
    pretrained_cfg = get_pretrained_cfg(name).to_dict()
    path = Path(spec["weights_file"]) if spec.get("weights_file") else timm_weights_path(pretrained_cfg)
    if path is None or not path.is_file():
        repo = pretrained_cfg.get("hf_hub_id") or name
        expected = path or (Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
                            .expanduser() / f"models--{repo.replace('/', '--')}")
        raise WeightsNotFound(
            f"timm weights for {name!r} are expected at {expected} and are not there (this machine does not "
            "download). On a connected machine run\n"
            f"    python -c \"import timm; timm.create_model('{name}', pretrained=True)\"\n"
            "and copy that directory of its Hugging Face cache (~/.cache/huggingface/hub) to this one's, or set "
            "weights_file in the model's config entry")
    return pretrained_cfg, path


def _load_timm(spec):
    import timm

    name = spec["timm"]
    pretrained_cfg, path = timm_weights_file(spec)
    # timm's own loader, pointed at the local file, so its checkpoint filters and conversions apply.
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    head = copy.deepcopy(model.get_classifier())
    model.reset_classifier(0)
    cfg = {"input_size": list(pretrained_cfg["input_size"]), "mean": list(pretrained_cfg["mean"]),
           "std": list(pretrained_cfg["std"]), "interpolation": pretrained_cfg.get("interpolation", "bilinear"),
           "crop_pct": float(pretrained_cfg.get("crop_pct", 1.0))}
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=model.num_features, pretrained_cfg=cfg,
        info={"spec": spec, "arch": name, "weights_file": str(path), "sha256": sha256_file(path),
              "layer": "pre-logits (forward_head(..., pre_logits=True))", "source_dataset": "imagenet-1k",
              "metadata_top1": None,
              # Published for timm's own weights only: weights of one's own (weights_file) are another network.
              "published_top1": None if spec.get("weights_file") else timm_published_top1(
                  name, cfg["input_size"][-1], cfg["crop_pct"])},
        _fresh=lambda n: timm.create_model(name, pretrained=False, num_classes=n),
        _attach_head=lambda model, n: model.reset_classifier(n),
    )


# --- module paths -------------------------------------------------------------------------------------------

def split_at_head(model, path):
    """Replace the classifier at ``path`` by the identity, so that ``model`` outputs the penultimate
    features; returns the classifier."""
    head = model.get_submodule(path)
    _set_module(model, path, nn.Identity())
    return head


def _set_module(model, path, module):
    parent, _, child = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _linear_head_at(path, num_features):
    def attach(model, num_classes):
        _set_module(model, path, nn.Linear(num_features, num_classes))
    return attach
