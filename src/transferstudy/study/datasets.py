"""The study's datasets: the targets (registered, with their builder options, or declared with a ``format``), the
source the workflow pretrains its own models on, and the hold-out options each dataset's file depends on."""

from pathlib import Path

from ..config import ConfigError
from ..data import datasets, declared, official
from ..schema import from_text


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
    """The study's datasets, checked when made: the targets (``names``: registered, with their builder options, or
    declared with a ``format``) and the source the workflow pretrains its own models on (``source``, when
    ``needs_source``; else None)."""

    def __init__(self, config, source_options, split_options, *, needs_source):
        self.names = list(config["datasets"])
        # An ImageNet validation folder on which the downloaded networks' top-1 is measured, or None.
        self.imagenet_val = source_options.imagenet_val
        self._split_options = split_options
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
        for name in self.built:
            self._check_holdout(name)

    @property
    def built(self):
        """The datasets built from their sources: the source (if any), then the targets."""
        return ([self.source] if self.source else []) + self.names

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

    def _check_holdout(self, name):
        """The validation hold-out (``split.val_fraction``) leaves every class of a dataset without an official
        validation split an example to train on, where its sizes are known before it is built: checked at the
        smallest class the mean allows (never a false refusal); the dataset job checks every class exactly."""
        info = self.info(name)
        if info.official_val or info.sizes is None or info.multilabel:
            return
        sizes = info.sizes(**{**info.options, **self._options[name]})
        per_class, fraction = sizes.train // sizes.classes, self._split_options.val_fraction
        held = max(1, round(fraction * per_class))
        if per_class - held < 1:
            raise ConfigError(f"split.val_fraction = {fraction}: the smallest class of dataset {name} has at most "
                              f"{per_class} training examples, and holding out {held} of them leaves none to train "
                              "on; lower split.val_fraction")

    def info(self, name):
        """The registry's entry of a dataset, or its declaration's."""
        return self._declared.get(name) or datasets.get_dataset_info(name)

    def options(self, name):
        """The builder options of the source or a target dataset (checked, text read as its option's type)."""
        return dict(self._options[name])

    def split(self, name):
        """The hold-out options a dataset's file depends on (``prepare_dataset``'s split_seed and val_fraction):
        none for a dataset with an official validation split, so that changing them re-makes only the others."""
        if self.info(name).official_val:
            return {"split_seed": None, "val_fraction": None}
        return {"split_seed": self._split_options.seed, "val_fraction": self._split_options.val_fraction}

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
