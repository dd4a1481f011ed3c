import re

from snakemake.utils import validate

from transferstudy.config import (
    SWITCHES,
    TRAINING_ARMS,
    ablation_enabled,
    arm_datasets,
    arm_models,
    check_config,
    embedded_models,
    enabled_arms,
    mixed_zoo,
    pretrain_recipe,
    study_models,
    variant_name,
)
from transferstudy.figures import CAPTIONS, FIGURE_TABLES, figures_for


validate(config, schema="../schemas/config.schema.yaml")
check_config(config)

# The zoo: `models` and, with the regularisation ablation, its recipe variants (`<model>.<switches>`).
MODEL_SPECS = study_models(config)
MODELS = list(MODEL_SPECS)
# Models the workflow pretrains (`arch`) and models it loads pretrained (torchvision, timm).
EMBEDDED_MODELS = embedded_models(config)
ZOO_MODELS = [model for model in MODELS if model not in EMBEDDED_MODELS]
DATASETS = list(config["datasets"])
SOURCE = config["source"]["dataset"] if EMBEDDED_MODELS else None
FEATURES = config["features"]
# The standard `gpu` resource: a cluster executor turns it into a GPU request; locally,
# `--resources gpu=1` keeps GPU jobs from overlapping.
GPUS = 1 if config["device"] == "cuda" else 0
CONDA_ENV = "../../envs/transferstudy.yaml"
# Transfer settings the configuration produces results for: the probe always, the training arms if enabled.
ARMS = enabled_arms(config)
SETTINGS = ["logistic_regression"] + ARMS
ABLATION = config.get("ablation") if ablation_enabled(config) else None
ABLATION_TABLES = []
if ABLATION:
    ABLATION_TABLES = ["ablation", "zoo_correlation"] + (["tsne"] if ABLATION.get("tsne") else [])
FIGURES = figures_for(SETTINGS, extra_tables=ABLATION_TABLES)


def _alternatives(names):
    """A regular expression matching exactly ``names`` (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    model=_alternatives(MODELS),
    dataset=_alternatives(([SOURCE] if SOURCE else []) + DATASETS),
    setting=_alternatives(TRAINING_ARMS),
    lr=r"[0-9.e+-]+",
    wd=r"[0-9.e+-]+",


def final_outputs():
    tables = ["accuracy", "correlation", "mixed_effects", "pairwise"]
    if ARMS:
        tables += ["convergence", "steps_to_threshold"]
    tables += ABLATION_TABLES
    return (
        ["results/data/checked.json"]
        + expand("results/tables/{table}.csv", table=tables)
        + expand("figures/{figure}.pdf", figure=FIGURES)
    )


def setting_pairs(setting):
    """(model, dataset) pairs with results in a setting."""
    if setting == "logistic_regression":
        return [(model, dataset) for model in MODELS for dataset in DATASETS]
    datasets = arm_datasets(config, setting)
    return [(model, dataset) for model in arm_models(config, setting) for dataset in datasets]


def _grid_value(value):
    return f"{value:g}"


def grid_results(wildcards):
    arm = config[wildcards.setting]
    return expand(
        "results/{setting}/{model}/{dataset}/grid/lr{lr}_wd{wd}.json",
        setting=wildcards.setting,
        model=wildcards.model,
        dataset=wildcards.dataset,
        lr=[_grid_value(value) for value in arm["lr"]],
        wd=[_grid_value(value) for value in arm["weight_decay"]],
    )


def train_options(wildcards):
    arm = config[wildcards.setting]
    return {
        "init": "pretrained" if wildcards.setting == "finetune" else "random",
        "recipe": arm["recipe"],
        "device": config["device"],
        "amp": arm.get("amp"),
        "workers": arm.get("workers", 0),
    }


def train_threads(wildcards):
    return config["threads"] + config[wildcards.setting].get("workers", 0)


def train_state(wildcards):
    """The run's resumable state: beside its result, not an output (Snakemake would delete it on failure)."""
    run = f"grid/lr{wildcards.lr}_wd{wildcards.wd}" if "lr" in wildcards.keys() else "refit"
    return f"results/{wildcards.setting}/{wildcards.model}/{wildcards.dataset}/{run}.state.pt"


def setting_results(wildcards):
    paths = []
    for setting in SETTINGS:
        pattern = (
            "results/probe/{model}/{dataset}.json"
            if setting == "logistic_regression"
            else "results/{setting}/{model}/{dataset}/refit.json"
        )
        paths += [
            pattern.format(setting=setting, model=model, dataset=dataset)
            for model, dataset in setting_pairs(setting)
        ]
    return paths


def selections(wildcards):
    return [
        f"results/{arm}/{model}/{dataset}/selected.json"
        for arm in ARMS
        for model, dataset in setting_pairs(arm)
    ]


def figure_inputs(wildcards):
    return {
        table: f"results/tables/{table}.csv"
        for table in FIGURE_TABLES[wildcards.figure]
    }


def figure_caption(wildcards):
    return CAPTIONS[wildcards.figure]


def dataset_options(wildcards):
    if wildcards.dataset == SOURCE:
        return config["source"].get("options") or {}
    return config["datasets"][wildcards.dataset] or {}


def model_arch(wildcards):
    return MODEL_SPECS[wildcards.model]["arch"]


def model_spec(wildcards):
    return MODEL_SPECS[wildcards.model]


def model_reference(wildcards):
    """What stands for a pretrained model downstream: its checkpoint (pretrained here) or its zoo record."""
    if wildcards.model in EMBEDDED_MODELS:
        return f"results/models/{wildcards.model}/checkpoint.pt"
    return f"results/models/{wildcards.model}/pretrain.json"


def pretrain_state(wildcards):
    """Pretraining's resumable state (image-file sources): beside its outputs, not one of them."""
    return f"results/models/{wildcards.model}/pretrain.state.pt"


def source_data(wildcards):
    return f"results/data/{SOURCE}.h5"


def target_data(wildcards):
    return expand("results/data/{dataset}.h5", dataset=DATASETS)


def model_recipe(wildcards):
    return pretrain_recipe(config, wildcards.model)


def predictions(wildcards):
    return [
        f"results/predictions/{setting}/{model}/{dataset}.h5"
        for setting in SETTINGS
        for model, dataset in setting_pairs(setting)
    ]


def pretrain_metrics(wildcards):
    return expand("results/models/{model}/pretrain.json", model=MODELS)


def tsne_features(wildcards):
    """Features of the t-SNE dataset for the ablation's model with every switch off and with all four."""
    models = [ABLATION["model"], variant_name(ABLATION["model"], SWITCHES)]
    return expand("results/features/{model}/{dataset}.h5", model=models, dataset=ABLATION["tsne"]["dataset"])
