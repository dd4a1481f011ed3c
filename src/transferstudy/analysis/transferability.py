"""Transferability estimators judged against measured transfer: how well each score ranks the models of a dataset
by the accuracy they reach, beside the baselines recent studies find hard to beat.

``transferability.csv`` has a row per (model, dataset, estimator): its ``score`` and ``seconds`` (from the
estimator jobs' JSONs, ``transfer.transferability``), and the probe's wall time on the same pair
(``probe_seconds``). The baselines (``settings.BASELINES``) are ranked like the estimators: the source properties
of the accuracy table, source top-1 as its logit (the paper's predictor), the parameters and forward FLOPs as
their logs (a property missing for every model is left out; models missing it are left out of its rankings and
named), and k-NN accuracy on the target, which the estimator jobs compute.

``transferability_evaluation.csv`` has a row per (setting, dataset, estimator), for the settings in which a
pretrained network transfers (logistic regression, fine-tuning):

- ``weighted_tau``: weighted Kendall's tau of the scores with the measured accuracy (``scipy.stats.weightedtau``,
  hyperbolic weights by rank, as LogME's evaluation): agreement on the order of the best models counts most;
- ``kendall_tau``: Kendall's tau-b, every pair of models alike;
- ``pearson_r``: Pearson r of the scores with the accuracies' log odds (the empirical logit where the table has
  n_test), as the paper correlates top-1 with transfer;
- each with a 95% percentile bootstrap interval over models (``stats.BOOTSTRAP_RESAMPLES`` paired resamples;
  resamples in which a statistic is undefined are counted, not used);
- ``beats_top1``: the estimator's tau exceeds source top-1's on this dataset;
- ``relative_top1``: the measured accuracy of the model the estimator ranks first over the best model's (the
  mean over models tied first), what picking by the score gives up; ``best_in_top3``: 1 when a best model is
  among the estimator's three first (ties in score in the models' table order);
- ``seconds`` / ``probe_seconds``: the median wall time over the dataset's models.

A row per (setting, estimator) with dataset ``mean over datasets`` summarises: the mean taus and r over
datasets with bootstrap intervals over datasets, ``beats_top1`` as the count of datasets where the
estimator's tau beats top-1's (``n_datasets`` of them), and the mean ``relative_top1`` and ``best_in_top3`` (the
fraction of datasets). Fewer than three models with a score: no statistic, a note.

``transferability_baselines.csv`` (``baselines_table``) says which estimator beats which baseline: the mean over
datasets of their paired difference in weighted tau, with a bootstrap interval over datasets, and a verdict.
``transferability_stability.csv`` (``stability_table``) says how far the estimators' ranking of themselves
survives changes of the evaluation: the other setting, a dataset left out, a third of the models left out.

    python -m transferstudy transferability-table SCORES.json ... [--probes PROBE.json ...] --out TRANSFERABILITY.csv
    python -m transferstudy analysis ACCURACY.csv --transferability TRANSFERABILITY.csv --out DIR
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from ..config import AnalysisOptions
from ..errors import InputError
from ..io import read_json, require_keys
from ..settings import BASELINES, ESTIMATORS, FINETUNE, LOGISTIC_REGRESSION, SOURCE_BASELINES
from ..transfer.transferability import NCTI_NOTE, NCTI_TERMS, ncti_scores
from . import stats
from .table_checks import SHOWN, check_accuracy_table, transfer_logit

log = logging.getLogger(__name__)

BASELINE = SOURCE_BASELINES[0]  # ImageNet top-1 in the paper's study; the generated source's top-1 in the mini-study
TRANSFER_SETTINGS = (LOGISTIC_REGRESSION, FINETUNE)  # scratch training uses no pretrained network to score
MEAN_OVER_DATASETS = "mean over datasets"
PAIR_BUDGET = 4_000_000  # model pairs held at once by the vectorised weighted tau (a few arrays of 32 MB)
TABLE_COLUMNS = ["model", "dataset", "estimator", "score", "seconds", "probe_seconds", "note", "n_train",
                 "feature_dim", "source_classes", "checkpoint_sha256", "split_seed"]
EVALUATION_COLUMNS = ["setting", "dataset", "estimator", "n_models", "n_datasets", "weighted_tau", "tau_low",
                      "tau_high", "kendall_tau", "kendall_low", "kendall_high", "pearson_r", "pearson_low",
                      "pearson_high", "beats_top1", "relative_top1",
                      "best_in_top3", "seconds", "probe_seconds", "bootstrap_degenerate", "note", "models"]
FEW_LABELS_COLUMNS = ["model", "dataset", "examples_per_class", "seed", "estimator", "score", "seconds", "note",
                      "n_train", "capped_classes"]
FEW_LABELS_EVALUATION_COLUMNS = ["setting", "dataset", "examples_per_class", "estimator", "n_seeds", "n_models",
                                 "n_datasets", "weighted_tau", "tau_low", "tau_high", "relative_top1", "note"]
BASELINES_COLUMNS = ["setting", "estimator", "baseline", "n_datasets", "tau_difference", "difference_low",
                     "difference_high", "verdict", "datasets"]
STABILITY_COLUMNS = ["setting", "perturbation", "n_perturbations", "estimator", "mean_tau", "rank", "rank_held",
                     "mean_rank", "winner_held", "ranking_tau", "datasets"]


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
    table = pd.DataFrame(rows).reindex(columns=[*TABLE_COLUMNS, "terms"])
    duplicated = table[table.duplicated(["model", "dataset", "estimator"], keep=False)]
    if len(duplicated):
        raise InputError("transferability results: (model, dataset, estimator) "
                         f"{tuple(duplicated.iloc[0][['model', 'dataset', 'estimator']])} appears twice")
    return _with_ncti(table, ["dataset"]).reindex(columns=TABLE_COLUMNS)


def few_labels_table(result_paths):
    """The estimators' scores on the few-label subsets of every (model, dataset) (the jobs' ``few_labels``), one
    row per (model, dataset, examples_per_class, seed, estimator)."""
    rows = []
    for path in result_paths:
        result = read_json(path, required=("model", "dataset", "scores"))
        for subset in result.get("few_labels") or ():
            require_keys(subset, ("examples_per_class", "seed", "n_train", "capped_classes", "scores"), path)
            for entry in subset["scores"]:
                rows.append({**entry, "model": result["model"], "dataset": result["dataset"],
                             **{key: subset[key] for key in ("examples_per_class", "seed", "n_train",
                                                             "capped_classes")}})
    table = pd.DataFrame(rows).reindex(columns=[*FEW_LABELS_COLUMNS, "terms"])
    return _with_ncti(table, ["dataset", "examples_per_class", "seed"]).reindex(columns=FEW_LABELS_COLUMNS)


def _with_ncti(table, by):
    """NCTI's scores from its terms, over the models that have them in each group of ``by`` (a dataset, or a
    dataset's subset; ``transfer.transferability``)."""
    ncti = table[(table["estimator"] == "ncti") & table["terms"].notna()]
    for _, group in ncti.groupby(by, sort=False):
        table.loc[group.index, "score"] = ncti_scores([[terms[t] for t in NCTI_TERMS] for terms in group["terms"]])
        # The job's own note (multi-label: per label) kept after the count of models normalised over.
        table.loc[group.index, "note"] = group["note"].str.replace(NCTI_NOTE, f"{NCTI_NOTE} ({len(group)})", n=1,
                                                                   regex=False)
    return table


def check_transferability_table(table, accuracy=None):
    """Refuse a table the evaluation cannot trust, naming what is wrong: missing columns, scores that are not
    finite numbers, a missing score without a note, duplicate rows, a (model, dataset) scored by some estimators
    and not others, and (given the accuracy table) models or datasets whose transfer was not measured."""
    missing = [column for column in ("model", "dataset", "estimator", "score") if column not in table]
    if missing:
        raise InputError(f"transferability table lacks column(s) {missing}; it needs model, dataset, estimator, score "
                         "(and seconds, probe_seconds where known)")
    reserved = sorted(set(SOURCE_BASELINES) & set(table["estimator"]))
    if reserved:
        raise InputError(f"transferability table: estimator {reserved[0]!r} is the baseline the evaluation adds "
                         f"from the accuracy table's {reserved[0]} column; rename it")
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
    """Weighted tau, Kendall tau and Pearson r of scores with log-odds accuracies, each with a bootstrap interval
    over models."""
    row, degenerate = {}, 0
    for statistic, (column, low, high) in ((weighted_tau, ("weighted_tau", "tau_low", "tau_high")),
                                           (kendall_tau, ("kendall_tau", "kendall_low", "kendall_high")),
                                           (stats._pearson, ("pearson_r", "pearson_low", "pearson_high"))):
        row[column] = float(statistic(np.asarray(scores, float), np.asarray(accuracy_logit, float)))
        row[low], row[high], bad = stats.bootstrap_interval(scores, accuracy_logit, statistic=statistic, seed=seed)
        degenerate = max(degenerate, bad)
    return {**row, "bootstrap_degenerate": degenerate}


def kendall_tau(x, y, axis=-1):
    """Kendall's tau-b (``scipy.stats.kendalltau``), vectorised over resamples like ``weighted_tau``."""
    x = np.moveaxis(np.asarray(x, float), axis, -1)
    y = np.moveaxis(np.asarray(y, float), axis, -1)
    sign_x = np.sign(x[..., :, None] - x[..., None, :])
    sign_y = np.sign(y[..., :, None] - y[..., None, :])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sign_x * sign_y).sum(axis=(-2, -1)) / np.sqrt(np.abs(sign_x).sum(axis=(-2, -1))
                                                               * np.abs(sign_y).sum(axis=(-2, -1)))


def _baseline_scores(accuracy):
    """The source properties as scores, ``{baseline: {model: score}}``: logit of source top-1 (as the paper
    correlates it), log of the parameters and FLOPs. A property the table lacks for every model is left out, and
    logged; models without it are left out of its rankings (and named in its rows' notes)."""
    models = accuracy.drop_duplicates("model").set_index("model")
    out = {BASELINE: dict(zip(models.index, stats.source_logit(models["source_top1"].to_numpy())))}
    for name in SOURCE_BASELINES[1:]:
        values = pd.to_numeric(models[name], errors="coerce") if name in models else pd.Series(dtype=float)
        if values.notna().any() and (values[values.notna()] <= 0).any():
            raise InputError(f"accuracy table: {name} of model {values[values <= 0].index[0]!r} is "
                             f"{values[values <= 0].iloc[0]}; a network's {name} is a positive count")
        if values.notna().any():
            out[name] = {model: float(np.log(value)) for model, value in values.dropna().items()}
        else:
            log.info("the accuracy table has no %s: the %s baseline is left out", name, name)
    return out


def _estimator_scores(accuracy, transferability):
    """``{estimator: {(model, dataset): (score, seconds, probe_seconds)}}``, the source baselines first."""
    pairs = list(zip(accuracy["model"], accuracy["dataset"]))
    out = {name: {(model, dataset): (scores[model], 0.0, np.nan) for model, dataset in pairs if model in scores}
           for name, scores in _baseline_scores(accuracy).items()}
    present = set(transferability["estimator"])
    names = [name for name in (*BASELINES, *ESTIMATORS) if name in present and name not in out]
    names += sorted(present - set(names))  # estimators of one's own, after ours
    for name in names:
        part = transferability[transferability["estimator"] == name]
        seconds = part["seconds"] if "seconds" in part else pd.Series(np.nan, index=part.index)
        probe = part["probe_seconds"] if "probe_seconds" in part else pd.Series(np.nan, index=part.index)
        out[name] = {(m, d): (float(s), float(t), float(p)) for m, d, s, t, p in
                     zip(part["model"], part["dataset"], pd.to_numeric(part["score"]), pd.to_numeric(seconds),
                         pd.to_numeric(probe))}
    return out


class _Ranking:
    """One estimator's scores of the models measured on one (setting, dataset): the models it scores, in the
    accuracy table's order, with their scores, accuracies and log odds, and the models it leaves out."""

    def __init__(self, measured, scores, dataset):
        found = [(model, value, log_odds, *scores[(model, dataset)]) for model, value, log_odds in
                 zip(measured["model"], measured["value"].astype(float), measured["log_odds"])
                 if (model, dataset) in scores and np.isfinite(scores[(model, dataset)][0])]
        self.models = [f[0] for f in found]
        self.values, self.log_odds, self.scores, seconds, probe = (np.array([f[i] for f in found], float)
                                                                   for i in range(1, 6))
        self.unscored = [model for model in measured["model"] if model not in set(self.models)]
        self.seconds, self.probe_seconds = (float(np.median(t[np.isfinite(t)])) if np.isfinite(t).any() else np.nan
                                            for t in (seconds, probe))

    def why_no_statistic(self):
        """Why no ranking statistic is defined (too few models, constant scores or accuracies), or None."""
        if len(self.models) < stats.MIN_MODELS:
            return f"fewer than {stats.MIN_MODELS} models with a score: no ranking statistic"
        if np.ptp(self.scores) == 0 or np.ptp(self.log_odds) == 0:
            return "constant scores or accuracies: no ranking statistic"
        return None

    def weighted_tau(self):
        return np.nan if self.why_no_statistic() else float(weighted_tau(self.scores, self.log_odds))

    def weighted_taus(self, subsets):
        """The weighted tau on the models of each of ``subsets`` (NaN where undefined), vectorised over the subsets
        that leave it the same number of models."""
        masks = np.array([np.ones(len(self.models), bool) if keep is None else np.isin(self.models, list(keep))
                          for keep in subsets]).reshape(len(subsets), -1)
        taus = np.full(len(subsets), np.nan)
        for count in np.unique(masks.sum(axis=1)):
            rows = np.flatnonzero(masks.sum(axis=1) == count)
            if count < stats.MIN_MODELS:
                continue
            columns = np.nonzero(masks[rows])[1].reshape(len(rows), count)
            taus[rows] = weighted_tau(self.scores[columns], self.log_odds[columns])  # NaN where one is constant
        return taus


def _rankings(accuracy, transferability):
    """``{setting: {dataset: {estimator: _Ranking}}}`` for the transfer settings, in the tables' order."""
    check_accuracy_table(accuracy)
    check_transferability_table(transferability, accuracy)
    accuracy = accuracy.assign(log_odds=transfer_logit(accuracy))
    estimators = _estimator_scores(accuracy, transferability)
    out = {}
    for setting in [s for s in TRANSFER_SETTINGS if s in set(accuracy["setting"])]:
        part = accuracy[accuracy["setting"] == setting]
        out[setting] = {dataset: {name: _Ranking(part[part["dataset"] == dataset], scores, dataset)
                                  for name, scores in estimators.items()}
                        for dataset in pd.unique(part["dataset"])}
    return out


def evaluation_table(accuracy, transferability, *, seed=AnalysisOptions.seed):
    """Every estimator (and the baselines) against the measured accuracy of each transfer setting's datasets, and
    a summary over datasets; see the module's docstring."""
    rows = []
    for setting, datasets in _rankings(accuracy, transferability).items():
        per_dataset = []
        for dataset, rankings in datasets.items():
            baseline_tau = None
            for name, ranking in rankings.items():
                row = {"setting": setting, "dataset": dataset, "estimator": name, "n_models": len(ranking.models),
                       "n_datasets": 1, "models": ";".join(sorted(ranking.models))}
                if ranking.models:
                    row.update(seconds=ranking.seconds, probe_seconds=ranking.probe_seconds)
                why_not = ranking.why_no_statistic()
                if why_not:
                    row["note"] = why_not
                else:
                    row.update(_rank_agreement(ranking.scores, ranking.log_odds, seed=seed))
                    row.update(_selection(ranking.scores, ranking.values))
                    if ranking.unscored:
                        row["note"] = f"left out, without a score: {', '.join(ranking.unscored[:SHOWN])}"
                if name == BASELINE:
                    baseline_tau = row.get("weighted_tau")
                elif row.get("weighted_tau") is not None and baseline_tau is not None:
                    row["beats_top1"] = float(row["weighted_tau"] > baseline_tau)
                rows.append(row)
                per_dataset.append(row)
        rows += _summaries(setting, per_dataset, list(next(iter(datasets.values()))), seed)
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
        for column, low, high in (("weighted_tau", "tau_low", "tau_high"), ("kendall_tau", "kendall_low",
                                                                            "kendall_high"),
                                  ("pearson_r", "pearson_low", "pearson_high")):
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


def baselines_table(evaluation, *, seed=AnalysisOptions.seed):
    """Which estimators beat which baseline: per setting, for each estimator and each baseline (``BASELINES``
    present in ``evaluation``), the mean over datasets of the difference of their weighted taus, paired by dataset,
    with a bootstrap interval over datasets, and the verdict it allows: ``beats`` (the interval above zero), ``loses
    to`` (below), ``no clear difference`` (it contains zero), or no verdict with fewer than two datasets."""
    per_dataset = evaluation[(evaluation["dataset"] != MEAN_OVER_DATASETS) & evaluation["weighted_tau"].notna()]
    rows = []
    for setting in pd.unique(evaluation["setting"]):
        taus = per_dataset[per_dataset["setting"] == setting].pivot(index="dataset", columns="estimator",
                                                                    values="weighted_tau")
        order = [e for e in pd.unique(evaluation.loc[evaluation["setting"] == setting, "estimator"])]
        for baseline in [b for b in BASELINES if b in taus]:
            for estimator in [e for e in order if e != baseline and e in taus]:
                both = taus[[estimator, baseline]].dropna()
                differences = (both[estimator] - both[baseline]).to_numpy()
                row = {"setting": setting, "estimator": estimator, "baseline": baseline,
                       "n_datasets": len(differences), "datasets": ";".join(both.index)}
                if len(differences):
                    row["tau_difference"] = float(differences.mean())
                    row["difference_low"], row["difference_high"] = stats.mean_interval(differences, seed=seed)
                if len(differences) < 2:
                    row["verdict"] = "no verdict: fewer than 2 datasets"
                elif row["difference_low"] > 0:
                    row["verdict"] = "beats"
                elif row["difference_high"] < 0:
                    row["verdict"] = "loses to"
                else:
                    row["verdict"] = "no clear difference"
                rows.append(row)
    return pd.DataFrame(rows).reindex(columns=BASELINES_COLUMNS)


STABILITY_DRAWS = 200  # model subsets drawn (all of them, where there are fewer)
OTHER_SETTING, ONE_DATASET_OUT, THIRD_OF_MODELS_OUT = "other setting", "one dataset left out", \
    "a third of the models left out"


def _mean_taus(datasets, names, subsets=(None,)):
    """The mean over ``datasets`` ({dataset: {estimator: _Ranking}}) of each estimator's weighted tau, one per
    subset of models (None: all of them); datasets where any estimator has no statistic are left out (None where
    none is left)."""
    taus = np.array([[rankings[name].weighted_taus(subsets) for name in names] for rankings in datasets.values()])
    out = []
    for i in range(len(subsets)):
        defined = taus[:, :, i][np.isfinite(taus[:, :, i]).all(axis=1)]
        out.append(defined.mean(axis=0) if len(defined) else None)
    return out


def _ranks(means):
    """Ranks by decreasing mean tau, 1 the best (ties share the best rank of theirs)."""
    return scipy_stats.rankdata(-np.asarray(means), method="min")


def stability_table(accuracy, transferability, *, seed=AnalysisOptions.seed, draws=STABILITY_DRAWS):
    """How stable the estimators' ranking of themselves is (Agostinelli et al., ECCV 2022): per setting, the
    estimators ranked by their mean weighted tau over datasets, then ranked again under each perturbation of the
    evaluation: the other transfer setting; each dataset left out in turn; a third of the models left out (every
    such subset, or ``draws`` of them drawn with ``seed``). Per (setting, perturbation, estimator): its rank, how
    often a perturbation keeps that rank (``rank_held``) and its mean rank; per (setting, perturbation): how often
    the winner stays first (``winner_held``) and the mean Kendall tau-b between the perturbed and the full
    ranking's mean taus (``ranking_tau``). Estimators without a statistic on every dataset are not ranked."""
    rankings = _rankings(accuracy, transferability)
    rng = np.random.default_rng(seed)
    full, rows = {}, []
    for setting, datasets in rankings.items():
        names = list(next(iter(datasets.values())))
        scored = {d: r for d, r in datasets.items() if np.isfinite(r[BASELINE].weighted_tau())}
        ranked = [n for n in names if all(np.isfinite(r[n].weighted_tau()) for r in scored.values())]
        for name in sorted(set(names) - set(ranked)):
            log.info("%s: %s has no ranking statistic on some dataset: not in the stability table", setting, name)
        if len(ranked) < 2 or not scored:
            continue
        full[setting] = (ranked, scored, _mean_taus(scored, ranked)[0])
    for setting, (ranked, datasets, means) in full.items():
        perturbed = {}
        others = [(other, names, values) for other, (names, _, values) in full.items() if other != setting]
        for other, names, values in others:
            common = [n for n in ranked if n in names]
            perturbed[OTHER_SETTING] = ([dict(zip(names, values))[n] for n in common], common)
        if len(datasets) > 1:
            perturbed[ONE_DATASET_OUT] = [_mean_taus({d: r for d, r in datasets.items() if d != left}, ranked)[0]
                                          for left in datasets]
        models = sorted({m for r in datasets.values() for m in r[BASELINE].models})
        dropped = max(1, round(len(models) / 3))
        if len(models) - dropped >= stats.MIN_MODELS:
            subsets = list(itertools.combinations(models, len(models) - dropped))
            if len(subsets) > draws:
                subsets = [subsets[i] for i in sorted(rng.choice(len(subsets), draws, replace=False))]
            perturbed[THIRD_OF_MODELS_OUT] = _mean_taus(datasets, ranked, subsets)
        rows += _stability_rows(setting, ranked, means, perturbed, list(datasets))
    return pd.DataFrame(rows).reindex(columns=STABILITY_COLUMNS)


def _stability_rows(setting, ranked, means, perturbed, datasets):
    rows = []
    full_ranks = dict(zip(ranked, _ranks(means)))
    for perturbation, outcomes in perturbed.items():
        if perturbation == OTHER_SETTING:  # one outcome, over the estimators both settings rank
            values, names = outcomes
            outcomes, reference = [values], [means[ranked.index(n)] for n in names]
        else:
            names, reference = ranked, means
        outcomes = [o for o in outcomes if o is not None]
        if not outcomes:
            continue
        ranks = np.array([_ranks(o) for o in outcomes])
        winner = int(np.argmax(reference))
        taus = [float(kendall_tau(np.asarray(reference), np.asarray(o))) for o in outcomes]
        for i, name in enumerate(names):
            rows.append({"setting": setting, "perturbation": perturbation, "n_perturbations": len(outcomes),
                         "estimator": name, "mean_tau": means[ranked.index(name)], "rank": full_ranks[name],
                         "rank_held": float(np.mean(ranks[:, i] == _ranks(reference)[i])),
                         "mean_rank": float(ranks[:, i].mean()),
                         "winner_held": float(np.mean(ranks[:, winner] == 1)),
                         "ranking_tau": float(np.nanmean(taus)), "datasets": ";".join(datasets)})
    return rows


def few_labels_evaluation(accuracy, few_labels, evaluation, *, seed=AnalysisOptions.seed):
    """Selection from few labels: per setting, dataset and size k, each estimator's weighted tau between its scores
    on the k-examples-per-class subsets and the models' accuracy on the full data, the mean over seeds with a
    t-interval over seeds, and its mean ``relative_top1``; the full training split's (``all``, with the baselines,
    whose scores need no labels) from ``evaluation``; rows ``mean over datasets`` per (setting, size, estimator)
    with a bootstrap interval over datasets."""
    from .subsets import ALL, size_order, t_interval

    check_accuracy_table(accuracy)
    accuracy = accuracy.assign(log_odds=transfer_logit(accuracy))
    rows = []
    for setting in [s for s in TRANSFER_SETTINGS if s in set(accuracy["setting"])]:
        part = accuracy[accuracy["setting"] == setting]
        per_dataset = []
        for (dataset, shots, estimator), group in few_labels.groupby(["dataset", "examples_per_class", "estimator"],
                                                                      sort=False):
            measured = part[part["dataset"] == dataset]
            if measured.empty:  # a dataset this setting did not run
                continue
            taus, picks, counts, why_not = [], [], [], []
            for _, draw in group.groupby("seed"):
                scores = {(m, dataset): (float(v), np.nan, np.nan) for m, v in zip(draw["model"], draw["score"])
                          if pd.notna(v)}
                ranking = _Ranking(measured, scores, dataset)
                if ranking.why_no_statistic() is None:
                    taus.append(ranking.weighted_tau())
                    picks.append(_selection(ranking.scores, ranking.values)["relative_top1"])
                    counts.append(len(ranking.models))
                else:
                    why_not.append(ranking.why_no_statistic())
            row = {"setting": setting, "dataset": dataset, "examples_per_class": str(shots), "estimator": estimator,
                   "n_seeds": len(taus), "n_models": max(counts, default=0), "n_datasets": 1}
            if taus:
                row.update(weighted_tau=float(np.mean(taus)), relative_top1=float(np.mean(picks)))
                row["tau_low"], row["tau_high"] = t_interval(taus)
            if why_not:
                row["note"] = f"{len(why_not)} of {len(why_not) + len(taus)} seed(s) without a statistic: {why_not[0]}"
            per_dataset.append(row)
        full = evaluation[(evaluation["setting"] == setting) & (evaluation["dataset"] != MEAN_OVER_DATASETS)
                          & evaluation["dataset"].isin(set(few_labels["dataset"]))]
        for _, row in full.iterrows():
            per_dataset.append({"setting": setting, "dataset": row["dataset"], "examples_per_class": ALL,
                                "estimator": row["estimator"], "n_seeds": 1, "n_models": row["n_models"],
                                "n_datasets": 1, "weighted_tau": row["weighted_tau"], "tau_low": row["tau_low"],
                                "tau_high": row["tau_high"], "relative_top1": row["relative_top1"],
                                "note": row["note"]})
        rows += per_dataset
        frame = pd.DataFrame(per_dataset)
        if frame.empty:
            continue
        for (shots, estimator), group in frame.groupby(["examples_per_class", "estimator"], sort=False):
            values = group["weighted_tau"].dropna().to_numpy(float)
            row = {"setting": setting, "dataset": MEAN_OVER_DATASETS, "examples_per_class": shots,
                   "estimator": estimator, "n_seeds": int(group["n_seeds"].max()),
                   "n_models": int(group["n_models"].max()), "n_datasets": len(values)}
            if len(values):
                row.update(weighted_tau=float(values.mean()),
                           relative_top1=float(group["relative_top1"].dropna().mean()))
                row["tau_low"], row["tau_high"] = stats.mean_interval(values, seed=seed)
            else:
                row["note"] = "no dataset with a ranking statistic"
            rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=FEW_LABELS_EVALUATION_COLUMNS)
    if table.empty:
        return table
    order = {name: i for i, name in enumerate(pd.unique(evaluation["estimator"]))}
    return table.sort_values(["setting", "dataset", "examples_per_class", "estimator"], key=lambda column: {
        "setting": lambda c: c.map({s: i for i, s in enumerate(TRANSFER_SETTINGS)}),
        "dataset": lambda c: c.map({d: i for i, d in enumerate([*pd.unique(evaluation["dataset"])])}),
        "examples_per_class": lambda c: c.map(size_order),
        "estimator": lambda c: c.map(lambda e: order.get(e, len(order)))}[column.name](column),
        ignore_index=True, kind="stable")


def evaluation_tables(accuracy, transferability, few_labels=None, *, seed=AnalysisOptions.seed):
    """The tables of the estimators' evaluation, by name: ``transferability_evaluation``,
    ``transferability_baselines``, ``transferability_stability`` and, given the few-label scores,
    ``transferability_few_labels_evaluation``."""
    evaluation = evaluation_table(accuracy, transferability, seed=seed)
    tables = {"transferability_evaluation": evaluation,
              "transferability_baselines": baselines_table(evaluation, seed=seed),
              "transferability_stability": stability_table(accuracy, transferability, seed=seed)}
    if few_labels is not None:
        tables["transferability_few_labels_evaluation"] = few_labels_evaluation(accuracy, few_labels, evaluation,
                                                                                seed=seed)
    return tables
