"""Statistics over the accuracy table, computed as the paper computes them: on log-odds.

Accuracies are compared after the logit transform, log(p / (1 - p)); a model's average transfer
accuracy is the mean of its logit accuracies over datasets (the paper's Figure 1).

    python -m transferstudy.stats accuracy.csv --out correlation.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .aggregate import write_csv

# Accuracies are clipped to [EPS, 1 - EPS] before the logit so that a perfect score stays finite.
EPS = 1e-4
MIN_MODELS = 3
MEAN_OVER_DATASETS = "mean (logit)"


def logit(p, eps=EPS):
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


def check_accuracy_table(table):
    """Refuse tables the analysis cannot trust, naming the problem."""
    missing = {"model", "dataset", "setting", "value", "source_top1"} - set(table.columns)
    if missing:
        raise ValueError(f"accuracy table lacks column(s) {sorted(missing)}")
    for column in ("value", "source_top1"):
        outside = table[(table[column] < 0) | (table[column] > 1) | table[column].isna()]
        if len(outside):
            raise ValueError(f"accuracy table: {len(outside)} {column!r} value(s) outside [0, 1], e.g. "
                             f"{outside.iloc[0][['model', 'dataset', 'setting', column]].to_dict()}")
    duplicated = table[table.duplicated(["model", "dataset", "setting"], keep=False)]
    if len(duplicated):
        raise ValueError("accuracy table: duplicate (model, dataset, setting) rows, e.g. "
                         f"{duplicated.iloc[0][['model', 'dataset', 'setting']].to_dict()}")


def model_means(table):
    """Per (setting, model): mean logit transfer accuracy over datasets, its standard error, source top-1."""
    table = table.assign(logit_value=logit(table["value"]))
    grouped = table.groupby(["setting", "model"])
    summary = grouped.agg(mean_logit=("logit_value", "mean"), sem_logit=("logit_value", "sem"),
                          n_datasets=("dataset", "nunique"), source_top1=("source_top1", "first")).reset_index()
    summary["sem_logit"] = summary["sem_logit"].fillna(0.0)
    return summary


def _correlate(source_top1, transfer_logit):
    pearson = scipy_stats.pearsonr(logit(source_top1), transfer_logit)
    spearman = scipy_stats.spearmanr(source_top1, transfer_logit)
    return {"pearson_r": pearson.statistic, "pearson_p": pearson.pvalue,
            "spearman_rho": spearman.statistic, "spearman_p": spearman.pvalue}


def correlation_table(table):
    """Per setting: correlation of logit(source top-1) with logit transfer accuracy, per dataset and for the
    mean over datasets. Rows with fewer than ``MIN_MODELS`` models carry a note instead of numbers."""
    check_accuracy_table(table)
    rows = []
    for setting, part in table.groupby("setting"):
        groups = [(dataset, d["source_top1"].to_numpy(), logit(d["value"])) for dataset, d in part.groupby("dataset")]
        means = model_means(part)
        groups.append((MEAN_OVER_DATASETS, means["source_top1"].to_numpy(), means["mean_logit"].to_numpy()))
        for dataset, source_top1, transfer in groups:
            row = {"setting": setting, "dataset": dataset, "n_models": len(source_top1)}
            if len(source_top1) < MIN_MODELS:
                row["note"] = f"fewer than {MIN_MODELS} models: no correlation"
            elif np.ptp(source_top1) == 0 or np.ptp(transfer) == 0:
                row["note"] = "constant source or transfer accuracy: no correlation"
            else:
                row.update(_correlate(source_top1, transfer))
            rows.append(row)
    columns = ["setting", "dataset", "n_models", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "note"]
    return pd.DataFrame(rows).reindex(columns=columns)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("accuracy", help="tidy accuracy CSV (model, dataset, setting, value, source_top1, ...)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_csv(correlation_table(pd.read_csv(args.accuracy)), args.out)


if __name__ == "__main__":
    main()
