import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from transferstudy.analysis import stats


@pytest.fixture
def toy_table(accuracy_of):
    """Accuracy around source top-1 plus noise (seeded): ``n_models`` models, cells in (model, dataset) order."""
    def table(n_models=5, datasets=("a", "b"), setting="logistic_regression"):
        rng, step = np.random.default_rng(0), min(0.08, 0.6 / n_models)
        return accuracy_of(lambda i, model, dataset, _: float(np.clip(0.3 + step * i + rng.normal(0, 0.05), 0.01,
                                                                      0.99)),
                           models=[f"m{m}" for m in range(n_models)], datasets=datasets, settings=(setting,),
                           source_top1=lambda i: 0.3 + step * i)
    return table


def test_logit_is_log_odds_and_finite_at_the_ends():
    assert stats.logit(0.5) == 0.0
    assert stats.logit(0.9) == pytest.approx(np.log(9))
    assert np.isfinite(stats.logit([0.0, 1.0])).all()


def test_correlations_equal_scipy_on_log_odds(toy_table):
    table = toy_table(n_models=stats.EXACT_P_MAX_MODELS + 1)  # beyond exact p-values: scipy's
    result = stats.correlation_table(table)
    for dataset, part in table.groupby("dataset"):
        row = result[result.dataset == dataset].iloc[0]
        expected = scipy_stats.pearsonr(stats.logit(part.source_top1), stats.logit(part.value))
        assert row.pearson_r == pytest.approx(expected.statistic)
        assert row.pearson_p == pytest.approx(expected.pvalue) and row.p_method == "t distribution"
        assert row.spearman_p == pytest.approx(scipy_stats.spearmanr(part.source_top1, part.value).pvalue)
        assert row.spearman_rho == pytest.approx(scipy_stats.spearmanr(part.source_top1, part.value).statistic)
    mean_row = result[result.dataset == stats.MEAN_OVER_DATASETS].iloc[0]
    per_model = table.assign(l=stats.logit(table.value)).groupby("model").agg(l=("l", "mean"), s=("source_top1", "first"))
    assert mean_row.pearson_r == pytest.approx(scipy_stats.pearsonr(stats.logit(per_model.s), per_model.l).statistic)
    assert mean_row.n_models == stats.EXACT_P_MAX_MODELS + 1


def test_few_models_get_exact_p_values_over_every_pairing():
    # Spearman's rho = 1 with 3 models: 2 of the 3! pairings are as extreme (rho = 1 and -1), p = 1/3; scipy's t
    # approximation says 0.
    exact = stats.correlate(np.array([0.5, 0.6, 0.7]), np.array([0.1, 0.4, 0.9]))
    assert exact["spearman_rho"] == 1 and exact["spearman_p"] == pytest.approx(1 / 3)
    assert exact["p_method"] == "exact permutation"
    # Against an independent count of 4 models: |rho| >= observed among all 24 orderings.
    x, y = np.array([0.2, 0.4, 0.5, 0.7]), np.array([0.3, 0.1, 0.6, 0.8])
    rho = scipy_stats.spearmanr(x, y).statistic
    null = [scipy_stats.spearmanr(x, y[list(order)]).statistic for order in itertools.permutations(range(4))]
    assert stats.correlate(x, y)["spearman_p"] == pytest.approx(np.mean(np.abs(null) >= abs(rho) - 1e-12))


def test_fewer_than_three_models_gives_a_note_not_a_number(toy_table):
    result = stats.correlation_table(toy_table(n_models=2))
    assert result.pearson_r.isna().all()
    assert result.note.str.contains("fewer than 3 models").all()


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(value=t.value.where(t.index != 0, 1.5)), "'value' value\\(s\\) outside \\[0, 1\\]"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "duplicate \\(model, dataset, setting\\)"),
    (lambda t: t.drop(columns="source_top1"), "lacks column\\(s\\) \\['source_top1'\\]"),
    (lambda t: t.assign(metric=["map11"] + ["top1"] * (len(t) - 1)), "dataset 'a' is scored by several metrics"),
])
def test_bad_tables_are_refused_with_the_reason(change, message, toy_table):
    with pytest.raises(ValueError, match=message):
        stats.correlation_table(change(toy_table()))


def test_bootstrap_interval_is_seeded_repeatable_and_covers_the_estimate(toy_table):
    table = toy_table(n_models=8)
    first = stats.correlation_table(table, seed=3)
    again = stats.correlation_table(table, seed=3)
    other = stats.correlation_table(table, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first.pearson_low.equals(other.pearson_low)
    assert (first.pearson_low <= first.pearson_r).all() and (first.pearson_r <= first.pearson_high).all()
    assert (first.spearman_low <= first.spearman_high).all()


def test_bootstrap_interval_matches_scipy_percentile_interval():
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 1.3])
    y = np.array([0.0, 0.5, 0.2, 0.9, 0.7, 1.5])
    low, high, degenerate = stats.bootstrap_interval(x, y, statistic=stats._pearson, seed=0, n_resamples=2000)
    reference = scipy_stats.bootstrap((x, y), stats._pearson, paired=True, vectorized=True, n_resamples=2000,
                                      method="percentile", rng=np.random.default_rng(0))
    finite = reference.bootstrap_distribution[np.isfinite(reference.bootstrap_distribution)]
    assert (low, high) == pytest.approx(tuple(np.percentile(finite, [2.5, 97.5])))
    assert degenerate == 2000 - len(finite)


def test_mixed_effects_equals_statsmodels_and_ols_band_brackets_the_fit(toy_table):
    import statsmodels.formula.api as smf

    table = toy_table(n_models=6, datasets=("a", "b", "c", "d"))
    offsets = table.dataset.map({"a": -0.25, "b": 0.0, "c": 0.1, "d": 0.3})  # datasets differ in difficulty
    table = table.assign(value=(table.value + offsets).clip(0.01, 0.99))
    result = stats.mixed_effects_table(table).iloc[0]
    assert result.converged and result.warnings == "" and result.dataset_variance > 0
    data = pd.DataFrame({"t": stats.logit(table.value), "s": stats.logit(table.source_top1), "g": table.dataset})
    direct = smf.mixedlm("t ~ s", data, groups=data["g"]).fit(reml=True)
    assert result.slope == pytest.approx(direct.params["s"])
    assert result.slope_p == pytest.approx(direct.pvalues["s"])
    assert result.slope_low < result.slope < result.slope_high
    x, y = np.arange(5.0), np.array([0.1, 1.2, 1.9, 3.2, 3.9])
    mean, low, high = stats.ols_band(x, y, x)
    np.testing.assert_allclose(mean, np.polyval(np.polyfit(x, y, 1), x))
    assert (low < mean).all() and (mean < high).all()


def test_mixed_effects_needs_models_and_datasets(toy_table):
    result = stats.mixed_effects_table(toy_table(n_models=5, datasets=("a",)))
    assert result.slope.isna().all() and "2 datasets" in result.note.iloc[0]


def test_mixed_effects_records_fitting_warnings_instead_of_hiding_them(toy_table):
    # Datasets that do not differ put the random-effect variance on the boundary of its space.
    result = stats.mixed_effects_table(toy_table(n_models=6, datasets=("a", "b", "c"))).iloc[0]
    assert "boundary" in result.warnings or not result.converged


def test_permutation_test_of_identical_models_is_not_significant_and_of_different_ones_is():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 400)
    good = np.eye(5)[labels] + rng.normal(0, 0.6, (400, 5))   # mostly right
    bad = rng.normal(0, 1, (400, 5))                          # chance
    diff, p = stats.paired_permutation_test(labels, good, good.copy(), "top1", n_permutations=500)
    assert diff == 0 and p == 1.0
    diff, p = stats.paired_permutation_test(labels, good, bad, "top1", n_permutations=500)
    assert diff > 0.4 and p == pytest.approx(1 / 501)
    assert stats.mcnemar_exact(labels, good, bad) < 1e-6


@pytest.mark.parametrize("metric", ["top1", "mean_per_class"])
def test_vectorised_permutations_equal_recomputing_the_metric(metric):
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), [40, 20, 10, 30])
    a, b = rng.normal(size=(100, 4)) + np.eye(4)[labels], rng.normal(size=(100, 4)) + 0.5 * np.eye(4)[labels]
    from transferstudy import metrics
    swaps = np.random.default_rng(7).random((50, 100)) < 0.5
    slow = [metrics.score(metric, labels, np.where(s[:, None], b, a)) - metrics.score(metric, labels, np.where(s[:, None], a, b))
            for s in swaps]
    diff, p = stats.paired_permutation_test(labels, a, b, metric, n_permutations=50, seed=7)
    assert p == pytest.approx((np.sum(np.abs(slow) >= abs(diff) - 1e-12) + 1) / 51)


def test_pairwise_table_compares_every_pair_with_holm_adjustment():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 3, 200)
    scores = {m: np.eye(3)[labels] * quality + rng.normal(0, 1, (200, 3)) for m, quality in
              (("m0", 0.2), ("m1", 1.0), ("m2", 3.0))}
    predictions = {("logistic_regression", "d", m): (labels, s, "top1") for m, s in scores.items()}
    table = stats.pairwise_table(predictions, n_permutations=300)
    assert list(zip(table.model_a, table.model_b)) == [("m0", "m1"), ("m0", "m2"), ("m1", "m2")]
    assert (table.p_permutation_holm >= table.p_permutation).all()
    strongest = table[(table.model_a == "m0") & (table.model_b == "m2")].iloc[0]
    assert strongest.difference < -0.3 and strongest.p_permutation_holm < 0.01 and strongest.p_mcnemar < 0.01


def test_map_permutations_equal_recomputing_the_metric():
    from transferstudy import metrics

    rng = np.random.default_rng(3)
    labels = (rng.random((60, 4)) < 0.3).astype(np.uint8)
    labels[0] = 1  # every class has a positive
    a, b = labels + rng.normal(0, 0.8, (60, 4)), labels + rng.normal(0, 1.5, (60, 4))
    swaps = np.random.default_rng(5).random((40, 60)) < 0.5
    slow = [metrics.score("map11", labels, np.where(s[:, None], b, a)) - metrics.score("map11", labels, np.where(s[:, None], a, b))
            for s in swaps]
    diff, p = stats.paired_permutation_test(labels, a, b, "map11", n_permutations=40, seed=5)
    assert diff == pytest.approx(metrics.score("map11", labels, a) - metrics.score("map11", labels, b))
    assert p == pytest.approx((np.sum(np.abs(slow) >= abs(diff) - 1e-12) + 1) / 41)
