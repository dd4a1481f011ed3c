import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = ROOT / "tests" / "config" / "tiny.yaml"


def snakemake_executable():
    beside_python = Path(sys.executable).with_name("snakemake")
    return str(beside_python) if beside_python.exists() else shutil.which("snakemake")


def run_snakemake(*args, workdir, configfile=TINY_CONFIG, timeout=600):
    """Run the repository's workflow in ``workdir``; returns the CompletedProcess (never raises)."""
    cmd = [snakemake_executable(), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(configfile), *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def tiny_config():
    return TINY_CONFIG
