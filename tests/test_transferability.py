"""Transferability estimators against hand-computed values and an independent optimisation of LogME's evidence."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as scipy_stats
from scipy.stats import multivariate_normal

from transferstudy import cli
from transferstudy.analysis.table_checks import transfer_logit
from transferstudy.analysis.transferability import evaluation_table, transferability_table, weighted_tau
from transferstudy.io import write_split_file
from transferstudy.transfer import transferability as tr


def _direct_log_evidence(features, y):
    """max over (alpha, beta) of log N(y; 0, I / beta + F F^T / alpha): the same evidence, as the marginal Gaussian
    of the targets, maximised numerically (no fixed point, no singular values)."""
    gram = features @ features.T

    def negative(log_precisions):
        alpha, beta = np.exp(log_precisions)
        covariance = np.eye(len(y)) / beta + gram / alpha
        return -multivariate_normal(np.zeros(len(y)), covariance).logpdf(y)

    best = min((optimize.minimize(negative, start, method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000})
                for start in ([0.0, 0.0], [-3.0, 3.0], [3.0, -1.0])), key=lambda r: r.fun)
    return -best.fun


@pytest.mark.parametrize("n, d", [(40, 6), (9, 25)])  # both branches: through F^T F and through F F^T
def test_logme_maximises_the_evidence(n, d):
    rng = np.random.default_rng(n)
    labels = rng.integers(0, 3, n)
    labels[:3] = [0, 1, 2]
    features = rng.normal(size=(n, d)) + labels[:, None] * rng.normal(size=d)
    targets = np.eye(3)[labels]
    expected = np.mean([_direct_log_evidence(features, targets[:, k]) for k in range(3)]) / n
    score, note = tr.logme(features, labels)
    assert note == ""
    assert score == pytest.approx(expected, abs=1e-6)


def test_logme_prefers_features_that_carry_the_labels():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    noise = rng.normal(size=(100, 8))
    informative = noise + 3 * np.eye(4, 8)[labels]
    assert tr.logme(informative, labels)[0] > tr.logme(noise, labels)[0]


def test_logme_multilabel_uses_the_label_columns():
    rng = np.random.default_rng(1)
    labels = (rng.random((30, 4)) < 0.4).astype(np.uint8)
    features = rng.normal(size=(30, 5)) + labels @ rng.normal(size=(4, 5))
    expected = np.mean([_direct_log_evidence(features, labels[:, k].astype(float)) for k in range(4)]) / 30
    assert tr.logme(features, labels, multilabel=True)[0] == pytest.approx(expected, abs=1e-6)


# A hand-made joint distribution: four examples, two target classes, two source classes.
THETA = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])


def test_leep_by_hand():
    # P(y, z) = [[0.35, 0.15], [0.10, 0.40]], P(z) = [0.45, 0.55]: P(y=0 | z) = [7/9, 3/11], P(y=1 | z) = [2/9, 8/11]
    labels = np.array([0, 0, 1, 1])
    expected = np.mean(np.log([7 / 9 * 0.8 + 3 / 11 * 0.2, 7 / 9 * 0.6 + 3 / 11 * 0.4,
                               2 / 9 * 0.3 + 8 / 11 * 0.7, 2 / 9 * 0.1 + 8 / 11 * 0.9]))
    assert tr.leep(THETA, labels) == (pytest.approx(expected, abs=1e-12), "")


def test_nce_by_hand():
    # Source labels (arg max) 0, 0, 1, 1; targets 0, 1, 1, 1: P(y | z=0) = 1/2 each, P(y=1 | z=1) = 1.
    score, note = tr.nce(THETA, np.array([0, 1, 1, 1]))
    assert score == pytest.approx(-0.5 * np.log(2), abs=1e-12) and note == ""
    # Labels that the source labels determine: no conditional entropy left.
    assert tr.nce(THETA, np.array([1, 1, 0, 0]))[0] == pytest.approx(0.0, abs=1e-12)


def test_hscore_by_hand():
    # One feature (Ledoit-Wolf shrinks nothing in one dimension): between-class variance / total variance.
    # Features 0, 1, 2, 3 in classes 0, 0, 1, 1: class means 0.5, 2.5 -> between 1.0; total 1.25.
    assert tr.hscore(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])) == (pytest.approx(0.8), "")


@pytest.mark.parametrize("n, d", [(50, 4), (12, 30), (200, 1)])
def test_ledoit_wolf_is_scikit_learns(n, d):
    from sklearn.covariance import LedoitWolf

    features = np.random.default_rng(d).normal(size=(n, d)) * np.arange(1, d + 1) + 3
    covariance, shrinkage = tr.ledoit_wolf(features)
    fitted = LedoitWolf().fit(features)
    assert shrinkage == pytest.approx(fitted.shrinkage_, abs=1e-12)
    assert covariance == pytest.approx(fitted.covariance_, rel=1e-10, abs=1e-12)


def test_hscore_shrinks_towards_the_scaled_identity():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(3), 6)
    features = rng.normal(size=(18, 30)) + np.eye(3, 30)[labels]  # more dimensions than examples
    from sklearn.covariance import LedoitWolf

    fitted = LedoitWolf().fit(features)
    assert 0 < fitted.shrinkage_ < 1
    means = np.stack([features[labels == k].mean(0) for k in range(3)])[labels]
    means -= means.mean(0)
    expected = np.trace(np.linalg.inv(fitted.covariance_) @ ((1 - fitted.shrinkage_) * means.T @ means / 18))
    score, _ = tr.hscore(features, labels)
    assert np.isfinite(score) and score == pytest.approx(expected, rel=1e-9)


AUTHORS = json.loads((Path(__file__).parent / "data" / "estimators_by_their_authors.json").read_text())


@pytest.mark.parametrize("case, function", [("sfda", tr.sfda), ("sfda_scaled", tr.sfda),
                                            ("transrate", tr.transrate), ("gbc", tr.gbc), ("gbc_floored", tr.gbc)])
def test_sfda_transrate_and_gbc_give_their_authors_values(case, function):
    # Their authors' public code on a fixed input (tests/data: the input, the values, the commits they came from);
    # GBC's code computes in float32, these estimators in float64.
    expected = AUTHORS["expected"][case]
    features = np.array(AUTHORS["features"]) * expected["scale"]
    score, note = function(features, np.array(AUTHORS["labels"]))
    tolerance = 1e-6 if expected.get("float32") else 1e-12
    assert note == "" and score == pytest.approx(expected["value"], rel=tolerance, abs=1e-14)


NCTI_AUTHORS = json.loads((Path(__file__).parent / "data" / "ncti_by_its_authors.json").read_text())


def test_ncti_gives_its_authors_terms_and_scores():
    # Three "models" of one fixed input (tests/data): the raw features (the LDA's SVD solver), scaled by 0.1 and
    # through tanh (the eigen solver, with the shrinkage their code derives from the PCA variances).
    features, labels = np.array(NCTI_AUTHORS["features"]), np.array(NCTI_AUTHORS["labels"])
    models = {"raw": features, "scaled": features * 0.1, "tanh": np.tanh(features)}
    terms = {name: tr.ncti_terms(f, labels)[0] for name, f in models.items()}
    for name, expected in NCTI_AUTHORS["terms"].items():
        assert [terms[name][t] for t in tr.NCTI_TERMS] == pytest.approx(expected, rel=1e-9)
    scores = tr.ncti_scores([[terms[name][t] for t in tr.NCTI_TERMS] for name in models])
    assert scores == pytest.approx([NCTI_AUTHORS["scores"][name] for name in models], rel=1e-9, abs=1e-12)


def test_ncti_is_combined_over_the_models_of_each_dataset_in_the_scores_table(tmp_path):
    rng = np.random.default_rng(12)
    labels = np.arange(40) % 4
    paths = []
    for i, model in enumerate(("m1", "m2", "m3")):
        path = tmp_path / f"{model}.h5"
        features = rng.normal(size=(40, 8)) + (i + 1) * np.eye(4, 8)[labels]
        write_split_file(path, {"train": {"features": features, "labels": labels}},
                         {"model": model, "dataset": "d", "metric": "top1", "num_classes": 4, "multilabel": False})
        paths.append(tmp_path / f"{model}.json")
        result = tr.score_features(path, out_path=paths[-1], estimators=["ncti"])
        assert result["scores"][0]["score"] is None and set(result["scores"][0]["terms"]) == set(tr.NCTI_TERMS)
    table = transferability_table(paths)
    terms = [[json.loads(p.read_text())["scores"][0]["terms"][t] for t in tr.NCTI_TERMS] for p in paths]
    assert table["score"].tolist() == pytest.approx(tr.ncti_scores(terms).tolist())
    assert set(table["note"]) == {f"{tr.NCTI_NOTE} (3)"}
    # A term the same for every model counts for nothing (no division by zero).
    assert tr.ncti_scores([[1.0, 0.5, 2.0], [3.0, 0.5, 2.0]]).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("function", [tr.sfda, tr.transrate, tr.gbc])
def test_sfda_transrate_and_gbc_prefer_features_that_carry_the_labels(function):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    noise = rng.normal(size=(100, 8))
    informative = noise + 3 * np.eye(4, 8)[labels]
    assert function(informative, labels)[0] > function(noise, labels)[0]


def test_multilabel_scores_average_binary_tasks():
    rng = np.random.default_rng(3)
    labels = (rng.random((20, 3)) < 0.5).astype(np.uint8)
    probabilities = tr.softmax(rng.normal(size=(20, 4)))
    features = rng.normal(size=(20, 5))
    for name, function, inputs in (("leep", tr.leep, probabilities), ("nce", tr.nce, probabilities),
                                   ("hscore", tr.hscore, features), ("sfda", tr.sfda, features),
                                   ("transrate", tr.transrate, features), ("gbc", tr.gbc, features)):
        score, note = function(inputs, labels, multilabel=True)
        assert score == pytest.approx(np.mean([function(inputs, labels[:, k])[0] for k in range(3)])), name
        assert note == tr.PER_LABEL_NOTE


def test_estimate_records_what_it_cannot_score():
    rng = np.random.default_rng(4)
    rows = tr.estimate(rng.normal(size=(12, 3)), np.arange(12) % 3, False)
    by_name = {row["estimator"]: row for row in rows}
    assert [row["estimator"] for row in rows] == list(tr.ESTIMATORS)
    assert by_name["leep"]["score"] is None and by_name["nce"]["score"] is None
    assert "no source classifier" in by_name["leep"]["note"]
    assert np.isfinite(by_name["logme"]["score"]) and np.isfinite(by_name["hscore"]["score"])
    with pytest.raises(ValueError, match="unknown estimator.*valid: logme"):
        tr.estimate(rng.normal(size=(12, 3)), np.arange(12) % 3, False, estimators=["logme", "magic"])


def _random_splits(rng, sizes, dim, classes):
    """Standard-normal float32 features of ``dim`` columns and cyclic labels of ``classes``, per split of
    ``sizes``."""
    return {split: {"features": rng.normal(size=(n, dim)).astype(np.float32), "labels": np.arange(n) % classes}
            for split, n in sizes.items()}


def test_score_features_reads_the_training_split(tmp_path):
    rng = np.random.default_rng(5)
    splits = _random_splits(rng, {"train": 10, "val": 4, "test": 6}, dim=4, classes=2)
    path = tmp_path / "features.h5"
    write_split_file(path, splits, {"model": "m", "dataset": "d", "metric": "top1", "num_classes": 2,
                                    "multilabel": False, "checkpoint_sha256": "0" * 64, "split_seed": 0})
    result = tr.score_features(path, out_path=tmp_path / "scores.json")
    assert (result["model"], result["dataset"], result["n_train"], result["feature_dim"]) == ("m", "d", 10, 4)
    logme = next(row for row in result["scores"] if row["estimator"] == "logme")
    assert logme["score"] == pytest.approx(tr.logme(splits["train"]["features"], splits["train"]["labels"])[0])
    assert next(row for row in result["scores"] if row["estimator"] == "nce")["note"].startswith(
        "not scored: the features file holds no source classifier")
    assert (tmp_path / "scores.json").exists()
    # A features file holding the classifier: LEEP and NCE from it, as the network's logits would give them.
    weight, bias = rng.normal(size=(5, 4)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    write_split_file(path, {**splits, "source_head": {"weight": weight, "bias": bias}},
                     {"model": "m", "dataset": "d", "metric": "top1", "num_classes": 2, "multilabel": False,
                      "checkpoint_sha256": "0" * 64, "split_seed": 0, "source_classes": 5})
    result = tr.score_features(path, estimators=["leep", "nce"])
    probabilities = tr.softmax(splits["train"]["features"].astype(np.float64) @ weight.T + bias)
    assert result["source_classes"] == 5
    assert result["scores"][0]["score"] == pytest.approx(tr.leep(probabilities, splits["train"]["labels"])[0])
    write_split_file(path, splits, {"model": "m", "dataset": "d", "metric": "top1", "num_classes": 2,
                                    "multilabel": False, "split_seed": 0, "source_classes": 0})
    assert tr.score_features(path, estimators=["leep"])["scores"][0]["note"] == tr.NO_SOURCE_CLASSIFIER


# --- the estimators judged against measured transfer ---------------------------------------------------------

MODELS = ("a", "b", "c", "d", "e")


@pytest.fixture
def toy_accuracy(accuracy_of):
    """Five models on three datasets: on d1 accuracy rises with source top-1, on d2 it falls; d3 has two models."""
    def value(i, model, dataset, setting):
        return {"d1": 0.3 + 0.1 * i, "d2": 0.8 - 0.1 * i, "d3": 0.5 if i < 2 else None}[dataset]
    return accuracy_of(value, models=MODELS, datasets=("d1", "d2", "d3"), source_top1=lambda i: 0.5 + 0.1 * i,
                       n_test=100)


def _scores(accuracy):
    """'logme' scores each model by its measured log odds (a perfect estimator); 'nce' has no score for e on d2
    (and says why)."""
    rows = []
    for _, row in accuracy.iterrows():
        k = row["value"] * 100
        rows.append({"model": row["model"], "dataset": row["dataset"], "estimator": "logme",
                     "score": np.log((k + 0.5) / (100 - k + 0.5)), "seconds": 0.01, "probe_seconds": 1.0})
        unscored = (row["model"], row["dataset"]) == ("e", "d2")
        rows.append({"model": row["model"], "dataset": row["dataset"], "estimator": "nce",
                     "score": np.nan if unscored else -ord(row["model"]), "seconds": 0.02, "probe_seconds": 1.0,
                     "note": "undefined: the network has no source classifier" if unscored else None})
    return pd.DataFrame(rows)


def test_weighted_tau_is_scipys_vectorised_over_resamples_with_ties():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(500, 9)), rng.normal(size=(500, 9))
    resampled = rng.integers(0, 9, size=(500, 9))  # bootstrap resamples: repeated models, ties in both variables
    x, y = np.take_along_axis(x, resampled, 1), np.take_along_axis(y, resampled, 1)
    x[::3] = np.round(x[::3])  # and ties in one variable only
    expected = [scipy_stats.weightedtau(a, b).statistic for a, b in zip(x, y)]
    assert weighted_tau(x, y) == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert weighted_tau(x.T, y.T, axis=0) == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert np.isnan(weighted_tau(np.ones(5), np.arange(5.0)))


def test_the_evaluation_ranks_estimators_against_top1(toy_accuracy):
    accuracy = toy_accuracy
    table = evaluation_table(accuracy, _scores(accuracy)).set_index(["dataset", "estimator"])
    assert table.loc[("d1", "source_top1"), "weighted_tau"] == pytest.approx(1.0)
    assert table.loc[("d2", "source_top1"), "weighted_tau"] == pytest.approx(-1.0)
    perfect = table.xs("logme", level="estimator")
    assert perfect.loc[["d1", "d2"], "weighted_tau"].tolist() == pytest.approx([1.0, 1.0])
    assert perfect.loc[["d1", "d2"], "pearson_r"].tolist() == pytest.approx([1.0, 1.0])
    # Beats top-1 only where top-1 is wrong: a tie is not a win.
    assert perfect.loc[["d1", "d2"], "beats_top1"].tolist() == [0.0, 1.0]
    assert perfect.loc["mean over datasets", "beats_top1"] == 1 and perfect.loc["mean over datasets", "n_datasets"] == 2
    assert perfect.loc["d1", "probe_seconds"] / perfect.loc["d1", "seconds"] == pytest.approx(100)
    # A model without a score is left out of that estimator's ranking.
    assert table.loc[("d2", "nce"), "n_models"] == 4 and "e" not in table.loc[("d2", "nce"), "models"].split(";")
    # Two models: no ranking statistic, a note.
    assert table.loc[("d3", "logme"), "note"].startswith("fewer than 3 models")
    assert np.isnan(table.loc[("d3", "logme"), "weighted_tau"])
    top1 = table.loc[("mean over datasets", "source_top1")]
    assert top1["weighted_tau"] == pytest.approx(0.0) and top1["tau_low"] <= 0 <= top1["tau_high"]
    # What picking by the score gives: top-1 picks e, the best on d1 and half the best's accuracy on d2, where
    # the best (a) is not among its three first; nce picks a.
    assert table.loc[("d1", "source_top1"), ["relative_top1", "best_in_top3"]].tolist() == [1.0, 1.0]
    assert table.loc[("d2", "source_top1"), ["relative_top1", "best_in_top3"]].tolist() == pytest.approx([0.5, 0.0])
    assert top1[["relative_top1", "best_in_top3"]].tolist() == pytest.approx([0.75, 0.5])
    assert perfect.loc["mean over datasets", ["relative_top1", "best_in_top3"]].tolist() == [1.0, 1.0]
    assert table.loc[("d1", "nce"), ["relative_top1", "best_in_top3"]].tolist() == pytest.approx([0.3 / 0.7, 0.0])
    assert table.loc[("d2", "nce"), ["relative_top1", "best_in_top3"]].tolist() == pytest.approx([1.0, 1.0])


def test_the_evaluation_refuses_a_table_it_cannot_read(toy_accuracy):
    accuracy = toy_accuracy
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['score'\]"):
        evaluation_table(accuracy, _scores(accuracy).drop(columns="score"))
    named = _scores(accuracy).replace({"estimator": {"nce": "source_top1"}})
    with pytest.raises(ValueError, match="'source_top1' is the baseline"):
        evaluation_table(accuracy, named)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(note=None), r"1 score\(s\) missing with no note saying why, e.g. \('e', 'd2', 'nce'\)"),
    (lambda t: t.assign(score=t.score.where(t.index != 0, np.inf)), r"score inf is not finite, for \('a', 'd1', 'logme'\)"),
    (lambda t: pd.concat([t, t.iloc[[2]]]), r"\('a', 'd2', 'logme'\) appears 2 times"),
    (lambda t: t.drop(index=3), r"estimator 'nce' has no row for 1 \(model, dataset\) pair\(s\) the others score, "
                                r"e.g. \[\('a', 'd2'\)\]"),
    (lambda t: t.replace({"model": {"a": "z"}}), r"model\(s\) \['z'\] have no row in the accuracy table"),
    (lambda t: t.replace({"dataset": {"d1": "d9"}}), r"dataset\(s\) \['d9'\] have no row in the accuracy table"),
])
def test_the_evaluation_refuses_scores_it_cannot_trust(toy_accuracy, change, message):
    with pytest.raises(ValueError, match=message):
        evaluation_table(toy_accuracy, change(_scores(toy_accuracy)))


def test_the_scores_table_collects_the_jobs_results(tmp_path):
    rng = np.random.default_rng(6)
    paths = []
    for model in ("m1", "m2"):
        path = tmp_path / f"{model}.h5"
        write_split_file(path, {"train": {"features": rng.normal(size=(12, 3)), "labels": np.arange(12) % 3}},
                         {"model": model, "dataset": "d", "metric": "top1", "num_classes": 3, "multilabel": False})
        paths.append(tmp_path / f"{model}.json")
        tr.score_features(path, out_path=paths[-1], estimators=["logme", "hscore"])
    probe = tmp_path / "probe.json"
    probe.write_text(json.dumps({"model": "m1", "dataset": "d", "wall_seconds": 2.5}))
    table = transferability_table(paths, [probe])
    assert len(table) == 4 and set(table.estimator) == {"logme", "hscore"}
    assert table.set_index("model").loc["m1", "probe_seconds"].tolist() == [2.5, 2.5]
    assert table.set_index("model").loc["m2", "probe_seconds"].isna().all()
    with pytest.raises(ValueError, match=r"\('m1', 'd', 'logme'\) appears twice"):
        transferability_table([paths[0], paths[0]])


def test_the_standalone_analysis_judges_estimators_of_a_table_made_elsewhere(tmp_path, toy_accuracy):
    accuracy, scores = tmp_path / "accuracy.csv", tmp_path / "transferability.csv"
    toy_accuracy.to_csv(accuracy, index=False)
    _scores(toy_accuracy).to_csv(scores, index=False)
    assert cli.main(["analysis", str(accuracy), "--out", str(tmp_path / "out"), "--transferability", str(scores),
                        "--incomplete", "complete_submatrix"]) is None
    assert len(pd.read_csv(tmp_path / "out" / "transferability_evaluation.csv")) == 3 * 3 + 3
    assert (tmp_path / "out" / "fig7_transferability.pdf").read_bytes()[:4] == b"%PDF"


OWN_SCORES = '''
import numpy as np


def spread(features, labels):
    return float(np.mean(features.std(axis=0)))


def logit_mean(features, labels, source_logits):
    return -1.0 if source_logits is None else float(source_logits.mean())


def not_a_number(features, labels):
    return float("nan")


def words(features, labels):
    return "high"


def broken(features, labels):
    raise ZeroDivisionError("no classes")
'''


@pytest.fixture
def own_scores(tmp_path):
    path = tmp_path / "my_scores.py"
    path.write_text(OWN_SCORES)
    return path


def test_a_score_of_ones_own_is_called_with_the_features_labels_and_logits_it_asks_for(own_scores):
    rng = np.random.default_rng(6)
    features, labels = rng.normal(size=(12, 3)), np.arange(12) % 3
    logits = rng.normal(size=(12, 5))
    entries = ["logme", {"name": "spread", "python": f"{own_scores}:spread"},
               {"name": "mine", "python": f"{own_scores}:logit_mean"}]
    rows = {row["estimator"]: row for row in tr.estimate(features, labels, False, logits, entries)}
    assert list(rows) == ["logme", "spread", "mine"]
    assert rows["spread"]["score"] == pytest.approx(np.mean(features.std(axis=0)))
    assert rows["mine"]["score"] == pytest.approx(logits.mean())
    assert tr.estimate(features, labels, False, None, entries[2:])[0]["score"] == -1.0


@pytest.mark.parametrize("function, message", [
    ("not_a_number", r"estimator not_a_number \(python = .*my_scores.py:not_a_number'\): returned nan; a score is "
                     r"one finite number"),
    ("words", r"returned 'high'; a score is one finite number"),
    ("broken", r"estimator broken .*: the function raised ZeroDivisionError: no classes"),
])
def test_a_score_of_ones_own_that_fails_is_named(own_scores, function, message):
    rng = np.random.default_rng(7)
    with pytest.raises(ValueError, match=message):
        tr.estimate(rng.normal(size=(9, 2)), np.arange(9) % 3, False, None,
                    [{"name": function, "python": f"{own_scores}:{function}"}])


def test_score_features_traces_a_score_of_ones_own_to_its_file(own_scores, tmp_path):
    rng = np.random.default_rng(8)
    labels = np.arange(30) % 3
    path = tmp_path / "f.h5"
    write_split_file(path, {"train": {"features": rng.normal(size=(30, 4)).astype(np.float32), "labels": labels}},
                     {"model": "m", "dataset": "d", "metric": "top1", "multilabel": False, "num_classes": 3,
                      "seed": 0, "split_seed": 0, "val_split": "holdout"})
    result = tr.score_features(path, estimators=[{"name": "spread", "python": f"{own_scores}:spread"}])
    assert [row["estimator"] for row in result["scores"]] == ["spread"]
    (own,) = result["own_estimators"]
    assert own["file"] == str(own_scores) and len(own["file_sha256"]) == 64


# --- the baselines: k-NN accuracy, and the networks' size ----------------------------------------------------

def test_knn_is_scikit_learns_classifier_with_k_chosen_by_leave_one_out():
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(8)
    labels, val_labels = np.arange(60) % 3, np.arange(30) % 3
    features = rng.normal(size=(60, 5)) + 0.8 * labels[:, None] * rng.normal(size=5)
    val_features = rng.normal(size=(30, 5)) + 0.8 * val_labels[:, None] * rng.normal(size=5)
    score, note = tr.knn(features, labels, val_features, val_labels, "top1")
    standardised = (features - features.mean(0)) / features.std(0, ddof=1)
    val_standardised = (val_features - features.mean(0)) / features.std(0, ddof=1)

    def classifier(k):
        return KNeighborsClassifier(k, metric="cosine", algorithm="brute")

    held_out = [cross_val_score(classifier(k), standardised, labels, cv=LeaveOneOut()).mean() for k in tr.KNN_K]
    k = tr.KNN_K[int(np.argmax(held_out))]
    assert note.startswith(f"k = {k} (leave-one-out on 60 of 60")
    assert score == pytest.approx(classifier(k).fit(standardised, labels).score(val_standardised, val_labels))
    # The dataset's metric scores it: per-class accuracy, and 11-point mAP of the neighbours' label shares.
    assert tr.knn(features, labels, val_features, val_labels, "mean_per_class")[0] == pytest.approx(
        tr.knn(features, labels, val_features, val_labels, "top1")[0])  # balanced classes: the same
    multilabel = tr.knn(features, np.eye(3)[labels], val_features, np.eye(3)[val_labels], "map11", True)[0]
    assert 0 < multilabel <= 1


def test_knn_chooses_k_on_a_seeded_sample_of_a_large_training_split(monkeypatch):
    monkeypatch.setattr(tr, "KNN_SELECTION_ROWS", 20)
    rng = np.random.default_rng(9)
    features, labels = rng.normal(size=(50, 4)), np.arange(50) % 2
    first = tr.knn(features, labels, features[:10], labels[:10], "top1")
    assert "leave-one-out on 20 of 50" in first[1] and tr.knn(features, labels, features[:10], labels[:10],
                                                                "top1") == first


def test_knn_needs_the_validation_split(tmp_path):
    rng = np.random.default_rng(10)
    path = tmp_path / "features.h5"
    write_split_file(path, {"train": {"features": rng.normal(size=(12, 3)), "labels": np.arange(12) % 3}},
                     {"model": "m", "dataset": "d", "metric": "top1", "num_classes": 3, "multilabel": False})
    assert tr.estimate(rng.normal(size=(12, 3)), np.arange(12) % 3, False, estimators=["knn"])[0]["note"] == \
        tr.NO_VALIDATION_SPLIT
    with pytest.raises(ValueError, match="missing group 'val'"):
        tr.score_features(path, estimators=["knn"])


def test_kendall_tau_is_scipys_tau_b_vectorised_over_resamples():
    from transferstudy.analysis.transferability import kendall_tau

    rng = np.random.default_rng(11)
    x, y = np.round(rng.normal(size=(200, 7)), 1), np.round(rng.normal(size=(200, 7)))  # with ties
    expected = [scipy_stats.kendalltau(a, b).statistic for a, b in zip(x, y)]
    assert kendall_tau(x, y) == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_the_size_baselines_rank_models_by_the_log_of_their_counts(toy_accuracy):
    # Parameters rise with source top-1 (as top-1 ranks), FLOPs fall; model e's FLOPs are unknown.
    sized = toy_accuracy.assign(params=toy_accuracy["source_top1"] * 1e6,
                                flops=(1 - toy_accuracy["source_top1"]) * 1e9)
    sized.loc[sized["model"] == "e", "flops"] = np.nan
    table = evaluation_table(sized, _scores(sized)).set_index(["dataset", "estimator"])
    assert list(dict.fromkeys(table.index.get_level_values("estimator")))[:3] == ["source_top1", "params", "flops"]
    assert table.loc[("d1", "params"), "weighted_tau"] == pytest.approx(1.0)
    d1 = sized.query("dataset == 'd1'")
    assert table.loc[("d1", "params"), "pearson_r"] == pytest.approx(
        scipy_stats.pearsonr(np.log(d1["params"]), transfer_logit(d1))[0])  # the log count against log odds
    assert table.loc[("d1", "flops"), "n_models"] == 4
    assert table.loc[("d1", "flops"), "note"] == "left out, without a score: e"
    assert table.loc[("d1", "flops"), "weighted_tau"] == pytest.approx(-1.0)
    # No column: no baseline; a count that is not positive: refused, named.
    assert "params" not in set(evaluation_table(toy_accuracy, _scores(toy_accuracy))["estimator"])
    with pytest.raises(ValueError, match="params of model 'a' is 0.0; a network's params is a positive count"):
        evaluation_table(sized.assign(params=sized["params"].where(sized["model"] != "a", 0.0)), _scores(sized))
    with pytest.raises(ValueError, match="estimator 'flops' is the baseline"):
        evaluation_table(sized, _scores(sized).replace({"estimator": {"nce": "flops"}}))


@pytest.fixture
def four_datasets(accuracy_of):
    """Six models on four datasets, in two settings: accuracy rises with the model's index everywhere but on d4
    in fine-tuning, where it falls."""
    def value(i, model, dataset, setting):
        rising = 0.3 + 0.1 * i + 0.01 * int(dataset[1:])
        return 1 - rising if (dataset, setting) == ("d4", "finetune") else rising
    return accuracy_of(value, models=tuple("abcdef"), datasets=("d1", "d2", "d3", "d4"),
                       source_top1=lambda i: 0.5 + 0.05 * ((i * 5) % 6), settings=("logistic_regression",
                                                                                   "finetune"), n_test=100)


def _ranked_scores(accuracy):
    """'oracle' scores each model by its index (the accuracy's order, but on d4 in fine-tuning); 'noisy' by a
    fixed shuffle of it; 'backwards' by the reverse."""
    rows = []
    for model in sorted(set(accuracy["model"])):
        i = "abcdef".index(model)
        for dataset in sorted(set(accuracy["dataset"])):
            for estimator, score in (("oracle", i), ("noisy", (2, 0, 1, 5, 3, 4)[i]), ("backwards", -i)):
                rows.append({"model": model, "dataset": dataset, "estimator": estimator, "score": float(score)})
    return pd.DataFrame(rows)


def test_the_baselines_table_says_which_estimator_beats_which_baseline(four_datasets):
    from transferstudy.analysis.transferability import baselines_table

    evaluation = evaluation_table(four_datasets, _ranked_scores(four_datasets))
    table = baselines_table(evaluation).set_index(["setting", "estimator", "baseline"])
    probe = table.loc["logistic_regression"]
    # The oracle is perfect on every dataset, top-1 is not: beaten with an interval above zero.
    assert probe.loc[("oracle", "source_top1"), "verdict"] == "beats"
    assert probe.loc[("oracle", "source_top1"), "difference_low"] > 0
    assert probe.loc[("backwards", "source_top1"), "verdict"] == "loses to"
    expected = (evaluation.query("setting == 'logistic_regression' and dataset != 'mean over datasets'")
                .pivot(index="dataset", columns="estimator", values="weighted_tau"))
    assert probe.loc[("noisy", "source_top1"), "tau_difference"] == pytest.approx(
        (expected["noisy"] - expected["source_top1"]).mean())
    # Fine-tuning: the oracle is backwards on d4, so its lead over top-1 varies by dataset.
    assert table.loc[("finetune", "oracle", "source_top1"), "n_datasets"] == 4
    assert set(table["verdict"]) <= {"beats", "loses to", "no clear difference"}


def test_the_stability_table_follows_the_rankings_under_each_perturbation(four_datasets):
    from transferstudy.analysis.transferability import stability_table

    table = stability_table(four_datasets, _ranked_scores(four_datasets)).set_index(
        ["setting", "perturbation", "estimator"]).sort_index()
    probe = table.loc["logistic_regression"]
    assert set(probe.index.get_level_values("perturbation")) == {
        "other setting", "one dataset left out", "a third of the models left out"}
    # The oracle is perfect on every dataset and every subset of models: first in every perturbation of the probe.
    for perturbation in ("one dataset left out", "a third of the models left out"):
        assert probe.loc[(perturbation, "oracle"), ["rank", "rank_held", "mean_rank", "winner_held"]].tolist() == \
            [1, 1.0, 1.0, 1.0]
        assert probe.loc[(perturbation, "backwards"), "rank"] == 4  # after top-1 and the noisy score
    assert probe.loc[("one dataset left out", "oracle"), "n_perturbations"] == 4
    assert probe.loc[("a third of the models left out", "oracle"), "n_perturbations"] == 15  # C(6, 4)
    # In fine-tuning d4 runs backwards: leaving it out changes the means, and the other setting's ranking is the
    # probe's, whose winner the oracle is.
    other = table.loc[("finetune", "other setting")]
    assert other.loc["oracle", "n_perturbations"] == 1
    assert other["ranking_tau"].nunique() == 1 and -1 <= other["ranking_tau"].iloc[0] <= 1


def test_size_record_counts_parameters_and_forward_flops_and_keeps_the_training_mode():
    import torch
    from torch import nn

    from transferstudy.nets.costs import size_record

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    model.train()
    record = size_record(model, 8)
    assert record["params"] == 3 * 4 * 9 + 4 * 64 * 2 + 2
    assert record["flops"] == 2 * (3 * 4 * 9 * 64) + 2 * (4 * 64 * 2)  # multiply-adds, twice
    assert model.training and "8 px" in record["params_from"] == record["flops_from"]
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 8, 8)).shape == (1, 2)


# --- selection from few labels --------------------------------------------------------------------------------

def test_the_jobs_score_the_few_label_subsets_the_training_set_size_curves_draw(tmp_path):
    from transferstudy.data.subsets import draw

    rng = np.random.default_rng(13)
    splits = _random_splits(rng, {"train": 30, "val": 15, "test": 12}, dim=5, classes=3)
    path = tmp_path / "features.h5"
    write_split_file(path, splits, {"model": "m", "dataset": "d", "metric": "top1", "num_classes": 3,
                                    "multilabel": False})
    result = tr.score_features(path, estimators=["logme", "knn"], examples_per_class=(2, 4), seeds=2)
    assert [(s["examples_per_class"], s["seed"], s["n_train"]) for s in result["few_labels"]] == [
        (2, 0, 6), (2, 1, 6), (4, 0, 12), (4, 1, 12)]
    subset = result["few_labels"][3]
    rows, _ = draw(splits["train"]["labels"], 4, 1)
    val_rows, _ = draw(splits["val"]["labels"], 4, 1)
    assert subset["scores"][0]["score"] == pytest.approx(
        tr.logme(splits["train"]["features"][rows], splits["train"]["labels"][rows])[0])
    assert subset["scores"][1]["score"] == pytest.approx(tr.knn(
        splits["train"]["features"][rows], splits["train"]["labels"][rows], splits["val"]["features"][val_rows],
        splits["val"]["labels"][val_rows], "top1")[0])
    # Multi-label data has no "examples per class": no few-label scores.
    assert tr.few_label_scores((splits["train"]["features"], np.eye(3)[splits["train"]["labels"]]), None, None,
                               True, examples_per_class=(2,), seeds=1, estimators=["logme"]) == []


def test_few_label_selection_is_judged_against_the_full_datas_accuracy(toy_accuracy):
    from transferstudy.analysis.transferability import few_labels_evaluation

    # At 5 per class the perfect score's order; at 2 per class its reverse in seed 0 and a constant in seed 1.
    full = _scores(toy_accuracy)
    perfect = full[full.estimator == "logme"].set_index(["model", "dataset"])["score"]
    rows = []
    for (model, dataset), score in perfect.items():
        for shots, seed, value in ((5, 0, score), (5, 1, score), (2, 0, -score), (2, 1, 1.0)):
            rows.append({"model": model, "dataset": dataset, "examples_per_class": shots, "seed": seed,
                         "estimator": "logme", "score": value})
    evaluation = evaluation_table(toy_accuracy, full)
    table = few_labels_evaluation(toy_accuracy, pd.DataFrame(rows), evaluation).set_index(
        ["dataset", "examples_per_class", "estimator"])
    assert table.loc[("d1", "5", "logme"), ["n_seeds", "weighted_tau"]].tolist() == [2, pytest.approx(1.0)]
    assert table.loc[("d1", "2", "logme"), ["n_seeds", "weighted_tau"]].tolist() == [1, pytest.approx(-1.0)]
    assert table.loc[("d1", "2", "logme"), "note"] == ("1 of 2 seed(s) without a statistic: constant scores or "
                                                       "accuracies: no ranking statistic")
    # The full data's rows, the baselines' among them, from the evaluation; the mean over datasets last.
    assert table.loc[("d2", "all", "source_top1"), "weighted_tau"] == pytest.approx(-1.0)
    assert table.loc[("mean over datasets", "5", "logme"), ["n_datasets", "weighted_tau"]].tolist() == [
        2, pytest.approx(1.0)]
    assert list(table.index.get_level_values("examples_per_class")[:3]) == ["2", "5", "all"]
