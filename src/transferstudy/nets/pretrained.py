"""Load any pretrained network the study compares: the workflow's own checkpoints, torchvision's weights, timm's
models, Cadene's pretrainedmodels ports and networks of one's own, behind one interface (``Pretrained``).

A model is described by a *spec* (the config's ``models.<name>`` entry): ``{"arch": ...}`` for a network the
workflow pretrains itself (then loaded from its checkpoint), ``{"torchvision": NAME, "weights": ENUM}``,
``{"timm": "NAME.TAG"}``, ``{"pretrainedmodels": NAME}`` (BN-Inception, NASNet-A Mobile) or ``{"python":
"file.py:function"}`` (a function returning ``(model, cfg)``), with optional ``source_top1`` (a fraction),
``check_hash`` (torchvision, pretrainedmodels: the file's sha256 against the prefix in its published name) and,
for timm and python models, ``weights_file`` (a local file; ``key_map`` maps another implementation's
parameter names, ``nets.weights``).

The penultimate layer, per family, is the input to the final classifier after global pooling:

- workflow zoo: the input to ``fc``;
- torchvision: the input to the last linear layer of the classifier (``catalogue.TORCHVISION_HEADS`` names it per
  family: ``fc`` for ResNet, GoogLeNet, Inception v3, RegNet, ShuffleNet; ``classifier`` for DenseNet; the
  last layer of the ``classifier`` sequence for VGG, AlexNet, MobileNet, MnasNet, EfficientNet, ConvNeXt;
  ``heads.head`` for ViT, ``head`` for Swin);
- timm: the model's pre-logits (``forward_head(..., pre_logits=True)``, the output with ``num_classes=0``);
- pretrainedmodels: the input to ``last_linear``;
- python: the input to the network's last ``nn.Linear``, or to the classifier ``penultimate`` names; checked
  to be the final layer (the network's outputs are its outputs).

Auxiliary classifiers (GoogLeNet, Inception v3) are dropped: they feed neither the features nor the
fine-tuned head. Each network keeps its own native resolution and preprocessing (``pretrained_cfg``: input
size, mean, std, interpolation, crop fraction), read from torchvision's weights, timm's config, the
pretrainedmodels settings (BN-Inception's [0, 255] BGR input becomes statistics on [0, 1] RGB and a channel
flip) or the builder's ``cfg``.

Weights are read offline: torchvision's and pretrainedmodels' from ``$TORCH_HOME/hub/checkpoints/<file of the
weights' URL>``, timm's from the Hugging Face cache (``$HF_HOME/hub``) or ``weights_file``. A missing file is
an error that names the expected path and the command that fetches it on a connected machine.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import inspect
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from . import architectures
from ..io import read_json
from ..provenance import sha256_file
from .catalogue import (PRETRAINEDMODELS, PRETRAINEDMODELS_TOP1_SOURCE, TIMM_TOP1_SOURCE, TORCHVISION_AUX,
                        python_reference, spec_source, timm_published_top1, torchvision_head)
from .weights import load_weights, state_dict_sha256

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
    loaders = {"torchvision": _load_torchvision, "timm": _load_timm, "pretrainedmodels": _load_pretrainedmodels,
               "python": _load_python}
    return loaders[source](spec)


def model_reference(text):
    """A command's model argument: a path (checkpoint or zoo record), or ``torchvision:NAME[:WEIGHTS]``,
    ``timm:NAME``, ``pretrainedmodels:NAME`` or ``python:FILE.py:FUNCTION`` as a spec."""
    source, _, rest = text.partition(":")
    if source == "torchvision" and rest:
        name, _, weights = rest.partition(":")
        return {"torchvision": name, "weights": weights or "DEFAULT"}
    if source in ("timm", "pretrainedmodels", "python") and rest:
        return {source: rest}
    return text


def source_top1(loaded):
    """The source (ImageNet) top-1 the spec, the weights' metadata (torchvision) or the published results (timm's,
    pretrainedmodels') give, in that order, as a fraction, and where it came from; (None, None) when none knows
    it."""
    if loaded.info.get("spec", {}).get("source_top1") is not None:
        return float(loaded.info["spec"]["source_top1"]), "config"
    if loaded.info.get("metadata_top1") is not None:
        return loaded.info["metadata_top1"], "weights metadata"
    if loaded.info.get("published_top1") is not None:
        return loaded.info["published_top1"], loaded.info["published_top1_from"]
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
    if spec.get("key_map") is not None:  # another implementation's names: mapped here, loaded strictly
        model = load_weights(timm.create_model(name, pretrained=False), path, spec["key_map"])
    else:  # timm's own loader, pointed at the local file, so its checkpoint filters and conversions apply
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
    head = copy.deepcopy(model.get_classifier())
    model.reset_classifier(0)
    cfg = {"input_size": list(pretrained_cfg["input_size"]), "mean": list(pretrained_cfg["mean"]),
           "std": list(pretrained_cfg["std"]), "interpolation": pretrained_cfg.get("interpolation", "bilinear"),
           "crop_pct": float(pretrained_cfg.get("crop_pct", 1.0))}
    published = None if spec.get("weights_file") else timm_published_top1(name, cfg["input_size"][-1],
                                                                            cfg["crop_pct"])
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=model.num_features, pretrained_cfg=cfg,
        info={"spec": spec, "arch": name, "weights_file": str(path), "sha256": sha256_file(path),
              "layer": "pre-logits (forward_head(..., pre_logits=True))", "source_dataset": "imagenet-1k",
              "metadata_top1": None,
              # Published for timm's own weights only: weights of one's own (weights_file) are another network.
              "published_top1": published,
              "published_top1_from": f"{TIMM_TOP1_SOURCE}, at {cfg['input_size'][-1]} px, crop_pct "
                                     f"{cfg['crop_pct']:g}"},
        _fresh=lambda n: timm.create_model(name, pretrained=False, num_classes=n),
        _attach_head=lambda model, n: model.reset_classifier(n),
    )


# --- pretrainedmodels (Cadene's ports: BN-Inception, NASNet-A Mobile) ---------------------------------------

class BGR(nn.Module):
    """RGB to BGR channel order, for networks ported from Caffe (BN-Inception)."""

    def forward(self, x):
        return x.flip(1)


def pretrainedmodels_weights_file(spec):
    """The cached weights file of a ``pretrainedmodels`` spec; an error naming it and how to get it when it is
    not on this machine."""
    name = spec["pretrainedmodels"]
    if name not in PRETRAINEDMODELS:
        raise ValueError(f"pretrainedmodels = {name!r} is not one of the ports the study uses; valid: "
                         f"{', '.join(PRETRAINEDMODELS)} (other networks: torchvision, timm or python)")
    path = Path(torch.hub.get_dir()) / "checkpoints" / PRETRAINEDMODELS[name][1]
    if not path.is_file():
        raise WeightsNotFound(
            f"pretrainedmodels weights for {name!r} are expected at {path} and are not there (this machine does not "
            "download). On a connected machine run\n"
            f"    python -c \"import pretrainedmodels; pretrainedmodels.{name}(pretrained='imagenet')\"\n"
            f"and copy {path.name} from its $TORCH_HOME/hub/checkpoints/ to {path.parent}/")
    return path


def pretrainedmodels_cfg(settings):
    """The ``pretrained_cfg`` of a ``pretrainedmodels`` port from its settings: statistics on [0, 1] RGB pixels
    (a port trained on [0, 255] BGR gets mean and std scaled, and ``BGR`` flips the channels), the package's
    evaluation crop (resize to size / 0.875, bilinear, centre crop)."""
    scale = settings["input_range"][1]
    order = slice(None, None, -1) if settings["input_space"] == "BGR" else slice(None)
    return {"input_size": list(settings["input_size"]), "mean": [m / scale for m in settings["mean"][order]],
            "std": [v / scale for v in settings["std"][order]], "interpolation": "bilinear", "crop_pct": 0.875}


def _load_pretrainedmodels(spec):
    import pretrainedmodels

    name = spec["pretrainedmodels"]
    path = pretrainedmodels_weights_file(spec)
    sha256 = sha256_file(path)
    if spec.get("check_hash", True):
        _check_published_hash(path, sha256)
    settings = pretrainedmodels.pretrained_settings[name]["imagenet"]
    head_path, _, published = PRETRAINEDMODELS[name]

    def build(num_classes):
        network = getattr(pretrainedmodels, name)(num_classes=num_classes, pretrained=None)
        return nn.Sequential(BGR(), network) if settings["input_space"] == "BGR" else network

    model = build(settings["num_classes"])
    inner = model[1] if isinstance(model, nn.Sequential) else model
    load_weights(inner, path)
    path_in_model = f"1.{head_path}" if model is not inner else head_path
    head = split_at_head(model, path_in_model)
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=head.in_features,
        pretrained_cfg=pretrainedmodels_cfg(settings),
        info={"spec": spec, "arch": name, "weights_file": str(path), "sha256": sha256,
              "layer": f"input to {head_path} (the final classifier)", "source_dataset": "imagenet-1k",
              "metadata_top1": None, "published_top1": published,
              "published_top1_from": PRETRAINEDMODELS_TOP1_SOURCE},
        _fresh=build,
        _attach_head=_linear_head_at(path_in_model, head.in_features),
    )


# --- models of one's own: a Python function that builds them ------------------------------------------------

CFG_KEYS = ("input_size", "mean", "std", "interpolation", "crop_pct")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


def python_builder(reference):
    """The function a ``python`` spec names and the file it is defined in."""
    module, function = python_reference(reference)
    try:
        if isinstance(module, Path):
            name = "transferstudy_builder_" + hashlib.sha256(str(module.resolve()).encode()).hexdigest()[:12]
            loader_spec = importlib.util.spec_from_file_location(name, module)
            loaded = importlib.util.module_from_spec(loader_spec)
            sys.modules[name] = loaded
            loader_spec.loader.exec_module(loaded)
        else:
            loaded = importlib.import_module(module)
    except Exception as error:  # the user's module: any error while importing it is reported as such
        raise ValueError(f"python = {reference!r}: importing {module} failed ({type(error).__name__}: "
                         f"{error})") from error
    builder = getattr(loaded, function, None)
    if not callable(builder):
        found = sorted(n for n, v in vars(loaded).items() if inspect.isfunction(v) and not n.startswith("_")
                       and v.__module__ == loaded.__name__)
        raise ValueError(f"python = {reference!r}: {module} has no function {function!r}; it defines "
                         f"{', '.join(found) or 'none'}")
    return builder, Path(loaded.__file__)


def check_builder_cfg(reference, cfg):
    """The builder's ``cfg`` with its five keys checked; ValueError naming the key and what is valid."""
    where = f"python = {reference!r}: the returned cfg"
    if not isinstance(cfg, dict):
        raise ValueError(f"{where} is a {type(cfg).__name__}; expected a dict with {', '.join(CFG_KEYS)}")
    missing = [key for key in CFG_KEYS if key not in cfg]
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)} (timm's pretrained-config keys: input_size (3, H, W), "
                         "mean, std, interpolation, crop_pct)")
    size = list(cfg["input_size"])
    if len(size) != 3 or size[0] != 3 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(f"{where}: input_size = {cfg['input_size']!r}; expected (3, H, W)")
    for key in ("mean", "std"):
        values = list(cfg[key])
        if len(values) != 3 or (key == "std" and min(values) <= 0):
            positive = ", positive" if key == "std" else ""
            raise ValueError(f"{where}: {key} = {cfg[key]!r}; expected 3 numbers{positive}")
    if cfg["interpolation"] not in INTERPOLATIONS:
        raise ValueError(f"{where}: interpolation = {cfg['interpolation']!r}; valid: {', '.join(INTERPOLATIONS)}")
    if not 0 < float(cfg["crop_pct"]) <= 1:
        raise ValueError(f"{where}: crop_pct = {cfg['crop_pct']!r}; expected a fraction in (0, 1]")
    return {"input_size": size, "mean": [float(v) for v in cfg["mean"]], "std": [float(v) for v in cfg["std"]],
            "interpolation": cfg["interpolation"], "crop_pct": float(cfg["crop_pct"])}


def _built(builder, reference, **kwargs):
    result = builder(**kwargs)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module)):
        raise ValueError(f"python = {reference!r}: the function returned {type(result).__name__}; expected "
                         "(model, cfg) with model a torch.nn.Module")
    return result


def final_linear(model):
    """The module path of a network's last ``nn.Linear`` (registration order): its final classifier."""
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("the network has no nn.Linear classifier; name its final classifier with penultimate")
    return linears[-1]


def _check_head(reference, model, head_path, cfg, named):
    """``head_path`` is the network's final linear layer: the network's logits are its outputs (checked on a batch
    of two images at the network's input size)."""
    layer = f"penultimate = {head_path!r}" if named else f"its last nn.Linear, {head_path},"
    where = f"python = {reference!r}: {layer}"
    try:
        head = model.get_submodule(head_path)
    except AttributeError as error:
        raise ValueError(f"{where} is not a module of the network") from error
    if not isinstance(head, nn.Linear):
        raise ValueError(f"{where} is a {type(head).__name__}; name the final nn.Linear classifier, whose input is the "
                         "penultimate layer")
    x = torch.zeros(2, *cfg["input_size"])
    with torch.no_grad():
        logits = model.eval()(x)
    if not (torch.is_tensor(logits) and logits.shape == (2, head.out_features)):
        shape = tuple(logits.shape) if torch.is_tensor(logits) else type(logits).__name__
        raise ValueError(f"{where} is not the final classifier: the network maps [2, 3, H, W] to {shape}, not to its "
                         f"{head.out_features} outputs; name the final classifier with penultimate")
    return head


def _fresh_python(builder, reference, head_path, num_features):
    """The builder's architecture freshly initialised, with a new head: the builder's own initialisation when it
    takes ``pretrained`` (called with ``pretrained=False``), else every layer's ``reset_parameters``."""
    takes_pretrained = "pretrained" in inspect.signature(builder).parameters

    def fresh(num_classes):
        model, _ = _built(builder, reference, **({"pretrained": False} if takes_pretrained else {}))
        if not takes_pretrained:
            stuck = [name or type(model).__name__ for name, module in model.named_modules()
                     if any(True for _ in module.parameters(recurse=False)) and not hasattr(module, "reset_parameters")]
            if stuck:
                raise ValueError(f"python = {reference!r}: cannot re-initialise the network for training from scratch: "
                                 f"{', '.join(stuck[:5])} have parameters but no reset_parameters(). Give the "
                                 "function a `pretrained` argument (called with pretrained=False for scratch)")
            for module in model.modules():
                if any(True for _ in module.parameters(recurse=False)):
                    module.reset_parameters()
        _linear_head_at(head_path, num_features)(model, num_classes)
        return model

    return fresh


def _load_python(spec):
    reference = spec["python"]
    builder, source_file = python_builder(reference)
    model, cfg = _built(builder, reference)
    cfg = check_builder_cfg(reference, cfg)
    weights_file = spec.get("weights_file")
    if weights_file:
        load_weights(model, weights_file, spec.get("key_map"))
    head_path = spec.get("penultimate") or final_linear(model)
    head = _check_head(reference, model, head_path, cfg, named="penultimate" in spec)
    checkpoint_sha256 = state_dict_sha256(model)
    split_at_head(model, head_path)
    return Pretrained(
        body=model.eval(), head=head.eval(), num_features=head.in_features, pretrained_cfg=cfg,
        info={"spec": spec, "arch": reference, "weights_file": str(weights_file or source_file),
              "sha256": checkpoint_sha256, "builder_file": str(source_file.resolve()),
              "builder_sha256": sha256_file(source_file),
              "weights_file_sha256": sha256_file(weights_file) if weights_file else None,
              "layer": f"input to {head_path} (the final classifier)", "source_dataset": "imagenet-1k",
              "metadata_top1": None},
        _fresh=_fresh_python(builder, reference, head_path, head.in_features),
        _attach_head=_linear_head_at(head_path, head.in_features),
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
