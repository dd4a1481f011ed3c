"""timm's pretrained networks (``timm: NAME.TAG``), from the Hugging Face cache or a local ``weights_file``
(``key_map`` maps another implementation's parameter names, ``nets.weights``).

The penultimate layer is the model's pre-logits (``forward_head(..., pre_logits=True)``, the output with
``num_classes=0``); the preprocessing is timm's pretrained config of the tag. The top-1 is timm's published
result at exactly that preprocessing (``published_results``, with the top-1 on ImageNet's other test sets), and
the pretraining data the tag names (``pretraining_data``), for timm's own weights only.
"""

from __future__ import annotations

import copy
import csv
import functools
import os
from pathlib import Path

from .base import Source, WeightsNotFound
from ...errors import InputError

# timm's published results of its ImageNet-1k classifiers (pytorch-image-models, commit 4e5207c of 2025-10-30): top-1
# on the ImageNet-1k validation set and on the other test sets of ``settings.SOURCE_ACCURACIES``, one row per
# (model ``name.tag``, img_size, crop_pct), percent; written from timm's results/ by ``write_results_table``.
RESULTS_FILE = Path(__file__).with_name("timm_imagenet_results.csv")
RESULTS_COMMIT = "4e5207c"
RESULTS_SOURCE = f"timm's published results (pytorch-image-models {RESULTS_COMMIT})"
# Each accuracy's file in timm's results/ (``top1``: the ImageNet-1k validation set's).
RESULTS_FILES = {"top1": "results-imagenet.csv", "imagenet_real_top1": "results-imagenet-real.csv",
                 "imagenet_v2_top1": "results-imagenetv2-matched-frequency.csv",
                 "imagenet_sketch_top1": "results-sketch.csv", "imagenet_r_top1": "results-imagenet-r.csv",
                 "imagenet_a_top1": "results-imagenet-a.csv"}
RESULTS_KEY = ("model", "img_size", "crop_pct")
# The words of timm's pretrained tags that name data a network was pretrained on before (or besides) ImageNet-1k
# (``in21k_ft_in1k``, ``clip_laion2b_ft_in12k_in1k``, ``swsl_ig1b_ft_in1k``, ``ns_jft_in1k``); ``clip`` and
# ``seer`` name a pretraining whose data the tag does not spell (EVA's CLIP; SEER's Instagram images): ``clip``
# counts only in a tag that names no data (``clip_laion2b``: laion2b).
PRETRAINING_TAG_WORDS = ("in12k", "in21k", "in22k", "ig1b", "swag", "seer", "jft", "yfcc100m", "laion2b", "laiona",
                         "openai", "clip", "webli", "m30m", "m38m")
IMAGENET_1K = "in1k"


def write_results_table(results_dir, out_path=RESULTS_FILE):
    """``RESULTS_FILE`` from timm's results/ folder: the rows of ``results-imagenet.csv`` with each other test
    set's top-1 at the same (model, img_size, crop_pct), empty where timm did not evaluate it."""
    import pandas as pd

    table = None
    for column, name in RESULTS_FILES.items():
        rows = pd.read_csv(Path(results_dir) / name, usecols=[*RESULTS_KEY, "top1"], dtype=str)
        if rows.duplicated(list(RESULTS_KEY)).any():
            raise InputError(f"{Path(results_dir) / name}: a (model, img_size, crop_pct) appears twice")
        rows = rows.rename(columns={"top1": column})
        table = rows if table is None else table.merge(rows, on=list(RESULTS_KEY), how="left")
    table = table[[*RESULTS_KEY, *RESULTS_FILES]]
    table.to_csv(out_path, index=False)
    return table


@functools.cache
def _results_rows():
    with open(RESULTS_FILE, newline="") as f:
        return {(row["model"], int(row["img_size"]), float(row["crop_pct"])):
                {column: float(row[column]) / 100 for column in RESULTS_FILES if row[column]}
                for row in csv.DictReader(f)}


def published_results(name, img_size, crop_pct):
    """timm's published accuracies (fractions, by ``RESULTS_FILES`` column; a test set timm did not evaluate the
    weights on is absent) of pretrained weights ``name`` (``model.tag``) evaluated at ``img_size`` with
    ``crop_pct``, the preprocessing the study feeds them with; {} where timm published no result at exactly that
    preprocessing (a number measured otherwise would not be this network's)."""
    return _results_rows().get((name, int(img_size), round(float(crop_pct), 3)), {})


def pretraining_data(name):
    """The data timm's tag says the weights ``name`` (``model.tag``) were pretrained on, in the tag's words and
    order, each once, ImageNet-1k last (``in21k+in1k``, ``laion2b+in12k+in1k``); ``in1k`` alone when the tag names
    nothing else."""
    words = [word for word in name.partition(".")[2].split("_") if word in PRETRAINING_TAG_WORDS]
    if len(words) > 1:
        words = [word for word in words if word != "clip"]
    return "+".join(dict.fromkeys([*words, IMAGENET_1K]))  # once each: in22k_ft_in22k_in1k is in22k+in1k


def pre_logits_width(model):
    """The width of a timm model's pre-logits: ``num_features`` is its last feature map's, which a hidden layer of
    the head (MobileNetV3's 960 -> 1280 ``conv_head``) widens; timm gives the pre-logits' as ``head_hidden_size``."""
    return getattr(model, "head_hidden_size", None) or model.num_features


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
        published = {} if spec.get("weights_file") else dict(published_results(name, cfg.image_size, cfg.crop_pct))
        top1 = published.pop("top1", None)
        where = f"{RESULTS_SOURCE}, at {cfg.image_size} px, crop_pct {cfg.crop_pct:g}"
        return Pretrained(
            body=model.eval(), head=head.eval(), num_features=pre_logits_width(model), pretrained_cfg=cfg,
            info=NetworkInfo(spec=spec, arch=name, weights_file=str(path), sha256=sha256_file(path),
                             layer="pre-logits (forward_head(..., pre_logits=True))", top1=top1,
                             top1_from=None if top1 is None else where, published=published,
                             published_from=where if published else None,
                             pretraining_data=None if spec.get("weights_file") else pretraining_data(name),
                             pretraining_data_from="timm's pretrained tag"),
            _fresh=lambda n: timm.create_model(name, pretrained=False, num_classes=n),
            _attach_head=lambda model, n: model.reset_classifier(n),
        )

    def skeleton(self, spec):
        import timm
        from timm.models import get_pretrained_cfg

        name = spec["timm"]
        check_name(name)
        return timm.create_model(name, pretrained=False), int(get_pretrained_cfg(name).input_size[-1])
