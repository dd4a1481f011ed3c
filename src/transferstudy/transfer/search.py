"""The hyper-parameter search of a training arm, free of torch: which grid point a refit uses.

``select_hyperparameters`` takes the grid point with the best validation metric from the grid's result
JSONs; ``refit_options`` reads a selection back for the refit.

    python -m transferstudy finetune select GRID_RESULT.json... --out SELECTED.json
"""

from __future__ import annotations

import argparse

from ..io import read_json, write_json


def select_hyperparameters(grid_paths, out_path=None):
    """The grid point with the best final validation metric (ties: the smaller learning rate, then the
    smaller weight decay); diverged points are listed but never chosen. Returns (and writes) the selection:
    the chosen pair, every grid point's outcome, and the chosen run's validation curve."""
    runs = sorted((read_json(path) | {"path": str(path)} for path in grid_paths),
                  key=lambda run: (run["lr"], run["weight_decay"]))
    if not runs:
        raise ValueError("no grid results to select from")
    keys = {(run["model"], run["dataset"], run["setting"], run["fit"]) for run in runs}
    if len(keys) > 1 or runs[0]["fit"] != "train":
        raise ValueError(f"grid results mix runs (model, dataset, setting, fit): {sorted(keys)}")
    finished = [run for run in runs if run["final_metric"] is not None]
    if not finished:
        raise ValueError("every grid point diverged: " + ", ".join(run["path"] for run in runs)
                         + "; lower the learning rates in the config")
    best = max(finished, key=lambda run: run["final_metric"])  # max keeps the first of equals
    selection = {
        "model": best["model"], "dataset": best["dataset"], "setting": best["setting"], "metric": best["metric"],
        "lr": best["lr"], "weight_decay": best["weight_decay"], "val_metric": best["final_metric"],
        "history": best["history"], "steps": best["recipe"]["steps"],
        "grid": [{"lr": run["lr"], "weight_decay": run["weight_decay"], "val_metric": run["final_metric"],
                  "diverged_at_step": run["diverged_at_step"], "config_hash": run["config_hash"],
                  "path": run["path"]} for run in runs],
    }
    if out_path is not None:
        write_json(out_path, selection)
    return selection


def refit_options(selection_path):
    """The ``train_run`` options of a refit from a selection file: its learning rate and weight decay, and
    the selection itself, recorded in the result."""
    selection = read_json(selection_path)
    return {"lr": selection["lr"], "weight_decay": selection["weight_decay"], "record": {"selection": selection}}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="transferstudy finetune select",
                                     description="Pick the grid point with the best validation metric.")
    parser.add_argument("grid", nargs="+", help="grid-point result JSONs of one (model, dataset, setting)")
    parser.add_argument("--out", required=True, help="selection JSON")
    args = parser.parse_args(argv)
    selection = select_hyperparameters(args.grid, args.out)
    print(f"lr {selection['lr']:g}, weight decay {selection['weight_decay']:g}: "
          f"validation {selection['metric']} {selection['val_metric']:.4f}")
