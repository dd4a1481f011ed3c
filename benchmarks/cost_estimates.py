"""The cost plan's estimates against what a finished study's jobs measured: per job type, the median and worst
ratio of estimated to measured seconds per job, and of estimated to measured peak memory (Snakemake's
``benchmark:`` files: wall seconds ``s``, peak resident set ``max_rss``). Targets (issue 29): time within 30%
at the median, none more than 2x off; memory never under-estimated.

    python benchmarks/cost_estimates.py --workdir RUN --calibration calibration.json [--configfile config/config.yaml]

``RUN`` is a directory where the study ran (``snakemake --cores 2 --directory RUN``); the calibration is made on
the same machine (``transferstudy calibrate --configfile config/config.yaml --out calibration.json``).
"""

import argparse
import statistics
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from transferstudy.schema import load_config  # noqa: E402
from transferstudy.study.cost import CostPlan, read_calibration  # noqa: E402
from transferstudy.study.plan import Study  # noqa: E402

SINGLE = {"pretrain": "pretrain/{model}.tsv", "pretrained_model": "pretrained_model/{model}.tsv",
          "extract_features": "features/{model}/{dataset}.tsv", "probe": "probe/{model}/{dataset}.tsv",
          "transferability": "transferability/{model}/{dataset}.tsv"}


def benchmark_files(benchmarks, row):
    """The benchmark files of a plan row's jobs."""
    if row.rule in SINGLE:
        return [benchmarks / SINGLE[row.rule].format(model=row.model, dataset=row.dataset)]
    arm, rule = row.rule.split(":")
    run = benchmarks / arm / row.model / row.dataset
    if rule == "train_refit":
        return [run / "refit.tsv"]
    folder = "grid" if rule == "train_grid_point" else rule.split(".")[1]
    return sorted((run / folder).glob("*.tsv"))


def compare(plan, benchmarks):
    """One row per plan row with benchmark files: estimated and measured seconds per job and peak memory."""
    rows = []
    for row in plan.rows:
        files = [path for path in benchmark_files(benchmarks, row) if path.is_file()]
        if not files:
            continue
        measured = pd.concat([pd.read_csv(path, sep="\t") for path in files])
        rows.append({"stage": row.rule.split(".")[0], "model": row.model, "dataset": row.dataset,
                     "estimated_s": row.seconds / row.jobs, "measured_s": measured["s"].mean(),
                     "estimated_mb": row.host_mb, "measured_mb": measured["max_rss"].max(), "source": row.source})
    table = pd.DataFrame(rows)
    table["time_ratio"] = table["estimated_s"] / table["measured_s"]
    table["memory_ratio"] = table["estimated_mb"] / table["measured_mb"]
    return table


def summary(table):
    lines = [f"{'stage':28s} {'pairs':>5s} {'time est/meas: median':>22s} {'worst':>7s} {'within 2x':>9s} "
             f"{'memory est/meas: min':>21s} {'median':>7s}"]
    for stage, group in table.groupby("stage", sort=False):
        ratios = group["time_ratio"]
        worst = ratios.iloc[(ratios.apply(lambda r: max(r, 1 / r))).argmax()]
        within = ((ratios <= 2) & (ratios >= 0.5)).mean()
        lines.append(f"{stage:28s} {len(group):5d} {statistics.median(ratios):22.2f} {worst:7.2f} {within:9.0%} "
                     f"{group['memory_ratio'].min():21.2f} {group['memory_ratio'].median():7.2f}")
    ratios = table["time_ratio"]
    lines.append(f"all: time median {statistics.median(ratios):.2f}, "
                 f"{((ratios > 2) | (ratios < 0.5)).sum()} of {len(ratios)} more than 2x off; memory under-estimated "
                 f"in {(table['memory_ratio'] < 1).sum()} of {len(table)}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--calibration", required=True)
    parser.add_argument("--configfile", nargs="+", default=[str(ROOT / "config" / "config.yaml")])
    parser.add_argument("--out", help="write the per-pair comparison as CSV")
    args = parser.parse_args(argv)
    study = Study(load_config(args.configfile))
    plan = CostPlan(study, read_calibration(args.calibration), args.workdir / "results" / "data")
    table = compare(plan, args.workdir / "results" / "benchmarks")
    if args.out:
        table.to_csv(args.out, index=False)
    print(summary(table))


if __name__ == "__main__":
    main()
