"""Import the workflow's own library (src/transferstudy) in every job, whatever environment runs it: the
project's venv (where it is installed in editable mode, the same files) or a conda environment built from
envs/transferstudy.yaml, which holds only third-party packages. Snakemake puts this directory on the path of
every script it runs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
