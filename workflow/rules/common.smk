import re
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

# Plan with this checkout's library, as its jobs do (workflow/scripts/_library.py), whatever is installed.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from transferstudy.analysis.catalogue import CAPTIONS, FIGURE_TABLES
from transferstudy.schema import coerce_text_values, read_config_file, validate_config
from transferstudy.provenance import code_hash
from transferstudy.settings import ARM_INIT, LOGISTIC_REGRESSION, TRAINING_ARMS
from transferstudy.study.arms import grid_value
from transferstudy.study.cost import CostPlan, read_calibration
from transferstudy.study.plan import Study
from transferstudy.io import read_json
from transferstudy.transfer.search import promoted_points, rung_recipe, search_mismatch

# The schema checks types, ranges and keys; the study (transferstudy.study, free of torch) checks names and
# cross-references, and expands the configuration into what the rules run. Defaults come from the library's
# settings groups, not from the schema: filled in, the schema's recipe defaults would turn a model's recipe
# overrides into whole recipes.
SCHEMA = Path(workflow.current_basedir) / ".." / "schemas" / "config.schema.yaml"
SCRIPTS = Path(workflow.current_basedir) / ".." / "scripts"
# Snakemake passes nested --config values as text ('probe={num_penalties: 5}'): read them as the schema's types.
CONFIG_SCHEMA = yaml.safe_load(SCHEMA.read_text())
# Snakemake's YAML loader keeps the last of a key given twice; the files it was given are read again to refuse it.
for configfile_path in workflow.configfiles:
    read_config_file(configfile_path)
config.update(coerce_text_values(config, CONFIG_SCHEMA))
validate_config(config, CONFIG_SCHEMA)
STUDY = Study(config)


def stale_selections():
    """``{path: why}`` of the selections on disk that another search made than the config's: Snakemake does not
    re-run a finished job whose input waits on successive halving's rungs (a checkpoint), so a changed search
    would silently keep them."""
    stale = {}
    for arm in STUDY.arms:
        grid = [tuple(STUDY.arms.grid_point(arm, *point).values()) for point in STUDY.arms.grid(arm)]
        for model, dataset in STUDY.arms.pairs(arm):
            path = Path("results", arm, model, dataset, "selected.json")
            if path.exists():
                why = search_mismatch(read_json(path), STUDY.arms[arm].search.method, grid, STUDY.arms.rung_plan(arm))
                if why:
                    stale[str(path)] = why
    return stale


# Checked by the process that plans, not again by each job it spawns (a job of a cluster re-reads this file; at
# the paper's scale the check reads hundreds of selections).
STALE = stale_selections() if workflow.is_main_process else {}
if STALE:
    raise WorkflowError(
        "selection(s) made by another search than the config's: "
        + "; ".join(f"{path}: {why}" for path, why in STALE.items())
        + f". Delete them to make them again (and the refits after them): rm {' '.join(STALE)}"
    )

# The standard `gpu` resource: a cluster executor turns it into a GPU request; locally,
# `--resources gpu=1` keeps GPU jobs from overlapping.
GPUS = 1 if STUDY.options.device == "cuda" else 0
CONDA_ENV = "../../envs/transferstudy.yaml"
# Threads of a job that also decodes images in worker processes. The number of those processes changes no
# result, so it is a resource of the job (`workers`), not a parameter: changing it re-runs nothing.
FEATURE_THREADS = STUDY.options.threads + STUDY.features.workers
# What each computing job will cost (transferstudy.study.cost; `transferstudy plan` prints it): its memory and
# time requests are its estimate times cost.safety_factor, and that again for each retry of a killed job.
COSTS = CostPlan(STUDY, read_calibration(STUDY.cost.calibration))


def estimated(resource, rule):
    """A rule's `mem_mb` or `runtime` (minutes) for one job, from the cost plan."""

    def request(wildcards, attempt):
        found = {key: getattr(wildcards, key, None) for key in ("model", "dataset", "arm", "rung")}
        return COSTS.request(rule, attempt=attempt, **found)[resource]

    return request


def attempt_number(wildcards, attempt):
    """Snakemake's attempt (1, then 2... for each retry), as a resource: the job's log states it and keeps the
    failed attempt's log (transferstudy.logs.log_to)."""
    return attempt


def library_code(script):
    """The hash of the library modules a rule's script computes with: a parameter of every rule, so that editing
    a module of src/transferstudy re-runs the jobs that use it (Snakemake itself only watches the script)."""
    return code_hash(SCRIPTS / script)


def _alternatives(names):
    """A regular expression matching exactly ``names`` (none: matches nothing)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# The datasets built from their sources (the rules `dataset`, `extract_features`); the subsets of
# training-set-size curves (`stars_fine.5shot.seed1`) are cut from them (workflow/rules/subsets.smk).
BUILT_DATASETS = _alternatives(STUDY.data.built)


wildcard_constraints:
    model=_alternatives(STUDY.zoo.models),
    dataset=_alternatives(STUDY.data.built + STUDY.subsets.names),
    arm=_alternatives(TRAINING_ARMS),
    lr=r"[0-9.e+-]+",
    wd=r"[0-9.e+-]+",
    rung=r"\d+",


def final_outputs():
    return (
        ["results/data/checked.json", "results/models/checked.json"]
        + expand("results/tables/{table}.csv", table=STUDY.tables)
        + expand("figures/{figure}.pdf", figure=STUDY.figures)
    )


# --- models ----------------------------------------------------------------------------------------------


def model_reference(wildcards):
    """What stands for a pretrained model downstream: its checkpoint (pretrained here) or its zoo record."""
    if wildcards.model in STUDY.zoo.recipes:
        return f"results/models/{wildcards.model}/checkpoint.pt"
    return f"results/models/{wildcards.model}/pretrain.json"


def model_files(wildcards):
    return STUDY.zoo.files(wildcards.model)


def model_arch(wildcards):
    return STUDY.zoo.models[wildcards.model]["arch"]


def model_spec(wildcards):
    return STUDY.zoo.models[wildcards.model]


def model_recipe(wildcards):
    return STUDY.zoo.recipes[wildcards.model].as_dict()


def pretrain_metrics(wildcards):
    return expand("results/models/{model}/pretrain.json", model=STUDY.zoo.models)


# --- data ------------------------------------------------------------------------------------------------


def dataset_options(wildcards):
    return STUDY.data.options(wildcards.dataset)


def dataset_split(wildcards):
    return STUDY.data.split(wildcards.dataset)


def declared_dataset_files(wildcards):
    return STUDY.data.files(wildcards.dataset)


def declared_unreadable(wildcards):
    """A declared dataset leaves unreadable images out when asked (`features.unreadable: skip`); the others
    check their files when features are extracted."""
    if STUDY.data.info(wildcards.dataset).kind == "declared":
        return STUDY.features.unreadable
    return "error"


def source_data(wildcards):
    return f"results/data/{STUDY.data.source}.h5"


def target_data(wildcards):
    return expand("results/data/{dataset}.h5", dataset=STUDY.data.names)


# --- training arms ---------------------------------------------------------------------------------------


def rung_points(wildcards, rung):
    """The grid points (lr, wd as in paths) that successive halving trains at ``rung``: all at rung 0, then those
    the previous rung promoted (known once its checkpoint rule has run)."""
    if rung == 0:
        return STUDY.arms.grid(wildcards.arm)
    promoted = checkpoints.promote_rung.get(
        arm=wildcards.arm, model=wildcards.model, dataset=wildcards.dataset, rung=str(rung - 1)
    ).output[0]
    return [(grid_value(lr), grid_value(wd)) for lr, wd in promoted_points(promoted)]


def grid_point(wildcards):
    """The grid point a job trains, as the config gives it (its path holds the values as text: lr0.03_wd0)."""
    return STUDY.arms.grid_point(wildcards.arm, wildcards.lr, wildcards.wd)


def _run_paths(wildcards, folder, points):
    run = f"results/{wildcards.arm}/{wildcards.model}/{wildcards.dataset}/{folder}"
    return [f"{run}/lr{lr}_wd{wd}.json" for lr, wd in points]


def grid_results(wildcards):
    """What the selection chooses from: every grid point, or the last rung of successive halving."""
    plan = STUDY.arms.rung_plan(wildcards.arm)
    if not plan:
        return _run_paths(wildcards, "grid", STUDY.arms.grid(wildcards.arm))
    last = len(plan) - 1
    return _run_paths(wildcards, f"rung{last}", rung_points(wildcards, last))


def earlier_rungs(wildcards):
    """The promote files of successive halving's rungs before the last (none for a grid search)."""
    run = f"results/{wildcards.arm}/{wildcards.model}/{wildcards.dataset}"
    return [f"{run}/rung{rung}/promoted.json" for rung in range(len(STUDY.arms.rung_plan(wildcards.arm)) - 1)]


def rung_results(wildcards):
    rung = int(wildcards.rung)
    return _run_paths(wildcards, f"rung{rung}", rung_points(wildcards, rung))


def rung_promoted_from(wildcards):
    """A rung's points are trained once the previous rung promoted them."""
    rung = int(wildcards.rung)
    if rung == 0:
        return []
    return f"results/{wildcards.arm}/{wildcards.model}/{wildcards.dataset}/rung{rung - 1}/promoted.json"


def rung_keep(wildcards):
    """How many points a rung promotes: the next rung's size."""
    return STUDY.arms.rung_plan(wildcards.arm)[int(wildcards.rung) + 1][0]


# Per arm, made once: a grid job's parameters are looked up, not rebuilt, for each of the paper's ~19,000 jobs.
TRAIN_OPTIONS = {
    arm: {
        "init": ARM_INIT[arm],
        "recipe": options.recipe.as_dict(),
        "device": STUDY.options.device,
        "amp": options.amp,
    }
    for arm, options in STUDY.arms.items()
}


def train_options(wildcards):
    return TRAIN_OPTIONS[wildcards.arm]


RUNG_OPTIONS = {
    arm: [
        {**TRAIN_OPTIONS[arm], "recipe": rung_recipe(TRAIN_OPTIONS[arm]["recipe"], steps)}
        for _, steps in STUDY.arms.rung_plan(arm)
    ]
    for arm in STUDY.arms
}


def rung_options(wildcards):
    return RUNG_OPTIONS[wildcards.arm][int(wildcards.rung)]


def train_workers(wildcards):
    return STUDY.arms[wildcards.arm].workers


def train_threads(wildcards):
    return STUDY.options.threads + train_workers(wildcards)


# --- tables and figures ----------------------------------------------------------------------------------


def setting_results(wildcards):
    """Every result the accuracy table holds: a probe result per (model, dataset), a refit per training arm."""
    paths = []
    for setting in STUDY.settings:
        pattern = (
            "results/{setting}/{model}/{dataset}.json"
            if setting == LOGISTIC_REGRESSION
            else "results/{setting}/{model}/{dataset}/refit.json"
        )
        paths += [
            pattern.format(setting=setting, model=model, dataset=dataset) for model, dataset in STUDY.pairs(setting)
        ]
    return paths


def selections(wildcards):
    return [
        f"results/{arm}/{model}/{dataset}/selected.json" for arm in STUDY.arms for model, dataset in STUDY.pairs(arm)
    ]


def predictions(wildcards):
    return [
        f"results/predictions/{setting}/{model}/{dataset}.h5"
        for setting in STUDY.settings
        for model, dataset in STUDY.pairs(setting)
    ]


def transferability_results(wildcards):
    """The estimators' scores of every (model, dataset) the probe has."""
    return [f"results/transferability/{model}/{dataset}.json" for model, dataset in STUDY.pairs(LOGISTIC_REGRESSION)]


def probe_results(wildcards):
    """The probe results whose wall time the estimators' is set against."""
    return [
        f"results/{LOGISTIC_REGRESSION}/{model}/{dataset}.json" for model, dataset in STUDY.pairs(LOGISTIC_REGRESSION)
    ]


def subset_results(wildcards):
    """The results of every setting re-run on subsets: probes, and the refits of the arms in `subsets.arms`."""
    return [
        (
            f"results/{setting}/{model}/{subset}.json"
            if setting == LOGISTIC_REGRESSION
            else f"results/{setting}/{model}/{subset}/refit.json"
        )
        for setting in STUDY.subsets.settings
        for model, subset in STUDY.subsets.pairs(setting)
    ]


def tsne_features(wildcards):
    """Features of the t-SNE dataset for the ablation's model with every switch off and with all four."""
    return expand(
        "results/features/{model}/{dataset}.h5",
        model=STUDY.zoo.ablation.tsne_models,
        dataset=STUDY.zoo.ablation.tsne.dataset,
    )


def figure_inputs(wildcards):
    return {table: f"results/tables/{table}.csv" for table in FIGURE_TABLES[wildcards.figure]}


def figure_caption(wildcards):
    return CAPTIONS[wildcards.figure]


# --- before a run ----------------------------------------------------------------------------------------


def check_before_running():
    """What a run needs beyond the config, checked before its first job (a dry-run plans without it): the
    official datasets' files, and a GPU when `device: cuda` runs here (a cluster submission from a login node
    without one is fine)."""
    missing = STUDY.data.missing()
    if missing:
        raise ValueError("data not found:\n" + "\n".join(missing))
    if STUDY.options.device == "cuda" and workflow.local_exec:
        from transferstudy.nets.inference import require_device

        require_device("cuda")


onstart:
    check_before_running()
