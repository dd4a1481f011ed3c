"""``Study``: one configuration, checked and planned. It composes the settings groups and the study's sections,
each made from the configuration and the sections before it (datasets, then the models, then the training arms,
then the subsets), and answers what spans them: the settings, their (model, dataset) pairs, tables and figures.
The workflow's rules read it (``workflow/rules/common.smk``'s ``STUDY``)."""

from ..analysis import catalogue as figure_catalogue
from ..config import (AnalysisOptions, ConfigError, CostOptions, FeatureOptions, ProbeSolver, SourceOptions,
                      SplitOptions, StudyOptions, TransferabilityOptions)
from ..errors import InputError
from ..functions import python_file
from ..settings import LOGISTIC_REGRESSION
from .arms import StudyArms
from .datasets import StudyDatasets
from .subsets import StudySubsets
from .zoo import StudyZoo

# The tables every study writes, and those of the transferability estimators (when enabled); the training arms,
# the ablation and the subsets add theirs.
TABLES = ("accuracy", "correlation", "mixed_effects", "source_properties", "source_properties_mixed", "pairwise")
TRANSFERABILITY_TABLES = ("transferability", "transferability_few_labels", "transferability_evaluation",
                          "transferability_baselines", "transferability_stability",
                          "transferability_few_labels_evaluation")


def _own_estimator_files(options):
    """The files of the scores of one's own (inputs of the estimator jobs: editing one re-runs them), each
    reference checked to name a file that is here or a module name."""
    files = []
    for i, entry in enumerate(options.estimators):
        if isinstance(entry, dict):
            try:
                path = python_file(entry["python"])
            except InputError as error:
                raise ConfigError(f"transferability.estimators[{i}].{error}") from error
            if path is not None and options.enabled:
                files.append(str(path))
    return files


class Study:
    """One configuration, checked and planned. Raises ``ConfigError`` naming the first invalid key.

    Settings groups: ``options`` (seed, device, threads), ``split``, ``features``, ``probe``, ``analysis``,
    ``transferability``, ``source_options``, ``cost``. Sections: ``data`` (``StudyDatasets``), ``zoo``
    (``StudyZoo``, with the ablation), ``arms`` (``StudyArms``) and ``subsets`` (``StudySubsets``)."""

    def __init__(self, config):
        self.options = StudyOptions.from_mapping({key: config[key] for key in ("seed", "device", "threads")
                                                  if key in config})
        self.split = SplitOptions.from_mapping(config.get("split"))
        self.features = FeatureOptions.from_mapping(config.get("features"))
        self.probe = ProbeSolver.from_mapping(config.get("probe"))
        self.analysis = AnalysisOptions.from_mapping(config.get("analysis"))
        self.transferability = TransferabilityOptions.from_mapping(config.get("transferability"))
        self.own_estimator_files = _own_estimator_files(self.transferability)
        self.source_options = SourceOptions.from_mapping(config.get("source"))
        self.cost = CostOptions.from_mapping(config.get("cost"))
        # The source dataset is needed when the workflow pretrains a model (one with `arch`).
        self.data = StudyDatasets(config, self.source_options, self.split,
                                  needs_source=any("arch" in spec for spec in config["models"].values()))
        self.zoo = StudyZoo(config, self.data)
        self.arms = StudyArms(config, self.data, self.zoo)
        self.subsets = StudySubsets(config, self.data, self.zoo, self.arms)

    @property
    def settings(self):
        """The transfer settings with results: logistic regression always, the training arms if enabled."""
        return [LOGISTIC_REGRESSION, *self.arms]

    def pairs(self, setting):
        """The (model, dataset) pairs with results in a setting."""
        if setting == LOGISTIC_REGRESSION:
            return [(model, dataset) for model in self.zoo.models for dataset in self.data.names]
        return self.arms.pairs(setting)

    @property
    def _section_tables(self):
        transferability = list(TRANSFERABILITY_TABLES) if self.transferability.enabled else []
        return self.zoo.ablation.tables + transferability + self.subsets.tables

    @property
    def tables(self):
        """The tables (``results/tables/<name>.csv``) the study writes."""
        return [*TABLES, *self.arms.tables, *self._section_tables]

    @property
    def figures(self):
        """The figures (``figures/<name>.pdf``) the study draws: those whose tables it writes."""
        return figure_catalogue.figures_for(self.settings, subset_settings=self.subsets.settings,
                                            extra_tables=self._section_tables)
