"""Collect per-job result JSONs into the tidy accuracy table.

One row per (model, dataset, setting): the test metric's ``value``, the model's ``source_top1``, and the
fields that trace the number back (checkpoint hash, split seed, split sizes, chosen hyper-parameters,
non-converged fits).

    python -m transferstudy aggregate results/logistic_regression/*/*.json --pretrain results/models/*/pretrain.json \
        --out accuracy.csv
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..io import read_json, read_predictions, require_keys
from ..settings import LOGISTIC_REGRESSION
from ..switches import switches_label
from .table_checks import check_accuracy_table

# What the table reads from each result JSON.
RESULT_KEYS = ("model", "dataset", "setting", "metric", "sizes")
PROBE_KEYS = ("features", "test_metric", "chosen_penalty", "not_converged")
REFIT_KEYS = ("fit", "final_metric", "arch", "checkpoint_sha256", "split_seed", "lr", "weight_decay")
COLUMNS = ["model", "dataset", "setting", "metric", "value", "source_top1", "arch", "switches", "checkpoint_sha256",
           "split_seed", "n_train", "n_val", "n_test", "hyperparameters", "not_converged"]


def _probe_row(result):
    attrs = result["features"]["attrs"]
    return {
        "value": result["test_metric"], "arch": attrs.get("arch"), "checkpoint_sha256": attrs.get("checkpoint_sha256"),
        "split_seed": attrs.get("split_seed"), "n_train": result["sizes"]["train"], "n_val": result["sizes"]["val"],
        "n_test": result["sizes"]["test"], "hyperparameters": json.dumps({"penalty": result["chosen_penalty"]}),
        "not_converged": result["not_converged"],
    }


def _training_row(result, path):
    if result["fit"] != "trainval":
        raise ValueError(f"{path}: a {result['fit']!r} run scores validation, not test; the table takes refits")
    return {
        "value": result["final_metric"], "arch": result["arch"], "checkpoint_sha256": result["checkpoint_sha256"],
        "split_seed": result["split_seed"], "n_train": result["sizes"]["train"], "n_val": result["sizes"]["val"],
        "n_test": result["sizes"]["test"],
        "hyperparameters": json.dumps({"lr": result["lr"], "weight_decay": result["weight_decay"]}),
        "not_converged": pd.NA,  # SGD for a fixed number of steps has no convergence criterion
    }


def _switches(pretrain_metrics):
    """The pretraining switches a model used ('none', 'label_smoothing+dropout'); NA where its recipe is not
    known (downloaded networks)."""
    if "switches" not in pretrain_metrics:
        return pd.NA
    return switches_label(pretrain_metrics["switches"])


def accuracy_table(result_paths, pretrain_paths):
    """Rows of result JSONs (probes and fine-tune/scratch refits) joined with their model's source top-1
    (from the pretrain JSONs); settings and datasets in the order of ``result_paths``."""
    source, where = {}, {}
    for path in pretrain_paths:
        metrics = read_json(path, required=("source_top1",))
        # A zoo record names its model; the workflow's own pretraining writes results/models/<model>/.
        model = metrics.get("model") or Path(path).parent.name
        if model in source:
            raise ValueError(f"{path} and {where[model]} both describe model {model!r}; give each model's pretrain "
                             "JSON once (results/models/<model>/pretrain.json)")
        source[model], where[model] = metrics, path
    rows = []
    for path in result_paths:
        result = read_json(path, required=RESULT_KEYS)
        require_keys(result, PROBE_KEYS if result["setting"] == LOGISTIC_REGRESSION else REFIT_KEYS, path)
        model = result["model"]
        if model not in source:
            raise ValueError(f"{path}: no pretrain metrics for model {model!r} (have: {sorted(source)})")
        row = {"model": model, "dataset": result["dataset"], "setting": result["setting"], "metric": result["metric"],
               "source_top1": source[model]["source_top1"], "switches": _switches(source[model])}
        row.update(_probe_row(result) if result["setting"] == LOGISTIC_REGRESSION else _training_row(result, path))
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    check_accuracy_table(table)  # duplicates, NaN, values outside [0, 1]: refused here, not only by the analysis
    # Datasets and settings keep the order the results came in (the workflow's: the config's, which for the
    # paper config is the paper's), so that tables and figures show them in the study's order.
    order = {column: pd.unique(table[column]) for column in ("setting", "dataset")}
    return table.sort_values(["setting", "dataset", "source_top1", "model"], ignore_index=True,
                             key=lambda c: c.map({v: i for i, v in enumerate(order[c.name])}) if c.name in order else c)


def load_predictions(paths):
    """``{(setting, dataset, model): (labels, scores, metric)}`` from predictions files."""
    loaded = {}
    for path in paths:
        labels, scores, attrs = read_predictions(path)
        loaded[(attrs["setting"], attrs["dataset"], attrs["model"])] = (labels, scores, attrs["metric"])
    return loaded
