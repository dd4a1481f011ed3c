"""timm's pretrained networks (``timm: NAME.TAG``), from the Hugging Face cache or a local ``weights_file``
(``key_map`` maps another implementation's parameter names, ``nets.weights``).

The penultimate layer is the model's pre-logits (``forward_head(..., pre_logits=True)``, the output with
``num_classes=0``); the preprocessing is timm's pretrained config of the tag. The top-1 is timm's published
result at exactly that preprocessing (``published_top1``), for timm's own weights only.
"""

from __future__ import annotations

import copy
import csv
import functools
import os
from pathlib import Path

from .base import Source, WeightsNotFound
from ...errors import InputError

# timm's published ImageNet-1k validation results: its results/results-imagenet.csv (pytorch-image-models,
# commit 4e5207c of 2025-10-30), the columns model (``name.tag``), img_size, crop_pct, top1 (percent).
TOP1_FILE = Path(__file__).with_name("timm_imagenet_top1.csv")
TOP1_SOURCE = "timm's published results (results-imagenet.csv, pytorch-image-models 4e5207c)"


@functools.cache
def _top1_rows():
    with open(TOP1_FILE, newline="") as f:
        return {(row["model"], int(row["img_size"]), float(row["crop_pct"])): float(row["top1"]) / 100
                for row in csv.DictReader(f)}


def published_top1(name, img_size, crop_pct):
    """timm's published ImageNet top-1 (a fraction) of pretrained weights ``name`` (``model.tag``) evaluated at
    ``img_size`` with ``crop_pct``, the preprocessing the study feeds them with; None where timm published no
    result at exactly that preprocessing (a number measured otherwise would not be this network's)."""
    return _top1_rows().get((name, int(img_size), round(float(crop_pct), 3)))


def cached_weights_path(pretrained_cfg):
    """The cached Hugging Face file of a timm model's weights (its pretrained config as a dict), or None."""
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


def check_name(name):
    import timm

    if not timm.is_model(name.split(".")[0]):
        raise InputError(f"timm has no model {name!r} (see timm.list_pretrained())")
    if "." in name and name not in timm.list_pretrained(name):
        raise InputError(f"timm has no pretrained weights {name!r}; valid tags: "
                         f"{', '.join(timm.list_pretrained(name.split('.')[0] + '.*')) or 'none'}")


def weights_file(spec):
    """The pretrained config of a timm spec (its default tag's when it names none), as a dict, and its weights
    file (the Hugging Face cache's, or ``weights_file``); an error naming where it was expected when missing."""
    from timm.models import get_pretrained_cfg

    name = spec["timm"]
    check_name(name)
    pretrained_cfg = get_pretrained_cfg(name).to_dict()
    path = Path(spec["weights_file"]) if spec.get("weights_file") else cached_weights_path(pretrained_cfg)
    if path is None or not path.is_file():
        repo = pretrained_cfg.get("hf_hub_id") or name
        cache = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "hub")
        expected = path or cache.expanduser() / f"models--{repo.replace('/', '--')}"
        raise WeightsNotFound(
            f"timm weights for {name!r} are expected at {expected} and are not there (this machine does not "
            "download). On a connected machine run\n"
            f"    python -c \"import timm; timm.create_model('{name}', pretrained=True)\"\n"
            "and copy that directory of its Hugging Face cache (~/.cache/huggingface/hub) to this one's, or set "
            "weights_file in the model's config entry")
    return pretrained_cfg, path


class TimmSource(Source):
    key = "timm"

    def architecture(self, spec):
        return spec["timm"].split(".")[0]

    def check_loadable(self, spec, recipe=None):
        from ..weights import check_key_map

        _, path = weights_file(spec)
        check_key_map(spec.get("key_map"))
        return {"source": self.key, "arch": spec["timm"], "weights_file": str(path)}

    def load(self, spec):
        import timm

        from ...data.preprocessing import PretrainedCfg
        from ...provenance import sha256_file
        from ..network import NetworkInfo, Pretrained
        from ..weights import load_weights

        name = spec["timm"]
        timm_cfg, path = weights_file(spec)
        if spec.get("key_map") is not None:  # another implementation's names: mapped here, loaded strictly
            model = load_weights(timm.create_model(name, pretrained=False), path, spec["key_map"])
        else:  # timm's own loader, pointed at the local file, so its checkpoint filters and conversions apply
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        head = copy.deepcopy(model.get_classifier())
        model.reset_classifier(0)
        cfg = PretrainedCfg(input_size=tuple(timm_cfg["input_size"]), mean=tuple(timm_cfg["mean"]),
                            std=tuple(timm_cfg["std"]), interpolation=timm_cfg.get("interpolation", "bilinear"),
                            crop_pct=float(timm_cfg.get("crop_pct", 1.0)))
        # Published for timm's own weights only: weights of one's own (weights_file) are another network.
        top1 = None if spec.get("weights_file") else published_top1(name, cfg.image_size, cfg.crop_pct)
        return Pretrained(
            body=model.eval(), head=head.eval(), num_features=model.num_features, pretrained_cfg=cfg,
            info=NetworkInfo(spec=spec, arch=name, weights_file=str(path), sha256=sha256_file(path),
                             layer="pre-logits (forward_head(..., pre_logits=True))", top1=top1,
                             top1_from=None if top1 is None else
                             f"{TOP1_SOURCE}, at {cfg.image_size} px, crop_pct {cfg.crop_pct:g}"),
            _fresh=lambda n: timm.create_model(name, pretrained=False, num_classes=n),
            _attach_head=lambda model, n: model.reset_classifier(n),
        )

    def skeleton(self, spec):
        import timm
        from timm.models import get_pretrained_cfg

        name = spec["timm"]
        check_name(name)
        return timm.create_model(name, pretrained=False), int(get_pretrained_cfg(name).input_size[-1])
