"""Training-set-size subsets: how they are drawn and cut, planned, and turned into tables and figures."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as scipy_stats

from workflow_runs import ROOT
from transferstudy import cli
from transferstudy.analysis import subsets as subset_analysis
from transferstudy.analysis.catalogue import figures_for
from transferstudy.config import ConfigError
from transferstudy.data import subsets
from transferstudy.io import read_split_file, write_split_file
from transferstudy.study.plan import Study

LABELS = np.repeat(np.arange(4), [10, 10, 10, 3])  # class 3 has only three examples


def test_draw_takes_k_per_class_nested_over_sizes_and_caps_small_classes():
    two, capped_two = subsets.draw(LABELS, 2, seed=0)
    five, capped_five = subsets.draw(LABELS, 5, seed=0)
    assert np.bincount(LABELS[two]).tolist() == [2, 2, 2, 2] and capped_two == {}
    assert np.bincount(LABELS[five]).tolist() == [5, 5, 5, 3] and capped_five == {3: 3}
    assert set(two) <= set(five)  # nested: the 2-shot subset lies inside the 5-shot one of the same seed
    assert not np.array_equal(subsets.draw(LABELS, 2, seed=1)[0], two)
    with pytest.raises(ValueError, match="one label per example"):
        subsets.draw(np.eye(3, dtype=int), 1, seed=0)


def test_names_of_subsets():
    assert subsets.subset_name("stars_fine", 5, 1) == "stars_fine.5shot.seed1"
    assert subsets.parse_subset_name("stars_fine.5shot.seed1") == ("stars_fine", 5, 1)
    assert subsets.parse_subset_name("my.data.10shot.seed0") == ("my.data", 10, 0)
    assert subsets.parse_subset_name("stars_fine") is None


def _split_file(path, rng, multilabel=False):
    splits = {}
    for split, labels in (("train", LABELS), ("val", np.repeat(np.arange(4), 4)), ("test", np.arange(20) % 4)):
        splits[split] = {"features": rng.normal(size=(len(labels), 3)).astype(np.float32), "labels": labels}
    if multilabel:
        splits = {s: {"features": a["features"], "labels": np.eye(4, dtype=np.uint8)[a["labels"]]}
                  for s, a in splits.items()}
    write_split_file(path, splits, {"dataset": "d", "metric": "top1", "num_classes": 4, "multilabel": multilabel,
                                    "model": "m"})
    return splits


def test_a_subset_file_cuts_train_and_val_and_records_what_it_drew(tmp_path):
    rng = np.random.default_rng(0)
    full = _split_file(tmp_path / "full.h5", rng)
    attrs = subsets.write_subset(tmp_path / "full.h5", tmp_path / "sub.h5", shots=5, seed=2)
    cut, read = read_split_file(tmp_path / "sub.h5", ("features", "labels"))
    assert read["dataset"] == attrs["dataset"] == "d.5shot.seed2" and read["model"] == "m"
    assert np.bincount(cut["train"]["labels"]).tolist() == [5, 5, 5, 3]
    assert np.bincount(cut["val"]["labels"]).tolist() == [4, 4, 4, 4]  # val has 4 per class: all kept
    assert np.array_equal(cut["test"]["features"], full["test"]["features"])
    indices, _ = subsets.draw(LABELS, 5, seed=2)
    assert np.array_equal(cut["train"]["features"], full["train"]["features"][indices])
    record = read["subset"]
    assert record["dataset"] == "d" and record["train"]["capped"] == {"3": 3}
    assert record["val"]["capped"] == {"0": 4, "1": 4, "2": 4, "3": 4}
    assert (record["train"]["size"], record["train"]["of"], len(record["train"]["indices_sha256"])) == (18, 33, 64)
    _split_file(tmp_path / "multi.h5", rng, multilabel=True)
    with pytest.raises(ValueError, match="multi.h5: dataset 'd' is multi-label"):
        subsets.write_subset(tmp_path / "multi.h5", tmp_path / "no.h5", shots=2, seed=0)


def _config(**subset_options):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["subsets"] = {"enabled": True, **subset_options}
    return config


def test_the_study_plans_subsets_as_datasets():
    study = Study(_config(datasets=["textures"], examples_per_class=[5, 2], seeds=2, arms=["scratch"]))
    assert study.subsets.names == ["textures.2shot.seed0", "textures.2shot.seed1", "textures.5shot.seed0",
                                   "textures.5shot.seed1"]
    assert len(study.subsets.pairs("logistic_regression")) == 7 * 4
    assert len(study.subsets.pairs("scratch")) == len(study.arms.models("scratch")) * 4
    assert study.subsets.pairs("finetune") == []
    assert "fig8_training_set_size" in study.figures and "fig9_subsets_pretrained_vs_random" not in study.figures
    both = Study(_config(arms=["finetune", "scratch"]))
    assert "fig9_subsets_pretrained_vs_random" in both.figures
    # Every single-label dataset by default (not the multi-label one).
    assert both.subsets.bases == ["digits", "stars_fine", "textures", "glyphs_fewshot"]
    assert Study(_config(enabled=False)).subsets.names == []


@pytest.mark.parametrize("options, message", [
    ({"datasets": ["glyphs_multilabel"]}, "subsets.datasets lists 'glyphs_multilabel', which is multi-label"),
    ({"datasets": ["cifar10"]}, "subsets.datasets lists 'cifar10', which is not in datasets"),
    ({"datasets": ["digits"], "arms": ["finetune"]}, "subsets.arms lists 'finetune', but none of its datasets"),
])
def test_bad_subsets_are_refused_naming_the_key(options, message):
    with pytest.raises(ConfigError, match=message):
        Study(_config(**options))


@pytest.fixture
def toy_accuracy(accuracy_of):
    """Four models on d1 in all three settings, accuracy rising with source top-1."""
    return accuracy_of(lambda i, *_: 0.6 + 0.05 * i, models=("a", "b", "c", "d"), datasets=("d1",),
                       settings=("logistic_regression", "finetune", "scratch"), source_top1=lambda i: 0.5 + 0.1 * i,
                       n_test=200, n_train=400, n_val=100)


def _results(tmp_path):
    """Probe and refit JSONs of four models on two sizes and two seeds of d1, accuracy rising with source top-1."""
    paths = []
    for i, model in enumerate(("a", "b", "c", "d")):
        for shots in (2, 5):
            for seed in (0, 1):
                name = subsets.subset_name("d1", shots, seed)
                value = 0.2 + 0.05 * i + 0.04 * shots + 0.01 * seed
                common = {"model": model, "dataset": name, "metric": "top1", "eval_split": "test",
                          "sizes": {"train": 4 * shots, "val": 4 * shots, "test": 200}, "arch": model,
                          "checkpoint_sha256": "0" * 64, "split_seed": 0}
                trained = {"hyperparameters": {"lr": 0.1, "weight_decay": 0.0}, "not_converged": None}
                probe = {**common, "setting": "logistic_regression", "value": value,
                         "hyperparameters": {"penalty": 1.0}, "not_converged": 0,
                         "features": {"attrs": {"subset": {"train": {"capped": {"3": 3} if shots == 5 else {}}}}}}
                for setting, result in (("logistic_regression", probe),
                                        ("finetune", {**common, **trained, "setting": "finetune", "value": value + 0.1}),
                                        ("scratch", {**common, **trained, "setting": "scratch", "value": value - 0.1})):
                    paths.append(tmp_path / f"{setting}_{model}_{name}.json")
                    paths[-1].write_text(json.dumps(result))
    return paths


def test_subset_tables_summarise_seeds_and_correlate_at_each_size(tmp_path, toy_accuracy):
    table = subset_analysis.subsets_table(_results(tmp_path), toy_accuracy)
    # Hyper-parameters as JSON, as in the accuracy table (they were Python's repr).
    subset_rows = table[table["examples_per_class"] != "all"]
    assert {json.loads(text)["penalty"] for text in subset_rows[subset_rows.setting == "logistic_regression"]
            ["hyperparameters"]} == {1.0}
    assert len(table) == 3 * 4 * (2 * 2 + 1)  # settings x models x (sizes x seeds + the full split)
    assert list(pd.unique(table["examples_per_class"])) == ["2", "5", "all"]
    probe = table[table.setting == "logistic_regression"]
    assert set(probe[probe.examples_per_class == "5"]["capped_classes"]) == {1}
    summary = subset_analysis.summary_table(table)
    row = summary[(summary.setting == "logistic_regression") & (summary.model == "b")
                  & (summary.examples_per_class == "2")].iloc[0]
    values = [0.2 + 0.05 + 0.08, 0.2 + 0.05 + 0.08 + 0.01]
    low, high = scipy_stats.t.interval(0.95, 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (row["n_seeds"], row["mean"], row["low"], row["high"]) == (2, pytest.approx(np.mean(values)),
                                                                      pytest.approx(low), pytest.approx(high))
    full = summary[summary.examples_per_class == "all"]
    assert (full["n_seeds"] == 1).all() and full["low"].isna().all()
    correlation = subset_analysis.correlation_by_size(summary)
    means = correlation[correlation.dataset == "mean (logit)"]
    assert len(means) == 3 * 3 and (means["pearson_r"] > 0.99).all() and (means["n_models"] == 4).all()


def test_the_standalone_analysis_draws_the_training_set_size_figures(tmp_path, toy_accuracy):
    table = subset_analysis.subsets_table(_results(tmp_path), toy_accuracy)
    accuracy_csv, subsets_csv = tmp_path / "accuracy.csv", tmp_path / "subsets.csv"
    toy_accuracy.to_csv(accuracy_csv, index=False)
    table.to_csv(subsets_csv, index=False)
    cli.main(["analysis", str(accuracy_csv), "--out", str(tmp_path / "out"), "--subsets", str(subsets_csv)])
    for name in ("subsets_summary.csv", "subsets_correlation.csv", "fig8_training_set_size.pdf",
                 "fig9_subsets_pretrained_vs_random.pdf"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    # Without both arms on subsets, no pretrained-vs-random figure.
    assert "fig9_subsets_pretrained_vs_random" not in figures_for(
        ["logistic_regression", "finetune", "scratch"], ["subsets_summary", "subsets_correlation"],
        subset_settings=["logistic_regression", "finetune"])
