"""Are the training arms trained long enough? Compares the refits of two finished studies whose arms differ only
in their steps (the second with twice the first's): per (model, dataset, arm), the refit test metric at N and
2N steps, and per arm the mean and the largest change (issue 18's target: the mean moves by less than 1 point).

The doubled study is the same workflow with the arms' steps doubled, run in a copy of the first study's
directory so that pretraining, features and probes are reused (only the arms' jobs run again):

    cp -a STUDY STUDY_2X && cd STUDY_2X && snakemake --cores 2 \
        --config 'finetune={recipe: {steps: 1200}}' 'scratch={recipe: {steps: 1200}}'
    python benchmarks/training_length.py STUDY STUDY_2X [--arms finetune]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ARMS = ("finetune", "scratch")


def refits(workdir, arm):
    """{(model, dataset): (steps, refit test metric)} of a study's arm."""
    out = {}
    for path in sorted((Path(workdir) / "results" / arm).glob("*/*/refit.json")):
        result = json.loads(path.read_text())
        out[result["model"], result["dataset"]] = (result["recipe"]["steps"], result["value"])
    return out


def compare(base, doubled, arm):
    """Rows (model, dataset, steps, metric, doubled steps, doubled metric, change in points) of the pairs both
    studies refit; refuses studies whose steps are not N and 2N."""
    first, second = refits(base, arm), refits(doubled, arm)
    rows = []
    for key in sorted(first.keys() & second.keys()):
        (steps, metric), (steps2, metric2) = first[key], second[key]
        if steps2 != 2 * steps:
            raise SystemExit(f"{arm} {key}: {steps} steps in {base}, {steps2} in {doubled}; the second study must "
                             "train twice the first's steps")
        rows.append((*key, steps, metric, steps2, metric2, 100 * (metric2 - metric)))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="a finished study's directory")
    parser.add_argument("doubled", type=Path, help="the same study with its arms' steps doubled")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=ARMS, help="the arms whose steps were doubled")
    parser.add_argument("--target", type=float, default=1.0, help="points the mean may move")
    args = parser.parse_args(argv)
    met = True
    for arm in args.arms:
        rows = compare(args.base, args.doubled, arm)
        if not rows:
            print(f"{arm}: no refit in both studies")
            continue
        print(f"{arm}: refit test metric at N and 2N steps")
        for model, dataset, steps, metric, steps2, metric2, change in rows:
            print(f"  {model:18s} {dataset:16s} {steps:6d} {100 * metric:6.2f}  {steps2:6d} {100 * metric2:6.2f}  "
                  f"{change:+6.2f}")
        changes = [row[-1] for row in rows]
        mean, worst = statistics.mean(changes), max(changes, key=abs)
        within = abs(mean) < args.target
        met &= within
        print(f"  mean change {mean:+.2f} points, largest {worst:+.2f}, over {len(rows)} pairs "
              f"({'within' if within else 'NOT within'} {args.target} point)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
