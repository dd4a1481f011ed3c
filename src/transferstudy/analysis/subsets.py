"""Training-set-size curves: transfer accuracy against examples per class, and how well source top-1 predicts it
at each size.

Three tables:

- ``subsets.csv``: every result on a subset (``data.subsets``): setting, model, dataset, examples_per_class,
  seed, value, with the full training split's result (from the accuracy table) as examples_per_class ``all``;
- ``subsets_summary.csv``: per (setting, model, dataset, size), the mean over seeds with a 95% t-interval over
  seeds, and the mean of the seeds' log-odds accuracies (empirical logit);
- ``subsets_correlation.csv``: per (setting, size), Pearson r of logit source top-1 with those log-odds means,
  per dataset and for the mean over datasets (models with every dataset at that size), with 95% bootstrap
  intervals over models (``stats.correlate``).

    python -m transferstudy analysis ACCURACY.csv --subsets SUBSETS.csv --out DIR
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ..config import AnalysisOptions
from ..data.subsets import parse_subset_name
from ..errors import InputError
from ..io import read_json, write_csv
from ..results import TransferResult
from ..settings import LOGISTIC_REGRESSION
from . import stats
from .table_checks import TableError, check_accuracy_table, transfer_logit

log = logging.getLogger(__name__)

ALL = "all"  # the full training split's size
MEAN_OVER_DATASETS = stats.MEAN_OVER_DATASETS
SUBSET_COLUMNS = ["setting", "model", "dataset", "examples_per_class", "seed", "metric", "value", "source_top1",
                  "n_train", "n_val", "n_test", "capped_classes", "hyperparameters"]
SUMMARY_COLUMNS = ["setting", "model", "dataset", "examples_per_class", "n_seeds", "mean", "low", "high",
                   "mean_logit", "source_top1", "capped_classes"]
CORRELATION_COLUMNS = ["setting", "examples_per_class", "dataset", "n_models", "pearson_r", "pearson_low",
                       "pearson_high", "pearson_p", "p_method", "note", "models"]


def size_order(size):
    """Sort key of a size: numbers ascending, ``all`` last."""
    return (1, 0) if str(size) == ALL else (0, int(size))


def _capped(result):
    """Classes a probe's subset capped in train (from its features file's subset record); None where unknown."""
    subset = ((result.get("features") or {}).get("attrs") or {}).get("subset")
    return None if subset is None else len(subset["train"]["capped"])


def subsets_table(result_paths, accuracy):
    """The subsets' result JSONs (probes, refits) and the accuracy table's full-data results of the same settings
    and datasets, as one tidy table."""
    check_accuracy_table(accuracy)
    top1 = accuracy.drop_duplicates("model").set_index("model")["source_top1"]
    rows, capped = [], {}
    for path in result_paths:
        raw = read_json(path)
        result = TransferResult.of(raw, path)
        parsed = parse_subset_name(result.dataset)
        if parsed is None:
            raise InputError(f"{path}: dataset {result.dataset!r} is not a subset (<dataset>.<k>shot.seed<s>)")
        if result.model not in top1:
            raise InputError(f"{path}: model {result.model!r} has no row in the accuracy table (its source top-1)")
        if result.setting == LOGISTIC_REGRESSION:
            capped[result.dataset] = _capped(raw)
        rows.append({"setting": result.setting, "model": result.model, "dataset": parsed[0],
                     "examples_per_class": str(parsed[1]), "seed": parsed[2], "metric": result.metric,
                     "value": result.value, "source_top1": top1[result.model], "n_train": result.sizes["train"],
                     "n_val": result.sizes["val"], "n_test": result.sizes["test"], "subset": result.dataset,
                     "hyperparameters": json.dumps(result.hyperparameters)})
    table = pd.DataFrame(rows)
    if table.empty:
        raise InputError("no subset results given")
    table["capped_classes"] = table.pop("subset").map(capped)
    full = accuracy[accuracy["setting"].isin(table["setting"]) & accuracy["dataset"].isin(table["dataset"])]
    full = full.assign(examples_per_class=ALL, seed=np.nan, capped_classes=0)
    table = pd.concat([table, full.reindex(columns=SUBSET_COLUMNS)], ignore_index=True).reindex(columns=SUBSET_COLUMNS)
    order = table["examples_per_class"].map(size_order)
    return table.assign(_order=order).sort_values(["setting", "dataset", "_order", "model", "seed"]).drop(
        columns="_order").reset_index(drop=True)


def check_subsets_table(table):
    missing = [c for c in ("setting", "model", "dataset", "examples_per_class", "value", "source_top1")
               if c not in table]
    if missing:
        raise TableError(f"subsets table lacks column(s) {missing}")
    duplicated = table[table.duplicated(["setting", "model", "dataset", "examples_per_class", "seed"], keep=False)]
    if len(duplicated):
        raise TableError("subsets table: duplicate (setting, model, dataset, examples_per_class, seed) rows, e.g. "
                         f"{dict(duplicated.iloc[0][['setting', 'model', 'dataset', 'examples_per_class']])}")


def t_interval(values, level=stats.CONFIDENCE):
    """The t-interval of the mean of ``values`` (NaNs below two values)."""
    values = np.asarray(values, float)
    if len(values) < 2:
        return np.nan, np.nan
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    low, high = scipy_stats.t.interval(level, len(values) - 1, loc=values.mean(), scale=scipy_stats.sem(values))
    return float(low), float(high)


def summary_table(table):
    """Per (setting, model, dataset, size): the mean over seeds and its 95% t-interval, the mean log odds."""
    check_subsets_table(table)
    table = table.assign(examples_per_class=table["examples_per_class"].astype(str), log_odds=transfer_logit(table))
    rows = []
    for (setting, model, dataset, size), part in table.groupby(["setting", "model", "dataset", "examples_per_class"],
                                                                sort=False):
        low, high = t_interval(part["value"])
        rows.append({"setting": setting, "model": model, "dataset": dataset, "examples_per_class": size,
                     "n_seeds": len(part), "mean": part["value"].mean(), "low": low, "high": high,
                     "mean_logit": part["log_odds"].mean(), "source_top1": part["source_top1"].iloc[0],
                     "capped_classes": part["capped_classes"].max() if "capped_classes" in part else np.nan})
    return pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)


def correlation_by_size(summary, *, seed=AnalysisOptions.seed):
    """Per (setting, size): correlation of logit source top-1 with the models' mean log-odds accuracy, per dataset
    and for the mean over datasets, with bootstrap intervals over models."""
    rows = []
    summary = summary.assign(examples_per_class=summary["examples_per_class"].astype(str))
    for (setting, size), part in summary.groupby(["setting", "examples_per_class"], sort=False):
        groups = [(dataset, d) for dataset, d in part.groupby("dataset", sort=False)]
        datasets = part["dataset"].nunique()
        complete = part.groupby("model").filter(lambda m: m["dataset"].nunique() == datasets)
        means = complete.groupby("model", sort=False).agg(mean_logit=("mean_logit", "mean"),
                                                          source_top1=("source_top1", "first")).reset_index()
        groups.append((MEAN_OVER_DATASETS, means))
        for dataset, d in groups:
            rows.append({"setting": setting, "examples_per_class": size, "dataset": dataset, "n_models": len(d),
                         "models": ";".join(sorted(d["model"])),
                         **stats.correlation_or_note(d["source_top1"], d["mean_logit"], seed=seed)})
    table = pd.DataFrame(rows).reindex(columns=CORRELATION_COLUMNS)  # Pearson only: r's columns
    order = table["examples_per_class"].map(size_order)
    return table.assign(_order=order).sort_values(["setting", "_order"], kind="stable").drop(
        columns="_order").reset_index(drop=True)


def write_subset_tables(result_paths, accuracy, subsets_path, summary_path, correlation_path, *,
                        seed=AnalysisOptions.seed):
    """The three tables of the workflow's subsets."""
    table = subsets_table(result_paths, accuracy)
    summary = summary_table(table)
    write_csv(table, subsets_path)
    write_csv(summary, summary_path)
    write_csv(correlation_by_size(summary, seed=seed), correlation_path)
