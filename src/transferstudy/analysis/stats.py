"""Statistics over the accuracy table, computed as the paper computes them: on log-odds.

Accuracies are compared after the logit transform, log(p / (1 - p)); a model's average transfer
accuracy is the mean of its logit accuracies over datasets (the paper's Figure 1).

Accuracies of exactly 0 or 1 have infinite log odds. Where the table gives the number of test examples
(``n_test``, as the workflow's does), every transfer accuracy is taken on the empirical logit
log((k + 1/2) / (n - k + 1/2)) with k = value x n: finite at 0 and 1, and within a fraction of one example of
the plain logit elsewhere (for mean per-class accuracy and mAP, which are not counts, n is the test set's size
all the same). Without ``n_test``, a 0 or 1 is refused, naming its rows; so is a source top-1 of 0 or 1.

Before any statistic, the table is checked (``table_checks.check_accuracy_table``): columns, missing and non-numeric
values, values outside [0, 1], duplicated rows, one source top-1 per model, known settings and metrics, and
completeness: a statistic of each model's mean over datasets needs the same datasets for every model, so an
incomplete (model x dataset) matrix of a setting is an error that lists the missing cells, unless the
complete sub-matrix is asked for (``incomplete="complete_submatrix"``: models or datasets dropped, the fewest
found greedily, and reported). Per-dataset statistics use the models present on that dataset. Every row of
the correlation and mixed-effects tables records the models and datasets it used.

    python -m transferstudy stats accuracy.csv --out correlation.csv [--incomplete complete_submatrix]
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats
# The modules themselves, not statsmodels.api, which imports all of statsmodels (most of a second per job).
from statsmodels.regression.linear_model import OLS
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.tools import add_constant

from .. import metrics
from ..config import AnalysisOptions
from ..errors import InputError
from .table_checks import SHOWN, TableError, check_accuracy_table, transfer_logit

# Plots and thresholds of validation curves: accuracies clipped to [EPS, 1 - EPS] so that a perfect score
# stays finite (the accuracy table's statistics use the empirical logit instead).
EPS = 1e-4
MIN_MODELS = 3
# Up to this many models, correlation p-values are exact over all n! pairings (9! = 362,880: well under a second).
EXACT_P_MAX_MODELS = 9
MEAN_OVER_DATASETS = "mean (logit)"
BOOTSTRAP_RESAMPLES = 10_000
CONFIDENCE = 0.95
INCOMPLETE = ("error", "complete_submatrix")

log = logging.getLogger(__name__)


def logit(p, eps=EPS):
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    return np.log(p / (1 - p))


def source_logit(values):
    """Log odds of source top-1 accuracies (0 or 1 refused: no network is that)."""
    values = np.asarray(values, float)
    if ((values <= 0) | (values >= 1)).any():
        raise TableError(f"source_top1 of {values[(values <= 0) | (values >= 1)][0]}: a source accuracy of 0 or 1 has "
                         "infinite log odds")
    return np.log(values / (1 - values))


def missing_cells(table):
    """The (setting, model, dataset) cells absent from each setting's model x dataset matrix."""
    cells = []
    for setting, part in table.groupby("setting"):
        present = set(zip(part["model"], part["dataset"]))
        cells += [(setting, model, dataset) for model in part["model"].unique() for dataset in part["dataset"].unique()
                  if (model, dataset) not in present]
    return cells


def complete_submatrix(part):
    """A complete model x dataset matrix of one setting's rows: the model or dataset with the most missing cells
    dropped (ties: the one whose rows are fewer), repeatedly. Returns (rows kept, dropped models, dropped
    datasets)."""
    dropped_models, dropped_datasets = [], []
    while True:
        matrix = part.pivot(index="model", columns="dataset", values="value").notna()
        if matrix.to_numpy().all():
            return part, dropped_models, dropped_datasets
        by_model, by_dataset = (~matrix).sum(axis=1), (~matrix).sum(axis=0)
        worst_model, worst_dataset = by_model.idxmax(), by_dataset.idxmax()
        drop_model = (by_model[worst_model], -matrix.loc[worst_model].sum()) >= (by_dataset[worst_dataset],
                                                                                  -matrix[worst_dataset].sum())
        if drop_model:
            dropped_models.append(worst_model)
            part = part[part["model"] != worst_model]
        else:
            dropped_datasets.append(worst_dataset)
            part = part[part["dataset"] != worst_dataset]


def for_means(table, incomplete="error"):
    """The rows a statistic of the mean over datasets may use: the whole table when every setting's matrix is
    complete; else an error listing the missing cells, or (``complete_submatrix``) each setting's complete
    sub-matrix, with what was dropped logged. Returns ``{setting: rows}``."""
    if incomplete not in INCOMPLETE:
        raise InputError(f"incomplete={incomplete!r}; valid: {', '.join(INCOMPLETE)}")
    cells = missing_cells(table)
    if cells and incomplete == "error":
        listed = "; ".join(f"{s}: ({m}, {d})" for s, m, d in cells[:SHOWN * 2])
        more = f"; and {len(cells) - SHOWN * 2} more" if len(cells) > SHOWN * 2 else ""
        raise TableError(f"accuracy table: {len(cells)} (model, dataset) cell(s) missing, so each model's mean over "
                         f"datasets would be over different datasets: {listed}{more}. Supply them, or analyse the "
                         "complete sub-matrix (--incomplete complete_submatrix), which drops models or datasets "
                         "and says which")
    out = {}
    for setting, part in table.groupby("setting"):
        kept, models, datasets = complete_submatrix(part)
        if models or datasets:
            log.warning("%s: the complete sub-matrix leaves out model(s) %s and dataset(s) %s", setting,
                        models or "none", datasets or "none")
        out[setting] = kept
    return out


def model_means(table, incomplete="error"):
    """Per (setting, model): mean logit transfer accuracy over datasets (the same datasets for every model of a
    setting: ``for_means``), its standard error, source top-1."""
    parts = [part.assign(logit_value=transfer_logit(part)) for part in for_means(table, incomplete).values()]
    grouped = pd.concat(parts).groupby(["setting", "model"])
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


def exact_permutation_p(x, y, statistic):
    """The two-sided p-value of ``statistic(x, y)`` (a correlation) under the null that every pairing of x with y
    is equally likely: the fraction of all n! pairings whose statistic is at least as far from 0 (exact, no
    seed)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    pairings = y[np.array(list(itertools.permutations(range(len(y)))))]
    null = statistic(np.broadcast_to(x, pairings.shape), pairings, axis=-1)
    observed = abs(statistic(x, y))
    return float(np.mean(np.abs(null) >= observed * (1 - 1e-12)))


def correlate(source_top1, transfer, *, seed=AnalysisOptions.seed):
    """Pearson r of logit(source top-1) with logit transfer accuracy and Spearman rho, each with its p-value
    and a 95% bootstrap interval over models. With at most ``EXACT_P_MAX_MODELS`` models the p-values are exact,
    over every pairing of the models' two values (scipy's t approximation gives Spearman's rho = 1 of 3 models
    p = 0, where the exact two-sided p is 1/3); with more, scipy's (t distribution; for Pearson, exact under
    normality)."""
    x = source_logit(source_top1)
    pearson = scipy_stats.pearsonr(x, transfer)
    spearman = scipy_stats.spearmanr(source_top1, transfer)
    exact = len(x) <= EXACT_P_MAX_MODELS
    p_low, p_high, p_bad = bootstrap_interval(x, transfer, statistic=_pearson, seed=seed)
    s_low, s_high, s_bad = bootstrap_interval(x, transfer, statistic=_spearman, seed=seed)
    return {"pearson_r": pearson.statistic, "pearson_low": p_low, "pearson_high": p_high,
            "pearson_p": exact_permutation_p(x, transfer, _pearson) if exact else pearson.pvalue,
            "spearman_rho": spearman.statistic, "spearman_low": s_low, "spearman_high": s_high,
            "spearman_p": exact_permutation_p(x, transfer, _spearman) if exact else spearman.pvalue,
            "p_method": "exact permutation" if exact else "t distribution", "bootstrap_degenerate": max(p_bad, s_bad)}


def correlation_or_note(source_top1, transfer, *, seed=AnalysisOptions.seed):
    """``correlate``'s statistics, or a ``note`` saying why there are none (fewer than ``MIN_MODELS`` models, or a
    constant side)."""
    source_top1, transfer = np.asarray(source_top1, float), np.asarray(transfer, float)
    if len(source_top1) < MIN_MODELS:
        return {"note": f"fewer than {MIN_MODELS} models: no correlation"}
    if np.ptp(source_top1) == 0 or np.ptp(transfer) == 0:
        return {"note": "constant source or transfer accuracy: no correlation"}
    return correlate(source_top1, transfer, seed=seed)


CORRELATION_COLUMNS = ["setting", "dataset", "n_models", "n_datasets", "pearson_r", "pearson_low", "pearson_high",
                       "pearson_p", "spearman_rho", "spearman_low", "spearman_high", "spearman_p", "p_method",
                       "bootstrap_degenerate", "note", "models", "datasets"]


def _names(values):
    return ";".join(sorted(map(str, set(values))))


def correlation_table(table, *, seed=AnalysisOptions.seed, incomplete="error"):
    """Per setting: correlation of logit(source top-1) with logit transfer accuracy, per dataset (the models
    present on it) and for the mean over datasets (``for_means``). Rows with fewer than ``MIN_MODELS`` models
    carry a note instead of numbers; every row names the models and datasets it used."""
    check_accuracy_table(table)
    complete = for_means(table, incomplete)
    rows = []
    for setting, part in table.groupby("setting"):
        groups = [(dataset, d["source_top1"].to_numpy(), transfer_logit(d), d["model"], [dataset])
                  for dataset, d in part.groupby("dataset")]
        means = model_means(complete[setting], incomplete)
        groups.append((MEAN_OVER_DATASETS, means["source_top1"].to_numpy(), means["mean_logit"].to_numpy(),
                       means["model"], complete[setting]["dataset"]))
        for dataset, source_top1, transfer, models, datasets in groups:
            row = {"setting": setting, "dataset": dataset, "n_models": len(source_top1),
                   "n_datasets": len(set(datasets)), "models": _names(models), "datasets": _names(datasets)}
            rows.append({**row, **correlation_or_note(source_top1, transfer, seed=seed)})
    return pd.DataFrame(rows).reindex(columns=CORRELATION_COLUMNS)


def ols_band(x, y, grid, level=CONFIDENCE):
    """Least-squares line of y on x and its confidence band for the mean, over ``grid`` (statsmodels)."""
    fit = OLS(np.asarray(y, float), add_constant(np.asarray(x, float))).fit()
    frame = fit.get_prediction(add_constant(np.asarray(grid, float))).summary_frame(alpha=1 - level)
    return frame["mean"].to_numpy(), frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy()


MIXED_COLUMNS = ["setting", "n_models", "n_datasets", "n_cells", "slope", "slope_low", "slope_high", "slope_p",
                 "intercept", "dataset_variance", "converged", "warnings", "note", "models", "datasets"]


def fit_mixed(formula, data, where):
    """statsmodels MixedLM of ``formula`` on ``data`` with a random intercept per ``data["dataset"]`` (REML): the
    fit, and its warnings' first lines, logged with ``where`` (recorded in the tables, not hidden)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = MixedLM.from_formula(formula, data, groups=data["dataset"]).fit(reml=True)
    messages = sorted({str(w.message).splitlines()[0] for w in caught})
    for message in messages:
        log.warning("mixed-effects fit (%s): %s", where, message)
    return fit, messages


def mixed_effects_table(table, level=CONFIDENCE, incomplete="error"):
    """Per setting: logit transfer accuracy ~ logit source top-1 with a random intercept per dataset
    (statsmodels MixedLM), a summary across datasets that does not let one dataset's difficulty dominate.
    Fitted on the complete matrix (``for_means``: the same rows as the mean over datasets). Fitting warnings
    are recorded in the table and the log, not hidden."""
    check_accuracy_table(table)
    rows = []
    for setting, part in for_means(table, incomplete).items():
        data = pd.DataFrame({"transfer": transfer_logit(part), "source": source_logit(part["source_top1"]),
                             "dataset": part["dataset"].to_numpy()})
        row = {"setting": setting, "n_models": part["model"].nunique(), "n_datasets": part["dataset"].nunique(),
               "n_cells": len(part), "models": _names(part["model"]), "datasets": _names(part["dataset"])}
        if row["n_models"] < MIN_MODELS or row["n_datasets"] < 2:
            row["note"] = f"needs at least {MIN_MODELS} models and 2 datasets"
            rows.append(row)
            continue
        fit, messages = fit_mixed("transfer ~ source", data, setting)
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
        raise InputError(f"no permutation test for metric {metric!r}")
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
                    raise InputError(f"{setting}/{dataset}: {model_a} and {model_b} were tested on different labels")
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
