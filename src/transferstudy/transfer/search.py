"""The hyper-parameter search of a training arm, free of torch: which grid point a refit uses.

Two methods (``<arm>.search.method``):

- ``grid`` (the paper's): every (learning rate, weight decay) point trains for the recipe's steps; the best
  final validation metric is refit.
- ``successive_halving``: rung 0 trains every point for steps / eta^(rungs - 1); the best 1/eta of them (by
  final validation metric; diverged points drop out) train again at eta times the steps, and so on, the last
  rung at the recipe's full steps (with fewer rungs where one would hold a single point). The last rung's best
  is refit as in the grid. Each rung's run starts afresh with its own (shorter) cosine schedule
  rather than continuing the previous rung's: every point is ranked at the end of an annealed schedule, no
  training state passes between jobs, and the last rung's runs are exactly the grid's runs of those points.

``rung_plan`` gives the rungs' sizes and steps, ``promote`` a rung's survivors, ``select_hyperparameters`` the
refit's point (with every rung's outcome recorded), ``refit_options`` reads a selection back for the refit.

    python -m transferstudy finetune select GRID_RESULT.json... --out SELECTED.json
"""

from __future__ import annotations

import math

from ..errors import InputError
from ..io import read_json, write_json


# What selection and promotion read of a grid point's result JSON (``transfer.finetune``'s).
GRID_RESULT_KEYS = ("model", "dataset", "setting", "metric", "fit", "lr", "weight_decay", "value", "recipe",
                    "diverged_at_step", "config_hash", "history")
# What a refit and the convergence analysis read of a selection JSON.
SELECTION_KEYS = ("model", "dataset", "setting", "metric", "lr", "weight_decay", "history", "steps")


def rung_plan(n_points, steps, eta, rungs):
    """Successive halving's rungs as ``[(points, steps)]``: rung r of k trains ceil(n_points / eta^r) points for
    ceil(steps / eta^(k - 1 - r)) steps, so that the last rung trains for the recipe's full steps, as in
    Hyperband's brackets. k is ``rungs``, or fewer where a rung would hold a single point (a grid of fewer than
    eta + 1 points is trained in full: one rung)."""
    used = 1
    while used < rungs and math.ceil(n_points / eta ** used) >= 2:
        used += 1
    return [(math.ceil(n_points / eta ** rung), math.ceil(steps / eta ** (used - 1 - rung))) for rung in range(used)]


def rung_recipe(recipe, steps):
    """An arm's recipe (a mapping) for a rung of ``steps``: evaluations and saved states no sparser than the run."""
    return {**recipe, "steps": steps, **{key: min(recipe[key], steps) for key in ("eval_every", "checkpoint_every")}}


def _runs(paths, what):
    """Result JSONs of grid-point runs of one (model, dataset, setting), in (lr, weight decay) order."""
    runs = sorted((read_json(path, required=GRID_RESULT_KEYS) | {"path": str(path)} for path in paths),
                  key=lambda run: (run["lr"], run["weight_decay"]))
    if not runs:
        raise InputError(f"no grid results to {what}")
    keys = {(run["model"], run["dataset"], run["setting"], run["fit"]) for run in runs}
    if len(keys) > 1 or runs[0]["fit"] != "train":
        raise InputError(f"grid results mix runs (model, dataset, setting, fit): {sorted(keys)}")
    return runs


def _ranked(runs):
    """Finished runs, best final validation metric first (ties: the smaller learning rate, then weight decay)."""
    finished = [run for run in runs if run["value"] is not None]
    if not finished:
        raise InputError("every grid point diverged: " + ", ".join(run["path"] for run in runs)
                         + "; lower the learning rates in the config")
    return sorted(finished, key=lambda run: -run["value"])  # stable: (lr, wd) order among equals


def _outcome(run):
    return {"lr": run["lr"], "weight_decay": run["weight_decay"], "steps": run["recipe"]["steps"],
            "val_metric": run["value"], "diverged_at_step": run["diverged_at_step"],
            "config_hash": run["config_hash"], "path": run["path"]}


def promote(rung_paths, keep, out_path=None):
    """The ``keep`` best points of a rung (successive halving), recorded with every point's outcome."""
    runs = _runs(rung_paths, "promote")
    promoted = _ranked(runs)[:keep]
    record = {"model": runs[0]["model"], "dataset": runs[0]["dataset"], "setting": runs[0]["setting"],
              "steps": runs[0]["recipe"]["steps"],
              "points": [_outcome(run) | {"promoted": run in promoted} for run in runs],
              "promoted": [{"lr": run["lr"], "weight_decay": run["weight_decay"]} for run in promoted]}
    if out_path is not None:
        write_json(out_path, record)
    return record


def promoted_points(path):
    """The (lr, weight decay) pairs a rung promoted (``promote``'s file)."""
    return [(point["lr"], point["weight_decay"]) for point in read_json(path, required=("promoted",))["promoted"]]


def check_promoted(path, lr, weight_decay):
    """Refuse to train a point at a rung the previous rung (``path``) did not promote it to."""
    promoted = promoted_points(path)
    if (lr, weight_decay) not in promoted:
        raise InputError(f"{path} does not promote lr {lr:g}, weight decay {weight_decay:g} (it promotes "
                         f"{', '.join(f'lr {a:g}, wd {b:g}' for a, b in promoted)})")


def select_hyperparameters(grid_paths, out_path=None, rungs=()):
    """The grid point with the best final validation metric (ties: the smaller learning rate, then the
    smaller weight decay); diverged points are listed but never chosen. Returns (and writes) the selection:
    the chosen pair, every grid point's outcome, and the chosen run's validation curve. With successive
    halving, ``grid_paths`` are the last rung's results and ``rungs`` the earlier rungs' ``promote`` files;
    the selection records every rung and the rung each point reached."""
    runs = _runs(grid_paths, "select from")
    best = _ranked(runs)[0]
    earlier = [read_json(path, required=("points", "steps")) for path in rungs]
    search = {"method": "successive_halving" if earlier else "grid"}
    if earlier:
        last = {"steps": best["recipe"]["steps"], "points": [_outcome(run) for run in runs]}
        search["rungs"] = [{"steps": rung["steps"], "points": rung["points"]} for rung in earlier] + [last]
        reached = {}
        for index, rung in enumerate(search["rungs"]):
            reached.update({(point["lr"], point["weight_decay"]): index for point in rung["points"]})
        search["rung_reached"] = [{"lr": lr, "weight_decay": wd, "rung": rung} for (lr, wd), rung in reached.items()]
        search["steps_spent"] = sum(point["steps"] for rung in search["rungs"] for point in rung["points"])
    selection = {
        "model": best["model"], "dataset": best["dataset"], "setting": best["setting"], "metric": best["metric"],
        "lr": best["lr"], "weight_decay": best["weight_decay"], "val_metric": best["value"],
        "history": best["history"], "steps": best["recipe"]["steps"],
        "grid": [_outcome(run) for run in runs], "search": search,
    }
    if out_path is not None:
        write_json(out_path, selection)
    return selection


def search_mismatch(selection, method, grid, rung_plan):
    """Why a selection on disk was not made by this search, or None: another method, another grid (``[(lr,
    weight_decay)]``), or, for successive halving, rungs of other steps (``rung_plan``: ``[(points, steps)]``)."""
    made = selection.get("search", {}).get("method", "grid")
    if made != method:
        return f"it was made by a {made} search; the config asks for {method}"
    outcomes = selection["search"]["rungs"][0]["points"] if method == "successive_halving" else selection["grid"]
    searched = sorted((point["lr"], point["weight_decay"]) for point in outcomes)
    if searched != sorted(grid):
        return f"it searched (lr, weight decay) {searched}; the config's grid is {sorted(grid)}"
    if method == "successive_halving":
        steps, planned = [rung["steps"] for rung in selection["search"]["rungs"]], [s for _, s in rung_plan]
        if steps != planned:
            return f"its rungs trained {steps} steps; the config's plan is {planned}"
    return None


def refit_options(selection_path):
    """The ``finetune.TrainRun`` fields of a refit from a selection file: its learning rate and weight decay, and
    the selection itself, recorded in the result."""
    selection = read_json(selection_path, required=SELECTION_KEYS)
    return {"lr": selection["lr"], "weight_decay": selection["weight_decay"], "record": {"selection": selection}}
