"""The zoo: what the study knows of each network before it transfers it.

- ``check_spec``: a model spec (the config's ``models.<name>``) checked against what only the libraries and this
  machine know: model and weights names, the weights files, a builder function, the switches a family takes.
  The workflow's first job (rule ``check_models``) runs it for every model before any network is trained.
- ``describe``: a network not pretrained here (torchvision, timm, pretrainedmodels, python) loaded, its weights
  checked, and its zoo record written: the spec, weights file and hash (and a builder's file and hash),
  preprocessing, penultimate layer and source top-1 with where it came from (measured on an ImageNet validation
  folder when given: ``measure_top1``).

    python -m transferstudy zoo torchvision:resnet50:IMAGENET1K_V1 --out resnet50.json [--imagenet-val DIR]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..config import ConfigError, FeatureOptions
from ..data import images
from ..data.official import image_folder
from ..errors import InputError
from ..io import write_json
from ..provenance import library_versions
from . import pretrained
from .costs import size_record
from .inference import penultimate_features, predict
from .sources import registry
from .sources.base import RecipeError, WeightsNotFound


def check_spec(name, spec, recipe=None):
    """Check one model spec without loading weights (``Source.check_loadable``); returns what was checked (for
    ``check_models``'s summary). ``recipe``: the pretraining recipe of a network the workflow pretrains (its
    switches must be ones its architecture has). Raises ``ConfigError`` naming the model's key."""
    # The ablation's variants (``model.tag``) are not config keys of their own: their recipe is the ablation's.
    variant = "." in name
    where = f"the ablation's variant {name}" if variant else f"models.{name}"
    try:
        return registry.get_source(spec).check_loadable(spec, recipe)
    except RecipeError as error:
        raise ConfigError(f"{where if variant else where + '.pretrain'}: {error}") from error
    except (ValueError, WeightsNotFound) as error:
        raise ConfigError(f"{where}: {error}") from error


def check_models(specs, recipes, out_path=None):
    """``check_spec`` for every model of a study (``{name: spec}``, recipes of those pretrained here); returns
    (and writes, as JSON) ``{name: what was checked}``."""
    summary = {name: check_spec(name, spec, recipes.get(name)) for name, spec in specs.items()}
    if out_path is not None:
        write_json(out_path, summary)
    return summary


def imagenet_val_files(folder):
    """(paths relative to ``folder``, labels) of an ImageNet validation folder in ImageFolder layout (one
    directory per synset; sorted synsets give torchvision's and timm's class indices)."""
    files, labels, synsets = image_folder(folder)
    return [str(file.relative_to(folder)) for file in files], labels, len(synsets)


@torch.no_grad()
def measure_top1(loaded, folder, *, batch_size=FeatureOptions.batch_size, workers=0, device="cpu"):
    """Top-1 of the network's own classifier on an ImageNet validation folder, under its preprocessing."""
    paths, labels, num_synsets = imagenet_val_files(folder)
    num_classes = loaded.head.out_features if isinstance(loaded.head, nn.Linear) else None
    if num_classes is not None and num_synsets != num_classes:
        raise InputError(f"{folder}: {num_synsets} class directories, but the network has {num_classes} outputs; "
                         "give the ImageNet validation set in ImageFolder layout (one directory per synset)")
    dataset = images.SplitImages(paths=paths, root=folder, transform=images.eval_transform(loaded.pretrained_cfg))
    features, _ = penultimate_features(loaded, dataset, batch_size=batch_size, workers=workers, device=device)
    logits = predict(loaded.head.to(device), torch.from_numpy(features).to(device), batch_size=batch_size)
    return float((logits.argmax(1) == np.asarray(labels)).mean()), len(labels)


def describe(spec, out_path, *, model_name=None, imagenet_val=None, batch_size=FeatureOptions.batch_size, workers=0,
             device="cpu"):
    """Load a network not pretrained here (checking its weights are here) and write its zoo record: the spec,
    weights file and hash, preprocessing, penultimate layer and source top-1 with where it came from
    (measured on ``imagenet_val`` when given, else ``Pretrained.source_top1``: the config's, the weights'
    metadata, the published results)."""
    try:
        loaded = pretrained.load(spec)
        random_builder = spec.get("python") and not spec.get("weights_file")
        if random_builder and pretrained.load(spec).info.sha256 != loaded.info.sha256:
            raise InputError(f"python = {spec['python']!r}: two calls of the function built different weights: it "
                             "draws them at random without a fixed seed, so every job would compute with another "
                             "network; seed it (torch.manual_seed before building) or give weights_file")
    except InputError as error:
        raise InputError(f"models.{model_name}: {error}" if model_name else str(error)) from error
    if imagenet_val:
        top1, count = measure_top1(loaded, imagenet_val, batch_size=batch_size, workers=workers, device=device)
        origin = f"measured on {count} images of {imagenet_val}"
    else:
        top1, origin = loaded.source_top1()
    if top1 is None:
        raise InputError(f"model {model_name or spec}: no source top-1; set source_top1 in its config entry (a "
                         "fraction, from the model card), or source.imagenet_val to measure it")
    info = loaded.info
    record = {
        "model": model_name or info.arch, "spec": info.spec, "arch": info.arch, "weights": info.weights,
        "weights_file": info.weights_file, "checkpoint_sha256": info.sha256, "source_dataset": info.source_dataset,
        "source_top1": top1, "source_top1_from": origin,
        **{key: value for name, (value, where) in loaded.source_properties().items()
           for key, value in ((name, value), (f"{name}_from", where))},
        "pretrained_cfg": loaded.pretrained_cfg.as_dict(),
        "layer": info.layer, "num_features": loaded.num_features, "recipe": info.recipe,
        **size_record(loaded.network(), loaded.pretrained_cfg.image_size),
        "versions": library_versions(),
    }
    # A model of one's own: the builder's file and the weights file, hashed (the checkpoint hash is the weights').
    record.update({key: getattr(info, key) for key in ("builder_file", "builder_sha256", "weights_file_sha256")
                   if getattr(info, key)})
    write_json(out_path, record)
    return record
