"""Where a finished study's wall time went: per job type, the jobs' seconds (Snakemake's ``benchmark:`` files),
the part spent starting (from the job's start to its log's first line: the interpreter, imports, the
``snakemake`` object; ``transferstudy.logs.log_to`` writes that line first) and the part computing (the log's
first line to its last), set against the run's elapsed time on its cores. The compute divided by the cores is
the floor of this study's wall time on this host: no start-up, every core busy.

    python benchmarks/study_time.py RUN

``RUN`` is a directory where the study ran (``snakemake --cores 2``, with ``results/``, ``logs/`` and
``.snakemake/log/``). Write the host's ``import torch`` time beside the figures it prints.
"""

import argparse
import re
from datetime import datetime
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def logged_seconds(log):
    """Seconds from a job log's first timestamped line to its last (0 where it has fewer than two)."""
    stamps = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
              for m in map(STAMP.match, log.read_text(errors="replace").splitlines()) if m]
    return (stamps[-1] - stamps[0]).total_seconds() if len(stamps) > 1 else 0.0


def jobs_table(run):
    """One row per job with a benchmark file: its type (the benchmark's first folder), seconds, start-up and
    compute (the start-up is what the job's seconds exceed its log's span by)."""
    rows = []
    for bench in sorted((run / "results" / "benchmarks").rglob("*.tsv")):
        relative = bench.relative_to(run / "results" / "benchmarks").with_suffix(".log")
        seconds = float(pd.read_csv(bench, sep="\t")["s"].iloc[0])
        log = run / "logs" / relative
        compute = min(seconds, logged_seconds(log)) if log.exists() else float("nan")
        rows.append({"job_type": relative.parts[0], "job": str(relative.with_suffix("")), "seconds": seconds,
                     "startup": seconds - compute, "compute": compute})
    return pd.DataFrame(rows)


def run_summary(run):
    """Snakemake's elapsed seconds and cores of the run's last log."""
    text = sorted((run / ".snakemake" / "log").glob("*.snakemake.log"))[-1].read_text()
    hours, minutes, seconds = re.search(r"Elapsed time: (\d+):(\d+):([\d.]+)", text).groups()
    cores = int(re.search(r"Provided cores: (\d+)", text).group(1))
    return 3600 * int(hours) + 60 * int(minutes) + float(seconds), cores


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    run = parser.parse_args().run
    jobs = jobs_table(run)
    elapsed, cores = run_summary(run)
    by_type = jobs.groupby("job_type")[["seconds", "startup", "compute"]].sum().round(1)
    by_type.insert(0, "jobs", jobs.groupby("job_type").size())
    by_type.loc["all"] = by_type.sum()
    print(by_type.sort_values("seconds").to_string())
    job_seconds, startup, compute = (jobs[column].sum() for column in ("seconds", "startup", "compute"))
    print(f"\nelapsed: {elapsed:.0f} s on {cores} cores")
    print(f"benchmarked jobs / cores: {job_seconds / cores:.0f} s ({job_seconds / cores / elapsed:.0%} of elapsed); "
          f"the rest is jobs without a benchmark file (selection, tables, figures) and cores left idle")
    print(f"start-up / cores: {startup / cores:.0f} s ({startup / cores / elapsed:.0%} of elapsed)")
    print(f"compute / cores: {compute / cores:.0f} s ({compute / cores / elapsed:.0%} of elapsed): "
          "the floor of this study's elapsed time on this host")


if __name__ == "__main__":
    main()
