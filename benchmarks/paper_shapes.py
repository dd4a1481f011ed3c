"""Rehearsal: the probe and the features files at the paper's largest shapes, on synthetic data of the real size.

``probe SHAPE``: features of a paper dataset's split sizes at NASNet-A Large's width (4,032) are written to an
HDF5 features file as the features step writes them (seconds, bytes), read back (seconds), and probed by
``transferstudy probe`` in a fresh process, as a job runs it: wall time, iterations over the 45-penalty path
and the refit, and the process's peak resident memory against the bytes of the features it reads. With
``--sklearn-grid MAX MIN NUM``, ours and scikit-learn's float32 sweep (benchmarks/probe_vs_sklearn.py's
reference) are then timed side by side in this process on that log-spaced grid, a part of the 45 penalties
(scikit-learn's sweep of all 45 at these shapes takes hours on 2 cores).

``scaling``: the probe's time over a small sweep of N (training rows), D (dimensions) and C (classes), one
varied at a time, and the exponent of each (least squares on log time against log size).

    python benchmarks/paper_shapes.py probe food101 --sklearn-grid 1e5 1e1 3
    python benchmarks/paper_shapes.py probe sun397
    python benchmarks/paper_shapes.py probe voc2007
    python benchmarks/paper_shapes.py scaling
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from probe_vs_sklearn import sklearn_protocol, synthetic_features

# Train, val (the study's val_fraction 0.2 of train where a dataset has no official one) and test sizes and
# classes of the paper's largest datasets (transferstudy.data.official.PUBLISHED_SIZES), at NASNet-A Large's
# penultimate width.
SHAPES = {
    "food101": (60_600, 15_150, 25_250, 101, False),
    "sun397": (15_880, 3_970, 19_850, 397, False),
    "voc2007": (2_501, 2_510, 4_952, 20, True),
}
WIDTH = 4032

CHILD = """
import json, sys, time, torch
torch.set_num_threads({threads})
from transferstudy import logs
from transferstudy.transfer import probe
baseline = logs.resident_mb()
started = time.perf_counter()
result = probe.run_probe(sys.argv[1], solver={solver})
print(json.dumps({{"seconds": time.perf_counter() - started, "peak_mb": logs.peak_resident_mb(),
                  "baseline_mb": baseline, "result": result}}))
"""


def multilabel_features(train, val, test, dim, classes, seed):
    """Multi-label features: each image has one to three of the classes; the latent is their centres' sum."""
    rng = np.random.default_rng(seed)
    latent = 64
    centers = rng.normal(0, 0.5, (classes, latent))
    mixing = rng.normal(0, 1 / np.sqrt(latent), (dim, latent))
    bias = rng.normal(0, 0.5, dim)
    splits = {}
    for split, n in (("train", train), ("val", val), ("test", test)):
        labels = np.zeros((n, classes), np.int64)
        labels[np.arange(n), np.arange(n) % classes] = 1  # every class present in every split
        extra = rng.integers(0, classes, (n, 2))
        keep = rng.random((n, 2)) < 0.4
        for column in range(2):
            labels[np.flatnonzero(keep[:, column]), extra[keep[:, column], column]] = 1
        z = labels @ centers + rng.normal(0, 1, (n, latent))
        x = np.maximum(z @ mixing.T + bias, 0) + rng.normal(0, 0.05, (n, dim))
        splits[split] = {"features": x.astype(np.float32), "labels": labels}
    return splits


def features_file(path, splits, name, classes, multilabel):
    """Written as the features step writes them; returns (seconds, bytes of the file, bytes of the features)."""
    from transferstudy.io import write_split_file

    attrs = {"dataset": name, "model": "nasnet_a_large (synthetic)", "metric": "map11" if multilabel else "top1",
             "num_classes": classes, "multilabel": multilabel}
    started = time.perf_counter()
    write_split_file(path, splits, attrs)
    seconds = time.perf_counter() - started
    features_bytes = sum(s["features"].nbytes for s in splits.values())
    return seconds, path.stat().st_size, features_bytes


def probe_in_process(path, threads, solver=None):
    """``run_probe`` in a fresh interpreter, as a job runs it; its JSON line (seconds, peak and baseline MB)."""
    code = CHILD.format(threads=threads, solver=repr(solver))
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def probe_shape(args):
    from transferstudy.io import read_split_file

    train, val, test, classes, multilabel = SHAPES[args.shape]
    make = multilabel_features if multilabel else synthetic_features
    splits = make(train, val, test, args.dim, classes, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.shape}.h5"
        write_seconds, file_bytes, features_bytes = features_file(path, splits, args.shape, classes, multilabel)
        started = time.perf_counter()
        read_split_file(path, ("features", "labels"))
        read_seconds = time.perf_counter() - started
        print(f"{args.shape}: train/val/test {train:,}/{val:,}/{test:,} x {args.dim:,}, {classes} classes"
              f"{' (multi-label)' if multilabel else ''}, {args.threads} threads")
        print(f"features file: {file_bytes / 1e6:,.0f} MB ({features_bytes / 1e6:,.0f} MB of features); "
              f"written in {write_seconds:.1f} s, read in {read_seconds:.1f} s")
        child = probe_in_process(path, args.threads)
        result = child["result"]
        path_iterations = sum(g["iterations"] for g in result["grid"])
        print(f"probe: {child['seconds']:.1f} s, {path_iterations} path iterations + {result['refit']['iterations']} "
              f"refit, not converged {result['not_converged']}, test {result['metric']} {result['value']:.4f}")
        print(f"peak resident {child['peak_mb']:,.0f} MB = {child['peak_mb'] * 2**20 / features_bytes:.2f}x the "
              f"features (interpreter and torch before reading: {child['baseline_mb']:,.0f} MB)", flush=True)
    if args.sklearn_grid:
        side_by_side(splits, classes, multilabel, args)


def side_by_side(splits, classes, multilabel, args):
    """Ours and scikit-learn's float32 sweep on the ``--sklearn-grid`` penalties, in this process."""
    import torch
    from threadpoolctl import threadpool_limits

    from transferstudy.transfer import probe

    if multilabel:
        print("side by side: scikit-learn's reference is single-label; skipped")
        return
    penalty_max, penalty_min, num = args.sklearn_grid
    grid = {"num_penalties": int(num), "penalty_min": penalty_min, "penalty_max": penalty_max}
    subset = probe.penalty_grid(penalty_min, penalty_max, int(num))
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        started = time.perf_counter()
        _, ours = probe.probe_arrays(splits, classes, False, "top1", solver=grid)
        ours_seconds = time.perf_counter() - started
        started = time.perf_counter()
        sk_test, sk_chosen, sk_iterations, sk_not_converged = sklearn_protocol(splits, dtype="float32", **grid)
        sk_seconds = time.perf_counter() - started
    print(f"side by side on {len(subset)} penalties ({', '.join(f'{p:.3g}' for p in subset)}):")
    print(f"  ours            {ours_seconds:8.1f} s  test top-1 {100 * ours['value']:.2f}%  "
          f"{sum(g['iterations'] for g in ours['grid'])} path iterations  not converged {ours['not_converged']}")
    print(f"  sklearn float32 {sk_seconds:8.1f} s  test top-1 {100 * sk_test:.2f}%  {sk_iterations} path iterations"
          f"  not converged {sk_not_converged}")
    print(f"  speed-up (sklearn / ours): {sk_seconds / ours_seconds:.1f}x")


def scaling(args):
    """Probe time against N, D and C, each varied from a base point with the others held."""
    base = {"n": 8_000, "d": 1_024, "c": 100}
    sweeps = {"n": [4_000, 8_000, 16_000, 32_000], "d": [512, 1_024, 2_048, 4_032], "c": [25, 50, 100, 200]}
    print(f"probe time over 45 penalties, {args.threads} threads; base N={base['n']:,} (train; val N/4, test N/4), "
          f"D={base['d']:,}, C={base['c']}")
    with tempfile.TemporaryDirectory() as tmp:
        for key, values in sweeps.items():
            times, iterations = [], []
            for value in values:
                point = {**base, key: value}
                splits = synthetic_features(point["n"], point["n"] // 4, point["n"] // 4, point["d"], point["c"],
                                            args.seed)
                path = Path(tmp) / "features.h5"
                features_file(path, splits, "synthetic", point["c"], False)
                child = probe_in_process(path, args.threads)
                times.append(child["seconds"])
                iterations.append(sum(g["iterations"] for g in child["result"]["grid"]))
                print(f"  {key.upper()}={value:>6,}: {child['seconds']:7.1f} s, {iterations[-1]} path iterations",
                      flush=True)
            exponent = np.polyfit(np.log(values), np.log(times), 1)[0]
            per_iteration = np.polyfit(np.log(values), np.log(np.divide(times, iterations)), 1)[0]
            print(f"  time ~ {key.upper()}^{exponent:.2f} (per path iteration: ^{per_iteration:.2f})", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    commands = parser.add_subparsers(dest="command", required=True)
    shape = commands.add_parser("probe", help="the probe and its features file at one paper dataset's shape")
    shape.add_argument("shape", choices=sorted(SHAPES))
    shape.add_argument("--dim", type=int, default=WIDTH)
    shape.add_argument("--sklearn-grid", type=float, nargs=3, metavar=("MAX", "MIN", "NUM"),
                       help="time ours and scikit-learn's float32 sweep side by side on this log-spaced grid")
    commands.add_parser("scaling", help="the probe's time against N, D and C")
    args = parser.parse_args(argv)
    {"probe": probe_shape, "scaling": scaling}[args.command](args)


if __name__ == "__main__":
    main()
