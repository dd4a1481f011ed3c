"""torchvision's pretrained networks (``torchvision: NAME``, ``weights: ENUM``, default DEFAULT).

The penultimate layer is the input to the last linear layer of the classifier, which ``TORCHVISION_HEADS``
names per family: ``fc`` for ResNet, GoogLeNet, Inception v3, RegNet, ShuffleNet; ``classifier`` for DenseNet;
the last layer of the ``classifier`` sequence for VGG, AlexNet, MobileNet, MnasNet, EfficientNet, ConvNeXt;
``heads.head`` for ViT, ``head`` for Swin. Weights are read offline from ``$TORCH_HOME/hub/checkpoints/<file of
the weights' URL>``; ``check_hash`` (default true) checks the file's sha256 against the prefix in its published
name. The preprocessing and the top-1 come from the weights' own transforms and metadata.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

from ...config import TorchvisionSpec
from .base import Source, WeightsNotFound
from ...errors import InputError

# torchvision family (model-name prefix) -> the module path of its final classifier layer: the penultimate
# layer is its input.
TORCHVISION_HEADS = {
    "alexnet": "classifier.6",
    "convnext": "classifier.2",
    "densenet": "classifier",
    "efficientnet": "classifier.1",
    "googlenet": "fc",
    "inception_v3": "fc",
    "maxvit": "classifier.5",
    "mnasnet": "classifier.1",
    "mobilenet_v2": "classifier.1",
    "mobilenet_v3": "classifier.3",
    "regnet": "fc",
    "resnet": "fc",
    "resnext": "fc",
    "shufflenet": "fc",
    "swin": "head",
    "vgg": "classifier.6",
    "vit": "heads.head",
    "wide_resnet": "fc",
}

_PUBLISHED_HASH = re.compile(r"-([a-f0-9]{6,})\.")


def torchvision_head(name):
    """The classifier's module path for a torchvision model name (longest matching family prefix)."""
    families = sorted((f for f in TORCHVISION_HEADS if name.startswith(f)), key=len, reverse=True)
    if not families:
        raise InputError(f"torchvision model {name!r}: no known penultimate layer for its family; supported "
                         f"families: {', '.join(sorted(TORCHVISION_HEADS))}")
    return TORCHVISION_HEADS[families[0]]


def weights_enum(name, weights=TorchvisionSpec.default("weights")):
    """The weights enum member of a torchvision model (``weights`` is a member name such as IMAGENET1K_V1)."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as error:
        raise InputError(f"torchvision has no classification model {name!r}; valid: "
                         f"{', '.join(torchvision.models.list_models(module=torchvision.models))}") from error
    try:
        return enum[weights] if weights != "DEFAULT" else enum.DEFAULT
    except KeyError as error:
        raise InputError(f"torchvision model {name!r} has no weights {weights!r}; valid: "
                         f"{', '.join(member.name for member in enum)}") from error


def weights_path(weights):
    """Where torchvision looks for (and would download) a weights file."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def weights_cfg(weights):
    """The ``PretrainedCfg`` (native size, crop fraction, statistics, interpolation) of torchvision weights, from
    their evaluation transforms."""
    from ...data.preprocessing import PretrainedCfg

    transforms = weights.transforms()
    crop, resize = int(transforms.crop_size[0]), int(transforms.resize_size[0])
    return PretrainedCfg(input_size=(3, crop, crop), mean=tuple(transforms.mean), std=tuple(transforms.std),
                         interpolation=transforms.interpolation.value, crop_pct=crop / resize)


def check_published_hash(path, sha256):
    """The file's sha256 starts with the prefix its published name carries (torchvision's and pretrainedmodels'
    files are named ``<name>-<sha256 prefix>.pth``)."""
    match = _PUBLISHED_HASH.search(path.name)
    if match and not sha256.startswith(match.group(1)):
        raise InputError(f"{path}: sha256 {sha256[:12]}... does not start with {match.group(1)}, the hash "
                         "published in the file name: the file is truncated or holds other weights. Fetch it "
                         "again, or set check_hash: false for weights you made yourself")


def builder_options(name):
    """Builder options of a torchvision model without pretrained weights: no auxiliary heads, and for those
    families their (truncated-normal) initialisation chosen explicitly (the default is about to change)."""
    from ..architectures import TORCHVISION_AUX

    return {"aux_logits": False, "init_weights": True} if name.startswith(TORCHVISION_AUX) else {}


def weights_file(spec):
    """The weights enum member of a torchvision spec and the file torchvision reads it from; an error naming
    the file and how to get it when it is not on this machine."""
    name = spec["torchvision"]
    weights = weights_enum(name, spec.get("weights", TorchvisionSpec.default("weights")))
    if spec.get("weights_file"):
        raise InputError(f"torchvision model {name!r}: weights_file is for timm models; torchvision's weights are "
                         f"read from {weights_path(weights).parent} (set TORCH_HOME to move it). For "
                         "weights of your own, use the timm name of the architecture with weights_file")
    path = weights_path(weights)
    if not path.is_file():
        raise WeightsNotFound(
            f"torchvision weights {weights} for model {name!r} are expected at {path} and are not there "
            "(this machine does not download). On a connected machine run\n"
            f"    python -c \"import torchvision; torchvision.models.get_weight('{weights}').get_state_dict()\"\n"
            f"and copy {path.name} from its $TORCH_HOME/hub/checkpoints/ to {path.parent}/")
    return weights, path


class TorchvisionSource(Source):
    key = "torchvision"

    def check(self, spec):
        torchvision_head(spec["torchvision"])

    def spec_from_reference(self, text):
        name, _, weights = text.partition(":")
        return {"torchvision": name, "weights": weights or TorchvisionSpec.default("weights")}

    def check_loadable(self, spec, recipe=None):
        torchvision_head(spec["torchvision"])
        weights, path = weights_file(spec)
        return {"source": self.key, "arch": spec["torchvision"], "weights": str(weights), "weights_file": str(path)}

    def load(self, spec):
        import torchvision

        from ...provenance import sha256_file
        from ..network import NetworkInfo, Pretrained, drop_aux_heads, linear_head_at, split_at_head

        name = spec["torchvision"]
        head_path = torchvision_head(name)
        weights, path = weights_file(spec)
        sha256 = sha256_file(path)
        if spec.get("check_hash", TorchvisionSpec.default("check_hash")):
            check_published_hash(path, sha256)
        # torchvision's own builder reads the cached file and applies its per-family fixes (DenseNet's old key
        # names, GoogLeNet's and Inception's input transform); it would download only a missing file.
        model = torchvision.models.get_model(name, weights=weights, progress=False)
        drop_aux_heads(model)
        head = split_at_head(model, head_path)
        top1 = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
        return Pretrained(
            body=model.eval(), head=head.eval(), num_features=head.in_features, pretrained_cfg=weights_cfg(weights),
            info=NetworkInfo(spec=spec, arch=name, weights=str(weights), weights_file=str(path), sha256=sha256,
                             layer=f"input to {head_path} (the final classifier)", recipe=weights.meta.get("recipe"),
                             top1=None if top1 is None else top1 / 100.0,
                             top1_from=None if top1 is None else "weights metadata",
                             # SWAG weights: pretrained on Instagram's 3.6B images, then on ImageNet-1k (in timm's
                             # words, ``timm.pretraining_data``)
                             pretraining_data="swag+in1k" if "SWAG" in str(weights) else "in1k",
                             pretraining_data_from="torchvision's weights name"),
            _fresh=lambda n: torchvision.models.get_model(name, weights=None, num_classes=n, **builder_options(name)),
            _attach_head=linear_head_at(head_path, head.in_features),
        )

    def skeleton(self, spec):
        import torchvision

        name = spec["torchvision"]
        weights = weights_enum(name, spec.get("weights", TorchvisionSpec.default("weights")))
        model = torchvision.models.get_model(name, weights=None, **builder_options(name))
        return model, weights_cfg(weights).image_size
