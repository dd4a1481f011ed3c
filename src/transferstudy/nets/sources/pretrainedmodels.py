"""Cadene's ``pretrainedmodels`` ports the paper needs and torchvision and timm lack (``pretrainedmodels: NAME``):
BN-Inception and NASNet-A Mobile, from ``$TORCH_HOME/hub/checkpoints``.

The penultimate layer is the input to ``last_linear``. The ports' settings become a ``PretrainedCfg`` on [0, 1]
RGB pixels (BN-Inception's [0, 255] BGR input: statistics scaled, and a channel flip in front of the network);
the top-1 is the one the package's README publishes for the port.
"""

from __future__ import annotations

from pathlib import Path

from ...config import PretrainedmodelsSpec
from .base import Source, WeightsNotFound
from ...errors import InputError

# name -> (classifier module path, weights file name in $TORCH_HOME/hub/checkpoints, published top-1).
PORTS = {
    "bninception": ("last_linear", "bn_inception-52deb4733.pth", 0.73524),
    "nasnetamobile": ("last_linear", "nasnetamobile-7e03cead.pth", 0.74080),
}
TOP1_SOURCE = "the top-1 pretrainedmodels 0.7.4 publishes for its port (README)"


def weights_file(spec):
    """The cached weights file of a ``pretrainedmodels`` spec; an error naming it and how to get it when it is
    not on this machine."""
    import torch

    name = spec["pretrainedmodels"]
    path = Path(torch.hub.get_dir()) / "checkpoints" / PORTS[name][1]
    if not path.is_file():
        raise WeightsNotFound(
            f"pretrainedmodels weights for {name!r} are expected at {path} and are not there (this machine does not "
            "download). On a connected machine run\n"
            f"    python -c \"import pretrainedmodels; pretrainedmodels.{name}(pretrained='imagenet')\"\n"
            f"and copy {path.name} from its $TORCH_HOME/hub/checkpoints/ to {path.parent}/")
    return path


def port_cfg(settings):
    """The ``PretrainedCfg`` of a port from its settings: statistics on [0, 1] RGB pixels (a port trained on
    [0, 255] BGR gets mean and std scaled, and ``BGR`` flips the channels), the package's evaluation crop
    (resize to size / 0.875, bilinear, centre crop)."""
    from ...data.preprocessing import PretrainedCfg

    scale = settings["input_range"][1]
    order = slice(None, None, -1) if settings["input_space"] == "BGR" else slice(None)
    return PretrainedCfg(input_size=tuple(settings["input_size"]),
                         mean=tuple(m / scale for m in settings["mean"][order]),
                         std=tuple(v / scale for v in settings["std"][order]), interpolation="bilinear", crop_pct=0.875)


class PretrainedmodelsSource(Source):
    key = "pretrainedmodels"

    def check(self, spec):
        if spec["pretrainedmodels"] not in PORTS:
            raise InputError(f"pretrainedmodels = {spec['pretrainedmodels']!r} is not one of the ports the study "
                             f"uses; valid: {', '.join(PORTS)} (other networks: torchvision, timm or python)")

    def check_loadable(self, spec, recipe=None):
        self.check(spec)
        return {"source": self.key, "arch": spec["pretrainedmodels"], "weights_file": str(weights_file(spec))}

    def load(self, spec):
        import pretrainedmodels
        from torch import nn

        from ...provenance import sha256_file
        from ..network import BGR, NetworkInfo, Pretrained, linear_head_at, split_at_head
        from ..weights import load_weights
        from .torchvision import check_published_hash

        self.check(spec)
        name = spec["pretrainedmodels"]
        path = weights_file(spec)
        sha256 = sha256_file(path)
        if spec.get("check_hash", PretrainedmodelsSpec.default("check_hash")):
            check_published_hash(path, sha256)
        settings = pretrainedmodels.pretrained_settings[name]["imagenet"]
        head_path, _, published = PORTS[name]

        def build(num_classes):
            network = getattr(pretrainedmodels, name)(num_classes=num_classes, pretrained=None)
            return nn.Sequential(BGR(), network) if settings["input_space"] == "BGR" else network

        model = build(settings["num_classes"])
        inner = model[1] if isinstance(model, nn.Sequential) else model
        load_weights(inner, path)
        path_in_model = f"1.{head_path}" if model is not inner else head_path
        head = split_at_head(model, path_in_model)
        return Pretrained(
            body=model.eval(), head=head.eval(), num_features=head.in_features, pretrained_cfg=port_cfg(settings),
            info=NetworkInfo(spec=spec, arch=name, weights_file=str(path), sha256=sha256,
                             layer=f"input to {head_path} (the final classifier)", top1=published,
                             top1_from=TOP1_SOURCE, pretraining_data="in1k",
                             pretraining_data_from="pretrainedmodels' README (ImageNet-1k weights)"),
            _fresh=build,
            _attach_head=linear_head_at(path_in_model, head.in_features),
        )

    def skeleton(self, spec):
        import pretrainedmodels

        self.check(spec)
        name = spec["pretrainedmodels"]
        settings = pretrainedmodels.pretrained_settings[name]["imagenet"]
        return getattr(pretrainedmodels, name)(num_classes=1000, pretrained=None), int(settings["input_size"][-1])
