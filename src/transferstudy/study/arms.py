"""The study's training arms (fine-tuning, training from random initialisation): their settings, datasets and
models, the grid of each (with the config's exact values of each point) and successive halving's rungs."""

from collections.abc import Mapping

from ..config import ConfigError, TrainingArm
from ..settings import SCRATCH, TRAINING_ARMS
from ..transfer import search

# The tables a study with a training arm writes.
ARM_TABLES = ("convergence", "steps_to_threshold", "speedup")


def grid_value(value):
    """How a grid value appears in job names and paths (``lr0.03_wd0``)."""
    return f"{value:g}"


class StudyArms(Mapping):
    """The enabled training arms, by name (``arms[arm]`` is its ``TrainingArm`` settings), checked when made
    against the datasets: an arm's datasets must be the study's, and its grid values must print apart."""

    def __init__(self, config, data, zoo):
        self._options = {arm: TrainingArm.from_mapping(config[arm], arm) for arm in TRAINING_ARMS
                         if TrainingArm.is_enabled(config.get(arm), arm)}
        self._datasets, self._zoo = data.names, zoo
        for arm, options in self._options.items():
            self._check(arm, options)
        # Each arm's grid points by how paths write them (lr0.03_wd0): a job trains the config's exact values.
        self._grid_points = {arm: {(grid_value(lr), grid_value(wd)): {"lr": lr, "weight_decay": wd}
                                   for lr in options.lr for wd in options.weight_decay}
                             for arm, options in self._options.items()}

    def _check(self, arm, options):
        unknown = [name for name in options.datasets or () if name not in self._datasets]
        if unknown:
            raise ConfigError(f"{arm}.datasets lists {unknown}, which are not in datasets; valid: "
                              f"{', '.join(self._datasets)}")
        for key in ("lr", "weight_decay"):
            values = getattr(options, key)
            texts = [grid_value(value) for value in values]
            if len(set(texts)) < len(texts):
                raise ConfigError(f"{arm}.{key} = {list(values)}: values that print alike ({', '.join(texts)}) "
                                  "would share one job; make them differ in their first 6 significant digits")

    def __getitem__(self, arm):
        return self._options[arm]

    def __iter__(self):
        return iter(self._options)

    def __len__(self):
        return len(self._options)

    def datasets(self, arm):
        """The target datasets of a training arm (all of the study's by default)."""
        return list(self._options[arm].datasets or self._datasets)

    def models(self, arm):
        """The models of a training arm: every model, but training from random initialisation uses no pretraining
        and runs once per architecture (``StudyZoo.one_per_architecture``)."""
        return self._zoo.one_per_architecture if arm == SCRATCH else list(self._zoo.models)

    def pairs(self, arm):
        """The (model, dataset) pairs a training arm has results for."""
        return [(model, dataset) for model in self.models(arm) for dataset in self.datasets(arm)]

    def grid(self, arm):
        """The grid points of a training arm as they appear in paths: ``[(lr, weight_decay)]``, text."""
        return list(self._grid_points[arm])

    def grid_point(self, arm, lr, weight_decay):
        """The exact values (``{"lr", "weight_decay"}``) of a grid point given as paths write it."""
        return dict(self._grid_points[arm][lr, weight_decay])

    def rung_plan(self, arm):
        """Successive halving's rungs of a training arm, ``[(points, steps)]``; empty for a grid search."""
        options = self._options[arm]
        if options.search.method != "successive_halving":
            return []
        return search.rung_plan(len(self.grid(arm)), options.recipe.steps, options.search.eta, options.search.rungs)

    @property
    def tables(self):
        """The tables the training arms write (none without an arm)."""
        return list(ARM_TABLES) if self._options else []
