"""Collect per-job result JSONs into the tidy accuracy table.

One row per (model, dataset, setting): the test metric's ``value``, the model's source properties as its pretrain
JSON or zoo record gives them (``settings.SOURCE_PROPERTIES``: ``source_top1``; top-1 on ImageNet's other test
sets where published or given; ``params`` and ``flops``, its parameters and forward FLOPs per image at its input
size; ``pretraining_data``; empty where the record has none), and the fields that trace the number back
(checkpoint hash, split seed, split sizes, chosen hyper-parameters, non-converged fits).

    python -m transferstudy aggregate results/logistic_regression/*/*.json --pretrain results/models/*/pretrain.json \
        --out accuracy.csv
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..io import read_json, read_predictions
from ..results import TransferResult
from ..switches import switches_label
from ..settings import SOURCE_PROPERTIES
from .table_checks import check_accuracy_table

COLUMNS = ["model", "dataset", "setting", "metric", "value", *SOURCE_PROPERTIES, "arch", "switches",
           "checkpoint_sha256", "split_seed", "n_train", "n_val", "n_test", "hyperparameters", "not_converged"]


def _row(result, path):
    """A result's row (without its model's source top-1 and switches): results on test only."""
    if result.eval_split != "test":
        raise InputError(f"{path}: a result scored on {result.eval_split!r} (a grid point), not on test; the table "
                         "takes probes and refits")
    return {
        "model": result.model, "dataset": result.dataset, "setting": result.setting, "metric": result.metric,
        "value": result.value, "arch": result.arch, "checkpoint_sha256": result.checkpoint_sha256,
        "split_seed": result.split_seed, "n_train": result.sizes["train"], "n_val": result.sizes["val"],
        "n_test": result.sizes["test"], "hyperparameters": json.dumps(result.hyperparameters),
        # SGD for a fixed number of steps has no convergence criterion
        "not_converged": pd.NA if result.not_converged is None else result.not_converged,
    }


def _switches(pretrain_metrics):
    """The pretraining switches a model used ('none', 'label_smoothing+dropout'); NA where its recipe is not
    known (downloaded networks)."""
    if "switches" not in pretrain_metrics:
        return pd.NA
    return switches_label(pretrain_metrics["switches"])


def accuracy_table(result_paths, pretrain_paths):
    """Rows of result JSONs (probes and fine-tune/scratch refits) joined with their model's source properties
    (from the pretrain JSONs); settings and datasets in the order of ``result_paths``."""
    source, where = {}, {}
    for path in pretrain_paths:
        metrics = read_json(path, required=("source_top1",))
        # A zoo record names its model; the workflow's own pretraining writes results/models/<model>/.
        model = metrics.get("model") or Path(path).parent.name
        if model in source:
            raise InputError(f"{path} and {where[model]} both describe model {model!r}; give each model's pretrain "
                             "JSON once (results/models/<model>/pretrain.json)")
        source[model], where[model] = metrics, path
    rows = []
    for path in result_paths:
        result = TransferResult.read(path)
        if result.model not in source:
            raise InputError(f"{path}: no pretrain metrics for model {result.model!r} (have: {sorted(source)})")
        metrics = source[result.model]
        rows.append({**_row(result, path), **{key: metrics.get(key, pd.NA) for key in SOURCE_PROPERTIES},
                     "switches": _switches(metrics)})
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
