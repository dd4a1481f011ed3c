"""Checks of a study configuration that a JSON schema cannot express: names against the registries."""

from __future__ import annotations

from . import datasets, models, official_datasets, pretrained
from .pretrain import DEFAULT_RECIPE
from .switches import SWITCHES, model_options, switches_on


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the valid choices."""


def _check_options(key, name, options):
    info = datasets.get_dataset_info(name)
    unknown = set(options or {}) - set(info.options)
    if unknown:
        raise ConfigError(f"config: {key} has unknown option(s) {sorted(unknown)} for dataset {name!r}; "
                          f"valid: {sorted(info.options)}")


def check_config(config):
    """Raise ``ConfigError`` naming the first invalid key; returns the config unchanged."""
    if any("arch" in entry for entry in config["models"].values()):
        source = (config.get("source") or {}).get("dataset")
        if source not in datasets.list_datasets(role="source"):
            raise ConfigError(f"config: source.dataset = {source!r} is not a source dataset (models with `arch` "
                              f"are pretrained on it); valid: {', '.join(datasets.list_datasets(role='source'))}")
        _check_options("source.options", source, config["source"].get("options"))
        if datasets.get_dataset_info(source).kind == "official":
            _check_official("source.options", source, config["source"].get("options") or {})
    targets = datasets.list_datasets(role="target")
    for name, options in config["datasets"].items():
        if name not in targets:
            raise ConfigError(f"config: datasets.{name} is not a known target dataset; valid: {', '.join(targets)}")
        _check_options(f"datasets.{name}", name, options)
        if datasets.get_dataset_info(name).kind == "official":
            _check_official(f"datasets.{name}", name, options or {})
    for name, entry in config["models"].items():
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"config: model name {name!r} may hold only letters, digits, '_' and '-' (a '.' "
                              "marks the ablation's recipe variants, as timm's pretrained tags)")
        _check_model(name, entry)
    _check_ablation(config)
    for name, spec in study_models(config).items():
        if "arch" in spec:
            _check_switches(config, name, spec)
    probe = config["probe"]
    if probe.get("penalty_min", 0) > probe.get("penalty_max", float("inf")):
        raise ConfigError(f"config: probe.penalty_min ({probe['penalty_min']}) exceeds probe.penalty_max "
                          f"({probe['penalty_max']})")
    for arm in TRAINING_ARMS:
        entry = config.get(arm) or {}
        unknown = sorted(set(entry.get("datasets") or []) - set(config["datasets"]))
        if unknown:
            raise ConfigError(f"config: {arm}.datasets lists {unknown}, which are not in datasets; "
                              f"valid: {', '.join(config['datasets'])}")
        recipe = entry.get("recipe") or {}
        if recipe.get("checkpoint_every", 1) > recipe.get("steps", float("inf")):
            raise ConfigError(f"config: {arm}.recipe.checkpoint_every ({recipe['checkpoint_every']}) exceeds "
                              f"{arm}.recipe.steps ({recipe['steps']}): no state would be saved before the run ends, so an interrupted run could not resume")
    return config


def _check_official(key, name, options):
    if not options.get("root"):
        raise ConfigError(f"config: {key}.root is missing: the directory of the dataset in its official "
                          f"layout ({official_datasets.OBTAIN[name]})")
    if options.get("download") and name not in official_datasets.DOWNLOADERS:
        raise ConfigError(f"config: {key}.download: torchvision cannot download {name}; get it by hand: "
                          f"{official_datasets.OBTAIN[name]}")


def _check_model(name, entry):
    source = pretrained.spec_source(entry)
    if source == "arch" and entry["arch"] not in models.list_models() + models.torchvision_architectures():
        raise ConfigError(f"config: models.{name}.arch = {entry['arch']!r} is not a known architecture; "
                          f"valid: {', '.join(models.list_models())}, or a torchvision classification model "
                          "(torchvision.models.list_models(module=torchvision.models))")
    try:
        if source == "torchvision":
            pretrained.torchvision_head(entry["torchvision"])
            pretrained.torchvision_weights(entry["torchvision"], entry.get("weights", "DEFAULT"))
        elif source == "timm":
            pretrained.check_timm_name(entry["timm"])
    except ValueError as error:
        raise ConfigError(f"config: models.{name}: {error}") from error


def _check_switches(config, name, spec):
    """The model builds with its recipe's switches (a torchvision family lacking one refuses it); built on the
    meta device, so no memory or time is spent on weights."""
    import torch

    options = model_options({**DEFAULT_RECIPE, **_recipe(config, spec)})
    try:
        with torch.device("meta"):
            models.create_model(spec["arch"], num_classes=2, **options)
    except ValueError as error:
        where = f"models.{name}.pretrain" if name in config["models"] else f"the ablation's variant {name}"
        raise ConfigError(f"config: {where}: {error}") from error


def _check_ablation(config):
    ablation = config.get("ablation") or {}
    if not ablation_enabled(config):
        return
    for key, names in (("ablation.model", [ablation["model"]]), ("ablation.mixed_zoo", list(ablation["mixed_zoo"]))):
        for name in names:
            entry = config["models"].get(name)
            if entry is None or "arch" not in entry:
                valid = ", ".join(other for other, spec in config["models"].items() if "arch" in spec) or "none"
                raise ConfigError(f"config: {key} names {name!r}, which is not a model the workflow pretrains "
                                  f"(`models.<name>.arch`); valid: {valid}")
            on = switches_on(_recipe(config, entry))
            if on:
                raise ConfigError(f"config: {key} names {name!r}, whose recipe already turns on {on}; the "
                                  "ablation compares against a model trained with every switch off")
    for name, switches in ablation["mixed_zoo"].items():
        if not switches:
            raise ConfigError(f"config: ablation.mixed_zoo.{name} turns on no switch; valid: {list(SWITCHES)}")
    tsne = ablation.get("tsne") or {}
    if tsne and tsne["dataset"] not in config["datasets"]:
        raise ConfigError(f"config: ablation.tsne.dataset = {tsne['dataset']!r} is not in datasets; valid: "
                          f"{', '.join(config['datasets'])}")
    if tsne and datasets.get_dataset_info(tsne["dataset"]).metric == "map11":
        raise ConfigError(f"config: ablation.tsne.dataset = {tsne['dataset']!r} is multi-label; the t-SNE plot "
                          "colours each point by its one class")


# Short names of the switches in variant names (``mini_vgg.ls-dropout``; all four: ``mini_vgg.all``).
SWITCH_TAGS = {"no_bn_gamma": "no_gamma", "label_smoothing": "ls", "dropout": "dropout", "aux_head": "aux"}


def variant_name(model, switches):
    """The name of ``model`` pretrained again with ``switches`` on: ``model.tag``, as timm's pretrained tags."""
    tag = "all" if set(switches) == set(SWITCHES) else "-".join(SWITCH_TAGS[s] for s in SWITCHES if s in switches)
    return f"{model}.{tag}"


def ablation_enabled(config):
    """Whether the config has an ablation section that is enabled. ``enabled`` may be the text "true" or
    "false": Snakemake's ``--config 'ablation={enabled: true}'`` passes nested values as text."""
    ablation = config.get("ablation") or {}
    enabled = ablation.get("enabled", True)
    return bool(ablation) and (enabled if isinstance(enabled, bool) else enabled == "true")


def ablation_models(config):
    """The models the regularisation ablation adds (``{name: spec}``; none when it is disabled): the ablation
    model with each switch alone and all four, and the mixed-recipe twin of each ``mixed_zoo`` model."""
    if not ablation_enabled(config):
        return {}
    ablation = config["ablation"]
    variants = [(ablation["model"], [switch]) for switch in SWITCHES] + [(ablation["model"], list(SWITCHES))]
    variants += list(ablation["mixed_zoo"].items())
    added = {}
    for model, switches in variants:
        entry = config["models"][model]
        keys = [SWITCHES[switch][0] for switch in switches]
        recipe = {**(entry.get("pretrain") or {}), **{key: ablation["switches"][key] for key in keys}}
        added[variant_name(model, switches)] = {"arch": entry["arch"], "pretrain": recipe}
    return added


def mixed_zoo(config):
    """The mixed-recipe zoo (the "public checkpoints" contrast): the variant names of ``ablation.mixed_zoo``."""
    if not ablation_enabled(config):
        return []
    return [variant_name(model, switches) for model, switches in config["ablation"]["mixed_zoo"].items()]


def study_models(config):
    """Every model of the study: ``models`` and the ablation's variants, ``{name: spec}``."""
    return {**config["models"], **ablation_models(config)}


def embedded_models(config):
    """The models the workflow pretrains itself (``arch``), as opposed to downloaded ones."""
    return [name for name, entry in study_models(config).items() if "arch" in entry]


TRAINING_ARMS = ("finetune", "scratch")


def enabled_arms(config):
    """The training arms (fine-tune, scratch) the configuration runs."""
    return [arm for arm in TRAINING_ARMS if (config.get(arm) or {}).get("enabled", True) and config.get(arm)]


def arm_datasets(config, arm):
    """The target datasets of a training arm (all of the study's by default)."""
    return list(config[arm].get("datasets") or config["datasets"])


def architecture(spec):
    """The architecture a model spec builds: ``arch``, the torchvision name, or the timm name without its tag."""
    return spec.get("arch") or spec.get("torchvision") or spec["timm"].split(".")[0]


def arm_models(config, arm):
    """The models of a training arm. Training from random initialisation uses no pretraining, so it runs once
    per architecture: for the first model of each in the config, leaving out the ablation's variants (which
    differ from their model only in pretraining) and a network pretrained here whose architecture a
    downloaded one already has."""
    specs = study_models(config)
    if arm != "scratch":
        return list(specs)
    names, seen = [], set()
    for name, spec in specs.items():
        if switches_on(_recipe(config, spec)) or architecture(spec) in seen:
            continue
        seen.add(architecture(spec))
        names.append(name)
    return names


def pretrain_recipe(config, model):
    """The shared recipe with the model's own overrides applied."""
    return _recipe(config, study_models(config)[model])


def _recipe(config, spec):
    return {**(config.get("pretrain") or {}), **(spec.get("pretrain") or {})}

