"""Statistics over the accuracy table, computed as the paper computes them: on log-odds.

Accuracies are compared after the logit transform, log(p / (1 - p)); a model's average transfer
accuracy is the mean of its logit accuracies over datasets (the paper's Figure 1).

    python -m transferstudy stats accuracy.csv --out correlation.csv
"""

from __future__ import annotations

import argparse
import logging
import warnings

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from .. import metrics
from ..config import AnalysisOptions
from ..io import write_csv

# Accuracies are clipped to [EPS, 1 - EPS] before the logit so that a perfect score stays finite.
EPS = 1e-4
MIN_MODELS = 3
MEAN_OVER_DATASETS = "mean (logit)"
BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95

log = logging.getLogger(__name__)


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


def _pearson(x, y, axis=-1):
    """Pearson r along ``axis``, NaN where either side is constant (a degenerate bootstrap resample)."""
    xm = x - x.mean(axis, keepdims=True)
    ym = y - y.mean(axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (xm * ym).sum(axis) / np.sqrt((xm * xm).sum(axis) * (ym * ym).sum(axis))


def _spearman(x, y, axis=-1):
    return _pearson(scipy_stats.rankdata(x, axis=axis), scipy_stats.rankdata(y, axis=axis), axis=axis)


def bootstrap_interval(*samples, statistic, seed=AnalysisOptions.seed, n_resamples=BOOTSTRAP_RESAMPLES,
                       level=CONFIDENCE):
    """Percentile bootstrap interval of ``statistic(*samples)`` resampling the samples' items together (for
    (x, y) pairs: models; for one sample of per-dataset values: datasets).

    The resamples come from ``scipy.stats.bootstrap``; those in which the statistic is undefined (all
    resampled models alike) are left out of the percentiles and counted. Returns (low, high, degenerate).
    """
    with warnings.catch_warnings():
        # scipy warns that *its* interval is NaN when any resample is degenerate; that interval is not used
        # here: the percentiles below skip those resamples, and their count is returned and reported.
        warnings.simplefilter("ignore", scipy_stats.DegenerateDataWarning)
        result = scipy_stats.bootstrap(tuple(np.asarray(sample, float) for sample in samples), statistic,
                                       paired=True, vectorized=True, n_resamples=n_resamples,
                                       method="percentile", rng=np.random.default_rng(seed))
    distribution = result.bootstrap_distribution
    defined = distribution[np.isfinite(distribution)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(defined, [tail, 100 - tail]) if len(defined) else (np.nan, np.nan)
    return float(low), float(high), int(len(distribution) - len(defined))


def mean_interval(values, *, seed=AnalysisOptions.seed, n_resamples=BOOTSTRAP_RESAMPLES, level=CONFIDENCE):
    """Percentile bootstrap interval (low, high) of the mean of ``values``; NaNs below two values."""
    if len(values) < 2:
        return np.nan, np.nan
    low, high, _ = bootstrap_interval(values, statistic=np.mean, seed=seed, n_resamples=n_resamples, level=level)
    return low, high


def correlate(source_top1, transfer_logit, *, seed=AnalysisOptions.seed):
    """Pearson r of logit(source top-1) with logit transfer accuracy and Spearman rho, each with its p-value
    (scipy) and a 95% bootstrap interval over models."""
    x = logit(source_top1)
    pearson = scipy_stats.pearsonr(x, transfer_logit)
    spearman = scipy_stats.spearmanr(source_top1, transfer_logit)
    p_low, p_high, p_bad = bootstrap_interval(x, transfer_logit, statistic=_pearson, seed=seed)
    s_low, s_high, s_bad = bootstrap_interval(x, transfer_logit, statistic=_spearman, seed=seed)
    return {"pearson_r": pearson.statistic, "pearson_low": p_low, "pearson_high": p_high,
            "pearson_p": pearson.pvalue, "spearman_rho": spearman.statistic, "spearman_low": s_low,
            "spearman_high": s_high, "spearman_p": spearman.pvalue, "bootstrap_degenerate": max(p_bad, s_bad)}


CORRELATION_COLUMNS = ["setting", "dataset", "n_models", "pearson_r", "pearson_low", "pearson_high", "pearson_p",
                       "spearman_rho", "spearman_low", "spearman_high", "spearman_p", "bootstrap_degenerate", "note"]


def correlation_table(table, *, seed=AnalysisOptions.seed):
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
                row.update(correlate(source_top1, transfer, seed=seed))
            rows.append(row)
    return pd.DataFrame(rows).reindex(columns=CORRELATION_COLUMNS)


def ols_band(x, y, grid, level=CONFIDENCE):
    """Least-squares line of y on x and its confidence band for the mean, over ``grid`` (statsmodels)."""
    fit = sm.OLS(np.asarray(y, float), sm.add_constant(np.asarray(x, float))).fit()
    frame = fit.get_prediction(sm.add_constant(np.asarray(grid, float))).summary_frame(alpha=1 - level)
    return frame["mean"].to_numpy(), frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy()


MIXED_COLUMNS = ["setting", "n_models", "n_datasets", "slope", "slope_low", "slope_high", "slope_p",
                 "intercept", "dataset_variance", "converged", "warnings", "note"]


def mixed_effects_table(table, level=CONFIDENCE):
    """Per setting: logit transfer accuracy ~ logit source top-1 with a random intercept per dataset
    (statsmodels MixedLM), a summary across datasets that does not let one dataset's difficulty dominate.
    Fitting warnings are recorded in the table and the log, not hidden."""
    check_accuracy_table(table)
    rows = []
    for setting, part in table.groupby("setting"):
        data = pd.DataFrame({"transfer": logit(part["value"]), "source": logit(part["source_top1"]),
                             "dataset": part["dataset"].to_numpy()})
        row = {"setting": setting, "n_models": part["model"].nunique(), "n_datasets": part["dataset"].nunique()}
        if row["n_models"] < MIN_MODELS or row["n_datasets"] < 2:
            row["note"] = f"needs at least {MIN_MODELS} models and 2 datasets"
            rows.append(row)
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = smf.mixedlm("transfer ~ source", data, groups=data["dataset"]).fit(reml=True)
        messages = sorted({str(w.message).splitlines()[0] for w in caught})
        for message in messages:
            log.warning("mixed-effects fit (%s): %s", setting, message)
        low, high = fit.conf_int(alpha=1 - level).loc["source"]
        row.update({"slope": fit.params["source"], "slope_low": low, "slope_high": high,
                    "slope_p": fit.pvalues["source"], "intercept": fit.params["Intercept"],
                    "dataset_variance": float(fit.cov_re.iloc[0, 0]), "converged": bool(fit.converged),
                    "warnings": "; ".join(messages)})
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=MIXED_COLUMNS)


def paired_permutation_test(labels, scores_a, scores_b, metric, *, n_permutations=AnalysisOptions.permutations,
                            seed=AnalysisOptions.seed):
    """Two-sided paired permutation test of metric(a) - metric(b) on the same test examples.

    Under the null hypothesis the two models are exchangeable on each example, so each permutation swaps
    the two models' predictions on a random half of the examples. Top-1 and mean per-class accuracy are
    linear in per-example correctness, so their permutations are one matrix product; 11-point mAP is
    recomputed for all permutations at once. Returns (observed difference, p-value), p = (k + 1) / (n + 1).
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    observed = metrics.score(metric, labels, scores_a) - metrics.score(metric, labels, scores_b)
    swaps = rng.random((n_permutations, len(labels))) < 0.5
    if metric in ("top1", "mean_per_class"):
        correct_a = np.argmax(scores_a, 1) == labels
        correct_b = np.argmax(scores_b, 1) == labels
        if metric == "top1":
            weights = np.full(len(labels), 1.0 / len(labels))
        else:
            classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
            weights = 1.0 / (len(classes) * counts[inverse])
        contribution = weights * (correct_a.astype(float) - correct_b)
        permuted = np.where(swaps, -1.0, 1.0) @ contribution
    elif metric == "map11":
        permuted = np.zeros(n_permutations)
        present = np.flatnonzero(labels.sum(axis=0) > 0)
        for start in range(0, n_permutations, 256):  # bounds memory on large test sets
            swap = swaps[start:start + 256]
            for k in present:
                a = np.where(swap, scores_b[:, k], scores_a[:, k])
                b = np.where(swap, scores_a[:, k], scores_b[:, k])
                permuted[start:start + 256] += (metrics.average_precision_11point_rows(labels[:, k], a)
                                                - metrics.average_precision_11point_rows(labels[:, k], b))
        permuted /= len(present)
    else:
        raise ValueError(f"no permutation test for metric {metric!r}")
    exceed = np.count_nonzero(np.abs(permuted) >= abs(observed) - 1e-12)
    return float(observed), float((exceed + 1) / (n_permutations + 1))


def mcnemar_exact(labels, scores_a, scores_b):
    """McNemar's exact test on top-1 correctness (statsmodels); the p-value."""
    correct_a = np.argmax(scores_a, 1) == labels
    correct_b = np.argmax(scores_b, 1) == labels
    table = [[np.sum(correct_a & correct_b), np.sum(correct_a & ~correct_b)],
             [np.sum(~correct_a & correct_b), np.sum(~correct_a & ~correct_b)]]
    return float(mcnemar(table, exact=True).pvalue)


PAIRWISE_COLUMNS = ["setting", "dataset", "metric", "model_a", "model_b", "value_a", "value_b", "difference",
                    "p_permutation", "p_permutation_holm", "p_mcnemar", "n_test", "n_permutations"]


def pairwise_table(predictions, *, n_permutations=AnalysisOptions.permutations, seed=AnalysisOptions.seed):
    """Every pair of models on each (setting, dataset), from ``{(setting, dataset, model): (labels, scores,
    metric)}``. p-values are Holm-adjusted over the pairs of each (setting, dataset)."""
    groups = {}
    for (setting, dataset, model), entry in predictions.items():
        groups.setdefault((setting, dataset), {})[model] = entry
    rows = []
    for (setting, dataset), by_model in sorted(groups.items()):
        names = sorted(by_model)
        first = len(rows)
        for i, model_a in enumerate(names):
            for model_b in names[i + 1:]:
                labels, scores_a, metric = by_model[model_a]
                labels_b, scores_b, _ = by_model[model_b]
                if not np.array_equal(labels, labels_b):
                    raise ValueError(f"{setting}/{dataset}: {model_a} and {model_b} were tested on different labels")
                difference, p_value = paired_permutation_test(labels, scores_a, scores_b, metric,
                                                              n_permutations=n_permutations, seed=seed)
                rows.append({"setting": setting, "dataset": dataset, "metric": metric, "model_a": model_a,
                             "model_b": model_b, "value_a": metrics.score(metric, labels, scores_a),
                             "value_b": metrics.score(metric, labels, scores_b), "difference": difference,
                             "p_permutation": p_value,
                             "p_mcnemar": mcnemar_exact(labels, scores_a, scores_b) if metric == "top1" else np.nan,
                             "n_test": len(labels), "n_permutations": n_permutations})
        if len(rows) > first:
            raw = [row["p_permutation"] for row in rows[first:]]
            for row, adjusted in zip(rows[first:], multipletests(raw, method="holm")[1]):
                row["p_permutation_holm"] = float(adjusted)
    return pd.DataFrame(rows).reindex(columns=PAIRWISE_COLUMNS)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("accuracy", help="tidy accuracy CSV (model, dataset, setting, value, source_top1, ...)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    write_csv(correlation_table(pd.read_csv(args.accuracy)), args.out)
