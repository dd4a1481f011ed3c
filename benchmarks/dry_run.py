"""How long planning takes: ``snakemake -n`` on the default config and on the paper's, side by side with the
time to import the planning modules (``transferstudy.study`` and what common.smk imports) and with Python's
own start-up.

Planning imports no torch, torchvision, matplotlib or statsmodels (tests/test_architecture.py checks it), so
a dry-run costs Snakemake's own DAG building plus a fraction of a second of ours. Targets (issue 15): the
default config in at most 3 s, the paper's (about 19,860 jobs) in at most 10 s, on 2 cores.

    python benchmarks/dry_run.py [--repeats 3]

Run it from the repository root of a clean clone (no ``results/``): with results present, a dry-run also
compares their timestamps and is not the same measurement.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
PLANNING_IMPORTS = "import transferstudy.study.plan, transferstudy.analysis.catalogue, transferstudy.settings"
PAPER = ["--configfile", "config/kornblith2019.yaml", "--replace-workflow-config"]
CONFIGS = {  # name: (arguments after `snakemake -n`, target in seconds)
    "default": ([], 3.0),
    "paper": (PAPER, 10.0),
    "paper, --quiet rules": (PAPER + ["--quiet", "rules"], 10.0),  # the job counts without a line per job
}


def timed(command):
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout + done.stderr


def median_time(command, repeats):
    runs = [timed(command) for _ in range(repeats)]
    return statistics.median(seconds for seconds, _ in runs), runs[-1][1]


# Snakemake's own floor: the same number of jobs from one static rule in the workflow's house style (input, log,
# benchmark, params, resources and a script, which Snakemake reads for every job while planning; no input
# functions), so the difference is what our rules and input functions add.
FLOOR_SNAKEFILE = """
rule all:
    input: expand("out/{{i}}.txt", i=range({jobs}))

rule source:
    output: "source.txt"
    log: "logs/source.log"
    shell: "touch {{output}}"

rule point:
    input: "source.txt"
    output: "out/{{i}}.txt"
    log: "logs/{{i}}.log"
    benchmark: "benchmarks/{{i}}.tsv"
    params: state="out/{{i}}.state"
    resources: mem_mb=8000, runtime=240
    script: "touch.py"
"""


def floor_time(jobs, quiet, repeats):
    with tempfile.TemporaryDirectory() as tmp:
        snakefile = Path(tmp) / "Snakefile"
        snakefile.write_text(FLOOR_SNAKEFILE.format(jobs=jobs - 2))
        (Path(tmp) / "touch.py").write_text("open(snakemake.output[0], 'w').close()\n")
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run(SNAKEMAKE + ["-n", "-s", str(snakefile), "-d", tmp, *quiet], capture_output=True,
                           check=True)
            runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def planned_jobs(output):
    match = re.search(r"^total\s+(\d+)", output, flags=re.MULTILINE)
    if not match:
        raise SystemExit(f"no job count in the dry-run's output:\n{output[-3000:]}")
    return int(match.group(1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each command; the median is printed")
    args = parser.parse_args(argv)
    if (ROOT / "results").exists():
        print("note: results/ exists, so the dry-runs below also check its files' timestamps")

    python, _ = median_time([sys.executable, "-c", "pass"], args.repeats)
    planning, _ = median_time([sys.executable, "-c", PLANNING_IMPORTS], args.repeats)
    heavy, _ = median_time([sys.executable, "-c", "import torch, torchvision, matplotlib.pyplot, statsmodels.api"],
                           args.repeats)
    print(f"python start-up                                {python:6.2f} s")
    print(f"python + the planning modules                  {planning:6.2f} s  ({planning - python:+.2f} s)")
    print(f"python + torch, torchvision, matplotlib, statsmodels (not imported when planning) "
          f"{heavy:6.2f} s  ({heavy - python:+.2f} s)")
    failed = False
    floors = {}
    for name, (extra, target) in CONFIGS.items():
        seconds, output = median_time(SNAKEMAKE + ["-n", *extra], args.repeats)
        jobs = planned_jobs(output)
        quiet = extra[extra.index("--quiet"):] if "--quiet" in extra else []
        key = (jobs, tuple(quiet))
        if key not in floors:
            floors[key] = floor_time(jobs, quiet, args.repeats)
        floor = floors[key]
        verdict = "ok" if seconds <= target else "OVER TARGET"
        failed |= seconds > target
        print(f"snakemake -n, {name:22s} {seconds:6.2f} s  {jobs:6d} jobs  "
              f"(target <= {target:g} s: {verdict}; {1000 * seconds / jobs:.2f} ms per job)")
        print(f"  Snakemake's floor: as many jobs of one static script rule    {floor:6.2f} s  "
              f"(ours {seconds / floor:.2f}x the floor)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
