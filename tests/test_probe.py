import json
import logging

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from transferstudy import cli
from transferstudy import metrics
from transferstudy.transfer import logistic, probe
from transferstudy.io import read_predictions, write_split_file


def _blobs(n=400, d=12, classes=4, seed=0, spread=2.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 1, (classes, d))
    labels = np.arange(n) % classes
    x = centers[labels] + spread * rng.normal(size=(n, d))
    return x, labels


def _objective(x, labels, coef, intercept, penalty):
    logits = x @ coef.T + intercept
    logits -= logits.max(1, keepdims=True)
    log_prob = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    return -log_prob[np.arange(len(x)), labels].mean() + penalty / (2 * len(x)) * (coef ** 2).sum()


@pytest.mark.parametrize("whiten", [False, True])
@pytest.mark.parametrize("penalty", [1e-2, 1.0, 100.0])
def test_multinomial_fit_matches_scikit_learn(penalty, whiten):
    x, labels = _blobs()
    sk = LogisticRegression(C=1 / penalty, tol=1e-10, max_iter=10_000).fit(x, labels)
    problem = logistic.LogisticProblem(torch.tensor(x), torch.tensor(labels), 4, False, standardize=False,
                                    whiten=whiten)
    problem.penalty = penalty
    theta = problem.zeros()
    info = logistic.minimize_lbfgs(problem, theta, max_iter=1000, tol=1e-7, history_size=10)
    assert info.converged and info.grad_norm <= 1e-7
    weights = problem.standardized_weights(theta)
    coef, intercept = weights[:, :-1].numpy(), weights[:, -1].numpy()
    ours = _objective(x, labels, coef, intercept, penalty)
    theirs = _objective(x, labels, sk.coef_, sk.intercept_, penalty)
    assert ours == pytest.approx(theirs, rel=1e-7) and info.loss == pytest.approx(ours, rel=1e-7)
    assert np.linalg.norm(coef) == pytest.approx(np.linalg.norm(sk.coef_), rel=1e-4)
    ours_pred = np.argmax(x @ coef.T + intercept, 1)
    assert np.mean(ours_pred == labels) == pytest.approx(sk.score(x, labels))


@pytest.mark.parametrize("whiten", [False, True])
def test_float32_fit_is_converged_when_checked_in_float64(whiten):
    x, labels = _blobs(n=2000, d=64, classes=10, seed=1)
    problems = {dtype: logistic.LogisticProblem(torch.tensor(x, dtype=dtype), torch.tensor(labels), 10, False,
                                             whiten=whiten) for dtype in (torch.float32, torch.float64)}
    for problem in problems.values():
        problem.penalty = 1.0
    theta = problems[torch.float32].zeros()
    info = logistic.minimize_lbfgs(problems[torch.float32], theta, max_iter=1000, tol=1e-4, history_size=10)
    assert info.converged
    # The float32 solution, over standardised features, evaluated by the float64 problem without whitening.
    exact = logistic.LogisticProblem(torch.tensor(x), torch.tensor(labels), 10, False, whiten=False)
    exact.penalty = 1.0
    weights = problems[torch.float32].standardized_weights(theta).double()
    loss, grad = exact(weights)
    assert grad.abs().max().item() <= 2e-4
    # Stopping at tol = 1e-4 leaves an objective gap to the optimum; float32 must not leave a larger one
    # than float64 stopped at the same tolerance.
    optimum = exact.zeros()
    assert logistic.minimize_lbfgs(exact, optimum, max_iter=1000, tol=1e-9, history_size=10).converged
    same_tol = problems[torch.float64].zeros()
    assert logistic.minimize_lbfgs(problems[torch.float64], same_tol, max_iter=1000, tol=1e-4, history_size=10).converged
    best = exact(optimum)[0]
    gap64 = exact(problems[torch.float64].standardized_weights(same_tol))[0] - best
    assert 0 <= loss - best <= 1.5 * gap64 + 1e-7


@pytest.mark.parametrize("whiten", [False, True])
def test_multilabel_fit_is_one_binary_regression_per_class(whiten):
    x, labels = _blobs(n=300, d=8, classes=3, seed=2)
    rng = np.random.default_rng(3)
    targets = np.stack([labels == 0, labels == 1, rng.random(len(x)) < 0.3], 1).astype(np.uint8)
    penalty = 3.0
    problem = logistic.LogisticProblem(torch.tensor(x), torch.tensor(targets), 3, True, standardize=False,
                                    whiten=whiten)
    problem.penalty = penalty
    theta = problem.zeros()
    assert logistic.minimize_lbfgs(problem, theta, max_iter=1000, tol=1e-8, history_size=10).converged
    theta = problem.standardized_weights(theta)
    for k in range(3):
        sk = LogisticRegression(C=1 / penalty, tol=1e-10, max_iter=10_000).fit(x, targets[:, k])
        np.testing.assert_allclose(theta[k, :-1].numpy(), sk.coef_[0], rtol=1e-4, atol=1e-6)
        assert theta[k, -1].item() == pytest.approx(sk.intercept_[0], rel=1e-4, abs=1e-6)


def _features_file(path, *, n=240, d=16, classes=4, multilabel=False, metric="top1", corrupt=None):
    x, labels = _blobs(n=n, d=d, classes=classes, seed=4)
    x = x.astype(np.float32)
    if multilabel:
        labels = np.eye(classes, dtype=np.uint8)[labels]
    thirds = np.array_split(np.arange(n), 3)
    splits = {s: {"features": x[idx], "labels": labels[idx]} for s, idx in zip(("train", "val", "test"), thirds)}
    if corrupt:
        corrupt(splits)
    attrs = {"model": "m", "dataset": "blobs", "metric": metric, "multilabel": multilabel, "num_classes": classes,
             "checkpoint_sha256": "0" * 64, "split_seed": 0}
    write_split_file(path, splits, attrs)
    return path


def test_run_probe_records_the_whole_path_and_selects_on_val(tmp_path):
    path = _features_file(tmp_path / "f.h5")
    solver = {"num_penalties": 7, "penalty_min": 1e-3, "penalty_max": 1e3}
    result = probe.run_probe(path, tmp_path / "r.json", solver=solver)
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["value"] == result["value"]
    grid = result["grid"]
    assert [g["penalty"] for g in grid] == pytest.approx(np.logspace(3, -3, 7))
    for entry in grid:
        assert set(entry) >= {"penalty", "val_metric", "iterations", "grad_norm", "converged"}
    best = max(grid, key=lambda g: g["val_metric"])
    assert result["chosen_penalty"] == best["penalty"]
    assert result["sizes"] == {"train": 80, "val": 80, "test": 80}
    assert result["features"]["attrs"]["checkpoint_sha256"] == "0" * 64
    assert 0.25 < result["value"] <= 1.0
    assert result["not_converged"] == 0


def test_multilabel_probe_scores_11_point_map(tmp_path):
    path = _features_file(tmp_path / "f.h5", multilabel=True, metric="map11")
    result = probe.run_probe(path, solver={"num_penalties": 5, "penalty_min": 1e-2, "penalty_max": 1e2})
    assert result["metric"] == "map11" and 0.3 < result["value"] <= 1.0


def test_non_convergence_is_reported_not_silenced(tmp_path, caplog):
    path = _features_file(tmp_path / "f.h5")
    with caplog.at_level(logging.WARNING):
        result = probe.run_probe(path, solver={"num_penalties": 3, "penalty_min": 1e-3, "penalty_max": 1e-1,
                                               "max_iter": 2, "tol": 1e-9})
    assert result["not_converged"] == 4
    assert not any(g["converged"] for g in result["grid"])
    assert "did not converge" in caplog.text


@pytest.mark.parametrize("corrupt, message", [
    (lambda s: s["train"]["features"].__setitem__((slice(0, 3), 0), np.nan), "split 'train' has 3 NaN/inf"),
    (lambda s: s["val"].__setitem__("labels", np.where(s["val"]["labels"] == 2, 1, s["val"]["labels"])),
     r"class\(es\) \[2\] missing from split 'val'"),
    (lambda s: s["test"].__setitem__("labels", s["test"]["labels"][:-1]), "arrays of different lengths"),
    (lambda s: s.pop("val"), "missing group 'val'"),
    (lambda s: s["test"].update(features=s["train"]["features"], labels=s["train"]["labels"]),
     r"test feature rows are identical to training or validation feature rows: the test split repeats"),
])
def test_bad_features_are_refused_naming_the_file(tmp_path, corrupt, message):
    path = _features_file(tmp_path / "bad.h5", corrupt=corrupt)
    with pytest.raises(ValueError, match=message) as error:
        probe.run_probe(path, solver={"num_penalties": 2})
    assert "bad.h5" in str(error.value)


def test_a_probe_never_chooses_from_an_undefined_validation_metric(tmp_path, monkeypatch):
    # Multi-label with no positive example in val: mAP is undefined at every penalty.
    path = _features_file(tmp_path / "noval.h5", multilabel=True, metric="map11",
                          corrupt=lambda s: s["val"].__setitem__("labels", np.zeros_like(s["val"]["labels"])))
    with pytest.raises(ValueError, match=r"noval.h5: split 'val' has no positive example of any class"):
        probe.run_probe(path, solver={"num_penalties": 2})
    with pytest.raises(ValueError, match="undefined: no class has a positive example"):
        metrics.score("map11", np.zeros((4, 3)), np.zeros((4, 3)))
    # Whatever makes the validation metric undefined, no penalty is chosen from it.
    monkeypatch.setitem(metrics.METRIC_FUNCTIONS, "top1", lambda labels, scores: float("nan"))
    splits = {s: {"features": np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32),
                  "labels": np.array([0, 1] * 3)} for s in ("train", "val", "test")}
    with pytest.raises(ValueError, match=r"the validation metric \(top1\) is undefined at 2 of 2 penalties"):
        probe.probe_arrays(splits, 2, False, "top1", solver={"num_penalties": 2})


def test_one_class_is_refused(tmp_path):
    path = _features_file(tmp_path / "one.h5", classes=1)
    with pytest.raises(ValueError, match=r"one.h5: 1 class\(es\); a classifier needs at least 2"):
        probe.run_probe(path, solver={"num_penalties": 2})


def test_command_line_runs_the_same_code_and_saves_test_predictions(tmp_path):
    path = _features_file(tmp_path / "f.h5")
    cli.main(["probe", str(path), "--out", str(tmp_path / "cli.json"), "--num-penalties", "3",
                "--predictions", str(tmp_path / "pred.h5")])
    result = json.loads((tmp_path / "cli.json").read_text())
    assert len(result["grid"]) == 3 and result["solver"]["num_penalties"] == 3
    labels, scores, attrs = read_predictions(tmp_path / "pred.h5")
    assert scores.shape == (80, 4) and attrs["setting"] == "logistic_regression"
    assert metrics.top1(labels, scores) == pytest.approx(result["value"])


@pytest.mark.parametrize("whiten", [False, True])
def test_analytic_gradient_equals_autograd_of_the_original_objective(whiten):
    x, labels = _blobs(n=50, d=5, classes=3)
    for multilabel, y in ((False, torch.tensor(labels)), (True, torch.tensor(np.eye(3)[labels]))):
        problem = logistic.LogisticProblem(torch.tensor(x), y, 3, multilabel, whiten=whiten)
        problem.penalty = 2.0
        theta = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
        loss, grad = problem(theta.detach())
        # The objective written over standardised features, whatever coordinates the solver uses.
        weights = problem.standardized_weights(theta)
        xs = (torch.tensor(x) - problem.mean) / problem.std
        data, _ = problem.data_term(xs @ weights[:, :-1].T + weights[:, -1])
        original = data + problem.penalty / (2 * problem.n) * (weights[:, :-1] ** 2).sum()
        original.backward()
        assert loss == pytest.approx(original.item())
        torch.testing.assert_close(grad, theta.grad)


@pytest.mark.parametrize("whiten", [False, True])
def test_scores_and_refit_problem_share_the_fitted_coordinates(whiten):
    x, labels = _blobs(n=60, d=5, classes=3)
    rest = torch.tensor(x[40:])
    problem = logistic.LogisticProblem(torch.tensor(x[:40]), torch.tensor(labels[:40]), 3, False, whiten=whiten,
                                       held_out=rest)
    theta = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(problem.scores(theta, rest), problem.transform(rest) @ theta.T)
    torch.testing.assert_close(problem.held_out, problem.transform(rest))
    refit = problem.refit_problem(torch.tensor(labels[40:]))
    assert refit.n == 60 and problem.n == 40 and len(problem.x) == 40
    torch.testing.assert_close(refit.x, problem.transform(torch.tensor(x)))
    assert refit.x.data_ptr() == problem.x.data_ptr()  # the held-out rows were transformed in place, not copied
    assert refit.targets.argmax(1).tolist() == labels.tolist()


@pytest.mark.parametrize("whiten", [False, True])
def test_features_are_transformed_and_scored_in_chunks_as_in_one_piece(whiten):
    x, labels = _blobs(n=50, d=5, classes=3)
    whole = logistic.LogisticProblem(torch.tensor(x[:30]), torch.tensor(labels[:30]), 3, False, whiten=whiten,
                                     held_out=torch.tensor(x[30:]))
    chunked = logistic.LogisticProblem(torch.tensor(x[:30]), torch.tensor(labels[:30]), 3, False, whiten=whiten,
                                       held_out=torch.tensor(x[30:]), chunk_rows=7)
    torch.testing.assert_close(chunked.rows, whole.rows)
    assert (chunked.rows[:, -1] == 1).all()
    theta = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(chunked.scores(theta, torch.tensor(x)), whole.scores(theta, torch.tensor(x)))


def test_a_failed_line_search_is_reported_with_a_finite_loss(monkeypatch):
    x, labels = _blobs(n=100, d=4, classes=3)
    problem = logistic.LogisticProblem(torch.tensor(x), torch.tensor(labels), 3, False)
    problem.penalty = 1.0
    monkeypatch.setattr(logistic, "_line_search", lambda *args, **kwargs: (None, None))
    info = logistic.minimize_lbfgs(problem, problem.zeros(), max_iter=10, tol=1e-6, history_size=5)
    assert not info.converged and info.iterations == 0 and np.isfinite(info.loss)


def test_gradient_norm_is_the_standardised_max_or_a_lower_bound_above_tol():
    x, labels = _blobs(n=300, d=2 * logistic.WATCHED_COLUMNS, classes=5, seed=4)
    problem = logistic.LogisticProblem(torch.tensor(x), torch.tensor(labels), 5, False, whiten=True)
    problem.penalty = 3.0
    xs = (torch.tensor(x) - problem.mean) / problem.std
    rng = torch.Generator().manual_seed(0)
    for _ in range(5):
        theta = torch.randn(5, x.shape[1] + 1, dtype=torch.float64, generator=rng, requires_grad=True)
        _, grad = problem(theta.detach())
        # scikit-learn's criterion: the largest gradient entry of the objective over standardised features.
        weights = problem.standardized_weights(theta).detach().requires_grad_()
        data, _ = problem.data_term(xs @ weights[:, :-1].T + weights[:, -1])
        (data + problem.penalty / (2 * problem.n) * (weights[:, :-1] ** 2).sum()).backward()
        exact = weights.grad.abs().max().item()
        assert problem.gradient_norm(grad) == pytest.approx(exact, rel=1e-9)
        for tol in (0.0, exact / 2, exact, 2 * exact):
            value = problem.gradient_norm(grad, tol)
            assert value == pytest.approx(exact, rel=1e-9) or tol < value <= exact * (1 + 1e-9)


def test_a_fit_stopped_unconverged_records_the_exact_gradient_norm():
    x, labels = _blobs(n=300, d=40, classes=5, seed=5)
    problem = logistic.LogisticProblem(torch.tensor(x), torch.tensor(labels), 5, False, whiten=True)
    problem.penalty = 1e-3
    theta = problem.zeros()
    info = logistic.minimize_lbfgs(problem, theta, max_iter=2, tol=1e-12, history_size=5)
    assert not info.converged and info.iterations == 2
    assert info.grad_norm == pytest.approx(problem.gradient_norm(problem(theta)[1]), rel=1e-9)


def test_every_path_entry_scores_its_own_solution_on_val(monkeypatch):
    x, labels = _blobs(n=600, d=10, classes=4, seed=6)
    problem = logistic.LogisticProblem(torch.tensor(x[:400]), torch.tensor(labels[:400]), 4, False)
    val_features = problem.transform(torch.tensor(x[400:]))
    solutions = []
    fit = probe.minimize_lbfgs

    def kept(problem, theta, **options):
        info = fit(problem, theta, **options)
        solutions.append(theta.clone())
        return info

    monkeypatch.setattr(probe, "minimize_lbfgs", kept)
    grid, best, best_theta = probe.regularization_path(problem, probe.penalty_grid(1e-6, 1e5, 45), val_features,
                                                       labels[400:], "top1", max_iter=1000, tol=1e-4, history_size=30)
    assert any(entry["iterations"] == 0 for entry in grid[1:])  # fits that start converged reuse the scores
    for entry, theta in zip(grid, solutions, strict=True):
        assert entry["val_metric"] == metrics.top1(labels[400:], (val_features @ theta.T).numpy())
    # The best is the first of the highest scores (the larger penalty), and its solution is the one kept.
    assert best == int(np.argmax([entry["val_metric"] for entry in grid]))
    assert torch.equal(best_theta, solutions[best])


def test_a_guessed_direction_is_searched_first_and_an_ascending_one_ignored():
    x, labels = _blobs(n=300, d=10, classes=4, seed=7)
    problem = logistic.LogisticProblem(torch.tensor(x), torch.tensor(labels), 4, False)
    problem.penalty = 1.0
    options = {"max_iter": 1000, "tol": 1e-8, "history_size": 10}

    def fit(guess=None):
        theta = problem.zeros()
        return logistic.minimize_lbfgs(problem, theta, guess=guess, **options), theta

    plain, plain_theta = fit()
    grad = problem(problem.zeros())[1]
    ascending, ascending_theta = fit((grad, problem.x @ grad.T))
    assert ascending.iterations == plain.iterations and torch.equal(ascending_theta, plain_theta)
    # A descending guess with its logit changes given: a different first step, the same optimum (up to the
    # softmax's free shift of all biases, which the penalty leaves undetermined).
    guessed, guessed_theta = fit((-grad, problem.x @ -grad.T))
    assert guessed.converged and not torch.equal(guessed_theta, plain_theta)
    for theta in (guessed_theta, plain_theta):
        theta[:, -1] -= theta[:, -1].mean()
    torch.testing.assert_close(guessed_theta, plain_theta, atol=1e-5, rtol=0)


def test_an_option_out_of_range_is_a_usage_error_not_a_traceback(capsys):
    from transferstudy.cli import main

    assert main(["probe", "features.h5", "--out", "r.json", "--penalty-min", "-1"]) == 2
    error = capsys.readouterr().err
    assert "transferstudy probe: error: config: probe.penalty_min = -1.0 must be greater than 0" in error


def test_released_features_give_the_same_probe():
    x, labels = _blobs(n=300, d=8, classes=3, seed=9)
    x = x.astype(np.float32)

    def splits():
        return {s: {"features": x[i::3].copy(), "labels": labels[i::3]} for i, s in enumerate(("train", "val", "test"))}

    kept, released = splits(), splits()
    scores, result = probe.probe_arrays(kept, 3, False, "top1", solver={"num_penalties": 5})
    released_scores, released_result = probe.probe_arrays(released, 3, False, "top1", solver={"num_penalties": 5},
                                                          release=True)
    assert "features" in kept["train"] and "features" not in released["train"] and "features" not in released["val"]
    assert "labels" in released["val"] and "features" in released["test"]
    np.testing.assert_array_equal(released_scores, scores)
    assert released_result == result
