"""Linear probe: the paper's protocol of L2-regularised logistic regression on fixed features (the solver:
``transfer.logistic``).

For each penalty on a log-spaced grid (paper: 45 values from 1e-6 to 1e5), fit full-batch L-BFGS on
the training split, warm-started from the previous (larger) penalty's solution and quasi-Newton memory, and
score the validation split with the dataset's metric. The best penalty is refit on train+val and scored on
test. Fits that do not converge are reported, never silenced. ``run_probe`` runs the protocol on a features
file and writes its result JSON and test predictions.

    python -m transferstudy probe FEATURES.h5 --out RESULT.json
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import numpy as np
import torch

from .. import metrics
from ..config import ProbeSolver
from ..errors import InputError
from ..io import SPLIT_FILE_ATTRS, read_split_file, write_json, write_predictions
from ..provenance import library_versions, sha256_file
from ..results import TransferResult
from ..settings import LOGISTIC_REGRESSION
from .checks import check_features
from .logistic import LogisticProblem, evaluate, minimize_lbfgs, shift_curvature_pairs

log = logging.getLogger(__name__)

# Along the path, logits are updated incrementally (logits + step * X d); they are recomputed exactly after
# this many steps, which keeps their float32 rounding at the level of one fresh matmul's.
REEVALUATE_AFTER = 50


def penalty_grid(penalty_min, penalty_max, num_penalties):
    """Log-spaced penalties, largest first (the order of the warm-started path)."""
    return np.logspace(np.log10(penalty_max), np.log10(penalty_min), num_penalties)


def regularization_path(problem, penalties, val_features, val_labels, metric, **fit_options):
    """Fits from the largest penalty down, each scored on val; returns the grid records, the index of the best
    validation score (ties go to the larger penalty, earlier in the path: the simpler model) and its solution
    (only that one is kept: at SUN397's shape each is 6.4 MB, the path's 45 are 290 MB).

    Each fit starts from the previous solution (as scikit-learn's ``warm_start``) and, beyond it, from the
    previous fit's quasi-Newton memory corrected for the new penalty, which cuts the iterations per value.
    Its first step is searched along the path's secant (the last two solutions' difference, extrapolated:
    the grid is even in log penalty), whose logit changes are known, so that step costs one matmul, not two.
    """
    theta = problem.zeros()
    grid, best, best_theta = [], None, None
    history = []
    point = evaluate(problem, theta, logits=torch.zeros_like(problem.targets))
    previous = None
    incremental_steps = 0
    for penalty in penalties:
        if incremental_steps >= REEVALUATE_AFTER:  # bound the rounding that incremental logit updates gather
            point, incremental_steps = evaluate(problem, theta), 0
        shift_curvature_pairs(history, (float(penalty) - problem.penalty) / problem.n, problem.penalized)
        problem.penalty = float(penalty)
        secant = None if previous is None else (theta - previous[0], point["logits"] - previous[1])
        previous = (theta.clone(), point["logits"])
        info = minimize_lbfgs(problem, theta, history=history, point=point, guess=secant, **fit_options)
        incremental_steps += info.iterations
        if info.iterations == 0 and grid:  # the solution has not moved: neither have its validation scores
            val_metric = grid[-1]["val_metric"]
        else:
            val_metric = metrics.score(metric, val_labels, (val_features @ theta.T).cpu().numpy())
        grid.append({**asdict(info), "val_metric": val_metric})
        if best is None or val_metric > grid[best]["val_metric"]:
            best, best_theta = len(grid) - 1, theta.clone()
        if not info.converged:
            log.warning("penalty %.3g did not converge in %d iterations (max |grad| %.2e > tol %.0e)",
                        penalty, info.iterations, info.grad_norm, fit_options["tol"])
        log.info("penalty %.3g: val %s %.4f (%d iterations)", penalty, metric, grid[-1]["val_metric"],
                 info.iterations)
    return grid, best, best_theta


def probe_arrays(splits, num_classes, multilabel, metric, *, solver=None, device="cpu", release=False):
    """The protocol on in-memory ``{split: {"features", "labels"}}`` with ``solver`` (a ``ProbeSolver``, or a
    mapping of its keys): path on train scored on val, refit of the best penalty on train+val, scored on test.
    Returns (test scores [N, C], result without provenance).

    With ``release``, the train and val features are dropped from ``splits`` once the solver has them in its
    own coordinates, so that both copies are not held (at the paper's largest shape, 1.2 GB each)."""
    solver = ProbeSolver.of(solver)
    dtype = {"float32": torch.float32, "float64": torch.float64}[solver.dtype]
    device = torch.device(device)
    x = {s: torch.as_tensor(splits[s]["features"], dtype=dtype, device=device) for s in splits}
    y = {s: torch.as_tensor(splits[s]["labels"], device=device) for s in splits}
    if not multilabel:
        y = {s: labels.long() for s, labels in y.items()}
    fit_options = {"max_iter": solver.max_iter, "tol": solver.tol, "history_size": solver.history_size}

    # The validation split is transformed beside the training split, where the refit fits both.
    problem = LogisticProblem(x["train"], y["train"], num_classes, multilabel, standardize=solver.standardize,
                              whiten=solver.whiten, held_out=x["val"], chunk_rows=solver.chunk_rows)
    if release:
        for split in ("train", "val"):
            del x[split], splits[split]["features"]
    penalties = penalty_grid(solver.penalty_min, solver.penalty_max, solver.num_penalties)
    grid, best, theta = regularization_path(problem, penalties, problem.held_out, splits["val"]["labels"], metric,
                                            **fit_options)
    undefined = [g["penalty"] for g in grid if not np.isfinite(g["val_metric"])]
    if undefined:
        raise InputError(f"the validation metric ({metric}) is undefined at {len(undefined)} of {len(grid)} penalties "
                         f"(e.g. {undefined[0]:.3g}): no penalty can be chosen")
    chosen = grid[best]["penalty"]

    # Refit on train+val at the chosen penalty, warm-started from the path's solution; the features keep the
    # training split's standardisation (a preprocessing step fitted on train, like the whitening basis).
    refit_problem = problem.refit_problem(y["val"])
    refit_problem.penalty = chosen
    refit = minimize_lbfgs(refit_problem, theta, **fit_options)
    if not refit.converged:
        log.warning("refit at penalty %.3g did not converge (max |grad| %.2e)", chosen, refit.grad_norm)
    test_scores = refit_problem.scores(theta, x["test"]).cpu().numpy()
    test_metric = metrics.score(metric, splits["test"]["labels"], test_scores)
    log.info("chosen penalty %.3g (val %.4f); test %s %.4f", chosen, grid[best]["val_metric"], metric, test_metric)
    return test_scores, {
        "setting": LOGISTIC_REGRESSION,
        "metric": metric,
        "value": test_metric,
        "eval_split": "test",
        "chosen_penalty": chosen,
        "val_metric": grid[best]["val_metric"],
        "refit": asdict(refit),
        "grid": grid,
        "not_converged": sum(not g["converged"] for g in grid) + (not refit.converged),
        "sizes": {split: int(len(splits[split]["labels"])) for split in ("train", "val", "test")},
        "feature_dim": int(x["test"].shape[1]),
        "solver": solver.as_dict(),
        "device": str(device),
    }


def run_probe(features_path, out_path=None, predictions_path=None, *, solver=None, device="cpu"):
    """The whole protocol on one features file with ``solver`` (a ``ProbeSolver``, or a mapping of its keys);
    returns (and optionally writes) the result dict, and writes the test split's scores to ``predictions_path``
    (for pairwise model comparisons)."""
    started = time.time()
    splits, attrs = read_split_file(features_path, ("features", "labels"), required=SPLIT_FILE_ATTRS)
    num_classes, multilabel, metric = int(attrs["num_classes"]), bool(attrs["multilabel"]), attrs["metric"]
    check_features(features_path, splits, num_classes, multilabel)
    test_scores, fitted = probe_arrays(splits, num_classes, multilabel, metric, solver=solver, device=device,
                                       release=True)
    core = TransferResult(model=attrs.get("model"), dataset=attrs.get("dataset"), setting=fitted["setting"],
                          metric=metric, value=fitted["value"], eval_split=fitted["eval_split"], sizes=fitted["sizes"],
                          arch=attrs.get("arch"), checkpoint_sha256=attrs.get("checkpoint_sha256"),
                          split_seed=attrs.get("split_seed"), hyperparameters={"penalty": fitted["chosen_penalty"]},
                          not_converged=fitted["not_converged"])
    result = {**fitted, **core.as_dict()}
    result.update({
        "wall_seconds": round(time.time() - started, 3),
        "features": {"path": str(features_path), "sha256": sha256_file(features_path), "attrs": attrs},
        "versions": library_versions(),
    })
    if predictions_path is not None:
        write_predictions(predictions_path, splits["test"]["labels"], test_scores,
                          {"model": result["model"], "dataset": result["dataset"], "setting": result["setting"],
                           "metric": metric, "features_sha256": result["features"]["sha256"]})
    if out_path is not None:
        write_json(out_path, result)
    return result
