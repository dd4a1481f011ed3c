"""Convergence of fine-tuning against training from random initialisation: how many steps each needs.

The paper's finding: on small fine-grained datasets, pretraining mostly buys speed; fine-tuning reached a
threshold of 90% of the maximum odds in 17x fewer steps than training from scratch. Here, per (model,
dataset), the threshold is ``fraction`` times the best odds p / (1 - p) that either setting's validation curve
reached (in log-odds: the best logit plus log(fraction)), and each setting's steps are the first evaluated
step at or above it. A setting that never reaches it is censored: its steps are unknown (more than the
run had), and the speed-up counts the run's total steps in their place, so it is a bound: a lower bound
when scratch training is censored, an upper bound when fine-tuning is.

The paper's headline, the median speed-up, is a table of its own (``speedup_summary``): over the pairs where
both settings reached the threshold, and over all pairs with censored runs counted at their total steps (then
a bound), each with a percentile bootstrap interval over (model, dataset) pairs.

    python -m transferstudy convergence results/*/*/*/selected.json --curves curves.csv --steps steps.csv \
        --speedup speedup.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import AnalysisOptions
from ..errors import InputError
from ..io import read_json
from ..transfer.search import SELECTION_KEYS
from .stats import bootstrap_interval, logit

CURVE_COLUMNS = ["setting", "model", "dataset", "metric", "step", "value", "lr", "weight_decay", "total_steps"]
STEPS_COLUMNS = ["model", "dataset", "metric", "best_value", "threshold_value", "finetune_steps", "scratch_steps",
                 "finetune_total_steps", "scratch_total_steps", "speedup", "censored"]


def curves_table(selection_paths):
    """Tidy validation curves of the selected grid point of each (setting, model, dataset)."""
    rows = []
    for path in selection_paths:
        selection = read_json(path, required=SELECTION_KEYS)
        for point in selection["history"]:
            rows.append({"setting": selection["setting"], "model": selection["model"],
                         "dataset": selection["dataset"], "metric": selection["metric"], "step": point["step"],
                         "value": point["metric"], "lr": selection["lr"], "weight_decay": selection["weight_decay"],
                         "total_steps": selection["steps"]})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def first_step_reaching(steps, values, threshold_logit):
    """The first step whose log-odds value is at or above the threshold, or NaN if none is."""
    reached = np.flatnonzero(logit(values) >= threshold_logit - 1e-12)
    return float(steps[reached[0]]) if len(reached) else float("nan")


def steps_to_threshold(curves, fraction=AnalysisOptions.convergence_threshold):
    """Per (model, dataset) with both a fine-tune and a scratch curve: steps each needs to reach ``fraction``
    of the best odds, and the speed-up of fine-tuning (scratch steps / fine-tune steps)."""
    if not 0 < fraction < 1:
        raise InputError(f"threshold fraction {fraction} is outside (0, 1)")
    rows = []
    for (model, dataset), part in curves.groupby(["model", "dataset"], sort=True):
        by_setting = {setting: group.sort_values("step") for setting, group in part.groupby("setting")}
        if not {"finetune", "scratch"} <= set(by_setting):
            continue
        best = part["value"].max()
        threshold = logit(best) + np.log(fraction)
        steps, totals = {}, {}
        for setting in ("finetune", "scratch"):
            curve = by_setting[setting]
            steps[setting] = first_step_reaching(curve["step"].to_numpy(), curve["value"].to_numpy(), threshold)
            totals[setting] = int(curve["total_steps"].iloc[0])
        censored = [setting for setting in ("finetune", "scratch") if np.isnan(steps[setting])]
        counted = {setting: totals[setting] if setting in censored else steps[setting] for setting in steps}
        rows.append({
            "model": model, "dataset": dataset, "metric": part["metric"].iloc[0], "best_value": best,
            "threshold_value": 1 / (1 + np.exp(-threshold)), "finetune_steps": steps["finetune"],
            "scratch_steps": steps["scratch"], "finetune_total_steps": totals["finetune"],
            "scratch_total_steps": totals["scratch"], "speedup": counted["scratch"] / counted["finetune"],
            "censored": "none" if not censored else censored[0],
        })
    return pd.DataFrame(rows, columns=STEPS_COLUMNS)


SPEEDUP_COLUMNS = ["pairs", "n_pairs", "median_speedup", "low", "high", "n_scratch_censored",
                   "n_finetune_censored", "note"]


def speedup_summary(steps, *, seed=AnalysisOptions.seed):
    """The median speed-up of fine-tuning over training from scratch, with a 95% percentile bootstrap interval
    over (model, dataset) pairs: over the pairs where both settings reached the threshold (``both reached``),
    and over every pair with censored runs counted at their total steps (``all, censored as bounds``)."""
    rows = []
    for pairs, chosen in (("both reached", steps[steps["censored"] == "none"]), ("all, censored as bounds", steps)):
        speedups = chosen["speedup"].to_numpy(float)
        row = {"pairs": pairs, "n_pairs": len(speedups),
               "n_scratch_censored": int((chosen["censored"] == "scratch").sum()),
               "n_finetune_censored": int((chosen["censored"] == "finetune").sum()), "note": ""}
        if len(speedups):
            row["median_speedup"] = float(np.median(speedups))
        if len(speedups) >= 2:
            row["low"], row["high"], _ = bootstrap_interval(speedups, statistic=np.median, seed=seed)
        else:
            row["note"] = "no pair" if not len(speedups) else "one pair: no interval"
        if pairs != "both reached" and (row["n_scratch_censored"] or row["n_finetune_censored"]):
            row["note"] = (f"{row['n_scratch_censored']} scratch run(s) never reached the threshold (their speed-ups "
                           f"are lower bounds), {row['n_finetune_censored']} fine-tune run(s) (upper bounds)")
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=SPEEDUP_COLUMNS)
