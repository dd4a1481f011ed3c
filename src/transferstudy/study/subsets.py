"""The study's subsets for training-set-size curves: which datasets are cut to k examples per class, the subsets
as datasets of the study (``stars_fine.5shot.seed1``), and the settings re-run on them."""

from ..config import ConfigError, SubsetOptions
from ..data.subsets import parse_subset_name, subset_name
from ..settings import LOGISTIC_REGRESSION

# The tables a study with subsets writes.
SUBSET_TABLES = ("subsets", "subsets_summary", "subsets_correlation")


class StudySubsets:
    """The subsets, checked when made against the datasets and the training arms. Off: ``options`` is None and
    there are no subsets, settings, pairs or tables."""

    def __init__(self, config, data, zoo, arms):
        enabled = SubsetOptions.is_enabled(config.get("subsets"))
        self.options = SubsetOptions.from_mapping(config["subsets"]) if enabled else None
        self._zoo, self._arms = zoo, arms
        self.bases, self.names = [], []
        if not self.options:
            return
        self._check_datasets(data)
        # The datasets that are subset: those named, or every single-label dataset of the study.
        self.bases = list(self.options.datasets or [name for name in data.names if not data.info(name).multilabel])
        if not self.bases:
            raise ConfigError("subsets: the study has no single-label dataset to subset")
        self._check_arms()
        # The subsets as datasets of the study, by dataset, size and seed.
        self.names = [subset_name(dataset, shots, seed) for dataset in self.bases
                      for shots in self.options.examples_per_class for seed in range(self.options.seeds)]

    def _check_datasets(self, data):
        for name in self.options.datasets or ():
            if name not in data.names:
                raise ConfigError(f"subsets.datasets lists {name!r}, which is not in datasets; valid: "
                                  f"{', '.join(data.names)}")
            if data.info(name).multilabel:
                raise ConfigError(f"subsets.datasets lists {name!r}, which is multi-label: k examples per class "
                                  "has no meaning when an example has several labels")

    def _check_arms(self):
        for arm in self.options.arms:
            if arm not in self._arms:
                raise ConfigError(f"subsets.arms lists {arm!r}, which this study does not run (enable `{arm}`); "
                                  f"valid: {', '.join(self._arms) or 'none'}")
            if not set(self.bases) & set(self._arms.datasets(arm)):
                raise ConfigError(f"subsets.arms lists {arm!r}, but none of its datasets "
                                  f"({', '.join(self._arms.datasets(arm))}) is subset")

    @property
    def settings(self):
        """The settings re-run on subsets: the probe, and the training arms named in ``subsets.arms``."""
        return [LOGISTIC_REGRESSION, *self.options.arms] if self.options else []

    def pairs(self, setting):
        """The (model, subset) pairs with results in a setting (an arm: its models and datasets)."""
        if setting not in self.settings:
            return []
        if setting == LOGISTIC_REGRESSION:
            bases, models = self.bases, list(self._zoo.models)
        else:
            bases = [name for name in self.bases if name in self._arms.datasets(setting)]
            models = self._arms.models(setting)
        return [(model, subset) for model in models for subset in self.names if parse_subset_name(subset)[0] in bases]

    @property
    def tables(self):
        """The tables the subsets write."""
        return list(SUBSET_TABLES) if self.options else []
