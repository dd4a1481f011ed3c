"""Throughputs of a study's networks on the machine this runs on: the calibration a cost plan turns into times.

For each network, randomly initialised at the size the study runs it (no weights or data needed), in a process
of its own as a job would run it: images per second of a forward pass (evaluation mode, no gradients, as
feature extraction runs) and of a training step (forward, backward, SGD with Nesterov momentum), each timed
over a few batches after a warm-up one, and the memory each adds to the process (CUDA: torch's peak
allocation; CPU: the peak resident set above the process's before it built the network). Also: a job's start
(its imports) and its memory before it computes (``start_seconds``, ``base_mb``), the rate of the probe's
matrix products, and effective FLOP rates (``rates``, medians over the networks) for networks a plan meets
that were not timed.
"""

from __future__ import annotations

import logging
import multiprocessing
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ..logs import peak_resident_mb, resident_mb
from ..nets.costs import BACKWARD_PER_FORWARD, count_module
from ..nets.inference import MEMORY_FORMAT, precision, precision_label, require_device
from ..nets.network import final_linear
from ..nets.sources.registry import get_source
from .loop import sgd_nesterov

log = logging.getLogger(__name__)


def _capacity_mb(device):
    """The device's memory: the GPU's, or the host's (MemTotal)."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory / 2**20
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        return int(meminfo.read_text().split("MemTotal:")[1].split()[0]) / 1024
    return None


def _reset_peak(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:  # Linux: writing 5 to clear_refs resets the peak resident set (VmHWM) to the current one
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def _added_mb(device, start_mb):
    """The peak memory since the last reset above ``start_mb``: torch's allocations on a GPU, the resident set on
    a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_resident_mb() - start_mb


def _timed(step, repeats, device):
    """Seconds per call of ``step`` over ``repeats`` calls after one warm-up call."""
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def calibrate_network(model, input_size, *, batch_size, train_batch_size, device, repeats=3, name="network",
                      start_mb=0.0):
    """One network's counted cost and measured throughputs (a dict, the calibration file's entry). Its peak
    memories are what the network and its computation add to ``start_mb`` (the host's resident memory before it
    was built; on a GPU, torch's allocations)."""
    cost = count_module(model, input_size, name)
    model = model.to(device, memory_format=MEMORY_FORMAT)
    head = model.get_submodule(final_linear(model))
    num_classes = head.out_features

    def batch(size):
        return torch.randn(size, 3, input_size, input_size, device=device).contiguous(memory_format=MEMORY_FORMAT)

    images = batch(batch_size)

    # The precision the jobs use: bfloat16 autocast on a GPU, float32 on a CPU (nets.inference.precision).
    amp_dtype = precision(device, None)

    def forward():
        with torch.no_grad(), torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            model(images)

    _reset_peak(device)
    model.eval()
    forward_seconds = _timed(forward, repeats, device)
    forward_peak = _added_mb(device, start_mb)
    optimizer = sgd_nesterov(model, lr=1e-3, momentum=0.9, weight_decay=1e-4)
    train_images = batch(train_batch_size)
    labels = torch.randint(num_classes, (train_batch_size,), device=device)

    def train():
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            output = model(train_images)
        output = output[0] if isinstance(output, tuple) else output
        torch.nn.functional.cross_entropy(output.float(), labels).backward()
        optimizer.step()

    _reset_peak(device)
    model.train()
    train_seconds = _timed(train, repeats, device)
    counted = {key: getattr(cost, key) for key in ("input_size", "params", "features", "forward_flops", "saved_bytes")}
    return {**counted, "model": name, "batch_size": batch_size, "train_batch_size": train_batch_size,
            "precision": precision_label(amp_dtype), "forward_images_per_s": batch_size / forward_seconds,
            "train_images_per_s": train_batch_size / train_seconds, "forward_peak_mb": forward_peak,
            "train_peak_mb": _added_mb(device, start_mb)}


def matmul_rate(device, n=8192, d=1024, c=100, repeats=5):
    """FLOP/s of the probe's products: [N, D] features times [D, C] weights, and the gradient's transpose."""
    features = torch.randn(n, d, device=device)
    weights = torch.randn(d, c, device=device)
    seconds = _timed(lambda: features.T @ (features @ weights), repeats, device)
    return 4 * n * d * c / seconds


def job_start(module, device="cpu"):
    """A job's start, measured in a fresh Python that imports ``module`` (a stage's library modules, with torch)
    and, on a GPU, makes its CUDA context: its wall seconds and its peak resident memory (MB)."""
    context = "import torch; torch.zeros(1, device='cuda'); " if torch.device(device).type == "cuda" else ""
    code = f"import {module}; {context}from transferstudy.logs import peak_resident_mb; print(peak_resident_mb())"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - started, float(done.stdout.strip())


def _network_in_process(name, spec, input_size, device, batch_size, train_batch_size, repeats, threads):
    """``calibrate_network`` of one network, in a process of its own (run by ``calibrate``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device)
    start_mb = resident_mb() if device.type == "cpu" else 0.0
    model, native = get_source(spec).skeleton(spec)
    size = input_size or native
    started = time.perf_counter()
    entry = calibrate_network(model, size, batch_size=batch_size, train_batch_size=train_batch_size, device=device,
                              repeats=repeats, name=name, start_mb=start_mb)
    log.info("%s at %d px: %.1f images/s forward, %.1f training (%.1f s)", name, size,
             entry["forward_images_per_s"], entry["train_images_per_s"], time.perf_counter() - started)
    return entry


def calibrate(networks, *, device="cpu", batch_size=64, train_batch_size=32, repeats=3, threads=None, parallel=1,
              job_modules=None):
    """A calibration of ``networks`` (``{name: (spec, input_size or None)}``) on ``device`` with ``threads`` per
    process (the study's per-job threads; default torch's): the calibration file's content (a dict).

    Each network is timed in fresh processes, as a job runs it (its one-time allocations included, none left
    from another network): ``parallel`` of them at once, as many as the jobs that will share the machine (a
    workstation running ``--cores N`` jobs of one thread: N; a cluster node a job has to itself: 1), their mean
    rate recorded. ``job_modules`` (``{stage: library module}``): each stage's start and memory before it
    computes (``start_seconds``, ``base_mb``), measured in a fresh Python that imports it."""
    require_device(device)
    starts = {stage: job_start(module, device) for stage, module in (job_modules or {}).items()}
    spawn = multiprocessing.get_context("spawn")
    entries = {}
    for name, (spec, input_size) in networks.items():
        with ProcessPoolExecutor(parallel, mp_context=spawn) as pool:
            runs = [pool.submit(_network_in_process, name, spec, input_size, device, batch_size, train_batch_size,
                                repeats, threads) for _ in range(parallel)]
            measured = [run.result() for run in runs]
        entries[name] = {**measured[0], **{key: statistics.mean(entry[key] for entry in measured)
                                           for key in ("forward_images_per_s", "train_images_per_s")}}
        for key in ("forward_peak_mb", "train_peak_mb"):
            entries[name][key] = max(entry[key] for entry in measured)
    per_image = {"forward": 1, "train": 1 + BACKWARD_PER_FORWARD}  # forward passes per image
    rates = {kind: statistics.median(entry[f"{kind}_images_per_s"] * entry["forward_flops"] * passes
                                     for entry in entries.values()) for kind, passes in per_image.items()}
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device)
    return {"device": device.type, "host": platform.node(), "torch": torch.__version__, "threads": threads,
            "parallel": parallel, "start_seconds": {stage: start[0] for stage, start in starts.items()},
            "base_mb": {stage: start[1] for stage, start in starts.items()}, "device_memory_mb": _capacity_mb(device),
            "rates": {**rates, "probe": matmul_rate(device)}, "networks": entries}
