"""The accuracy table checked before anything is computed from it, and its transfer accuracies' log odds.

Light (NumPy and pandas only): the step that writes the table (``aggregate``) checks it as the analysis does,
without loading the statistics libraries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import metrics
from ..errors import InputError
from ..settings import LOGISTIC_REGRESSION, TRAINING_ARMS

SETTINGS = (LOGISTIC_REGRESSION, *TRAINING_ARMS)
REQUIRED_COLUMNS = ("model", "dataset", "setting", "value", "source_top1")
SHOWN = 10


class TableError(InputError):
    """An accuracy table the analysis cannot trust; the message names the rows, cells or models."""


def _cells(frame, columns=("model", "dataset", "setting")):
    rows = [", ".join(f"{c}={row[c]}" for c in columns if c in row) for _, row in frame.head(SHOWN).iterrows()]
    return "; ".join(f"({row})" for row in rows) + (f"; and {len(frame) - SHOWN} more" if len(frame) > SHOWN else "")


def transfer_logit(table):
    """Log odds of each row's transfer accuracy: the empirical logit where ``n_test`` is known, else the plain
    logit (a 0 or 1 without ``n_test`` is refused, naming the rows)."""
    values = table["value"].to_numpy(float)
    n = (pd.to_numeric(table["n_test"], errors="coerce").to_numpy(float) if "n_test" in table
         else np.full(len(table), np.nan))
    known = np.isfinite(n) & (n > 0)
    extreme = ~known & ((values <= 0) | (values >= 1))
    if extreme.any():
        raise TableError(f"accuracy table: {int(extreme.sum())} accuracy value(s) of exactly 0 or 1 have infinite log "
                         f"odds and the table gives no number of test examples (n_test) for the empirical logit "
                         f"log((k + 1/2) / (n - k + 1/2)): {_cells(table[extreme])}")
    out = np.empty(len(values))
    k = values[known] * n[known]
    out[known] = np.log((k + 0.5) / (n[known] - k + 0.5))
    plain = values[~known]
    out[~known] = np.log(plain / (1 - plain))
    return out


def check_accuracy_table(table):
    """Refuse tables the analysis cannot trust, naming the problem and the rows (``TableError``)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise TableError(f"accuracy table lacks column(s) {missing}; it needs {', '.join(REQUIRED_COLUMNS)}")
    if table.empty:
        raise TableError("accuracy table has no rows")
    for column in ("model", "dataset", "setting"):
        absent = table[table[column].isna() | (table[column].astype(str).str.strip() == "")]
        if len(absent):
            raise TableError(f"accuracy table: {len(absent)} row(s) without a {column} (data rows "
                             f"{', '.join(str(i + 1) for i in absent.index[:SHOWN])})")
        spaced = table[table[column].astype(str) != table[column].astype(str).str.strip()]
        if len(spaced):
            raise TableError(f"accuracy table: {column} {spaced[column].iloc[0]!r} has surrounding whitespace (it "
                             "would count as another name)")
    for column in ("value", "source_top1"):
        numbers = pd.to_numeric(table[column], errors="coerce")
        text = table[numbers.isna() & table[column].notna()]
        if len(text):
            raise TableError(f"accuracy table: {column} {text[column].iloc[0]!r} is not a number: {_cells(text)}")
        absent = table[numbers.isna()]
        if len(absent):
            raise TableError(f"accuracy table: {len(absent)} {column} value(s) missing: {_cells(absent)}")
        outside = table[(numbers < 0) | (numbers > 1)]
        if len(outside):
            raise TableError(f"accuracy table: {len(outside)} {column!r} value(s) outside [0, 1], e.g. "
                             f"{outside.iloc[0][['model', 'dataset', 'setting', column]].to_dict()}")
    unknown = sorted(set(table["setting"]) - set(SETTINGS))
    if unknown:
        raise TableError(f"accuracy table: setting {unknown[0]!r} is not known; valid: {', '.join(SETTINGS)}")
    if "metric" in table:
        unknown = sorted(set(table["metric"].dropna()) - set(metrics.METRICS))
        if unknown:
            raise TableError(f"accuracy table: metric {unknown[0]!r} is not known; valid: {', '.join(metrics.METRICS)}")
        mixed = table.groupby("dataset")["metric"].nunique(dropna=False)
        if (mixed > 1).any():
            dataset = mixed[mixed > 1].index[0]
            found = table.loc[table["dataset"] == dataset, "metric"].value_counts(dropna=False).to_dict()
            raise TableError(f"accuracy table: dataset {dataset!r} is scored by several metrics ({found}); a "
                             "dataset's rows must share one metric to be compared")
    duplicated = table[table.duplicated(["model", "dataset", "setting"], keep=False)]
    if len(duplicated):
        raise TableError("accuracy table: duplicate (model, dataset, setting) rows, e.g. "
                         f"{duplicated.iloc[0][['model', 'dataset', 'setting']].to_dict()}")
    certain = table[(table["source_top1"] <= 0) | (table["source_top1"] >= 1)]
    if len(certain):
        raise TableError(f"accuracy table: model {certain['model'].iloc[0]!r} has source_top1 "
                         f"{certain['source_top1'].iloc[0]:g}, whose log odds are infinite (a fraction in (0, 1) "
                         "is expected)")
    top1 = table.groupby("model")["source_top1"].unique()
    several = top1[top1.map(len) > 1]
    if len(several):
        raise TableError(f"accuracy table: model {several.index[0]!r} has {len(several.iloc[0])} source_top1 values "
                         f"({', '.join(f'{v:g}' for v in sorted(several.iloc[0]))}); a model has one ImageNet top-1")
    transfer_logit(table)  # refuses 0 and 1 where the test set's size is not known
