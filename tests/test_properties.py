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


def test_every_recorded_property_is_compared_on_its_scale(sized):
    # ImageNet-V2 top-1 a monotone function of size (so it predicts as size does); the pretraining data: the four
    # largest models pretrained on more than ImageNet-1k (an indicator, a point-biserial r).
    ranks = sized["model"].map({m: i for i, m in enumerate(MODELS)})
    table = sized.assign(imagenet_v2_top1=0.3 + 0.05 * ranks,
                         pretraining_data=np.where(ranks >= 4, "in21k+in1k", "in1k"))
    result = properties.property_table(table).set_index(["dataset", "property"]).loc[stats.MEAN_OVER_DATASETS]
    assert list(result.index) == ["source_top1", "imagenet_v2_top1", "params", "flops", "pretraining_data"]
    assert result.loc["imagenet_v2_top1", "scale"] == "log odds" and result.loc["imagenet_v2_top1", "pearson_r"] > 0.95
    means = table.assign(t=transfer_logit(table)).groupby("model", sort=False)["t"].mean()
    expected = np.corrcoef((np.arange(len(MODELS)) >= 4).astype(float), means)[0, 1]
    assert result.loc["pretraining_data", "pearson_r"] == pytest.approx(expected)
    assert result.loc["pretraining_data", "scale"] == properties.MORE_DATA
    mixed = properties.mixed_property_table(table).set_index("property")
    assert list(mixed.index) == ["imagenet_v2_top1", "params", "flops", "pretraining_data"]
    assert mixed.loc["pretraining_data", "coefficient_low"] > 0  # the bigger models' data: more transfer
    # The same pretraining data for every model: compared nowhere, said so.
    same = sized.assign(pretraining_data="in1k")
    mixed = properties.mixed_property_table(same).set_index("property")
    assert mixed.loc["pretraining_data", "note"] == "pretraining_data is the same for every model: nothing to fit"
    rows = properties.property_table(same).query("property == 'pretraining_data'")
    assert set(rows["note"]) == {"pretraining_data is the same for every model: no correlation"}


def test_missing_and_impossible_properties_are_named(sized, caplog):
    no_size = sized.drop(columns=["params", "flops"])
    with caplog.at_level("INFO"):
        table = properties.property_table(no_size)
    assert set(table["property"]) == {"source_top1"} and "has no params: it is not compared" in caplog.text
    assert properties.mixed_property_table(no_size).empty
    with pytest.raises(ValueError, match="imagenet_r_top1 of 'n/a': not a number"):
        properties.property_table(sized.assign(imagenet_r_top1="n/a"))
    with pytest.raises(ValueError, match="imagenet_a_top1 of 0.0: an accuracy is a fraction strictly between"):
        properties.property_table(sized.assign(imagenet_a_top1=0.0))
    with pytest.raises(ValueError, match="params of 0.0: a count is positive"):
        properties.property_table(sized.assign(params=sized["params"].where(sized["model"] != "a", 0.0)))
    few = sized.assign(flops=sized["flops"].where(sized["model"].isin(["a", "b"])))
    row = properties.property_table(few).query("property == 'flops'").iloc[0]
    assert row["note"] == "fewer than 3 models with flops: no correlation" and pd.isna(row["pearson_r"])


def test_a_table_of_the_papers_shape_is_analysed_and_drawn(accuracy_of, tmp_path):
    # 16 networks x 12 datasets x 2 settings; transfer follows ImageNet-V2 top-1, which top-1 only partly tracks:
    # V2 must come out better than top-1 on the mean over datasets, and every property must get its rows.
    from transferstudy.analysis import figures

    rng = np.random.default_rng(0)
    models, datasets = [f"net{i:02d}" for i in range(16)], [f"data{j:02d}" for j in range(12)]
    v2 = np.linspace(0.55, 0.8, len(models))
    top1 = np.clip(v2 + 0.12 + rng.normal(0, 0.04, len(models)), 0.01, 0.99)
    params = np.exp(rng.uniform(14, 19, len(models)))

    def value(i, model, dataset, setting):
        logit = 2 * (np.log(v2[i] / (1 - v2[i])) - 0.5) + 0.3 * datasets.index(dataset) / 12 + rng.normal(0, 0.05)
        return float(1 / (1 + np.exp(-logit)))

    table = accuracy_of(value, models=models, datasets=datasets, source_top1=lambda i: top1[i],
                        settings=("logistic_regression", "finetune"), n_test=10_000)
    index = table["model"].map({m: i for i, m in enumerate(models)})
    table = table.assign(imagenet_v2_top1=v2[index], params=params[index], flops=params[index] * 200,
                         pretraining_data=np.where(index % 2, "in21k+in1k", "in1k"))
    result = properties.property_table(table)
    assert len(result) == 2 * (12 + 1) * 5  # settings x (datasets and their mean) x properties
    mean = result[result["dataset"] == stats.MEAN_OVER_DATASETS].set_index(["setting", "property"])
    for setting in ("logistic_regression", "finetune"):
        assert mean.loc[(setting, "imagenet_v2_top1"), "verdict"] == "better"
        assert mean.loc[(setting, "imagenet_v2_top1"), "pearson_r"] > 0.99
    mixed = properties.mixed_property_table(table)
    assert len(mixed) == 2 * 4 and mixed["coefficient"].notna().all()
    figures.fig11_source_properties(result).savefig(tmp_path / "fig11.pdf")
    assert (tmp_path / "fig11.pdf").stat().st_size > 0
