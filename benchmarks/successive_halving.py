"""Successive halving against the full grid, side by side on the same (model, dataset) pairs: the training steps
each spends, how often both choose the same (learning rate, weight decay), and how far apart the refits' test
metrics are. Optionally (``--double``), how much the refit's test metric moves when its steps are doubled.

Runs on a finished study's models and datasets (``results/`` of ``snakemake``; the default mini-study by
default), in this process, with the library's own functions: the grid's runs train every point for the
recipe's steps; successive halving trains its rungs (``transfer.search.rung_plan``), promotes with
``transfer.search.promote`` and selects with ``select_hyperparameters``, as the workflow does. A run both
methods make (the same point, steps and seed: successive halving's last rung at full steps, a refit of the
same choice) is trained once and shared, since it would give the same result.

Targets (issue 18): successive halving (eta 3) spends at most 40% of the grid's steps; the refits' test
metrics agree within 0.5 points on average.

    python benchmarks/successive_halving.py --workdir . [--arm finetune] [--lr 0.01 0.03 0.1] \
        [--weight-decay 0 0.0001 0.001] [--eta 3 --rungs 3] [--steps 240] [--double]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from transferstudy.config import ArmRecipe  # noqa: E402
from transferstudy.settings import ARM_INIT  # noqa: E402
from transferstudy.study.plan import Study  # noqa: E402
from transferstudy.transfer import search  # noqa: E402
from transferstudy.transfer.finetune import TrainRun, train  # noqa: E402


class Runs:
    """Training runs, each made once: keyed by (model, dataset, lr, weight decay, steps, fit)."""

    def __init__(self, workdir, study, arm, scratch, threads):
        self.workdir, self.study, self.arm, self.scratch, self.threads = workdir, study, arm, scratch, threads
        self.done, self.steps = {}, 0

    def __call__(self, model, dataset, lr, weight_decay, steps, fit="train"):
        key = (model, dataset, lr, weight_decay, steps, fit)
        if key not in self.done:
            recipe = search.rung_recipe(self.study.arms[self.arm].recipe.as_dict(), steps)
            out = self.scratch / f"{len(self.done)}.json"
            reference = self.workdir / "results/models" / model / ("checkpoint.pt" if model in self.study.zoo.recipes
                                                                    else "pretrain.json")
            data = self.workdir / "results/data" / f"{dataset}.h5"
            run = TrainRun(reference, data, out, out.with_suffix(".state.pt"), init=ARM_INIT[self.arm], lr=lr,
                           weight_decay=weight_decay, fit=fit, recipe=ArmRecipe.of(recipe), model_name=model,
                           keep_state=False)
            train(run, threads=self.threads)
            self.done[key] = out
            self.steps += steps
        return self.done[key]


def compare(runs, model, dataset, grid, steps, plan, double):
    """One pair: the grid's choice and refit, successive halving's, and their steps."""
    grid_choice = search.select_hyperparameters([runs(model, dataset, lr, wd, steps) for lr, wd in grid])
    points, promoted_files = grid, []
    for rung, (_, rung_steps) in enumerate(plan):
        paths = [runs(model, dataset, lr, wd, rung_steps) for lr, wd in points]
        if rung + 1 < len(plan):
            promoted_files.append(runs.scratch / f"promoted_{model}_{dataset}_{rung}.json")
            search.promote(paths, plan[rung + 1][0], promoted_files[-1])
            points = search.promoted_points(promoted_files[-1])
    halving_choice = search.select_hyperparameters(paths, rungs=promoted_files)

    def refit(choice, refit_steps=steps):
        from transferstudy.io import read_json

        path = runs(model, dataset, choice["lr"], choice["weight_decay"], refit_steps, fit="trainval")
        return read_json(path)["value"]

    row = {"model": model, "dataset": dataset, "same": (grid_choice["lr"], grid_choice["weight_decay"]) ==
           (halving_choice["lr"], halving_choice["weight_decay"]), "grid_test": refit(grid_choice),
           "halving_test": refit(halving_choice), "halving_steps": halving_choice["search"]["steps_spent"],
           "grid_steps": len(grid) * steps}
    if double:
        row["doubled_test"] = refit(grid_choice, 2 * steps)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("."), help="a finished study's directory (results/)")
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--arm", default="finetune", choices=("finetune", "scratch"))
    parser.add_argument("--lr", type=float, nargs="+", help="learning-rate grid (default: the config's)")
    parser.add_argument("--weight-decay", type=float, nargs="+", help="weight-decay grid (default: the config's)")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--rungs", type=int, default=3)
    parser.add_argument("--steps", type=int, help="the recipe's steps (default: the config's)")
    parser.add_argument("--models", nargs="+", help="default: every model of the arm")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--double", action="store_true", help="also refit the grid's choice with twice the steps")
    args = parser.parse_args(argv)

    config = yaml.safe_load(args.config.read_text())
    arm = config[args.arm]
    arm.update(lr=args.lr or arm["lr"], weight_decay=args.weight_decay or arm["weight_decay"])
    if args.steps:
        arm["recipe"] = {**arm.get("recipe", {}), "steps": args.steps}
    study = Study(config)
    grid = [(float(lr), float(wd)) for lr, wd in study.arms.grid(args.arm)]
    steps = study.arms[args.arm].recipe.steps
    plan = search.rung_plan(len(grid), steps, args.eta, args.rungs)
    pairs = [(model, dataset) for model, dataset in study.pairs(args.arm) if not args.models or model in args.models]
    print(f"{args.arm}: {len(pairs)} pairs, grid of {len(grid)} points x {steps} steps; successive halving eta "
          f"{args.eta}, rungs (points, steps) {plan}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        runs = Runs(args.workdir.resolve(), study, args.arm, Path(scratch), args.threads)
        rows = []
        for model, dataset in pairs:
            rows.append(compare(runs, model, dataset, grid, steps, plan, args.double))
            row = rows[-1]
            print(f"  {model:<18} {dataset:<12} same choice {str(row['same']):<5} test grid {row['grid_test']:.4f} "
                  f"halving {row['halving_test']:.4f}" + (f" doubled {row['doubled_test']:.4f}" if args.double
                                                          else ""), flush=True)
    differences = [100 * (row["halving_test"] - row["grid_test"]) for row in rows]
    ratio = sum(row["halving_steps"] for row in rows) / sum(row["grid_steps"] for row in rows)
    print(f"\nsteps: successive halving spends {ratio:.0%} of the full grid's (target: at most 40%)")
    print(f"same (lr, weight decay) chosen: {sum(row['same'] for row in rows)} of {len(rows)} pairs")
    print(f"refit test metric, successive halving - grid (points): mean {statistics.mean(differences):+.2f}, "
          f"worst {min(differences, key=lambda d: -abs(d)):+.2f} (target: mean within 0.5)")
    if args.double:
        doubled = [100 * (row["doubled_test"] - row["grid_test"]) for row in rows]
        print(f"refit with twice the steps - refit (points): mean {statistics.mean(doubled):+.2f}, "
              f"worst {min(doubled, key=lambda d: -abs(d)):+.2f} (target: mean within 1)")
    print(f"{runs.steps} steps trained in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
