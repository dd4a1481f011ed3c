"""Transferability estimators judged against measured transfer: how well each score ranks the models of a dataset
by the accuracy they reach, with ImageNet (source) top-1 as the baseline estimator (the paper's).

``transferability.csv`` has a row per (model, dataset, estimator): its ``score`` and ``seconds`` (from the
estimator jobs' JSONs, ``transfer.transferability``), and the probe's wall time on the same pair
(``probe_seconds``). The evaluation has a row per (setting, dataset, estimator), for the settings in which a
pretrained network transfers (logistic regression, fine-tuning):

- ``weighted_tau``: weighted Kendall's tau of the scores with the measured accuracy (``scipy.stats.weightedtau``,
  hyperbolic weights by rank, as LogME's evaluation): agreement on the order of the best models counts most;
- ``pearson_r``: Pearson r of the scores with the accuracies' log odds (the empirical logit where the table has
  n_test), as the paper correlates top-1 with transfer; the baseline's score is logit(source top-1);
- each with a 95% percentile bootstrap interval over models (``stats.BOOTSTRAP_RESAMPLES`` paired resamples;
  resamples in which a statistic is undefined are counted, not used);
- ``beats_top1``: the estimator's tau exceeds the baseline's on this dataset;
- ``relative_top1``: the measured accuracy of the model the estimator ranks first over the best model's (the
  mean over models tied first), what picking by the score gives up; ``best_in_top3``: 1 when a best model is
  among the estimator's three first (ties in score in the models' table order);
- ``seconds`` / ``probe_seconds``: the median wall time over the dataset's models.

A row per (setting, estimator) with dataset ``mean over datasets`` summarises: the mean tau and r over
datasets with bootstrap intervals over datasets, ``beats_top1`` as the count of datasets where the
estimator's tau beats top-1's (``n_datasets`` of them), and the mean ``relative_top1`` and ``best_in_top3`` (the
fraction of datasets). Fewer than three models with a score: no statistic, a
note.

    python -m transferstudy transferability-table SCORES.json ... [--probes PROBE.json ...] --out TRANSFERABILITY.csv
    python -m transferstudy analysis ACCURACY.csv --transferability TRANSFERABILITY.csv --out DIR
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..config import AnalysisOptions
from ..errors import InputError
from ..io import read_json, require_keys
from ..settings import ESTIMATORS, FINETUNE, LOGISTIC_REGRESSION
from . import stats
from .table_checks import SHOWN, check_accuracy_table, transfer_logit

log = logging.getLogger(__name__)

BASELINE = "source_top1"  # ImageNet top-1 in the paper's study; the generated source's top-1 in the mini-study
TRANSFER_SETTINGS = (LOGISTIC_REGRESSION, FINETUNE)  # scratch training uses no pretrained network to score
MEAN_OVER_DATASETS = "mean over datasets"
PAIR_BUDGET = 4_000_000  # model pairs held at once by the vectorised weighted tau (a few arrays of 32 MB)
TABLE_COLUMNS = ["model", "dataset", "estimator", "score", "seconds", "probe_seconds", "note", "n_train",
                 "feature_dim", "source_classes", "checkpoint_sha256", "split_seed"]
EVALUATION_COLUMNS = ["setting", "dataset", "estimator", "n_models", "n_datasets", "weighted_tau", "tau_low",
                      "tau_high", "pearson_r", "pearson_low", "pearson_high", "beats_top1", "relative_top1",
                      "best_in_top3", "seconds", "probe_seconds", "bootstrap_degenerate", "note", "models"]


def transferability_table(result_paths, probe_paths=()):
    """The estimator jobs' JSONs as a tidy table, with the wall time of the probe of the same (model, dataset)
    where its result JSON is given."""
    probe_seconds = {}
    for path in probe_paths:
        result = read_json(path, required=("model", "dataset", "wall_seconds"))
        probe_seconds[(result["model"], result["dataset"])] = result["wall_seconds"]
    rows = []
    for path in result_paths:
        result = read_json(path, required=("model", "dataset", "scores", "n_train", "feature_dim", "features"))
        for entry in result["scores"]:
            require_keys(entry, ("estimator", "score", "seconds", "note"), path)
            rows.append({**entry, "model": result["model"], "dataset": result["dataset"],
                         "probe_seconds": probe_seconds.get((result["model"], result["dataset"])),
                         "n_train": result["n_train"], "feature_dim": result["feature_dim"],
                         "source_classes": result.get("source_classes"),
                         "checkpoint_sha256": result["features"].get("checkpoint_sha256"),
                         "split_seed": result["features"].get("split_seed")})
    table = pd.DataFrame(rows).reindex(columns=TABLE_COLUMNS)
    duplicated = table[table.duplicated(["model", "dataset", "estimator"], keep=False)]
    if len(duplicated):
        raise InputError("transferability results: (model, dataset, estimator) "
                         f"{tuple(duplicated.iloc[0][['model', 'dataset', 'estimator']])} appears twice")
    return table


def check_transferability_table(table, accuracy=None):
    """Refuse a table the evaluation cannot trust, naming what is wrong: missing columns, scores that are not
    finite numbers, a missing score without a note, duplicate rows, a (model, dataset) scored by some estimators
    and not others, and (given the accuracy table) models or datasets whose transfer was not measured."""
    missing = [column for column in ("model", "dataset", "estimator", "score") if column not in table]
    if missing:
        raise InputError(f"transferability table lacks column(s) {missing}; it needs model, dataset, estimator, score "
                         "(and seconds, probe_seconds where known)")
    if BASELINE in set(table["estimator"]):
        raise InputError(f"transferability table: estimator {BASELINE!r} is the baseline the evaluation adds from the "
                         "accuracy table's source_top1; rename it")
    scores = pd.to_numeric(table["score"], errors="coerce")
    text = table[scores.isna() & table["score"].notna()]
    if len(text):
        raise InputError(f"transferability table: score {text['score'].iloc[0]!r} is not a number, for "
                         f"{_where(text)}")
    infinite = table[np.isinf(scores)]
    if len(infinite):
        raise InputError(f"transferability table: score {float(infinite['score'].iloc[0])} is not finite, for "
                         f"{_where(infinite)}")
    notes = table["note"] if "note" in table else pd.Series(np.nan, index=table.index)
    unexplained = table[scores.isna() & (notes.isna() | (notes.astype(str).str.strip() == ""))]
    if len(unexplained):
        raise InputError(f"transferability table: {len(unexplained)} score(s) missing with no note saying why, e.g. "
                         f"{_where(unexplained)}; an estimator that cannot score a pair says so in its note")
    duplicated = table[table.duplicated(["model", "dataset", "estimator"], keep=False)]
    if len(duplicated):
        raise InputError(f"transferability table: {_where(duplicated)} appears {len(duplicated)} times; one row per "
                         "(model, dataset, estimator)")
    # Every estimator scores every (model, dataset) of the table: a pair missing from one would make its
    # per-dataset ranking, and the mean over datasets, cover other models than the rest.
    pairs = set(zip(table["model"], table["dataset"]))
    for estimator, part in table.groupby("estimator"):
        absent = sorted(pairs - set(zip(part["model"], part["dataset"])))
        if absent:
            raise InputError(f"transferability table: estimator {estimator!r} has no row for {len(absent)} (model, "
                             f"dataset) pair(s) the others score, e.g. {absent[:SHOWN]}")
    if accuracy is not None:
        unknown = sorted(set(table["model"]) - set(accuracy["model"]))
        if unknown:
            raise InputError(f"transferability table: model(s) {unknown[:SHOWN]} have no row in the accuracy table; "
                             "scores of models whose transfer was not measured cannot be judged")
        unknown = sorted(set(table["dataset"]) - set(accuracy["dataset"]))
        if unknown:
            raise InputError(f"transferability table: dataset(s) {unknown[:SHOWN]} have no row in the accuracy "
                             "table; scores on datasets whose transfer was not measured cannot be judged")


def _where(rows):
    """The (model, dataset, estimator) of a table's first row, for messages."""
    return str(tuple(rows.iloc[0][["model", "dataset", "estimator"]]))


def _hyperbolic_pair_weights(x, y):
    """w_i + w_j for every pair, w = 1 / (r + 1) with r the rank by decreasing (x, then y), over the last axis."""
    order = np.flip(np.lexsort((y, x), axis=-1), axis=-1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(x.shape[-1]), order.shape), axis=-1)
    w = 1.0 / (rank + 1)
    return w[..., :, None] + w[..., None, :]


def _weighted_tau_rows(x, y):
    """Vigna's weighted tau, ranks from both variables averaged (scipy's ``rank=True``): for each ranking, the sum
    over pairs of w_ij sgn(dx) sgn(dy) / sqrt(the weights of pairs not tied in x times those not tied in y)."""
    sign_x = np.sign(x[..., :, None] - x[..., None, :])
    sign_y = np.sign(y[..., :, None] - y[..., None, :])
    concordance, untied_x, untied_y = sign_x * sign_y, sign_x != 0, sign_y != 0
    taus = []
    # Each pair appears twice in the full matrices, in the numerator and both denominators alike.
    for weights in (_hyperbolic_pair_weights(x, y), _hyperbolic_pair_weights(y, x)):
        numerator = (weights * concordance).sum(axis=(-2, -1))
        untied = (weights * untied_x).sum(axis=(-2, -1)) * (weights * untied_y).sum(axis=(-2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            taus.append(numerator / np.sqrt(untied))
    return (taus[0] + taus[1]) / 2


def weighted_tau(x, y, axis=-1):
    """``scipy.stats.weightedtau(x, y)`` (ranks from both variables, hyperbolic weigher, additive weights),
    vectorised over resamples for the bootstrap: O(n^2) per resample, for the tens of models of a study. NaN
    where a variable is constant."""
    x = np.moveaxis(np.asarray(x, float), axis, -1)
    y = np.moveaxis(np.asarray(y, float), axis, -1)
    flat_x, flat_y = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    rows = max(1, PAIR_BUDGET // x.shape[-1] ** 2)  # resamples at a time: bounds the [rows, n, n] pair arrays
    taus = np.concatenate([_weighted_tau_rows(flat_x[i:i + rows], flat_y[i:i + rows])
                           for i in range(0, len(flat_x), rows)])
    return taus.reshape(x.shape[:-1])


def _rank_agreement(scores, accuracy_logit, *, seed):
    """Weighted tau and Pearson r of scores with log-odds accuracies, each with a bootstrap interval over models."""
    tau = float(weighted_tau(scores, accuracy_logit))
    tau_low, tau_high, tau_bad = stats.bootstrap_interval(scores, accuracy_logit, statistic=weighted_tau, seed=seed)
    r = float(stats._pearson(np.asarray(scores, float), np.asarray(accuracy_logit, float)))
    r_low, r_high, r_bad = stats.bootstrap_interval(scores, accuracy_logit, statistic=stats._pearson, seed=seed)
    return {"weighted_tau": tau, "tau_low": tau_low, "tau_high": tau_high, "pearson_r": r, "pearson_low": r_low,
            "pearson_high": r_high, "bootstrap_degenerate": max(tau_bad, r_bad)}


def _estimator_scores(accuracy, transferability):
    """``{estimator: {(model, dataset): (score, seconds, probe_seconds)}}``, the baseline first."""
    top1 = accuracy.drop_duplicates("model").set_index("model")["source_top1"]
    baseline_logit = dict(zip(top1.index, stats.source_logit(top1.to_numpy())))
    out = {BASELINE: {(model, dataset): (baseline_logit[model], 0.0, np.nan)
                      for model, dataset in zip(accuracy["model"], accuracy["dataset"])}}
    names = [name for name in ESTIMATORS if name in set(transferability["estimator"])]
    names += sorted(set(transferability["estimator"]) - set(names))  # estimators of one's own, after ours
    for name in names:
        part = transferability[transferability["estimator"] == name]
        seconds = part["seconds"] if "seconds" in part else pd.Series(np.nan, index=part.index)
        probe = part["probe_seconds"] if "probe_seconds" in part else pd.Series(np.nan, index=part.index)
        out[name] = {(m, d): (float(s), float(t), float(p)) for m, d, s, t, p in
                     zip(part["model"], part["dataset"], pd.to_numeric(part["score"]), pd.to_numeric(seconds),
                         pd.to_numeric(probe))}
    return out


def evaluation_table(accuracy, transferability, *, seed=AnalysisOptions.seed):
    """Every estimator (and the top-1 baseline) against the measured accuracy of each transfer setting's
    datasets, and a summary over datasets; see the module's docstring."""
    check_accuracy_table(accuracy)
    check_transferability_table(transferability, accuracy)
    accuracy = accuracy.assign(log_odds=transfer_logit(accuracy))
    estimators = _estimator_scores(accuracy, transferability)
    rows = []
    for setting in [s for s in TRANSFER_SETTINGS if s in set(accuracy["setting"])]:
        part = accuracy[accuracy["setting"] == setting]
        per_dataset = []
        for dataset in pd.unique(part["dataset"]):
            measured = part[part["dataset"] == dataset]
            accuracies = dict(zip(measured["model"], measured["value"].astype(float)))
            baseline_tau = None
            for name, scores in estimators.items():
                found = [(model, value, *scores[(model, dataset)]) for model, value in
                         zip(measured["model"], measured["log_odds"]) if (model, dataset) in scores
                         and np.isfinite(scores[(model, dataset)][0])]
                row = {"setting": setting, "dataset": dataset, "estimator": name, "n_models": len(found),
                       "n_datasets": 1, "models": ";".join(sorted(m for m, *_ in found))}
                if found:
                    row["seconds"] = float(np.nanmedian([f[3] for f in found]))
                    probe = [f[4] for f in found if np.isfinite(f[4])]
                    row["probe_seconds"] = float(np.median(probe)) if probe else np.nan
                if len(found) < stats.MIN_MODELS:
                    row["note"] = f"fewer than {stats.MIN_MODELS} models with a score: no ranking statistic"
                elif np.ptp([f[2] for f in found]) == 0 or np.ptp([f[1] for f in found]) == 0:
                    row["note"] = "constant scores or accuracies: no ranking statistic"
                else:
                    row.update(_rank_agreement([f[2] for f in found], [f[1] for f in found], seed=seed))
                    row.update(_selection([f[2] for f in found], [accuracies[f[0]] for f in found]))
                if name == BASELINE:
                    baseline_tau = row.get("weighted_tau")
                elif row.get("weighted_tau") is not None and baseline_tau is not None:
                    row["beats_top1"] = float(row["weighted_tau"] > baseline_tau)
                rows.append(row)
                per_dataset.append(row)
        rows += _summaries(setting, per_dataset, list(estimators), seed)
    return pd.DataFrame(rows).reindex(columns=EVALUATION_COLUMNS)


def _selection(scores, accuracies):
    """What choosing by a score gives: the accuracy of its first pick over the best model's, and whether a best
    model is among its three first picks."""
    scores, accuracies = np.asarray(scores, float), np.asarray(accuracies, float)
    first = scores == scores.max()
    top3 = np.argsort(-scores, kind="stable")[:3]
    best = np.flatnonzero(accuracies == accuracies.max())
    return {"relative_top1": float(accuracies[first].mean() / accuracies.max()),
            "best_in_top3": float(np.isin(best, top3).any())}


def _summaries(setting, per_dataset, estimators, seed):
    """Per estimator: the mean of tau and r over the datasets that have them, with bootstrap intervals over
    datasets, and in how many datasets it beats the baseline."""
    rows = []
    for name in estimators:
        mine = [row for row in per_dataset if row["estimator"] == name and row.get("weighted_tau") is not None]
        row = {"setting": setting, "dataset": MEAN_OVER_DATASETS, "estimator": name, "n_datasets": len(mine),
               "n_models": max((r["n_models"] for r in mine), default=0),
               "models": ";".join(sorted({m for r in mine for m in r["models"].split(";")}))}
        if not mine:
            row["note"] = "no dataset with a ranking statistic"
            rows.append(row)
            continue
        for column, low, high in (("weighted_tau", "tau_low", "tau_high"), ("pearson_r", "pearson_low",
                                                                            "pearson_high")):
            values = [r[column] for r in mine]
            row[column] = float(np.mean(values))
            row[low], row[high] = stats.mean_interval(values, seed=seed)
        if name != BASELINE:
            row["beats_top1"] = float(sum(r.get("beats_top1", 0) for r in mine))
        for column in ("relative_top1", "best_in_top3"):
            row[column] = float(np.mean([r[column] for r in mine]))
        row["seconds"] = float(np.median([r["seconds"] for r in mine]))
        probe = [r["probe_seconds"] for r in mine if np.isfinite(r.get("probe_seconds", np.nan))]
        row["probe_seconds"] = float(np.median(probe)) if probe else np.nan
        if len(mine) < 2:
            row["note"] = "one dataset: no interval over datasets"
        rows.append(row)
    return rows
