"""The study's models: each checked against its source, the recipes of those the workflow pretrains, and the
regularisation ablation, which adds variants of a model pretrained again with its switches on."""

from ..config import MODEL_SPECS, AblationOptions, ConfigError, PretrainRecipe
from ..nets.sources import registry
from ..switches import SWITCHES, switches_on

# Short names of the switches in variant names (``mini_vgg.ls-dropout``; all four: ``mini_vgg.all``).
SWITCH_TAGS = {"no_bn_gamma": "no_gamma", "label_smoothing": "ls", "dropout": "dropout", "aux_head": "aux"}


def variant_name(model, switches):
    """The name of ``model`` pretrained again with ``switches`` on: ``model.tag``, as timm's pretrained tags."""
    tag = "all" if set(switches) == set(SWITCHES) else "-".join(SWITCH_TAGS[s] for s in SWITCHES if s in switches)
    return f"{model}.{tag}"


def _check_model(name, entry, *, can_measure_top1):
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"model name {name!r} may hold only letters, digits, '_' and '-' (a '.' marks the "
                          "ablation's recipe variants, as timm's pretrained tags)")
    try:
        source = registry.get_source(entry)
    except ValueError as error:
        raise ConfigError(f"models.{name}: {error}") from error
    MODEL_SPECS[source.key].from_mapping(entry, f"models.{name}")
    try:
        registry.check_spec(entry, can_measure_top1=can_measure_top1)
    except ValueError as error:
        raise ConfigError(f"models.{name}: {error}") from error


class StudyAblation:
    """The regularisation ablation, checked when made against the declared models and the datasets. Off:
    ``options`` and ``tsne`` are None and it adds no variant, table or model."""

    def __init__(self, config, declared_models, shared_recipe, data):
        enabled = AblationOptions.is_enabled(config.get("ablation"))
        self.options = AblationOptions.from_mapping(config["ablation"]) if enabled else None
        self.tsne = self.options.tsne if self.options else None
        if self.options:
            self._check(declared_models, shared_recipe, data)
        self.variants = self._variants(declared_models)

    def _check(self, models, shared_recipe, data):
        options = self.options
        for key, names in (("ablation.model", [options.model]), ("ablation.mixed_zoo", list(options.mixed_zoo))):
            for name in names:
                entry = models.get(name)
                if entry is None or "arch" not in entry:
                    valid = ", ".join(other for other, spec in models.items() if "arch" in spec) or "none"
                    raise ConfigError(f"{key} names {name!r}, which is not a model the workflow pretrains "
                                      f"(`models.<name>.arch`); valid: {valid}")
                on = switches_on({**shared_recipe, **(entry.get("pretrain") or {})})
                if on:
                    raise ConfigError(f"{key} names {name!r}, whose recipe already turns on {on}; the ablation "
                                      "compares against a model trained with every switch off")
        for name, switches in options.mixed_zoo.items():
            if not switches:
                raise ConfigError(f"ablation.mixed_zoo.{name} turns on no switch; valid: {list(SWITCHES)}")
        if self.tsne:
            if self.tsne.dataset not in data.names:
                raise ConfigError(f"ablation.tsne.dataset = {self.tsne.dataset!r} is not in datasets; valid: "
                                  f"{', '.join(data.names)}")
            if data.info(self.tsne.dataset).multilabel:
                raise ConfigError(f"ablation.tsne.dataset = {self.tsne.dataset!r} is multi-label; the t-SNE plot "
                                  "colours each point by its one class")

    def _variants(self, models):
        """The models the ablation adds (``{name: spec}``): the ablation model with each switch alone and all four,
        and the mixed-recipe twin of each ``mixed_zoo`` model."""
        if not self.options:
            return {}
        options = self.options
        variants = [(options.model, [switch]) for switch in SWITCHES] + [(options.model, list(SWITCHES))]
        variants += list(options.mixed_zoo.items())
        added = {}
        for model, switches in variants:
            entry = models[model]
            keys = [SWITCHES[switch][0] for switch in switches]
            recipe = {**(entry.get("pretrain") or {}), **{key: options.switches[key] for key in keys}}
            added[variant_name(model, switches)] = {"arch": entry["arch"], "pretrain": recipe}
        return added

    @property
    def mixed_zoo(self):
        """The mixed-recipe zoo (the "public checkpoints" contrast): the variant names of ``ablation.mixed_zoo``."""
        if not self.options:
            return []
        return [variant_name(model, switches) for model, switches in self.options.mixed_zoo.items()]

    @property
    def tsne_models(self):
        """The ablation model with every switch off and with all four: the t-SNE's two panels."""
        if not self.options:
            return []
        return [self.options.model, variant_name(self.options.model, SWITCHES)]

    @property
    def tables(self):
        """The tables the ablation writes."""
        if not self.options:
            return []
        return ["ablation", "zoo_correlation"] + (["tsne"] if self.tsne else [])


class StudyZoo:
    """The study's models, checked when made: the declared ones and the ablation's variants (``models``, by name,
    their specs), and the recipes of those the workflow pretrains (``recipes``: the models with ``arch``)."""

    def __init__(self, config, data):
        shared_recipe = dict(config.get("pretrain") or {})
        PretrainRecipe.from_mapping(shared_recipe)
        declared = config["models"]
        for name, entry in declared.items():
            _check_model(name, entry, can_measure_top1=bool(data.imagenet_val))
        self.ablation = StudyAblation(config, declared, shared_recipe, data)
        self.models = {**declared, **self.ablation.variants}
        self.recipes = {name: PretrainRecipe.from_mapping({**shared_recipe, **(spec.get("pretrain") or {})},
                                                          f"models.{name}.pretrain")
                        for name, spec in self.models.items() if "arch" in spec}

    @property
    def downloaded(self):
        """The models not pretrained here (torchvision, timm, pretrainedmodels, python): loaded from local weights,
        described by a zoo record (the others, the keys of ``recipes``, the workflow pretrains itself)."""
        return [name for name in self.models if name not in self.recipes]

    def files(self, name):
        """The files of one's own a model is made from (a builder's .py file, a weights file), so that changing
        one makes the model outdated; none for the libraries' models."""
        spec = self.models[name]
        return registry.get_source(spec).files(spec)

    @property
    def one_per_architecture(self):
        """The first model of each architecture, leaving out the ablation's variants (which differ from their model
        only in pretraining) and a network pretrained here whose architecture a downloaded one already has: what
        training from random initialisation, which uses no pretraining, runs once for."""
        names, seen = [], set()
        for name, spec in self.models.items():
            architecture = registry.get_source(spec).architecture(spec)
            if (name in self.recipes and switches_on(self.recipes[name].as_dict())) or architecture in seen:
                continue
            seen.add(architecture)
            names.append(name)
        return names
