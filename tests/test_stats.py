import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from transferstudy import stats


def _table(n_models=5, datasets=("a", "b"), setting="logistic_regression"):
    rng = np.random.default_rng(0)
    rows = []
    for m in range(n_models):
        top1 = 0.3 + 0.1 * m
        for d in datasets:
            rows.append({"model": f"m{m}", "dataset": d, "setting": setting, "metric": "top1",
                         "value": float(np.clip(top1 + rng.normal(0, 0.05), 0.01, 0.99)), "source_top1": top1})
    return pd.DataFrame(rows)


def test_logit_is_log_odds_and_finite_at_the_ends():
    assert stats.logit(0.5) == 0.0
    assert stats.logit(0.9) == pytest.approx(np.log(9))
    assert np.isfinite(stats.logit([0.0, 1.0])).all()


def test_correlations_equal_scipy_on_log_odds():
    table = _table()
    result = stats.correlation_table(table)
    for dataset, part in table.groupby("dataset"):
        row = result[result.dataset == dataset].iloc[0]
        expected = scipy_stats.pearsonr(stats.logit(part.source_top1), stats.logit(part.value))
        assert row.pearson_r == pytest.approx(expected.statistic)
        assert row.pearson_p == pytest.approx(expected.pvalue)
        assert row.spearman_rho == pytest.approx(scipy_stats.spearmanr(part.source_top1, part.value).statistic)
    mean_row = result[result.dataset == stats.MEAN_OVER_DATASETS].iloc[0]
    per_model = table.assign(l=stats.logit(table.value)).groupby("model").agg(l=("l", "mean"), s=("source_top1", "first"))
    assert mean_row.pearson_r == pytest.approx(scipy_stats.pearsonr(stats.logit(per_model.s), per_model.l).statistic)
    assert mean_row.n_models == 5


def test_fewer_than_three_models_gives_a_note_not_a_number():
    result = stats.correlation_table(_table(n_models=2))
    assert result.pearson_r.isna().all()
    assert result.note.str.contains("fewer than 3 models").all()


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(value=t.value.where(t.index != 0, 1.5)), "'value' value\\(s\\) outside \\[0, 1\\]"),
    (lambda t: pd.concat([t, t.iloc[:1]]), "duplicate \\(model, dataset, setting\\)"),
    (lambda t: t.drop(columns="source_top1"), "lacks column\\(s\\) \\['source_top1'\\]"),
])
def test_bad_tables_are_refused_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        stats.correlation_table(change(_table()))
