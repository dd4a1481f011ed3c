import re

from snakemake.utils import validate

from transferstudy.config import check_config, pretrain_recipe
from transferstudy.figures import CAPTIONS, FIGURES


validate(config, schema="../schemas/config.schema.yaml")
check_config(config)

MODELS = list(config["models"])
DATASETS = list(config["datasets"])
SOURCE = config["source"]["dataset"]
# The standard `gpu` resource: a cluster executor turns it into a GPU request; locally,
# `--resources gpu=1` keeps GPU jobs from overlapping.
GPUS = 1 if config["device"] == "cuda" else 0
CONDA_ENV = "../../envs/transferstudy.yaml"
# Transfer settings the configuration produces results for (fine-tuning and scratch training to come).
SETTINGS = ["logistic_regression"]


def _alternatives(names):
    return "|".join(re.escape(name) for name in names)


wildcard_constraints:
    model=_alternatives(MODELS),
    dataset=_alternatives([SOURCE] + DATASETS),


def final_outputs():
    return [
        "results/tables/accuracy.csv",
        "results/tables/correlation.csv",
        "results/tables/mixed_effects.csv",
        "results/tables/pairwise.csv",
    ] + expand("figures/{figure}.pdf", figure=FIGURES)


def figure_caption(wildcards):
    return CAPTIONS[wildcards.figure]


def dataset_options(wildcards):
    if wildcards.dataset == SOURCE:
        return config["source"].get("options") or {}
    return config["datasets"][wildcards.dataset] or {}


def model_arch(wildcards):
    return config["models"][wildcards.model]["arch"]


def model_recipe(wildcards):
    return pretrain_recipe(config, wildcards.model)


def probe_results(wildcards):
    return expand("results/probe/{model}/{dataset}.json", model=MODELS, dataset=DATASETS)


def predictions(wildcards):
    return expand(
        "results/predictions/{setting}/{model}/{dataset}.h5",
        setting=SETTINGS,
        model=MODELS,
        dataset=DATASETS,
    )


def pretrain_metrics(wildcards):
    return expand("results/models/{model}/pretrain.json", model=MODELS)
