"""Benchmark: our logistic-regression probe against scikit-learn's sweep, side by side on the same features.

The reference is how peers run the paper's protocol (ssl-transfer): scikit-learn's LogisticRegression
(lbfgs, max_iter=1000, tol=1e-4, warm_start=True) fitted for each of the same 45 penalties (C = 1/penalty,
largest penalty first), the best on validation refit on train+val and scored on test. Both get the same
standardised features and the same number of threads. The reference runs in float64, as scikit-learn's
lbfgs always did when ssl-transfer was written (it converted its input; 1.9 computes in the dtype it is
given), and in float32, what scikit-learn 1.9 does with the features as the workflow stores them; by default
both are timed. Prints the wall times, the ratios, the test accuracies and the chosen penalties.

    python benchmarks/probe_vs_sklearn.py                      # 20,000 x 1,024, 100 classes
    python benchmarks/probe_vs_sklearn.py --features F.h5      # any features file of the workflow
    python benchmarks/probe_vs_sklearn.py --sklearn-dtype      # ours only
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from transferstudy import metrics
from transferstudy.transfer import probe
from transferstudy.io import read_split_file


def synthetic_features(train, val, test, dim, classes, seed):
    """Penultimate-like features: non-negative, correlated, of low effective rank, classes overlapping.

    A 64-dimensional latent class structure is passed through a random ReLU layer of width ``dim``.
    """
    rng = np.random.default_rng(seed)
    latent = 64
    centers = rng.normal(0, 0.3, (classes, latent))
    mixing = rng.normal(0, 1 / np.sqrt(latent), (dim, latent))
    bias = rng.normal(0, 0.5, dim)
    splits = {}
    for split, n in (("train", train), ("val", val), ("test", test)):
        labels = rng.permutation(np.arange(n) % classes)
        z = centers[labels] + rng.normal(0, 1, (n, latent))
        x = np.maximum(z @ mixing.T + bias, 0) + rng.normal(0, 0.05, (n, dim))
        splits[split] = {"features": x.astype(np.float32), "labels": labels}
    return splits


def standardize(x_fit, *others, dtype):
    """Standardised in float64 (as ours, on the fitting split's statistics), then given in ``dtype``."""
    x_fit = x_fit.astype(np.float64)
    mean, std = x_fit.mean(0), x_fit.std(0, ddof=1)
    std = np.where(std > 0, std, 1.0)
    return [((x - mean) / std).astype(dtype) for x in (x_fit, *others)]


def sklearn_protocol(splits, num_penalties, penalty_min, penalty_max, dtype):
    """The reference sweep; returns (test accuracy, chosen penalty, total iterations, non-converged fits)."""
    x_train, x_val = standardize(splits["train"]["features"], splits["val"]["features"], dtype=dtype)
    y_train, y_val = splits["train"]["labels"], splits["val"]["labels"]
    clf = LogisticRegression(solver="lbfgs", max_iter=1000, tol=1e-4, warm_start=True)
    scores, iterations, not_converged = [], 0, 0
    penalties = probe.penalty_grid(penalty_min, penalty_max, num_penalties)
    for penalty in penalties:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.set_params(C=1 / penalty).fit(x_train, y_train)
        not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
        iterations += int(clf.n_iter_.max())
        scores.append(metrics.top1(y_val, clf.decision_function(x_val)))
    chosen = penalties[int(np.argmax(scores))]
    x_all = np.concatenate([splits["train"]["features"], splits["val"]["features"]])
    x_all, x_test = standardize(x_all, splits["test"]["features"], dtype=dtype)
    final = LogisticRegression(solver="lbfgs", max_iter=1000, tol=1e-4, C=1 / chosen)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        final.fit(x_all, np.concatenate([y_train, y_val]))
    not_converged += any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return metrics.top1(splits["test"]["labels"], final.decision_function(x_test)), chosen, iterations, not_converged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--features", help="a features HDF5 file instead of synthetic features")
    parser.add_argument("--train", type=int, default=20_000)
    parser.add_argument("--val", type=int, default=5_000)
    parser.add_argument("--test", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--num-penalties", type=int, default=45)
    parser.add_argument("--penalty-min", type=float, default=1e-6)
    parser.add_argument("--penalty-max", type=float, default=1e5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--no-whiten", dest="whiten", action="store_false", help="solve over standardised features")
    parser.add_argument("--sklearn-dtype", nargs="*", default=["float32", "float64"], choices=["float32", "float64"],
                        help="precision(s) in which to run the reference; none: time ours only")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.features:
        splits, attrs = read_split_file(args.features, ("features", "labels"))
        classes = int(attrs["num_classes"])
    else:
        splits = synthetic_features(args.train, args.val, args.test, args.dim, args.classes, args.seed)
        classes = args.classes
    sizes = {s: splits[s]["features"].shape for s in splits}
    print(f"features: {sizes}, {classes} classes, {args.num_penalties} penalties "
          f"{args.penalty_max:g}..{args.penalty_min:g}, {args.threads} threads, device {args.device}")
    grid = {"num_penalties": args.num_penalties, "penalty_min": args.penalty_min, "penalty_max": args.penalty_max}

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        started = time.perf_counter()
        _, ours = probe.probe_arrays(splits, classes, False, "top1", device=args.device,
                                     solver={"dtype": args.dtype, "whiten": args.whiten, **grid})
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        ours_seconds = time.perf_counter() - started
        ours_iterations = sum(g["iterations"] for g in ours["grid"])
        print(f"ours     {ours_seconds:9.2f} s  test top-1 {100 * ours['value']:.2f}%  chosen penalty "
              f"{ours['chosen_penalty']:.3g}  path iterations {ours_iterations}  not converged {ours['not_converged']}")
        for dtype in args.sklearn_dtype:
            started = time.perf_counter()
            sk_test, sk_chosen, sk_iterations, sk_not_converged = sklearn_protocol(splits, dtype=dtype, **grid)
            sk_seconds = time.perf_counter() - started
            print(f"sklearn {dtype} {sk_seconds:9.2f} s  test top-1 {100 * sk_test:.2f}%  chosen penalty "
                  f"{sk_chosen:.3g}  path iterations {sk_iterations}  not converged {sk_not_converged}")
            print(f"  speed-up (sklearn {dtype} time / ours): {sk_seconds / ours_seconds:.1f}x; test top-1 "
                  f"difference (ours - sklearn): {100 * (ours['value'] - sk_test):+.2f} points", flush=True)


if __name__ == "__main__":
    main()
