"""What a job pays before it computes: each workflow script's library imports in a fresh interpreter, side by
side with the floors (Python's start-up, ``import torch``, and the ``snakemake.script`` import that unpickles a
script job's ``snakemake`` object), making an optimizer (torch.optim's against the training loop's own), and
Snakemake's own cost per job (a workflow of trivial script jobs).

Target (issue 18): each job type's import at most 1 s beyond what it cannot avoid; a job that computes with
torch cannot start faster than ``import torch``, so the figure that matters is the import beyond torch's.

    python benchmarks/job_imports.py [--repeats 5] [--jobs 20]

Run it on a quiet machine: each figure is the median of ``--repeats`` fresh interpreters.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
sys.path.insert(0, str(ROOT / "src"))

from transferstudy.provenance import imported_modules  # noqa: E402

PROBE = "import sys, json; {imports}; print(json.dumps('torch' in sys.modules))"


def timed_import(imports, repeats):
    """Median wall seconds of a fresh interpreter running ``imports``, and whether torch got imported."""
    seconds, torch_loaded = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports or "pass")], capture_output=True,
                              text=True, check=True, cwd=ROOT)
        seconds.append(time.perf_counter() - started)
        torch_loaded = json.loads(done.stdout)
    return statistics.median(seconds), torch_loaded


def script_imports(script):
    """The import statement of a workflow script's direct transferstudy imports."""
    modules = sorted(name for name in imported_modules(script, "") if name.count(".") >= 1
                     and not any(other.startswith(name + ".") for other in imported_modules(script, "")))
    return f"sys.path.insert(0, {str(ROOT / 'src')!r}); import " + ", ".join(modules) if modules else ""


def snakemake_per_job(jobs):
    """Seconds per trivial script job of Snakemake (1 core): (run of ``jobs`` jobs - run of 1 job) / (jobs - 1)."""
    def run(n):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "noop.py").write_text("open(snakemake.output[0], 'w').close()\n")
            (tmp / "Snakefile").write_text(textwrap.dedent(f"""\
                rule all:
                    input: expand("out/{{i}}", i=range({n}))
                rule noop:
                    output: "out/{{i}}"
                    script: "noop.py"
                """))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--quiet", "all", "--directory",
                            str(tmp), "--snakefile", str(tmp / "Snakefile"), "--workflow-profile", "none"],
                           capture_output=True, check=True)
            return time.perf_counter() - started

    return (run(jobs) - run(1)) / (jobs - 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=20, help="trivial jobs in the Snakemake overhead run")
    args = parser.parse_args(argv)

    python, _ = timed_import("", args.repeats)
    torch_floor, _ = timed_import("import torch", args.repeats)
    preamble, _ = timed_import("import snakemake.script", args.repeats)
    torchvision_ops, _ = timed_import("import torch, torchvision.ops", args.repeats)
    # Not an import of ours, but paid where a training job starts: torch.optim's optimizers import torch._dynamo
    # when made, which is why the training loop has its own NesterovSGD (the same steps).
    torch_optim, _ = timed_import("import torch; torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)",
                                  args.repeats)
    ours_sgd, _ = timed_import(f"sys.path.insert(0, {str(ROOT / 'src')!r}); import torch; "
                               "from transferstudy.train.loop import NesterovSGD; "
                               "NesterovSGD([{'params': [torch.zeros(1, requires_grad=True)], 'weight_decay': 0}], "
                               "lr=0.1, momentum=0.9)", args.repeats)
    print(f"floors (median of {args.repeats} fresh interpreters):")
    print(f"  python start-up              {python:6.2f} s")
    print(f"  import torch                 {torch_floor:6.2f} s")
    print(f"  import snakemake.script      {preamble:6.2f} s  (a script job's preamble)")
    print(f"  torch + torchvision.ops      {torchvision_ops:6.2f} s  (imports torch._dynamo; the crops' roi_align "
          "kernel is loaded without it)")
    print(f"  torch + torch.optim.SGD(...) {torch_optim:6.2f} s  (imports torch._dynamo)")
    print(f"  torch + our NesterovSGD(...) {ours_sgd:6.2f} s")
    print()
    print(f"{'script (job type)':<28} {'import':>7} {'beyond floor':>13}  floor")
    worst = 0.0
    for script in sorted(SCRIPTS.glob("[a-z]*.py")):
        seconds, uses_torch = timed_import(script_imports(script), args.repeats)
        floor = torch_floor if uses_torch else python
        worst = max(worst, seconds - floor)
        print(f"{script.stem:<28} {seconds:6.2f}s {seconds - floor:12.2f}s  {'torch' if uses_torch else 'python'}")
    print(f"\nworst import beyond its floor: {worst:.2f} s (target: at most 1 s)")
    per_job = snakemake_per_job(args.jobs)
    print(f"Snakemake, per trivial script job (1 core): {per_job:.2f} s, of which python start-up and the "
          f"preamble's import: {preamble:.2f} s")


if __name__ == "__main__":
    main()
