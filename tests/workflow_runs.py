"""Running this checkout's workflow from tests: the repository, the tiny study's config, Snakemake in a
subprocess, and the job counts it prints."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "tests" / "config" / "tiny.yaml"


def snakemake_executable():
    beside_python = Path(sys.executable).with_name("snakemake")
    return str(beside_python) if beside_python.exists() else shutil.which("snakemake")


def _snakemake_command(args, workdir, configfile, env, root=ROOT):
    cmd = [snakemake_executable(), "--snakefile", str(root / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), *args]
    return cmd, {**(env or os.environ), "PYTHONUNBUFFERED": "1"}


def job_counts(output):
    """``{rule: jobs}`` from the "Job stats" table Snakemake prints for a run or a dry-run."""
    table = output[output.index("Job stats"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def run_snakemake(*args, workdir, configfile=TINY_CONFIG, timeout=600, env=None, root=ROOT):
    """Run the workflow of the checkout ``root`` (this repository) in ``workdir`` from that root (where
    `--profile slurm` is found); returns the CompletedProcess (never raises)."""
    cmd, env = _snakemake_command(args, workdir, configfile, env, root)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root)


def start_snakemake(*args, workdir, output, configfile=TINY_CONFIG, env=None):
    """Like run_snakemake, in the background, with stdout and stderr going to the file ``output`` (a pipe
    nobody reads would block it): the Popen."""
    cmd, env = _snakemake_command(args, workdir, configfile, env)
    with open(output, "w") as sink:
        return subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
