"""Every settings group of a study as a typed object that owns its keys, defaults and valid ranges.

Each group is a frozen dataclass whose fields are the keys of one section of the configuration:

| group | config section | read by |
|---|---|---|
| ``StudyOptions`` | the top-level ``seed``, ``device``, ``threads`` | the workflow |
| ``PretrainRecipe`` | ``pretrain`` (and ``models.<name>.pretrain``) | ``train.pretrain`` |
| ``TrainingArm`` / ``ArmRecipe`` | ``finetune``, ``scratch`` / their ``recipe`` | ``transfer.finetune`` |
| ``ProbeSolver`` | ``probe`` | ``transfer.probe`` |
| ``FeatureOptions`` | ``features`` | ``transfer.features`` |
| ``SplitOptions`` | ``split`` | ``data.datasets`` |
| ``DatasetDeclaration`` | ``datasets.<name>`` with a ``format`` | ``data.declared`` |
| ``AnalysisOptions`` | ``analysis`` | the analysis tables |
| ``AblationOptions`` | ``ablation`` | the study (the ablation's variants) |
| ``TsneOptions`` | ``ablation.tsne`` | ``analysis.ablation`` |
| ``TransferabilityOptions`` | ``transferability`` | ``transfer.transferability`` |
| ``SubsetOptions`` | ``subsets`` | ``data.subsets``, ``analysis.subsets`` |
| ``SourceOptions`` | ``source`` | the study |
| ``EmbeddedSpec``, ``TorchvisionSpec``, ... | ``models.<name>``, one per source (``MODEL_SPECS``) | ``nets.sources`` |
| ``SourceProperties`` | ``models.<name>.source_properties`` | ``nets.network``, the zoo record |

A value of the wrong type or out of range is refused when the group is made, with an error naming the key,
the value and what would be valid. The commands' flags are made from the same fields (``add_arguments``), so
a command and the workflow share their defaults. The workflow's JSON schema is generated from them
(``schema``). Free of torch: the workflow plans its jobs with it.
"""

import argparse
import dataclasses
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import ClassVar, Optional

from .errors import InputError
from .metrics import METRICS, MULTILABEL_METRICS
from .settings import ESTIMATORS, SOURCE_BASELINES, TRAINING_ARMS
from .switches import SWITCHES


class ConfigError(InputError):
    """A configuration value is invalid; the message names the key, the value and what would be valid."""

    def __init__(self, message):
        super().__init__(f"config: {message}")


def option(default=MISSING, *, help, minimum=None, maximum=None, exclusive_minimum=None, exclusive_maximum=None,
           choices=None, items=None, allow_empty=False, schema=None, changes_results=True):
    """A settings field: its default, its valid range (as JSON schema words it) and what it means. A list field
    gives the JSON schema of its ``items`` (distinct, at least one unless ``allow_empty``); a field of another
    shape its whole JSON ``schema``. ``changes_results=False``: a field no result depends on (how many processes
    decode images), left out of ``result_options``, so that changing it re-runs no job."""
    bounds = {"minimum": minimum, "maximum": maximum, "exclusiveMinimum": exclusive_minimum,
              "exclusiveMaximum": exclusive_maximum}
    metadata = {"help": help, "choices": choices, "items": items, "allow_empty": allow_empty, "schema": schema,
                "changes_results": changes_results, **{k: v for k, v in bounds.items() if v is not None}}
    return field(default=default, metadata=metadata)


# Maxima of counts: beyond them a value is a typo (45 penalties written 4500: a hundred times the work), not a
# choice. Seeds: what numpy's legacy generator and every library take.
SEED_MAX = 2**32 - 1
BATCH_MAX = 65_536
MINUTES_MAX = 30 * 24 * 60

BOUNDS = {"minimum": (lambda v, b: v >= b, "at least"), "maximum": (lambda v, b: v <= b, "at most"),
          "exclusiveMinimum": (lambda v, b: v > b, "greater than"),
          "exclusiveMaximum": (lambda v, b: v < b, "less than")}


def value_kind(kind):
    """The type a field's value has when given: ``X`` of ``Optional[X]``, else ``kind``."""
    if typing.get_origin(kind) is typing.Union:
        return next(arg for arg in typing.get_args(kind) if arg is not type(None))
    return kind


def _checked(key, value, kind, metadata):
    """``value`` as ``kind`` (int as float where a float is asked for), or a ConfigError naming the key."""
    optional = typing.get_origin(kind) is typing.Union
    if optional and value is None:
        return None
    kind = value_kind(kind)
    given = value  # as the user wrote it, for messages
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
                    dict: "a mapping"}[kind]
        raise ConfigError(f"{key} = {given!r} is not {expected}" + (" (or null: automatic)" if optional else ""))
    if metadata.get("choices") and value not in metadata["choices"]:
        raise ConfigError(f"{key} = {given!r} is not valid; valid: {', '.join(map(str, metadata['choices']))}")
    for bound, (holds, words) in BOUNDS.items():
        if bound in metadata and not holds(value, metadata[bound]):
            raise ConfigError(f"{key} = {given!r} must be {words} {metadata[bound]}")
    return value


def _nested(key, value, kind):
    """A mapping given for a field whose kind is a settings group: that group (its errors name the keys); None
    for any other field or value."""
    kind = value_kind(kind)
    if isinstance(kind, type) and issubclass(kind, Group) and isinstance(value, dict):
        return kind.from_mapping(value, key)
    return None


class Group:
    """Base of the settings groups: made from a config section (``from_mapping``) or from a command's flags
    (``add_arguments`` / ``from_arguments``); ``as_dict`` gives the section back with every default filled."""

    KEY: ClassVar[str] = ""  # where the group lives in the configuration, for messages

    def __post_init__(self):
        for name, value in self._validated(vars(self), self.KEY).items():
            object.__setattr__(self, name, value)

    @classmethod
    def _validated(cls, values, key):
        kinds = typing.get_type_hints(cls)
        prefix = f"{key}." if key else ""
        checked = {f.name: _nested(prefix + f.name, values[f.name], kinds[f.name]) or
                   _checked(prefix + f.name, values[f.name], kinds[f.name], f.metadata)
                   for f in fields(cls) if f.name in values}
        cls._check_together(checked, prefix)
        return checked

    @classmethod
    def _check_together(cls, values, prefix):
        """Checks that involve several keys of the group."""

    @classmethod
    def from_mapping(cls, mapping, key=None):
        """The group from a config section (None: every default); unknown and missing keys are refused."""
        key = cls.KEY if key is None else key
        mapping = dict(mapping or {})
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(names))
        if unknown:
            raise ConfigError(f"{key or 'the configuration'} has unknown key(s) {unknown}; valid: {', '.join(names)}")
        missing = [f.name for f in fields(cls)
                   if f.name not in mapping and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise ConfigError(f"{key} needs {', '.join(missing)}")
        return cls(**cls._validated(mapping, key))

    @classmethod
    def default(cls, name):
        """The default of field ``name``: the one place it is written."""
        return next(f.default for f in fields(cls) if f.name == name)

    @classmethod
    def is_enabled(cls, mapping, key=None):
        """Whether a config section of a group with an ``enabled`` switch is on (a missing or empty section: off).
        A section that says ``enabled: false`` needs no other key: none of them is read."""
        if not mapping:
            return False
        key = cls.KEY if key is None else key
        return _checked(f"{key}.enabled", mapping.get("enabled", cls.default("enabled")), bool, {})

    @classmethod
    def of(cls, value):
        """``value`` if it is the group already, else the group made from a mapping (None: every default)."""
        return value if isinstance(value, cls) else cls.from_mapping(value)

    def as_dict(self):
        return dataclasses.asdict(self)

    def result_options(self):
        """``as_dict`` without the fields no result depends on: what a job's parameters hold."""
        return {f.name: value for f, value in zip(fields(self), self.as_dict().values())
                if f.metadata.get("changes_results", True)}

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @classmethod
    def add_arguments(cls, parser, *, skip=()):
        """One flag per field (``--batch-size``), with the field's default and range in its help."""
        kinds = typing.get_type_hints(cls)
        for f in fields(cls):
            if f.name in skip:
                continue
            flag, kind = "--" + f.name.replace("_", "-"), kinds[f.name]
            default = None if f.default is MISSING else f.default
            help_text = f.metadata["help"] + ("" if default is None else f" (default: {default})")
            if kind in (bool, Optional[bool]):
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
            else:
                parser.add_argument(flag, type=kind, default=default, choices=f.metadata.get("choices"),
                                    required=f.default is MISSING, help=help_text)

    @classmethod
    def from_arguments(cls, arguments, *, skip=()):
        """The group from parsed flags (a Namespace or dict); ``skip``: fields left at their defaults."""
        values = vars(arguments) if isinstance(arguments, argparse.Namespace) else arguments
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name not in skip})


@dataclass(frozen=True)
class StudyOptions(Group):
    """The study's top-level keys."""

    seed: int = option(0, minimum=0, maximum=SEED_MAX,
                       help="seed of the embedded datasets' generation (each derives its own) and "
                            "of the workflow's own pretraining (initialisation, order, augmentation); "
                            "the training arms use <arm>.recipe.seed, the hold-out split split.seed, "
                            "the analysis analysis.seed")
    device: str = option("cpu", choices=("cpu", "cuda"), help="where compute jobs run; with cuda, GPU-capable rules "
                                                             "request the `gpu` resource")
    threads: int = option(1, minimum=1, maximum=1024, help="threads per compute job")


@dataclass(frozen=True)
class PretrainRecipe(Group):
    """The workflow's own pretraining on the source dataset (the paper's ImageNet training, in small). The four
    regularisation switches (``switches``) are ``bn_gamma``, ``label_smoothing``, ``dropout`` and ``aux_head``;
    all off is the controlled recipe."""

    KEY: ClassVar[str] = "pretrain"

    epochs: int = option(8, minimum=1, maximum=10_000, help="passes over the source's training split")
    batch_size: int = option(128, minimum=1, maximum=BATCH_MAX, help="examples per SGD step")
    lr: float = option(0.1, exclusive_minimum=0, help="peak learning rate (SGD, Nesterov momentum, cosine decay to 0)")
    momentum: float = option(0.9, minimum=0, maximum=1, help="Nesterov momentum")
    weight_decay: float = option(5e-4, minimum=0, help="L2 weight decay, not on biases and batch norm")
    label_smoothing: float = option(0.0, minimum=0, maximum=1, help="label smoothing of the loss (a switch)")
    augment: bool = option(True, help="in-memory sources: random translation and horizontal flip")
    bn_gamma: bool = option(True, help="false: batch norm without its learned scale, gamma fixed at 1 (a switch)")
    dropout: float = option(0.0, minimum=0, exclusive_maximum=1, help="dropout rate before the classifier (a switch)")
    aux_head: bool = option(False, help="an auxiliary classifier two thirds up the network, for pretraining only "
                                        "(a switch)")
    aux_weight: float = option(0.4, minimum=0, help="weight of the auxiliary classifier's loss")
    image_size: int = option(224, minimum=16, maximum=4096, help="sources of image files: the training crop's side")
    crop_scale_min: float = option(0.08, exclusive_minimum=0, maximum=1,
                                   help="sources of image files: smallest random-resized-crop area")
    checkpoint_every: int = option(1000, minimum=1, help="sources of image files: steps between saved resumable "
                                                         "states")


@dataclass(frozen=True)
class ArmRecipe(Group):
    """One training run of a training arm (fine-tuning or from random initialisation)."""

    KEY: ClassVar[str] = "<arm>.recipe"

    steps: int = option(200, minimum=1, maximum=10_000_000,
                        help="SGD steps (the paper: about 20,000 fine-tuning, 40,000 from scratch)")
    batch_size: int = option(64, minimum=1, maximum=BATCH_MAX, help="examples per step (the paper: 256)")
    momentum: float = option(0.9, minimum=0, maximum=1, help="Nesterov momentum")
    eval_every: int = option(50, minimum=1, help="steps between evaluations (the convergence curve)")
    checkpoint_every: int = option(50, minimum=1, help="steps between saved resumable states (what a killed run "
                                                       "loses at most)")
    crop_scale_min: float = option(0.35, exclusive_minimum=0, maximum=1,
                                   help="smallest area of the random-resized crop")
    seed: int = option(0, minimum=0, maximum=SEED_MAX,
                       help="seed of initialisation (scratch), data order, augmentation and dropout")

    @classmethod
    def _check_together(cls, values, prefix):
        every, steps = (values.get(name, cls.default(name)) for name in ("checkpoint_every", "steps"))
        if every > steps:
            raise ConfigError(f"{prefix}checkpoint_every ({every}) exceeds {prefix}steps ({steps}): no state would "
                              "be saved before the run ends, so an interrupted run could not resume")


@dataclass(frozen=True)
class ArmSearch(Group):
    """How a training arm searches its grid (``transfer.search``): every point at full steps, or successive
    halving."""

    KEY: ClassVar[str] = "<arm>.search"

    method: str = option("grid", choices=("grid", "successive_halving"),
                         help="grid: every point for the recipe's steps (the paper); successive_halving: rungs of "
                              "growing steps, the best 1/eta of each rung going on")
    eta: int = option(3, minimum=2, maximum=16,
                      help="successive halving: the fraction 1/eta of a rung's points promoted, and "
                           "the growth of the steps from rung to rung")
    rungs: int = option(3, minimum=2, maximum=10,
                        help="successive halving: rungs at most; the last at the recipe's steps")


# A training arm's learning rates lie in (0, 10].
LR_RANGE = (0, 10)


@dataclass(frozen=True)
class TrainingArm(Group):
    """A training arm (``finetune`` or ``scratch``): its grid, datasets, resources and run recipe."""

    KEY: ClassVar[str] = "<arm>"

    lr: tuple = option(help="learning-rate grid", items={"type": "number", "exclusiveMinimum": LR_RANGE[0],
                                                          "maximum": LR_RANGE[1]})
    weight_decay: tuple = option(help="weight-decay grid, divided by the learning rate in the optimiser (the "
                                      "paper's convention)", items={"type": "number", "minimum": 0})
    enabled: bool = option(True, help="false: skip the arm")
    datasets: Optional[tuple] = option(None, help="the arm's target datasets (default: all of `datasets`)",
                                       items={"type": "string"})
    amp: Optional[bool] = option(None, help="bfloat16 autocast (default on with device cuda, off on cpu)")
    workers: int = option(0, minimum=0, maximum=256, changes_results=False,
                         help="image-decoding processes per job (datasets of image files)")
    recipe: ArmRecipe = option(ArmRecipe(), help="the recipe of each run")
    search: ArmSearch = option(ArmSearch(), help="how the grid is searched")

    @classmethod
    def _validated(cls, values, key):
        values = dict(values)
        for name in ("lr", "weight_decay", "datasets"):
            if values.get(name) is not None:
                values[name] = _grid(f"{key}.{name}", values[name], numbers=name != "datasets")
        for value in values.get("lr", ()):
            if not LR_RANGE[0] < value <= LR_RANGE[1]:
                raise ConfigError(f"{key}.lr holds {value}, outside ({LR_RANGE[0]}, {LR_RANGE[1]}]")
        for value in values.get("weight_decay", ()):
            if value < 0:
                raise ConfigError(f"{key}.weight_decay holds {value}, which is negative")
        recipe, search = values.get("recipe"), values.get("search")
        if not isinstance(recipe, ArmRecipe):
            values["recipe"] = ArmRecipe.from_mapping(recipe, f"{key}.recipe")
        if not isinstance(search, ArmSearch):
            values["search"] = ArmSearch.from_mapping(search, f"{key}.search")
        scalars = {name: value for name, value in values.items() if name in ("enabled", "amp", "workers")}
        return {**values, **super()._validated(scalars, key)}


def _grid(key, values, numbers=True):
    """A non-empty list of distinct values as a tuple (numbers as floats)."""
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"{key} = {values!r} must be a non-empty list")
    checked = tuple(_checked(f"{key}[{i}]", value, float if numbers else str, {}) for i, value in enumerate(values))
    if len(set(checked)) < len(checked):
        raise ConfigError(f"{key} = {list(values)} lists a value twice")
    return checked


@dataclass(frozen=True)
class ProbeSolver(Group):
    """The logistic-regression probe: the penalty grid (scikit-learn's ``1/C``) and the L-BFGS solver."""

    KEY: ClassVar[str] = "probe"

    penalty_min: float = option(1e-6, exclusive_minimum=0, help="smallest penalty of the log-spaced grid")
    penalty_max: float = option(1e5, exclusive_minimum=0, help="largest penalty of the grid")
    num_penalties: int = option(45, minimum=1, maximum=1000,
                                help="penalties in the grid (the paper: 45 from 1e-6 to 1e5)")
    max_iter: int = option(1000, minimum=1, maximum=1_000_000, help="L-BFGS iterations per penalty")
    tol: float = option(1e-4, exclusive_minimum=0, help="converged when max |gradient| <= tol (scikit-learn's)")
    history_size: int = option(30, minimum=1, maximum=1000, help="L-BFGS memory")
    dtype: str = option("float32", choices=("float32", "float64"), help="the solver's precision")
    standardize: bool = option(True, help="standardise features with the training split's statistics")
    whiten: bool = option(True, help="solve in whitened coordinates: the same problem, fewer iterations")
    chunk_rows: int = option(4096, minimum=1, help="rows standardised, whitened and scored at a time: bounds the "
                             "probe's intermediate copies to chunk_rows x D floats")

    @classmethod
    def _check_together(cls, values, prefix):
        low, high = (values.get(name, cls.default(name)) for name in ("penalty_min", "penalty_max"))
        if low > high:
            raise ConfigError(f"{prefix}penalty_min ({low}) exceeds {prefix}penalty_max ({high})")


@dataclass(frozen=True)
class FeatureOptions(Group):
    """Feature extraction (and the other jobs that stream images through a network: pretraining on image
    files, measuring a downloaded network's top-1)."""

    KEY: ClassVar[str] = "features"

    batch_size: int = option(256, minimum=1, maximum=BATCH_MAX, help="images per forward pass")
    workers: int = option(0, minimum=0, maximum=256, changes_results=False,
                         help="image-decoding processes per job (datasets of image files)")
    amp: Optional[bool] = option(None, help="bfloat16 autocast (default on with device cuda, off on cpu)")
    unreadable: str = option("error", choices=("error", "skip"),
                             help="an image file that cannot be read fails the job naming it, or is skipped and "
                                  "counted")


@dataclass(frozen=True)
class SplitOptions(Group):
    """The validation split of datasets that have no official one: a stratified, seeded hold-out of train."""

    KEY: ClassVar[str] = "split"

    val_fraction: float = option(0.2, exclusive_minimum=0, exclusive_maximum=1,
                                 help="fraction of train held out as val")
    seed: int = option(0, minimum=0, maximum=SEED_MAX, help="seed of the hold-out")


# Where a declared dataset's data are: the key each format reads.
DATASET_FORMATS = {"image_folder": "root", "csv": "manifest", "arrays": "file"}


@dataclass(frozen=True)
class DatasetDeclaration(Group):
    """A target dataset of one's own, declared in the config (``datasets.<name>`` with a ``format``): a folder of
    class folders, a CSV manifest of image files, or arrays in an ``.npz`` / ``.h5`` file."""

    KEY: ClassVar[str] = "datasets.<name>"

    format: str = option(choices=tuple(DATASET_FORMATS), help="image_folder (root), csv (manifest) or arrays (file)")
    metric: str = option(choices=METRICS, help="the transfer metric; map11 for multi-label data only")
    root: Optional[str] = option(None, help="image_folder: DIR/<split>/<class>/<image> with train and test (and an "
                                            "official val), or DIR/<class>/<image> with test_fraction")
    manifest: Optional[str] = option(None, help="csv: columns path,label[,split]; paths relative to the manifest")
    file: Optional[str] = option(None, help="arrays: .npz or .h5 with <split>_images (uint8 N x H x W [x C]) and "
                                            "<split>_labels for train, test and optionally val")
    classes: Optional[tuple] = option(None, help="class names in label order (default: sorted names; arrays: "
                                                 "0..C-1)", items={"type": "string"})
    test_fraction: Optional[float] = option(None, exclusive_minimum=0, exclusive_maximum=1,
                                            help="data without a test split: a seeded, stratified fraction becomes it")
    separator: str = option(";", help="csv with metric map11: between the labels of one row")
    description: str = option("", help="one line for the dataset summary")

    @classmethod
    def _validated(cls, values, key):
        values = dict(values)
        if values.get("classes") is not None:
            values["classes"] = _grid(f"{key}.classes", values["classes"], numbers=False)
        scalars = {name: value for name, value in values.items() if name != "classes"}
        return {**values, **super()._validated(scalars, key)}

    @classmethod
    def _check_together(cls, values, prefix):
        data_format = values.get("format")
        if data_format is None:
            return
        needed = DATASET_FORMATS[data_format]
        if not values.get(needed):
            raise ConfigError(f"{prefix}{needed} is missing: format {data_format} reads its data from it")
        others = [key for key in DATASET_FORMATS.values() if key != needed and values.get(key) is not None]
        if others:
            raise ConfigError(f"{prefix}{others[0]} is not read by format {data_format} (it reads {needed})")
        if data_format == "image_folder" and values.get("metric") in MULTILABEL_METRICS:
            single = " or ".join(m for m in METRICS if m not in MULTILABEL_METRICS)
            raise ConfigError(f"{prefix}metric = {values['metric']!r} is for multi-label data; a folder of class "
                              f"folders gives each image one class: use {single}, or declare it as csv with a label "
                              "list per row")

    @property
    def multilabel(self):
        return self.metric in MULTILABEL_METRICS

    @property
    def location(self):
        """The declared root, manifest or file."""
        return getattr(self, DATASET_FORMATS[self.format])


@dataclass(frozen=True)
class AnalysisOptions(Group):
    """The analysis: resampling and the steps-to-threshold criterion."""

    KEY: ClassVar[str] = "analysis"

    permutations: int = option(2000, minimum=100, maximum=10_000_000,
                               help="permutations of each pairwise model comparison")
    seed: int = option(0, minimum=0, maximum=SEED_MAX,
                       help="seed of the bootstrap intervals, permutation tests and t-SNE")
    convergence_threshold: float = option(0.9, exclusive_minimum=0, exclusive_maximum=1,
                                          help="steps to threshold: this fraction of the best odds (p / (1 - p)) "
                                               "that fine-tuning or scratch training reached")


@dataclass(frozen=True)
class TsneOptions(Group):
    """The regularisation ablation's t-SNE of one dataset's test features."""

    KEY: ClassVar[str] = "ablation.tsne"

    dataset: str = option(help="a single-label target dataset")
    perplexity: float = option(30.0, exclusive_minimum=0, help="t-SNE perplexity")
    max_points: int = option(2000, minimum=10, maximum=100_000,
                             help="a seeded stratified subset beyond this many test examples")


@dataclass(frozen=True)
class AblationOptions(Group):
    """The paper's regularisation ablation: ``model`` pretrained again with each switch alone and with all four,
    and a mixed-recipe twin of each ``mixed_zoo`` model (the "public checkpoints" contrast)."""

    KEY: ClassVar[str] = "ablation"

    model: str = option(help="a model of `models` pretrained by the workflow with every switch off")
    switches: dict = option(help="each switch's 'on' setting, by recipe key (off is the shared pretraining recipe's)",
                            schema={"type": "object", "additionalProperties": False,
                                    "required": [key for key, _ in SWITCHES.values()],
                                    "properties": {"bn_gamma": {"const": False},
                                                   "label_smoothing": {"type": "number", "exclusiveMinimum": 0,
                                                                       "maximum": 1},
                                                   "dropout": {"type": "number", "exclusiveMinimum": 0,
                                                               "exclusiveMaximum": 1},
                                                   "aux_head": {"const": True}}})
    mixed_zoo: dict = option(help="model -> the switches its mixed-recipe twin turns on",
                             schema={"type": "object", "minProperties": 1, "additionalProperties": {
                                 "type": "array", "uniqueItems": True, "items": {"enum": list(SWITCHES)}}})
    enabled: bool = option(True, help="false: the study without the ablation")
    tsne: Optional[TsneOptions] = option(None, help="t-SNE of one dataset's test features of `model`, without and "
                                                    "with all four switches")

    @classmethod
    def _validated(cls, values, key):
        values = dict(values)
        for name in ("switches", "mixed_zoo"):
            if name in values and not isinstance(values[name], dict):
                raise ConfigError(f"{key}.{name} = {values[name]!r} is not a mapping")
        if values.get("tsne") is not None and not isinstance(values["tsne"], TsneOptions):
            values["tsne"] = TsneOptions.from_mapping(values["tsne"], f"{key}.tsne")
        scalars = {name: value for name, value in values.items() if name in ("model", "enabled")}
        return {**values, **super()._validated(scalars, key)}


# The JSON schema of a score of one's own in transferability.estimators.
OWN_ESTIMATOR_SCHEMA = {"type": "object", "title": "{python: 'file.py:function'}", "required": ["python"],
                        "additionalProperties": False,
                        "properties": {"python": {"type": "string"}, "name": {"type": "string"}}}


@dataclass(frozen=True)
class TransferabilityOptions(Group):
    """The transferability estimators: scores of each (model, dataset) from its features, judged against the
    measured transfer (``analysis.transferability``)."""

    KEY: ClassVar[str] = "transferability"

    enabled: bool = option(True, help="false: no estimator jobs, tables or figure")
    estimators: tuple = option(ESTIMATORS, help=f"which estimators: {', '.join(ESTIMATORS)}, or a score of one's own, "
                                                "{python: 'file.py:function', name: optional}: a function of the "
                                                "training features [N, D], labels and (when it takes a third "
                                                "argument) the source classifier's logits [N, Z] or None, returning "
                                                "a number, higher predicting better transfer",
                               items={"anyOf": [{"enum": list(ESTIMATORS)}, OWN_ESTIMATOR_SCHEMA]})
    examples_per_class: tuple = option((2, 5, 10), help="selection from few labels: the estimators also scored on "
                                                        "seeded subsets of this many examples per class of the "
                                                        "training split (and, for k-NN, the validation split) of "
                                                        "each single-label dataset, judged against the accuracy on "
                                                        "the full data ([]: none)",
                                       items={"type": "integer", "minimum": 2}, allow_empty=True)
    seeds: int = option(3, minimum=1, maximum=100, help="few-label subsets drawn per size (seeds 0, 1, ...: the "
                                                        "subsets' draws)")

    @classmethod
    def _validated(cls, values, key):
        values = dict(values)
        if "estimators" in values:
            values["estimators"] = checked_estimators(f"{key}.estimators", values["estimators"])
        if "examples_per_class" in values:
            values["examples_per_class"] = checked_sizes(
                f"{key}.examples_per_class", values["examples_per_class"], allow_empty=True, least=2,
                why="the scores' within-class statistics need two examples of a class")
        scalars = {name: value for name, value in values.items() if name not in ("estimators", "examples_per_class")}
        return {**values, **super()._validated(scalars, key)}


def checked_sizes(key, sizes, allow_empty=False, least=1, why="the full training split is always included"):
    """Examples-per-class sizes checked (whole numbers of at least ``least``, each once), sorted."""
    if not isinstance(sizes, (list, tuple)) or not (sizes or allow_empty):
        raise ConfigError(f"{key} = {sizes!r} must be a {'' if allow_empty else 'non-empty '}list")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < least:
            raise ConfigError(f"{key} holds {size!r}; sizes are whole numbers of at least {least} ({why})")
    if len(set(sizes)) < len(sizes):
        raise ConfigError(f"{key} = {list(sizes)} lists a size twice")
    return tuple(sorted(sizes))


def estimator_name(entry):
    """The name an estimator's rows carry: a built-in's, or an own score's ``name`` (default: its function's)."""
    return entry if isinstance(entry, str) else entry["name"]


def checked_estimators(key, entries):
    """The estimators list checked: built-in names, and own scores as ``{"name", "python"}`` with unique names."""
    if not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError(f"{key} = {entries!r} must be a non-empty list")
    checked = []
    for i, entry in enumerate(entries):
        where = f"{key}[{i}]"
        if isinstance(entry, str):
            if entry not in ESTIMATORS:
                raise ConfigError(f"{key} lists [{entry!r}]; valid: {', '.join(ESTIMATORS)}, or a score of one's own "
                                  "as {python: 'file.py:function'}")
            checked.append(entry)
            continue
        if not isinstance(entry, dict) or "python" not in entry or set(entry) - {"python", "name"}:
            raise ConfigError(f"{where} = {entry!r}: an estimator is a name ({', '.join(ESTIMATORS)}) or "
                              "{python: 'file.py:function', name: optional}")
        reference = entry["python"]
        function = str(reference).rpartition(":")[2]
        if not isinstance(reference, str) or ":" not in reference or not function.isidentifier():
            raise ConfigError(f"{where}.python = {reference!r}: give 'path/to/file.py:function' or "
                              "'package.module:function'")
        name = entry.get("name", function)
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"{where}.name = {name!r}: letters, digits, '_' and '-' (it names table rows)")
        if name in ESTIMATORS or name in SOURCE_BASELINES:
            raise ConfigError(f"{where}: the name {name!r} is a built-in estimator's; give the score a name of its "
                              "own (name: ...)")
        checked.append({"name": name, "python": reference})
    names = [estimator_name(entry) for entry in checked]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"{key} lists {twice[0]!r} twice")
    return tuple(checked)


@dataclass(frozen=True)
class SubsetOptions(Group):
    """Training-set-size curves: the probe (and training arms named in ``arms``) re-run on seeded subsets of
    ``examples_per_class`` examples per class of each dataset's training and validation splits."""

    KEY: ClassVar[str] = "subsets"

    examples_per_class: tuple = option((2, 5, 10, 25), help="subset sizes, examples per class (the full training "
                                                            "split is always the last size, 'all')",
                                       items={"type": "integer", "minimum": 1})
    enabled: bool = option(True, help="false: no subsets")
    datasets: Optional[tuple] = option(None, help="single-label datasets to subset (default: every single-label "
                                                  "dataset of the study)", items={"type": "string"})
    seeds: int = option(3, minimum=1, maximum=100,
                        help="subsets drawn per size (seeds 0, 1, ...): the interval over seeds")
    arms: tuple = option((), help="training arms also run on every subset (finetune, scratch; default: none, the "
                                  "probe only)", items={"enum": list(TRAINING_ARMS)}, allow_empty=True)

    @classmethod
    def _validated(cls, values, key):
        values = dict(values)
        if "examples_per_class" in values:
            values["examples_per_class"] = checked_sizes(f"{key}.examples_per_class", values["examples_per_class"])
        for name in ("datasets", "arms"):
            if values.get(name) is not None:
                values[name] = () if name == "arms" and not values[name] else _grid(f"{key}.{name}", values[name],
                                                                                    numbers=False)
        unknown = [arm for arm in values.get("arms", ()) if arm not in TRAINING_ARMS]
        if unknown:
            raise ConfigError(f"{key}.arms lists {unknown}; valid: {', '.join(TRAINING_ARMS)}")
        scalars = {name: value for name, value in values.items() if name in ("enabled", "seeds")}
        return {**values, **super()._validated(scalars, key)}


# --- models.<name>: one group per source of networks (``nets.sources``) -----------------------------------

KEY_MAP_SCHEMA = {"description": "how a weights file's names map to the architecture's: regular expressions and "
                                 "their replacements, applied in order, or `positional` (the file's tensors in "
                                 "stored order, shapes checked)",
                  "oneOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"const": "positional"}]}


def _top1_option(help="ImageNet top-1 as a fraction"):
    return option(None, minimum=0, maximum=1, help=help)


@dataclass(frozen=True)
class SourceProperties(Group):
    """A network's source properties given by hand (``settings.SOURCE_PROPERTIES``): they override what its source
    publishes (timm's results per tag, torchvision's weights name); its parameters and FLOPs are always counted."""

    KEY: ClassVar[str] = "models.<name>.source_properties"

    imagenet_real_top1: Optional[float] = _top1_option("top-1 on ImageNet-ReaL (the validation images, reassessed "
                                                       "labels) as a fraction")
    imagenet_v2_top1: Optional[float] = _top1_option("top-1 on ImageNetV2 matched frequency as a fraction")
    imagenet_sketch_top1: Optional[float] = _top1_option("top-1 on ImageNet-Sketch as a fraction")
    imagenet_r_top1: Optional[float] = _top1_option("top-1 on ImageNet-R (200 classes) as a fraction")
    imagenet_a_top1: Optional[float] = _top1_option("top-1 on ImageNet-A (200 classes) as a fraction")
    pretraining_data: Optional[str] = option(None, help="the data the network was pretrained on, in timm's tag "
                                                        "words joined by '+', ImageNet-1k last (in21k+in1k, "
                                                        "laion2b+in12k+in1k; in1k alone)")


def _source_properties_option():
    return option(None, help="source properties by hand (imagenet_real_top1, imagenet_v2_top1, imagenet_sketch_top1, "
                             "imagenet_r_top1, imagenet_a_top1, pretraining_data): override what the source "
                             "publishes")


def _key_map_option():
    return option(None, schema={"$ref": "#/$defs/key_map"},
                  help="how the weights file's parameter names map to the architecture's")


@dataclass(frozen=True)
class EmbeddedSpec(Group):
    """A network the workflow pretrains itself, on the source dataset."""

    KEY: ClassVar[str] = "models.<name>"

    arch: str = option(help="an architecture of the embedded zoo, or a torchvision classification architecture")
    pretrain: Optional[dict] = option(None, schema={"$ref": "#/$defs/recipe"},
                                      help="overrides of the shared pretraining recipe for this model")


@dataclass(frozen=True)
class TorchvisionSpec(Group):
    """torchvision's pretrained weights, read offline from $TORCH_HOME/hub/checkpoints."""

    KEY: ClassVar[str] = "models.<name>"

    torchvision: str = option(help="torchvision model name, e.g. resnet50")
    weights: str = option("DEFAULT", help="weights enum member, e.g. IMAGENET1K_V1")
    source_top1: Optional[float] = _top1_option("ImageNet top-1 as a fraction; overrides the weights' metadata")
    source_properties: Optional[SourceProperties] = _source_properties_option()
    check_hash: bool = option(True, help="check the file against the hash in its published name")


@dataclass(frozen=True)
class TimmSpec(Group):
    """timm's pretrained weights, from the Hugging Face cache or a weights file of one's own."""

    KEY: ClassVar[str] = "models.<name>"

    timm: str = option(help="timm model name with its pretrained tag, e.g. inception_v4.tf_in1k")
    weights_file: Optional[str] = option(None, help="a local weights file instead of the Hugging Face cache")
    key_map: Optional[object] = _key_map_option()
    source_top1: Optional[float] = _top1_option()
    source_properties: Optional[SourceProperties] = _source_properties_option()


@dataclass(frozen=True)
class PretrainedmodelsSpec(Group):
    """A port of Cadene's pretrainedmodels, read offline from $TORCH_HOME/hub/checkpoints."""

    KEY: ClassVar[str] = "models.<name>"

    pretrainedmodels: str = option(choices=("bninception", "nasnetamobile"),
                                   help="a port of Cadene's pretrainedmodels")
    source_top1: Optional[float] = _top1_option()
    source_properties: Optional[SourceProperties] = _source_properties_option()
    check_hash: bool = option(True, help="check the file against the hash in its published name")


@dataclass(frozen=True)
class PythonSpec(Group):
    """A network of one's own: a function returning (model, cfg)."""

    KEY: ClassVar[str] = "models.<name>"

    python: str = option(help="path/to/file.py:function or package.module:function, returning (model, cfg)")
    penultimate: Optional[str] = option(None, help="module path of the final nn.Linear (default: the last one)")
    weights_file: Optional[str] = option(None, help="weights loaded into the built network")
    key_map: Optional[object] = _key_map_option()
    source_top1: Optional[float] = _top1_option()
    source_properties: Optional[SourceProperties] = _source_properties_option()


# The spec group of each source, by the key that names it (``nets.sources.registry`` holds the same keys).
MODEL_SPECS = {"arch": EmbeddedSpec, "torchvision": TorchvisionSpec, "timm": TimmSpec,
               "pretrainedmodels": PretrainedmodelsSpec, "python": PythonSpec}


@dataclass(frozen=True)
class CostOptions(Group):
    """What the jobs request from a scheduler, from the study's cost plan (``transferstudy plan``)."""

    KEY: ClassVar[str] = "cost"

    calibration: Optional[str] = option(None, help="a calibration file (`transferstudy calibrate` on the device that "
                                                   "runs the jobs): measured throughputs; without it, times are "
                                                   "guesses")
    safety_factor: float = option(1.5, minimum=1, help="each job requests its estimated peak memory and time times "
                                                       "this (and that again for each retry)")
    min_runtime: int = option(5, minimum=1, maximum=MINUTES_MAX, help="minutes: the least time a job requests")
    uncounted_mem_mb: int = option(8000, minimum=1, maximum=4_000_000,
                                   help="what a job of a network the plan has not counted (not "
                                        "in its table, no calibration) requests: MB")
    uncounted_runtime: int = option(240, minimum=1, maximum=MINUTES_MAX,
                                    help="and minutes (each raised on every retry)")


@dataclass(frozen=True)
class SourceOptions(Group):
    """The source dataset; needed when the workflow pretrains models itself (models with `arch`)."""

    KEY: ClassVar[str] = "source"

    dataset: Optional[str] = option(None, help="the source dataset (the ImageNet stand-in) the workflow's own "
                                               "models are pretrained on")
    options: Optional[dict] = option(None, schema={"type": "object"},
                                     help="dataset builder options (e.g. train_per_class)")
    imagenet_val: Optional[str] = option(None, help="ImageNet validation images in ImageFolder layout (one "
                                                    "directory per synset); when given, the source top-1 of every "
                                                    "model not pretrained here is measured on it under the "
                                                    "model's own preprocessing")


GROUPS = (StudyOptions, PretrainRecipe, ArmRecipe, TrainingArm, ProbeSolver, FeatureOptions, SplitOptions,
          DatasetDeclaration, AnalysisOptions, TsneOptions, AblationOptions, TransferabilityOptions, SubsetOptions,
          SourceOptions, *MODEL_SPECS.values())
