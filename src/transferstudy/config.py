"""Checks of a study configuration that a JSON schema cannot express: names against the registries."""

from __future__ import annotations

from . import datasets, models, official_datasets, pretrained


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
    if embedded_models(config):
        source = (config.get("source") or {}).get("dataset")
        if source not in datasets.list_datasets(role="source"):
            raise ConfigError(f"config: source.dataset = {source!r} is not a source dataset (models with `arch` "
                              f"are pretrained on it); valid: {', '.join(datasets.list_datasets(role='source'))}")
        _check_options("source.options", source, config["source"].get("options"))
    targets = datasets.list_datasets(role="target")
    for name, options in config["datasets"].items():
        if name not in targets:
            raise ConfigError(f"config: datasets.{name} is not a known target dataset; valid: {', '.join(targets)}")
        _check_options(f"datasets.{name}", name, options)
        if datasets.get_dataset_info(name).kind == "official":
            _check_official(name, options or {})
    for name, entry in config["models"].items():
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"config: model name {name!r} may hold only letters, digits, '_' and '-'")
        _check_model(name, entry)
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


def _check_official(name, options):
    if not options.get("root"):
        raise ConfigError(f"config: datasets.{name}.root is missing: the directory of the dataset in its official "
                          f"layout ({official_datasets.OBTAIN[name]})")
    if options.get("download") and name not in official_datasets.DOWNLOADERS:
        raise ConfigError(f"config: datasets.{name}.download: torchvision cannot download {name}; get it by hand: "
                          f"{official_datasets.OBTAIN[name]}")


def _check_model(name, entry):
    source = pretrained.spec_source(entry)
    if source == "arch" and entry["arch"] not in models.list_models():
        raise ConfigError(f"config: models.{name}.arch = {entry['arch']!r} is not a known architecture; "
                          f"valid: {', '.join(models.list_models())}")
    try:
        if source == "torchvision":
            pretrained.torchvision_head(entry["torchvision"])
            pretrained.torchvision_weights(entry["torchvision"], entry.get("weights", "DEFAULT"))
        elif source == "timm":
            pretrained.check_timm_name(entry["timm"])
    except ValueError as error:
        raise ConfigError(f"config: models.{name}: {error}") from error


def embedded_models(config):
    """The models the workflow pretrains itself (``arch``), as opposed to downloaded ones."""
    return [name for name, entry in config["models"].items() if "arch" in entry]


TRAINING_ARMS = ("finetune", "scratch")


def enabled_arms(config):
    """The training arms (fine-tune, scratch) the configuration runs."""
    return [arm for arm in TRAINING_ARMS if (config.get(arm) or {}).get("enabled", True) and config.get(arm)]


def arm_datasets(config, arm):
    """The target datasets of a training arm (all of the study's by default)."""
    return list(config[arm].get("datasets") or config["datasets"])


def pretrain_recipe(config, model):
    """The shared recipe with the model's own overrides applied."""
    return {**config["pretrain"], **(config["models"][model].get("pretrain") or {})}

