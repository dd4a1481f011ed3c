"""Which source property predicts transfer: correlations, paired differences from top-1, the mixed-effects model
with a second property, and refusal of what cannot be compared."""

import numpy as np
import pandas as pd
import pytest

from transferstudy.analysis import properties, stats
from transferstudy.analysis.table_checks import transfer_logit

MODELS = tuple("abcdefgh")
DATASETS = ("d1", "d2", "d3")


@pytest.fixture
def sized(accuracy_of):
    """Eight models whose transfer follows their size (log parameters), with top-1 shuffled against it; FLOPs are
    a fixed multiple of the parameters, and model h's FLOPs are unknown."""
    params = np.exp(np.linspace(10, 17, len(MODELS)))
    top1 = np.array([0.62, 0.75, 0.58, 0.70, 0.66, 0.55, 0.73, 0.60])
    rng = np.random.default_rng(3)
    shift = {dataset: rng.normal(0, 0.3) for dataset in DATASETS}

    def value(i, model, dataset, setting):
        logit = 0.25 * (np.log(params[i]) - 13.5) + shift[dataset] + rng.normal(0, 0.05)
        return float(1 / (1 + np.exp(-logit)))

    table = accuracy_of(value, models=MODELS, datasets=DATASETS, source_top1=lambda i: top1[i], n_test=10_000)
    table["params"] = table["model"].map(dict(zip(MODELS, params)))
    table["flops"] = table["params"] * 300
    table.loc[table["model"] == "h", "flops"] = np.nan
    return table


def test_a_property_that_predicts_better_than_top1_is_found_with_a_paired_interval(sized):
    table = properties.property_table(sized).set_index(["dataset", "property"])
    mean = table.loc[stats.MEAN_OVER_DATASETS]
    assert list(mean.index) == ["source_top1", "params", "flops"]
    assert mean.loc["params", "pearson_r"] > 0.99 and mean.loc["params", "verdict"] == "better"
    assert mean.loc["params", "difference_low"] > 0
    expected = np.corrcoef(np.log(sized.drop_duplicates("model")["params"]),
                           sized.assign(t=transfer_logit(sized)).groupby("model", sort=False)["t"].mean())[0, 1]
    assert mean.loc["params", "pearson_r"] == pytest.approx(expected)
    assert mean.loc["params", "r_minus_top1"] == pytest.approx(expected - mean.loc["source_top1", "pearson_r"])
    assert pd.isna(mean.loc["source_top1", "r_minus_top1"])  # top-1 is not compared with itself
    # FLOPs: h left out and named; on the other seven models, as log parameters (a constant shift).
    assert mean.loc["flops", "n_models"] == 7 and mean.loc["flops", "note"] == "left out, without flops: h"
    per_dataset = table.loc["d1"]
    assert per_dataset.loc["params", "verdict"] == "better" and per_dataset.loc["params", "n_models"] == 8


def test_a_property_equal_to_top1_is_no_clear_difference(sized):
    same = sized.assign(params=sized["source_top1"] / (1 - sized["source_top1"]))  # log params = logit top-1
    mean = properties.property_table(same).set_index(["dataset", "property"]).loc[stats.MEAN_OVER_DATASETS]
    assert mean.loc["params", "r_minus_top1"] == pytest.approx(0, abs=1e-12)
    assert mean.loc["params", "verdict"] == "no clear difference"


def test_the_mixed_model_says_what_size_adds_to_top1(sized):
    # In two settings: the second setting's rows come after the first's in the table's index.
    two = pd.concat([sized, sized.assign(setting="finetune")], ignore_index=True)
    both = properties.mixed_property_table(two)
    assert list(both["setting"]) == ["finetune", "finetune", "logistic_regression", "logistic_regression"]
    table = both[both["setting"] == "logistic_regression"].set_index("property")
    assert list(table.index) == ["params", "flops"]
    assert table.loc["params", "coefficient"] == pytest.approx(0.25, abs=0.02)
    assert table.loc["params", "coefficient_low"] > 0 and table.loc["params", "coefficient_p"] < 1e-6
    assert table.loc["flops", "n_models"] == 7 and table.loc["flops", "note"] == "left out, without flops: h"


def test_missing_and_impossible_properties_are_named(sized, caplog):
    no_size = sized.drop(columns=["params", "flops"])
    with caplog.at_level("INFO"):
        table = properties.property_table(no_size)
    assert set(table["property"]) == {"source_top1"} and "has no params: it is not compared" in caplog.text
    assert properties.mixed_property_table(no_size).empty
    with pytest.raises(ValueError, match="params of 0.0: a count is positive"):
        properties.property_table(sized.assign(params=sized["params"].where(sized["model"] != "a", 0.0)))
    few = sized.assign(flops=sized["flops"].where(sized["model"].isin(["a", "b"])))
    row = properties.property_table(few).query("property == 'flops'").iloc[0]
    assert row["note"] == "fewer than 3 models with flops: no correlation" and pd.isna(row["pearson_r"])
