"""Which property of a source model best predicts its transfer: the paper asked it of ImageNet top-1 alone; here
every source property the accuracy table carries is compared with top-1 on the same models.

The properties (``PROPERTIES``) are columns of the accuracy table (``settings.SOURCE_PROPERTIES``), each on the
scale the paper's analysis puts accuracies on: accuracies (ImageNet top-1, and top-1 on ImageNet-ReaL, -V2, -Sketch,
-R, -A) as log odds, counts (parameters, forward FLOPs) as logs, the pretraining data as 1 where it names more than
one dataset (``in21k+in1k``: pretrained on more than the data of its classifier; a point-biserial correlation), else
0.

``source_properties.csv`` has a row per (setting, dataset, property), the datasets' rows and the mean over datasets
(``stats.MEAN_OVER_DATASETS``: each model's mean log-odds transfer over the setting's complete matrix):

- ``pearson_r`` of the property with transfer (log odds), with a 95% percentile bootstrap interval over models;
- ``r_minus_top1``: the property's r minus source top-1's on the same models, with a **paired** bootstrap interval
  (each resample of models computes both), and the verdict it allows: ``better`` (the interval above zero),
  ``worse`` (below), ``no clear difference``;
- models without the property are left out of its rows and named in ``note``; a property no model has is not
  compared (logged).

``source_properties_mixed.csv`` has a row per (setting, property other than top-1): transfer (log odds) ~ logit
source top-1 + the property, with a random intercept per dataset (statsmodels MixedLM, on the complete matrix):
does the property add anything once top-1 is known (its coefficient with a 95% interval and p-value)?

    python -m transferstudy analysis ACCURACY.csv --out DIR
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..config import AnalysisOptions
from ..settings import PRETRAINING_DATA, SOURCE_ACCURACIES, SOURCE_SIZES
from . import stats
from .table_checks import SHOWN, TableError, check_accuracy_table, transfer_logit

log = logging.getLogger(__name__)

TOP1 = "source_top1"
MORE_DATA = "more than one dataset (0/1)"
# Property -> the scale it is correlated on.
PROPERTIES = {TOP1: "log odds", **dict.fromkeys(SOURCE_ACCURACIES, "log odds"), **dict.fromkeys(SOURCE_SIZES, "log"),
              PRETRAINING_DATA: MORE_DATA}
PROPERTY_COLUMNS = ["setting", "dataset", "property", "scale", "n_models", "pearson_r", "pearson_low",
                    "pearson_high", "r_minus_top1", "difference_low", "difference_high", "verdict",
                    "bootstrap_degenerate", "note", "models"]
MIXED_PROPERTY_COLUMNS = ["setting", "property", "n_models", "n_datasets", "n_cells", "coefficient",
                          "coefficient_low", "coefficient_high", "coefficient_p", "top1_coefficient", "top1_p",
                          "converged", "warnings", "note"]


def scaled(values, name):
    """A property's values on its scale (``PROPERTIES``); missing stays NaN. A count that is not positive, or an
    accuracy outside (0, 1), is refused, named."""
    if PROPERTIES[name] == MORE_DATA:
        values = pd.Series(values, dtype=object)
        return np.where(values.isna(), np.nan, values.astype(str).str.contains("+", regex=False)).astype(float)
    given = pd.Series(values)
    numbers = pd.to_numeric(given, errors="coerce")
    if (numbers.isna() & given.notna()).any():
        raise TableError(f"accuracy table: {name} of {given[numbers.isna() & given.notna()].iloc[0]!r}: not a number")
    values = numbers.to_numpy(float)
    present = values[np.isfinite(values)]
    if PROPERTIES[name] == "log odds":
        if ((present <= 0) | (present >= 1)).any():
            raise TableError(f"accuracy table: {name} of {present[(present <= 0) | (present >= 1)][0]}: an "
                             "accuracy is a fraction strictly between 0 and 1")
        return np.log(values / (1 - values))
    if (present <= 0).any():
        raise TableError(f"accuracy table: {name} of {present[present <= 0][0]}: a count is positive")
    return np.log(values)


def _properties(table):
    """The properties the table has for at least one model, top-1 first."""
    present = [name for name in PROPERTIES if name in table and table[name].notna().any()]
    for name in sorted(set(PROPERTIES) - set(present)):
        log.info("the accuracy table has no %s: it is not compared", name)
    return present


def _difference(x, top1, y, axis=-1):
    return stats._pearson(x, y, axis=axis) - stats._pearson(top1, y, axis=axis)


def _compare(x, top1, y, *, is_top1, seed):
    """r of x with y and its interval; unless x is top-1, r(x) - r(top1) with a paired interval and a verdict."""
    r = float(stats._pearson(x, y))
    low, high, degenerate = stats.bootstrap_interval(x, y, statistic=stats._pearson, seed=seed)
    row = {"pearson_r": r, "pearson_low": low, "pearson_high": high, "bootstrap_degenerate": degenerate}
    if not is_top1:
        d_low, d_high, d_bad = stats.bootstrap_interval(x, top1, y, statistic=_difference, seed=seed)
        row.update(r_minus_top1=float(_difference(x, top1, y)), difference_low=d_low, difference_high=d_high,
                   bootstrap_degenerate=max(degenerate, d_bad),
                   verdict="better" if d_low > 0 else "worse" if d_high < 0 else "no clear difference")
    return row


def property_table(table, *, seed=AnalysisOptions.seed, incomplete="error"):
    """Each property's correlation with transfer, and its paired difference from top-1's; see the module's
    docstring."""
    check_accuracy_table(table)
    complete = stats.for_means(table, incomplete)
    names = _properties(table)
    by_model = table.drop_duplicates("model").set_index("model")
    rows = []
    for setting, part in table.groupby("setting", sort=False):
        groups = [(dataset, d["model"].to_numpy(), transfer_logit(d)) for dataset, d in part.groupby("dataset",
                                                                                                  sort=False)]
        means = stats.model_means(complete[setting], incomplete)
        groups.append((stats.MEAN_OVER_DATASETS, means["model"].to_numpy(), means["mean_logit"].to_numpy()))
        for dataset, models, transfer in groups:
            top1 = scaled(by_model.loc[models, TOP1], TOP1)
            for name in names:
                x = scaled(by_model.loc[models, name], name)
                have = np.isfinite(x)
                row = {"setting": setting, "dataset": dataset, "property": name, "scale": PROPERTIES[name],
                       "n_models": int(have.sum()), "models": ";".join(sorted(models[have]))}
                if not have.all():
                    row["note"] = f"left out, without {name}: {', '.join(sorted(models[~have])[:SHOWN])}"
                if have.sum() < stats.MIN_MODELS:
                    row["note"] = f"fewer than {stats.MIN_MODELS} models with {name}: no correlation"
                elif np.ptp(x[have]) == 0:
                    row["note"] = f"{name} is the same for every model: no correlation"
                elif np.ptp(transfer[have]) == 0:
                    row["note"] = "the same transfer accuracy for every model: no correlation"
                else:
                    row.update(_compare(x[have], top1[have], transfer[have], is_top1=name == TOP1, seed=seed))
                rows.append(row)
    return pd.DataFrame(rows).reindex(columns=PROPERTY_COLUMNS)


def mixed_property_table(table, level=stats.CONFIDENCE, incomplete="error"):
    """Per setting and property other than top-1: transfer ~ logit top-1 + property + (1 | dataset); see the
    module's docstring. Fitting warnings are recorded, not hidden."""
    check_accuracy_table(table)
    rows = []
    for setting, part in stats.for_means(table, incomplete).items():
        for name in [n for n in _properties(table) if n != TOP1]:
            data = pd.DataFrame({"transfer": transfer_logit(part), "top1": scaled(part[TOP1], TOP1),
                                 "property": scaled(part[name], name), "dataset": part["dataset"].to_numpy()},
                                index=part.index)
            data = data[np.isfinite(data["property"])]
            kept = part.loc[data.index]
            row = {"setting": setting, "property": name, "n_models": kept["model"].nunique(),
                   "n_datasets": kept["dataset"].nunique(), "n_cells": len(kept)}
            if row["n_models"] < stats.MIN_MODELS + 1 or row["n_datasets"] < 2:
                row["note"] = f"needs at least {stats.MIN_MODELS + 1} models with {name} and 2 datasets"
            elif np.ptp(data["property"]) == 0:
                row["note"] = f"{name} is the same for every model: nothing to fit"
            if "note" in row:
                rows.append(row)
                continue
            fit, messages = stats.fit_mixed("transfer ~ top1 + property", data, f"{setting}, {name}")
            low, high = fit.conf_int(alpha=1 - level).loc["property"]
            row.update({"coefficient": fit.params["property"], "coefficient_low": low, "coefficient_high": high,
                        "coefficient_p": fit.pvalues["property"], "top1_coefficient": fit.params["top1"],
                        "top1_p": fit.pvalues["top1"], "converged": bool(fit.converged),
                        "warnings": "; ".join(messages)})
            if len(kept) < len(part):
                row["note"] = f"left out, without {name}: {', '.join(sorted(set(part['model']) - set(kept['model'])))}"
            rows.append(row)
    return pd.DataFrame(rows).reindex(columns=MIXED_PROPERTY_COLUMNS)
