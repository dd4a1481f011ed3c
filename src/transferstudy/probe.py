"""Linear probe: L2-regularised logistic regression on fixed features, the paper's protocol.

For each penalty on a log-spaced grid (paper: 45 values from 1e-6 to 1e5), fit full-batch L-BFGS on
the training split, warm-started from the previous (larger) penalty's solution, and score the
validation split with the dataset's metric. The best penalty is refit on train+val and scored on test.

The objective matches scikit-learn's ``LogisticRegression(C=1/penalty)`` scaled by 1/N:
``mean_i loss_i + penalty / (2 N) * ||W||^2`` (bias unpenalised) over standardised features,
multinomial cross-entropy for single-label datasets and one binary logistic regression per class for
multi-label ones. A fit has converged when the largest absolute gradient entry is at most ``tol``
(scikit-learn's criterion).

    python -m transferstudy.probe FEATURES.h5 --out RESULT.json
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import metrics
from .io import read_split_file, write_json
from .provenance import library_versions, sha256_file

log = logging.getLogger(__name__)

DEFAULT_SOLVER = {
    "penalty_min": 1e-6,
    "penalty_max": 1e5,
    "num_penalties": 45,
    "max_iter": 1000,
    "tol": 1e-4,
    "history_size": 10,
    "dtype": "float32",
    "device": "cpu",
    "standardize": True,
}


def penalty_grid(penalty_min, penalty_max, num_penalties):
    """Log-spaced penalties, largest first (the order of the warm-started path)."""
    return np.logspace(np.log10(penalty_max), np.log10(penalty_min), num_penalties)


@dataclass
class FitInfo:
    penalty: float
    iterations: int
    grad_norm: float
    converged: bool
    loss: float


class LogisticProblem:
    """The regularised logistic objective over one fitting set; parameters are [W | b] (C x (D+1))."""

    def __init__(self, x, y, num_classes, multilabel, *, standardize=True):
        dtype, device = x.dtype, x.device
        self.mean = x.mean(0, keepdim=True) if standardize else torch.zeros_like(x[:1])
        std = x.std(0, keepdim=True) if standardize else torch.ones_like(x[:1])
        self.std = torch.where(std > 0, std, torch.ones_like(std))
        self.x = self.transform(x)
        self.n = len(x)
        self.multilabel = multilabel
        if multilabel:
            self.targets = y.to(dtype)
        else:
            self.targets = torch.zeros(self.n, num_classes, dtype=dtype, device=device)
            self.targets[torch.arange(self.n, device=device), y] = 1
        # 1 for weights, 0 for the unpenalised bias column.
        self.penalized = torch.ones(x.shape[1] + 1, dtype=dtype, device=device)
        self.penalized[-1] = 0
        self.penalty = 0.0

    def transform(self, x):
        """Standardised features of any split, with the bias column appended."""
        xs = (x - self.mean) / self.std
        return torch.cat([xs, torch.ones(len(xs), 1, dtype=xs.dtype, device=xs.device)], 1)

    def zeros(self):
        return torch.zeros(self.targets.shape[1], self.x.shape[1], dtype=self.x.dtype, device=self.x.device)

    def data_term(self, logits):
        """Mean data loss and the residual d(loss)/d(logits) * N, from the logits alone (no matmul)."""
        if self.multilabel:
            loss = (torch.nn.functional.softplus(logits) - self.targets * logits).sum() / self.n
            return loss, torch.sigmoid(logits) - self.targets
        # One exp pass gives both the log-sum-exp and the softmax (torch.logsumexp alone costs a matmul's time).
        top = logits.max(1, keepdim=True).values
        exp = torch.exp(logits - top)
        total = exp.sum(1, keepdim=True)
        loss = (top + torch.log(total)).sum() / self.n - (logits * self.targets).sum() / self.n
        return loss, exp / total - self.targets

    def gradient(self, residual, theta):
        return residual.T @ self.x / self.n + self.penalty / self.n * (theta * self.penalized)

    def __call__(self, theta):
        """Loss and gradient at ``theta``."""
        loss, residual = self.data_term(self.x @ theta.T)
        weights = theta * self.penalized
        loss = loss + self.penalty / (2 * self.n) * (weights * weights).sum()
        return loss.item(), self.gradient(residual, theta)

    def preconditioner(self):
        """Diagonal inverse-curvature guess for the first step: data curvature ~1/4, plus the penalty's."""
        return 1.0 / (0.25 + self.penalty / self.n * self.penalized)


class _Line:
    """The objective along theta + t * direction. The logits move linearly, so after one matmul for
    X direction^T each trial step costs O(N C); only the accepted step's gradient needs another matmul."""

    def __init__(self, problem, theta, logits, direction):
        self.problem, self.theta, self.logits, self.direction = problem, theta, logits, direction
        self.moves = problem.x @ direction.T
        w, d = theta * problem.penalized, direction * problem.penalized
        self.ww, self.wd, self.dd = (w * w).sum().item(), (w * d).sum().item(), (d * d).sum().item()
        self.scale = problem.penalty / problem.n

    def __call__(self, step):
        """Loss and slope at ``step``; keeps what the gradient at that step needs."""
        logits = self.logits + step * self.moves
        data_loss, residual = self.problem.data_term(logits)
        loss = data_loss.item() + self.scale / 2 * (self.ww + 2 * step * self.wd + step * step * self.dd)
        slope = (residual * self.moves).sum().item() / self.problem.n + self.scale * (self.wd + step * self.dd)
        self.last = (logits, residual)
        return loss, slope


def minimize_lbfgs(problem, theta, *, max_iter, tol, history_size, history=None):
    """L-BFGS from ``theta`` (updated in place) until the gradient criterion or ``max_iter`` is met.

    ``history`` (a list of curvature pairs, updated in place) lets a caller start from an earlier fit's
    quasi-Newton memory, as ``regularization_path`` does.

    Converged means max |gradient| <= ``tol``, scikit-learn's criterion. The line search also accepts
    Hager and Zhang's approximate Wolfe conditions: near the optimum a float32 loss cannot resolve the
    decrease the Armijo test asks for, but directional derivatives stay accurate, so the search keeps
    making progress where a loss-based search (torch.optim.LBFGS) stalls.
    """
    logits = problem.x @ theta.T
    data_loss, residual = problem.data_term(logits)
    weights = theta * problem.penalized
    loss = data_loss.item() + problem.penalty / (2 * problem.n) * (weights * weights).sum().item()
    grad = problem.gradient(residual, theta)
    h0 = problem.preconditioner()
    history = [] if history is None else history
    iterations = 0
    grad_norm = grad.abs().max().item()
    while grad_norm > tol and iterations < max_iter:
        direction = _two_loop(grad, history, h0)
        if (grad * direction).sum().item() >= 0:  # not a descent direction: restart from the preconditioned gradient
            history.clear()
            direction = -h0 * grad
        line = _Line(problem, theta, logits, direction)
        step, loss = _line_search(line, loss, (grad * direction).sum().item())
        if step is None:
            break
        s = step * direction
        theta += s
        logits, residual = line.last
        new_grad = problem.gradient(residual, theta)
        y = new_grad - grad
        sy = (s * y).sum().item()
        if sy > 1e-12 * (y * y).sum().item():
            history.append((s, y, 1.0 / sy))
            del history[:-history_size]
        grad = new_grad
        grad_norm = grad.abs().max().item()
        iterations += 1
    return FitInfo(problem.penalty, iterations, grad_norm, grad_norm <= tol, loss)


def _two_loop(grad, history, h0):
    """The L-BFGS direction -H grad, with H0 = h0 scaled by the latest curvature pair."""
    q = grad.clone()
    alphas = []
    for s, y, rho in reversed(history):
        alpha = rho * (s * q).sum()
        q -= alpha * y
        alphas.append(alpha)
    scale = h0
    if history:
        s, y, _ = history[-1]
        scale = h0 * ((s * y).sum() / (y * h0 * y).sum())
    q *= scale
    for (s, y, rho), alpha in zip(history, reversed(alphas)):
        q += (alpha - rho * (y * q).sum()) * s
    return -q


def _line_search(line, loss0, slope0, c1=1e-4, c2=0.9, max_evals=40):
    """Bracketing secant search for a (weak) Wolfe step on ``line``; returns (step, loss) or Nones."""
    noise = 1e-6 * abs(loss0) + 1e-12
    lo, slope_lo, hi, slope_hi = 0.0, slope0, None, None
    step = 1.0
    for _ in range(max_evals):
        loss, slope = line(step)
        curvature = slope >= c2 * slope0
        armijo = loss <= loss0 + c1 * step * slope0
        approximate = loss <= loss0 + noise and slope <= (2 * c1 - 1) * slope0
        if curvature and (armijo or approximate):
            return step, loss
        if slope < 0 and loss <= loss0 + noise:
            lo, slope_lo = step, slope
        else:
            hi, slope_hi = step, slope
        if hi is None:
            step *= 4.0
        else:
            width = hi - lo
            secant = lo - slope_lo * width / (slope_hi - slope_lo) if slope_hi > slope_lo else lo + width / 2
            step = min(max(secant, lo + 0.1 * width), hi - 0.1 * width)
    return None, None


def check_features(path, splits, num_classes, multilabel):
    """Refuse features a probe cannot trust, naming the file, split and problem."""
    for split, arrays in splits.items():
        feats, labels = arrays["features"], arrays["labels"]
        bad = np.count_nonzero(~np.isfinite(feats))
        if bad:
            raise ValueError(f"{path}: split '{split}' has {bad} NaN/inf feature values")
        if multilabel:
            if labels.ndim != 2 or labels.shape[1] != num_classes:
                raise ValueError(f"{path}: split '{split}' multi-label labels must be [N, {num_classes}] 0/1, "
                                 f"got shape {labels.shape}")
            if split == "train":
                missing = np.flatnonzero(labels.sum(0) == 0)
                if len(missing):
                    raise ValueError(f"{path}: split 'train' has no positive example of class(es) {missing.tolist()}")
        else:
            if labels.ndim != 1:
                raise ValueError(f"{path}: split '{split}' labels must be [N] class indices, got shape {labels.shape}")
            outside = labels[(labels < 0) | (labels >= num_classes)]
            if len(outside):
                raise ValueError(f"{path}: split '{split}' has labels outside [0, {num_classes}): "
                                 f"{sorted(set(outside.tolist()))[:10]}")
            missing = np.setdiff1d(np.arange(num_classes), labels)
            if len(missing):
                raise ValueError(f"{path}: class(es) {missing.tolist()[:20]} missing from split '{split}'")



def shift_curvature_pairs(history, delta, penalized):
    """Carry L-BFGS curvature pairs over to a penalty changed by ``delta`` (already divided by N).

    The data term's curvature does not depend on the penalty and the penalty's is exactly ``delta`` on the
    weights, so y = grad change becomes y + delta * s on the weights. Pairs whose curvature would no longer
    be positive are dropped.
    """
    shifted = []
    for s, y, _ in history:
        y = y + delta * s * penalized
        sy = (s * y).sum().item()
        if sy > 0:
            shifted.append((s, y, 1.0 / sy))
    history[:] = shifted


def regularization_path(problem, penalties, val_features, val_labels, metric, **fit_options):
    """Fits from the largest penalty down, each scored on val; returns the grid records.

    Each fit starts from the previous solution (as scikit-learn's ``warm_start``) and, beyond it, from the
    previous fit's quasi-Newton memory corrected for the new penalty, which cuts the iterations per value.
    """
    theta = problem.zeros()
    grid = []
    history = []
    for penalty in penalties:
        shift_curvature_pairs(history, (float(penalty) - problem.penalty) / problem.n, problem.penalized)
        problem.penalty = float(penalty)
        info = minimize_lbfgs(problem, theta, history=history, **fit_options)
        val_scores = (val_features @ theta.T).cpu().numpy()
        grid.append({**asdict(info), "val_metric": metrics.score(metric, val_labels, val_scores)})
        if not info.converged:
            log.warning("penalty %.3g did not converge in %d iterations (max |grad| %.2e > tol %.0e)",
                        penalty, info.iterations, info.grad_norm, fit_options["tol"])
        log.info("penalty %.3g: val %s %.4f (%d iterations)", penalty, metric, grid[-1]["val_metric"],
                 info.iterations)
    return grid


def probe_arrays(splits, num_classes, multilabel, metric, **solver):
    """The protocol on in-memory ``{split: {"features", "labels"}}``: path on train scored on val, refit of
    the best penalty on train+val, scored on test. Returns the result without file provenance."""
    unknown = set(solver) - set(DEFAULT_SOLVER)
    if unknown:
        raise ValueError(f"probe: unknown solver option(s) {sorted(unknown)}; valid: {sorted(DEFAULT_SOLVER)}")
    solver = {**DEFAULT_SOLVER, **solver}
    dtype = {"float32": torch.float32, "float64": torch.float64}[solver["dtype"]]
    device = torch.device(solver["device"])
    x = {s: torch.as_tensor(splits[s]["features"], dtype=dtype, device=device) for s in splits}
    y = {s: torch.as_tensor(splits[s]["labels"], device=device) for s in splits}
    if not multilabel:
        y = {s: labels.long() for s, labels in y.items()}
    fit_options = {k: solver[k] for k in ("max_iter", "tol", "history_size")}

    problem = LogisticProblem(x["train"], y["train"], num_classes, multilabel, standardize=solver["standardize"])
    penalties = penalty_grid(solver["penalty_min"], solver["penalty_max"], solver["num_penalties"])
    grid = regularization_path(problem, penalties, problem.transform(x["val"]), splits["val"]["labels"], metric,
                               **fit_options)
    # Ties go to the larger penalty (earlier in the path): the simpler model.
    best = int(np.argmax([g["val_metric"] for g in grid]))
    chosen = grid[best]["penalty"]

    # Refit on train+val at the chosen penalty (standardised by train+val statistics), then score on test.
    refit_problem = LogisticProblem(torch.cat([x["train"], x["val"]]), torch.cat([y["train"], y["val"]]),
                                    num_classes, multilabel, standardize=solver["standardize"])
    refit_problem.penalty = chosen
    theta = refit_problem.zeros()
    refit = minimize_lbfgs(refit_problem, theta, **fit_options)
    if not refit.converged:
        log.warning("refit at penalty %.3g did not converge (max |grad| %.2e)", chosen, refit.grad_norm)
    test_scores = (refit_problem.transform(x["test"]) @ theta.T).cpu().numpy()
    test_metric = metrics.score(metric, splits["test"]["labels"], test_scores)
    log.info("chosen penalty %.3g (val %.4f); test %s %.4f", chosen, grid[best]["val_metric"], metric, test_metric)
    return {
        "setting": "logistic_regression",
        "metric": metric,
        "test_metric": test_metric,
        "chosen_penalty": chosen,
        "val_metric": grid[best]["val_metric"],
        "refit": asdict(refit),
        "grid": grid,
        "not_converged": sum(not g["converged"] for g in grid) + (not refit.converged),
        "sizes": {split: int(len(splits[split]["labels"])) for split in ("train", "val", "test")},
        "feature_dim": int(x["train"].shape[1]),
        "solver": solver,
    }


def run_probe(features_path, out_path=None, **solver):
    """The whole protocol on one features file; returns (and optionally writes) the result dict."""
    started = time.time()
    splits, attrs = read_split_file(features_path, ("features", "labels"))
    num_classes, multilabel, metric = int(attrs["num_classes"]), bool(attrs["multilabel"]), attrs["metric"]
    check_features(features_path, splits, num_classes, multilabel)
    result = {"model": attrs.get("model"), "dataset": attrs.get("dataset"),
              **probe_arrays(splits, num_classes, multilabel, metric, **solver)}
    result.update({
        "wall_seconds": round(time.time() - started, 3),
        "features": {"path": str(features_path), "sha256": sha256_file(features_path), "attrs": attrs},
        "versions": library_versions(),
    })
    if out_path is not None:
        write_json(out_path, result)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", help="features HDF5 (from transferstudy.features)")
    parser.add_argument("--out", required=True, help="result JSON")
    for key, default in DEFAULT_SOLVER.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)
    args = vars(parser.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    features, out = args.pop("features"), args.pop("out")
    run_probe(features, out, **args)


if __name__ == "__main__":
    main()
