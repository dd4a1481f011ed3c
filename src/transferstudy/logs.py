"""Send a stage's progress and errors to one log file (the workflow gives each job its own)."""

from __future__ import annotations

import atexit
import logging
import sys
import time
from pathlib import Path


def log_to(path, level=logging.INFO, requested=None):
    """Route ``logging`` and stderr (tracebacks, warnings) to ``path``, line-buffered. ``requested``: the job's
    resources (``mem_mb``, ``runtime`` in minutes, as the cost plan asked for them, and Snakemake's ``attempt``):
    logged now, and set against what the job used when it ends, with a warning where it used more (the plan's
    estimate was short). A retried job (attempt 2 or more) says so: on a cluster, an attempt killed at its
    limit is what a short estimate looks like. Snakemake deletes a job's log before each attempt, so the failed
    attempt's own account is the scheduler's log of it (SLURM: ``.snakemake/slurm_logs/``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    stream = open(path, "w", buffering=1)
    sys.stderr = stream
    logging.basicConfig(stream=stream, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)
    logging.captureWarnings(True)
    if requested is not None:
        _report_usage(getattr(requested, "mem_mb", None), getattr(requested, "runtime", None),
                      int(getattr(requested, "attempt", 1)))
    return stream


def _status_mb(field):
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MB; None where /proc does not say."""
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.is_file() else []
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith(field + ":")), None)


def resident_mb():
    """This process's resident memory now in MB; 0 where /proc does not say."""
    return _status_mb("VmRSS") or 0.0


def peak_resident_mb():
    """This process's peak resident memory in MB: /proc's VmHWM (Linux carries a parent's ``ru_maxrss`` across
    the exec that started a job), else ``ru_maxrss``."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _report_usage(mem_mb, runtime, attempt):
    log = logging.getLogger("transferstudy.resources")
    log.info("requested: %s MB, %s min (attempt %d)", mem_mb, runtime, attempt)
    if attempt > 1:
        log.warning("attempt %d: the previous attempt did not finish. On a cluster, one killed at its memory or time "
                    "limit means the cost plan's estimate was short (the scheduler's log of it says which; SLURM: "
                    ".snakemake/slurm_logs/): this attempt requests %d x the estimate times cost.safety_factor",
                    attempt, attempt)
    started = time.monotonic()

    def report():
        used_mb, used_s = peak_resident_mb(), time.monotonic() - started
        log.info("used: peak %.0f MB of %s MB requested, %.1f s of %s min", used_mb, mem_mb, used_s, runtime)
        if (mem_mb and used_mb > mem_mb) or (runtime and used_s > 60 * runtime):
            log.warning("this job used more than it requested: the cost plan's estimate (times "
                        "cost.safety_factor) was short; `transferstudy calibrate` on this machine measures it")

    atexit.register(report)
