"""The analysis refuses, or explicitly handles, every inconsistency of an accuracy table, naming the cells."""

import io

import numpy as np
import pandas as pd
import pytest

from transferstudy.analysis import stats, tables


@pytest.fixture
def toy_table(accuracy_of):
    """Accuracy rising with source top-1 on every dataset: ``n_models`` models, cells in (model, dataset) order."""
    def table(n_models=5, datasets=("a", "b", "c"), n_test=None):
        return accuracy_of(lambda i, model, dataset, setting: 0.3 + 0.1 * i + 0.02 * datasets.index(dataset),
                           models=[f"m{m}" for m in range(n_models)], datasets=datasets,
                           source_top1=lambda i: 0.5 + 0.05 * i, **({"n_test": n_test} if n_test else {}))
    return table


def test_missing_cells_are_an_error_that_lists_them(toy_table):
    table = toy_table().drop(index=[2, 5])  # (m0, c), (m1, c)
    with pytest.raises(stats.TableError, match=r"2 \(model, dataset\) cell\(s\) missing.*logistic_regression: "
                                               r"\(m0, c\); logistic_regression: \(m1, c\).*--incomplete"):
        stats.correlation_table(table)


def test_the_complete_submatrix_drops_the_fewest_and_says_what_it_used(toy_table):
    table = toy_table().drop(index=[2, 5])  # dataset c lacks two models: dropping c keeps 10 cells, two models 9
    result = stats.correlation_table(table, incomplete="complete_submatrix").set_index("dataset")
    mean = result.loc[stats.MEAN_OVER_DATASETS]
    assert mean.n_models == 5 and mean.n_datasets == 2 and mean.datasets == "a;b"
    assert mean.models == "m0;m1;m2;m3;m4"
    # Per dataset: the models present on it.
    assert result.loc["c", "n_models"] == 3 and result.loc["c", "models"] == "m2;m3;m4"
    kept, models, datasets = stats.complete_submatrix(toy_table().drop(index=[0, 1]))  # m0 lacks a and b
    assert models == ["m0"] and datasets == [] and set(kept.model) == {"m1", "m2", "m3", "m4"}
    mixed = stats.mixed_effects_table(table, incomplete="complete_submatrix").iloc[0]
    assert mixed.n_cells == 10 and mixed.datasets == "a;b"


def test_the_issues_example_no_longer_moves_r_silently(toy_table):
    table = toy_table(n_models=6, datasets=("a", "b", "c", "d"))
    hardest = table[(table.dataset == "a") & table.model.isin(["m0", "m1", "m2", "m3"])].index
    with pytest.raises(stats.TableError, match=r"4 \(model, dataset\) cell\(s\) missing"):
        stats.correlation_table(table.drop(index=hardest))


@pytest.mark.parametrize("change, message", [
    (lambda t: t.assign(source_top1=t.source_top1.where(t.index != 1, 0.61)),
     r"model 'm0' has 2 source_top1 values \(0.5, 0.61\); a model has one ImageNet top-1"),
    (lambda t: t.assign(value=t.value.astype(object).where(t.index != 3, "abc")),
     r"value 'abc' is not a number: \(model=m1, dataset=a, setting=logistic_regression\)"),
    (lambda t: t.assign(value=t.value.where(t.index != 4)),
     r"1 value value\(s\) missing: \(model=m1, dataset=b, setting=logistic_regression\)"),
    (lambda t: t.assign(setting="fine_tune"), r"setting 'fine_tune' is not known; valid: logistic_regression, "
                                              r"finetune, scratch"),
    (lambda t: t.assign(metric="accuracy"), r"metric 'accuracy' is not known; valid: top1, mean_per_class, map11"),
    (lambda t: t.assign(model=t.model.where(t.index != 0, "m0 ")), r"model 'm0 ' has surrounding whitespace"),
    (lambda t: t.iloc[:0], r"accuracy table has no rows"),
    (lambda t: t.assign(source_top1=t.source_top1.where(t.model != "m4", 1.0)), r"model 'm4' has source_top1 1"),
    (lambda t: t.assign(dataset=t.dataset.where(t.index != 0)), r"1 row\(s\) without a dataset \(data rows 1\)"),
])
def test_inconsistent_tables_are_refused_naming_the_cells(change, message, toy_table):
    with pytest.raises(stats.TableError, match=message):
        stats.correlation_table(change(toy_table()))


def test_a_table_read_from_csv_with_an_empty_value_names_the_missing_row():
    text = "model,dataset,setting,value,source_top1\nm0,a,logistic_regression,0.5,0.6\nm1,a,logistic_regression,,0.7\n"
    with pytest.raises(stats.TableError, match=r"1 value value\(s\) missing: \(model=m1, dataset=a"):
        stats.check_accuracy_table(pd.read_csv(io.StringIO(text)))


def test_accuracies_of_zero_and_one_use_the_empirical_logit_of_the_test_size(toy_table):
    table = toy_table(n_test=200)
    table.loc[0, "value"], table.loc[1, "value"] = 0.0, 1.0
    logits = stats.transfer_logit(table)
    assert logits[0] == pytest.approx(np.log(0.5 / 200.5)) and logits[1] == pytest.approx(np.log(200.5 / 0.5))
    k = table.loc[2, "value"] * 200
    assert logits[2] == pytest.approx(np.log((k + 0.5) / (200 - k + 0.5)))
    assert np.isfinite(stats.correlation_table(table).pearson_r).all()
    # A larger test set makes the same perfect score count for more.
    assert stats.transfer_logit(table.assign(n_test=2000))[1] > logits[1]
    with pytest.raises(stats.TableError, match=r"2 accuracy value\(s\) of exactly 0 or 1 .*no number of test examples "
                                               r"\(n_test\).*\(model=m0, dataset=a"):
        stats.correlation_table(table.drop(columns="n_test"))


def test_p_values_in_latex_are_never_printed_as_zero():
    assert tables.latex_p_value(0.2345) == "0.23"
    assert tables.latex_p_value(3.2e-5) == "$3.2 \\times 10^{-5}$"
    assert tables.latex_p_value(0.004) == "$4.0 \\times 10^{-3}$"
    assert tables.latex_p_value(np.nan) == "--"
