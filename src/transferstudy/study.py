"""A study configuration planned into what the workflow runs: the models (with the regularisation ablation's
variants), the datasets, the transfer settings and training arms, the grids, the tables and the figures.

Free of torch, torchvision, matplotlib and statsmodels: the workflow builds its DAG from a ``Study`` in well
under a second. Checks everything that can be checked without them, naming the key, the value and what would
be valid; what only torchvision or timm know (their model and weights names, which of a family's layers take
the switches) is checked by the workflow's first job (``nets.zoo.check_spec``).
"""

from pathlib import Path

from .analysis import catalogue as figure_catalogue
from .config import (MODEL_SPECS, AblationOptions, AnalysisOptions, ConfigError, FeatureOptions, PretrainRecipe,
                     ProbeSolver, SourceOptions, SplitOptions, StudyOptions, SubsetOptions, TrainingArm,
                     TransferabilityOptions)
from .data import datasets, declared, official
from .data.subsets import parse_subset_name, subset_name
from .nets.sources import registry
from .schema import from_text
from .settings import LOGISTIC_REGRESSION, SCRATCH, TRAINING_ARMS
from .switches import SWITCHES, switches_on
from .transfer import search

# Short names of the switches in variant names (``mini_vgg.ls-dropout``; all four: ``mini_vgg.all``).
SWITCH_TAGS = {"no_bn_gamma": "no_gamma", "label_smoothing": "ls", "dropout": "dropout", "aux_head": "aux"}

# The tables every study writes; the training arms and the ablation add theirs.
TABLES = ("accuracy", "correlation", "mixed_effects", "pairwise")
ARM_TABLES = ("convergence", "steps_to_threshold", "speedup")
TRANSFERABILITY_TABLES = ("transferability", "transferability_evaluation")
SUBSET_TABLES = ("subsets", "subsets_summary", "subsets_correlation")


def variant_name(model, switches):
    """The name of ``model`` pretrained again with ``switches`` on: ``model.tag``, as timm's pretrained tags."""
    tag = "all" if set(switches) == set(SWITCHES) else "-".join(SWITCH_TAGS[s] for s in SWITCHES if s in switches)
    return f"{model}.{tag}"


def grid_value(value):
    """How a grid value appears in job names and paths (``lr0.03_wd0``)."""
    return f"{value:g}"


def _checked_builder_option(key, value, default):
    """A dataset builder's option, of its default's type: counts and sizes are positive integers, fractions lie in
    (0, 1), switches are true or false, paths are text. Text of a number or switch (Snakemake's nested --config
    values) is read as one."""
    if isinstance(value, str) and default is not None and not isinstance(default, str):
        value = from_text(value, [type(default).__name__])
    if isinstance(default, bool):
        valid, what = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        valid, what = isinstance(value, int) and not isinstance(value, bool) and value >= 1, "a positive integer"
    elif isinstance(default, float):
        valid = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1
        what = "a fraction in (0, 1)"
    else:
        valid, what = isinstance(value, str) and bool(value), "a path"
    if not valid:
        shown = "" if default is None else f" (default {default!r})"
        raise ConfigError(f"{key} = {value!r} is not {what}{shown}")
    return value


def _builder_options(key, name, options):
    """A registered dataset's builder options, checked (text read as its option's type); an official dataset
    needs its root, and may be downloaded only where torchvision can."""
    info = datasets.get_dataset_info(name)
    unknown = set(options or {}) - set(info.options)
    if unknown:
        raise ConfigError(f"{key} has unknown option(s) {sorted(unknown)} for dataset {name!r}; "
                          f"valid: {sorted(info.options)}")
    checked = {option: _checked_builder_option(f"{key}.{option}", value, info.options[option])
               for option, value in (options or {}).items()}
    if info.kind == "official":
        options = options or {}
        if not options.get("root"):
            raise ConfigError(f"{key}.root is missing: the directory of the dataset in its official layout "
                              f"({official.OBTAIN[name]})")
        if options.get("download") and name not in official.DOWNLOADERS:
            raise ConfigError(f"{key}.download: torchvision cannot download {name}; get it by hand: "
                              f"{official.OBTAIN[name]}")
    return checked


class StudyDatasets:
    """The study's datasets, checked when made: the targets (registered, with their builder options, or declared
    with a ``format``) and the source the workflow pretrains its own models on (``needs_source``)."""

    def __init__(self, config, source_options, *, needs_source):
        self.names = list(config["datasets"])
        self.imagenet_val = source_options.imagenet_val
        self._declared, self._options = {}, {}
        targets = datasets.list_datasets(role="target")
        for name, options in config["datasets"].items():
            if (options or {}).get("format"):
                self._declared[name] = self._declared_info(name, options)
                self._options[name] = dict(options)
            elif name not in targets:
                raise ConfigError(f"datasets.{name} is not a known target dataset; valid: {', '.join(targets)}, or "
                                  "data of one's own declared with a format (image_folder, csv, arrays)")
            else:
                self._options[name] = _builder_options(f"datasets.{name}", name, options)
        self.source = None
        if needs_source:
            name, sources = source_options.dataset, datasets.list_datasets(role="source")
            if name not in sources:
                raise ConfigError(f"source.dataset = {name!r} is not a source dataset (models with `arch` are "
                                  f"pretrained on it); valid: {', '.join(sources)}")
            self._options[name] = _builder_options("source.options", name, source_options.options)
            self.source = name

    @staticmethod
    def _declared_info(name, options):
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"dataset name {name!r} may hold only letters, digits, '_' and '-' (it names files)")
        try:
            info = datasets.dataset_info(name, options)
            declared.check_location(name, options)
        except ValueError as error:
            raise ConfigError(str(error).removeprefix("config: ")) from error
        return info

    def info(self, name):
        """The registry's entry of a dataset, or its declaration's."""
        return self._declared.get(name) or datasets.get_dataset_info(name)

    def options(self, name):
        """The builder options of the source or a target dataset (checked, text read as its option's type)."""
        return dict(self._options[name])

    def files(self, name):
        """The declared file a target dataset is read from (its manifest or arrays), so that changing it makes
        the dataset outdated; none for folders and registered datasets."""
        info = self._declared.get(name)
        if info is None or info.options["format"] == "image_folder":
            return []
        return [info.options["manifest"] or info.options["file"]]

    def missing(self):
        """The official datasets' roots (and ``source.imagenet_val``) that are not here, each a line naming the key,
        the path and how to get the data; checked before a run starts (``snakemake -n`` plans without the data).
        A root to be downloaded (``download: true``) may be missing."""
        lines = []
        for name, options in self._options.items():
            if self.info(name).kind != "official" or options.get("download"):
                continue
            root = Path(options["root"])
            if not root.is_dir() or not any(root.iterdir()):
                found = "is empty" if root.is_dir() else "is not a directory" if root.exists() else "does not exist"
                key = "source.options" if name == self.source else f"datasets.{name}"
                lines.append(f"{key}.root = {str(root)!r} ({root.resolve()}) {found}. To get {name}: "
                             f"{official.OBTAIN[name]}" + (", or set download: true" if name in official.DOWNLOADERS
                                                           else ""))
        if self.imagenet_val and not Path(self.imagenet_val).is_dir():
            lines.append(f"source.imagenet_val = {self.imagenet_val!r} is not a directory: the ImageNet validation "
                         "images in class folders (DIR/<wnid>/<image>)")
        return lines


class Study:
    """One configuration, checked and expanded. Raises ``ConfigError`` naming the first invalid key.

    Its datasets are a section of their own (``data``, a ``StudyDatasets``), checked when made, before the models
    (the source is needed when any model has ``arch``)."""

    def __init__(self, config):
        self.config = config
        self.options = StudyOptions.from_mapping({key: config[key] for key in ("seed", "device", "threads")
                                                  if key in config})
        self.split = SplitOptions.from_mapping(config.get("split"))
        self.features = FeatureOptions.from_mapping(config.get("features"))
        self.probe = ProbeSolver.from_mapping(config.get("probe"))
        self.analysis = AnalysisOptions.from_mapping(config.get("analysis"))
        self.transferability = TransferabilityOptions.from_mapping(config.get("transferability"))
        self.source_options = SourceOptions.from_mapping(config.get("source"))
        self.shared_recipe = dict(config.get("pretrain") or {})
        PretrainRecipe.from_mapping(self.shared_recipe)
        self.data = StudyDatasets(config, self.source_options,
                                  needs_source=any("arch" in spec for spec in config["models"].values()))
        self.datasets, self.source = self.data.names, self.data.source
        for name, entry in config["models"].items():
            self._check_model(name, entry)
        enabled = AblationOptions.is_enabled(config.get("ablation"))
        self.ablation = AblationOptions.from_mapping(config["ablation"]) if enabled else None
        self.tsne = self.ablation.tsne if self.ablation else None
        if self.ablation:
            self._check_ablation()
        self.models = {**config["models"], **self._ablation_models()}
        self.recipes = {name: PretrainRecipe.from_mapping({**self.shared_recipe, **(spec.get("pretrain") or {})},
                                                          f"models.{name}.pretrain")
                        for name, spec in self.models.items() if "arch" in spec}
        self.arms = {arm: TrainingArm.from_mapping(config[arm], arm) for arm in TRAINING_ARMS
                     if TrainingArm.is_enabled(config.get(arm), arm)}
        self._check_arms()
        # Each arm's grid points by how paths write them (lr0.03_wd0): a job trains the config's exact values.
        self._grid_points = {arm: {(grid_value(lr), grid_value(wd)): {"lr": lr, "weight_decay": wd}
                                   for lr in options.lr for wd in options.weight_decay}
                             for arm, options in self.arms.items()}
        enabled = SubsetOptions.is_enabled(config.get("subsets"))
        self.subsets = SubsetOptions.from_mapping(config["subsets"]) if enabled else None
        if self.subsets:
            self._check_subsets()

    # --- what the study holds -------------------------------------------------------------------------------

    @property
    def downloaded(self):
        """The models not pretrained here (torchvision, timm, pretrainedmodels, python): loaded from local weights,
        described by a zoo record (the others, the keys of ``recipes``, the workflow pretrains itself)."""
        return [name for name in self.models if name not in self.recipes]

    @property
    def settings(self):
        """The transfer settings with results: logistic regression always, the training arms if enabled."""
        return [LOGISTIC_REGRESSION, *self.arms]

    def arm_datasets(self, arm):
        """The target datasets of a training arm (all of the study's by default)."""
        return list(self.arms[arm].datasets or self.datasets)

    def arm_models(self, arm):
        """The models of a training arm. Training from random initialisation uses no pretraining, so it runs once
        per architecture: for the first model of each in the config, leaving out the ablation's variants (which
        differ from their model only in pretraining) and a network pretrained here whose architecture a
        downloaded one already has."""
        if arm != SCRATCH:
            return list(self.models)
        names, seen = [], set()
        for name, spec in self.models.items():
            architecture = registry.get_source(spec).architecture(spec)
            if (name in self.recipes and switches_on(self.recipes[name].as_dict())) or architecture in seen:
                continue
            seen.add(architecture)
            names.append(name)
        return names

    def pairs(self, setting):
        """The (model, dataset) pairs with results in a setting."""
        if setting == LOGISTIC_REGRESSION:
            return [(model, dataset) for model in self.models for dataset in self.datasets]
        return [(model, dataset) for model in self.arm_models(setting) for dataset in self.arm_datasets(setting)]

    def grid(self, arm):
        """The grid points of a training arm as they appear in paths: ``[(lr, weight_decay)]``, text."""
        return list(self._grid_points[arm])

    def grid_point(self, arm, lr, weight_decay):
        """The exact values (``{"lr", "weight_decay"}``) of a grid point given as paths write it."""
        return dict(self._grid_points[arm][lr, weight_decay])

    def rung_plan(self, arm):
        """Successive halving's rungs of a training arm, ``[(points, steps)]``; empty for a grid search."""
        options = self.arms[arm]
        if options.search.method != "successive_halving":
            return []
        return search.rung_plan(len(self.grid(arm)), options.recipe.steps, options.search.eta, options.search.rungs)

    def dataset_info(self, name):
        return self.data.info(name)

    def dataset_options(self, name):
        return self.data.options(name)

    def dataset_files(self, name):
        return self.data.files(name)

    def missing_data(self):
        return self.data.missing()

    def dataset_split(self, name):
        """The hold-out options a dataset's file depends on (``prepare_dataset``'s split_seed and val_fraction):
        none for a dataset with an official validation split, so that changing them re-makes only the others."""
        if self.dataset_info(name).official_val:
            return {"split_seed": None, "val_fraction": None}
        return {"split_seed": self.split.seed, "val_fraction": self.split.val_fraction}

    @property
    def imagenet_val(self):
        """An ImageNet validation folder on which the downloaded networks' top-1 is measured, or None."""
        return self.source_options.imagenet_val

    @property
    def mixed_zoo(self):
        """The mixed-recipe zoo (the "public checkpoints" contrast): the variant names of ``ablation.mixed_zoo``."""
        if not self.ablation:
            return []
        return [variant_name(model, switches) for model, switches in self.ablation.mixed_zoo.items()]

    @property
    def tsne_models(self):
        """The ablation model with every switch off and with all four: the t-SNE's two panels."""
        return [self.ablation.model, variant_name(self.ablation.model, SWITCHES)]

    @property
    def ablation_tables(self):
        if not self.ablation:
            return []
        return ["ablation", "zoo_correlation"] + (["tsne"] if self.tsne else [])

    @property
    def subset_datasets(self):
        """The subsets as datasets of the study (``stars_fine.5shot.seed1``), by dataset, size and seed."""
        if not self.subsets:
            return []
        return [subset_name(dataset, shots, seed) for dataset in self.subset_bases
                for shots in self.subsets.examples_per_class for seed in range(self.subsets.seeds)]

    @property
    def subset_bases(self):
        """The datasets that are subset: those named, or every single-label dataset of the study."""
        if not self.subsets:
            return []
        return list(self.subsets.datasets or [name for name in self.datasets if not self.dataset_info(name).multilabel])

    @property
    def subset_settings(self):
        """The settings re-run on subsets: the probe, and the training arms named in ``subsets.arms``."""
        return [LOGISTIC_REGRESSION, *self.subsets.arms] if self.subsets else []

    def subset_pairs(self, setting):
        """The (model, subset) pairs with results in a setting (an arm: its models and datasets)."""
        if setting not in self.subset_settings:
            return []
        bases = self.subset_bases if setting == LOGISTIC_REGRESSION else [
            name for name in self.subset_bases if name in self.arm_datasets(setting)]
        models = list(self.models) if setting == LOGISTIC_REGRESSION else self.arm_models(setting)
        return [(model, subset) for model in models for subset in self.subset_datasets
                if parse_subset_name(subset)[0] in bases]

    @property
    def subset_tables(self):
        return list(SUBSET_TABLES) if self.subsets else []

    @property
    def transferability_tables(self):
        """The estimators' scores and their evaluation against the measured transfer, when enabled."""
        return list(TRANSFERABILITY_TABLES) if self.transferability.enabled else []

    @property
    def tables(self):
        """The tables (``results/tables/<name>.csv``) the study writes."""
        return [*TABLES, *(ARM_TABLES if self.arms else ()), *self.ablation_tables, *self.transferability_tables,
                *self.subset_tables]

    @property
    def figures(self):
        return figure_catalogue.figures_for(self.settings, subset_settings=self.subset_settings,
                                            extra_tables=self.ablation_tables + self.transferability_tables
                                            + self.subset_tables)

    # --- checks ---------------------------------------------------------------------------------------------

    def _check_model(self, name, entry):
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"model name {name!r} may hold only letters, digits, '_' and '-' (a '.' marks the "
                              "ablation's recipe variants, as timm's pretrained tags)")
        try:
            source = registry.get_source(entry)
        except ValueError as error:
            raise ConfigError(f"models.{name}: {error}") from error
        MODEL_SPECS[source.key].from_mapping(entry, f"models.{name}")
        try:
            registry.check_spec(entry, can_measure_top1=bool(self.imagenet_val))
        except ValueError as error:
            raise ConfigError(f"models.{name}: {error}") from error

    def model_files(self, name):
        """The files of one's own a model is made from (a builder's .py file, a weights file), so that changing
        one makes the model outdated; none for the libraries' models."""
        spec = self.models[name]
        return registry.get_source(spec).files(spec)

    def _check_ablation(self):
        ablation, models = self.ablation, self.config["models"]
        checked = (("ablation.model", [ablation.model]), ("ablation.mixed_zoo", list(ablation.mixed_zoo)))
        for key, names in checked:
            for name in names:
                entry = models.get(name)
                if entry is None or "arch" not in entry:
                    valid = ", ".join(other for other, spec in models.items() if "arch" in spec) or "none"
                    raise ConfigError(f"{key} names {name!r}, which is not a model the workflow pretrains "
                                      f"(`models.<name>.arch`); valid: {valid}")
                on = switches_on({**self.shared_recipe, **(entry.get("pretrain") or {})})
                if on:
                    raise ConfigError(f"{key} names {name!r}, whose recipe already turns on {on}; the ablation "
                                      "compares against a model trained with every switch off")
        for name, switches in ablation.mixed_zoo.items():
            if not switches:
                raise ConfigError(f"ablation.mixed_zoo.{name} turns on no switch; valid: {list(SWITCHES)}")
        if self.tsne:
            if self.tsne.dataset not in self.datasets:
                raise ConfigError(f"ablation.tsne.dataset = {self.tsne.dataset!r} is not in datasets; valid: "
                                  f"{', '.join(self.datasets)}")
            if self.dataset_info(self.tsne.dataset).multilabel:
                raise ConfigError(f"ablation.tsne.dataset = {self.tsne.dataset!r} is multi-label; the t-SNE plot "
                                  "colours each point by its one class")

    def _check_subsets(self):
        options = self.subsets
        for name in options.datasets or ():
            if name not in self.datasets:
                raise ConfigError(f"subsets.datasets lists {name!r}, which is not in datasets; valid: "
                                  f"{', '.join(self.datasets)}")
            if self.dataset_info(name).multilabel:
                raise ConfigError(f"subsets.datasets lists {name!r}, which is multi-label: k examples per class "
                                  "has no meaning when an example has several labels")
        if not self.subset_bases:
            raise ConfigError("subsets: the study has no single-label dataset to subset")
        for arm in options.arms:
            if arm not in self.arms:
                raise ConfigError(f"subsets.arms lists {arm!r}, which this study does not run (enable `{arm}`); "
                                  f"valid: {', '.join(self.arms) or 'none'}")
            if not set(self.subset_bases) & set(self.arm_datasets(arm)):
                raise ConfigError(f"subsets.arms lists {arm!r}, but none of its datasets "
                                  f"({', '.join(self.arm_datasets(arm))}) is subset")

    def _ablation_models(self):
        """The models the regularisation ablation adds (``{name: spec}``; none when it is off): the ablation
        model with each switch alone and all four, and the mixed-recipe twin of each ``mixed_zoo`` model."""
        if not self.ablation:
            return {}
        ablation = self.ablation
        variants = [(ablation.model, [switch]) for switch in SWITCHES] + [(ablation.model, list(SWITCHES))]
        variants += list(ablation.mixed_zoo.items())
        added = {}
        for model, switches in variants:
            entry = self.config["models"][model]
            keys = [SWITCHES[switch][0] for switch in switches]
            recipe = {**(entry.get("pretrain") or {}), **{key: ablation.switches[key] for key in keys}}
            added[variant_name(model, switches)] = {"arch": entry["arch"], "pretrain": recipe}
        return added

    def _check_arms(self):
        for arm, options in self.arms.items():
            unknown = [name for name in options.datasets or () if name not in self.datasets]
            if unknown:
                raise ConfigError(f"{arm}.datasets lists {unknown}, which are not in datasets; valid: "
                                  f"{', '.join(self.datasets)}")
            for key in ("lr", "weight_decay"):
                values = getattr(options, key)
                texts = [grid_value(value) for value in values]
                if len(set(texts)) < len(texts):
                    raise ConfigError(f"{arm}.{key} = {list(values)}: values that print alike ({', '.join(texts)}) "
                                      "would share one job; make them differ in their first 6 significant digits")
