"""The regularisation ablation: config expansion, the per-switch table, the zoo contrast and t-SNE."""

import io
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from workflow_runs import ROOT, job_counts, run_snakemake
from transferstudy import cli
from transferstudy.analysis import ablation, catalogue, figures, plotting
from transferstudy.config import ConfigError
from transferstudy.io import write_split_file
from transferstudy.nets import zoo
from transferstudy.study.plan import Study

@pytest.fixture
def with_ablation(config_with):
    """The default study with the ablation on (the default config holds it off: it doubles the study's time), and
    ``change`` made."""
    def changed(change=lambda config: None):
        def both(config):
            config["ablation"]["enabled"] = True
            change(config)
        return config_with(both)
    return changed


def check_models(config):
    """The plan's checks and the first job's (check_models), as the workflow runs them."""
    study = Study(config)
    return zoo.check_models(study.zoo.models, study.zoo.recipes)


def test_the_ablation_adds_each_switch_alone_all_four_and_the_mixed_zoo(with_ablation):
    config = with_ablation()
    study = Study(config)
    models = study.zoo.models
    base = config["ablation"]["model"]
    for tag, recipe in [("no_gamma", {"bn_gamma": False}), ("ls", {"label_smoothing": 0.1}),
                        ("dropout", {"dropout": 0.2}), ("aux", {"aux_head": True}),
                        ("all", {"bn_gamma": False, "label_smoothing": 0.1, "dropout": 0.2, "aux_head": True})]:
        assert models[f"{base}.{tag}"] == {"arch": config["models"][base]["arch"], "pretrain": recipe}
    assert models["mini_densenet.dropout-aux"]["pretrain"] == {"dropout": 0.2, "aux_head": True}
    # The mixed zoo's twin of the ablation model with all four is the ablation's own `.all`, trained once.
    assert f"{base}.all" in study.zoo.ablation.mixed_zoo and len(models) == len(config["models"]) + 5 + 4
    assert study.zoo.recipes[f"{base}.ls"].epochs == config["pretrain"]["epochs"]
    assert study.zoo.recipes[f"{base}.ls"].label_smoothing == 0.1 and study.zoo.recipes[base].label_smoothing == 0
    # Training from random initialisation does not depend on the pretraining recipe: once per architecture.
    assert study.arms.models("scratch") == list(config["models"])
    assert study.arms.models("finetune") == list(models)
    disabled = Study(with_ablation(lambda c: c["ablation"].__setitem__("enabled", False)))
    assert disabled.zoo.models == config["models"] and disabled.zoo.ablation.mixed_zoo == []


@pytest.mark.parametrize("change, message", [
    (lambda c: c["ablation"].__setitem__("model", "resnet"), r"ablation.model names 'resnet', which is not a model"),
    (lambda c: c["models"]["mini_vgg"].__setitem__("pretrain", {"dropout": 0.5}),
     r"ablation.model names 'mini_vgg', whose recipe already turns on \['dropout'\]"),
    (lambda c: c["ablation"]["mixed_zoo"].__setitem__("mini_convnet", []), "mixed_zoo.mini_convnet turns on no switch"),
    (lambda c: c["ablation"].__setitem__("tsne", {"dataset": "glyphs_multilabel"}), "is multi-label"),
    (lambda c: c["ablation"].__setitem__("tsne", {"dataset": "cifar10"}), "ablation.tsne.dataset = 'cifar10' is not"),
    (lambda c: c["models"].__setitem__("mini_vgg.ls", {"arch": "mini_vgg"}), "may hold only letters"),
])
def test_bad_ablation_settings_name_the_key(change, message, with_ablation):
    with pytest.raises(ConfigError, match=message):
        Study(with_ablation(change))


# Three architectures, each with a baseline (every switch off): "a" with two variants (a.ls, a.all), "b" and
# "c" with one each (their mixed twins, with a.all); "tv" is a downloaded network (recipe unknown).
ACCURACY = """model,dataset,setting,value,source_top1,arch,switches
a,d1,logistic_regression,0.80,0.70,a,none
a,d2,logistic_regression,0.60,0.70,a,none
a,d3,logistic_regression,0.50,0.70,a,none
a.ls,d1,logistic_regression,0.70,0.71,a,label_smoothing
a.ls,d2,logistic_regression,0.50,0.71,a,label_smoothing
a.ls,d3,logistic_regression,0.40,0.71,a,label_smoothing
a.all,d1,logistic_regression,0.60,0.72,a,no_bn_gamma+label_smoothing+dropout+aux_head
a.all,d2,logistic_regression,0.40,0.72,a,no_bn_gamma+label_smoothing+dropout+aux_head
a.all,d3,logistic_regression,0.35,0.72,a,no_bn_gamma+label_smoothing+dropout+aux_head
a.all,d1,finetune,0.90,0.72,a,no_bn_gamma+label_smoothing+dropout+aux_head
a,d1,finetune,0.91,0.70,a,none
b,d1,logistic_regression,0.70,0.60,b,none
b,d2,logistic_regression,0.50,0.60,b,none
b,d3,logistic_regression,0.40,0.60,b,none
b.dropout,d1,logistic_regression,0.72,0.59,b,dropout
b.dropout,d2,logistic_regression,0.52,0.59,b,dropout
b.dropout,d3,logistic_regression,0.41,0.59,b,dropout
c,d1,logistic_regression,0.60,0.50,c,none
c,d2,logistic_regression,0.40,0.50,c,none
c,d3,logistic_regression,0.30,0.50,c,none
c.aux,d1,logistic_regression,0.62,0.52,c,aux_head
c.aux,d2,logistic_regression,0.42,0.52,c,aux_head
c.aux,d3,logistic_regression,0.33,0.52,c,aux_head
tv,d1,logistic_regression,0.85,0.76,resnet50,
"""


def _logit(p):
    return np.log(p / (1 - p))


def test_ablation_table_compares_each_variant_with_its_architectures_baseline():
    table = ablation.ablation_table(pd.read_csv(io.StringIO(ACCURACY)))
    row = table[(table.model == "a.ls") & (table.setting == "logistic_regression")].iloc[0]
    expected = np.mean([_logit(0.7) - _logit(0.8), _logit(0.5) - _logit(0.6), _logit(0.4) - _logit(0.5)])
    assert row.baseline == "a" and row.n_datasets == 3 and row.datasets_worse == 3
    assert row.transfer_logit_change == pytest.approx(expected)
    assert row.transfer_change == pytest.approx(-10.0)
    assert row.source_top1_change == pytest.approx(1.0)
    assert row.transfer_logit_low <= expected <= row.transfer_logit_high < 0
    tuned = table[(table.model == "a.all") & (table.setting == "finetune")].iloc[0]
    assert tuned.n_datasets == 1 and np.isnan(tuned.transfer_logit_low) and "no interval" in tuned.note
    assert "tv" not in set(table.model)  # a downloaded network: its recipe is unknown
    assert set(table.model) == {"a.ls", "a.all", "b.dropout", "c.aux"}


def test_two_baselines_of_one_architecture_are_refused():
    twice = ACCURACY + "a2,d1,logistic_regression,0.8,0.7,a,none\n"
    with pytest.raises(ValueError, match=r"architecture 'a' has several models trained with every switch off"):
        ablation.ablation_table(pd.read_csv(io.StringIO(twice)))


def test_zoo_correlation_contrasts_the_controlled_zoo_with_its_mixed_twins():
    accuracy = pd.read_csv(io.StringIO(ACCURACY))
    table = ablation.zoo_correlation_table(accuracy, ["a.all", "b.dropout", "c.aux"])
    means = table[table.dataset == "mean (logit)"].set_index(["zoo", "setting"])
    assert means.loc[("controlled", "logistic_regression"), "models"] == "a;b;c"
    assert means.loc[("mixed", "logistic_regression"), "n_models"] == 3
    # Controlled: a (0.70) > b (0.60) > c (0.50) in transfer too; mixed: a.all falls below b.dropout.
    assert means.loc[("controlled", "logistic_regression"), "spearman_rho"] == pytest.approx(1.0)
    assert means.loc[("mixed", "logistic_regression"), "spearman_rho"] == pytest.approx(-0.5)
    with pytest.raises(ValueError, match=r"mixed zoo: \['b'\] are not models with switches on"):
        ablation.zoo_correlation_table(accuracy, ["a.all", "b"])


def test_standalone_analysis_with_a_mixed_zoo_draws_the_ablation_figure(tmp_path, capsys):
    csv = tmp_path / "accuracy.csv"
    csv.write_text(ACCURACY)
    assert cli.main(["analysis", str(csv), "--out", str(tmp_path), "--mixed-zoo", "a.all", "b.dropout", "c.aux"]) == 2
    assert re.search(r"2 \(model, dataset\) cell\(s\) missing.*\(tv, d2\).*\(tv, d3\)", capsys.readouterr().err)
    # The downloaded network has one dataset of three: the complete sub-matrix leaves it out, and says so.
    cli.main(["analysis", str(csv), "--out", str(tmp_path), "--mixed-zoo", "a.all", "b.dropout", "c.aux",
                 "--incomplete", "complete_submatrix"])
    correlation = pd.read_csv(tmp_path / "correlation.csv").set_index(["setting", "dataset"])
    mean = correlation.loc[("logistic_regression", "mean (logit)")]
    assert mean.n_models == 7 and "tv" not in mean.models.split(";") and mean.datasets == "d1;d2;d3"
    assert "tv" in correlation.loc[("logistic_regression", "d1")].models.split(";")
    assert (tmp_path / "fig5_regularization_ablation.pdf").read_bytes()[:4] == b"%PDF"
    assert len(pd.read_csv(tmp_path / "ablation.csv")) == 5
    ablation_figures = catalogue.figures_for(["logistic_regression"], ["ablation", "zoo_correlation"])
    assert "fig5_regularization_ablation" in ablation_figures and "fig6_tsne" not in ablation_figures


def _features_file(path, model, switches, spread, rng):
    labels = np.repeat(np.arange(4), 30)
    centres = rng.normal(size=(4, 16)) * spread
    features = (centres[labels] + rng.normal(size=(len(labels), 16))).astype(np.float32)
    write_split_file(path, {"test": {"features": features, "labels": labels}},
                     {"model": model, "switches": switches, "dataset": "toy"})
    return path


def test_tsne_table_embeds_each_models_test_features_and_separated_classes_stay_apart(tmp_path):
    from sklearn.metrics import silhouette_score
    rng = np.random.default_rng(0)
    paths = [_features_file(tmp_path / "sep.h5", "a", "none", 8.0, rng),
             _features_file(tmp_path / "mixed.h5", "a.all", "dropout", 0.0, rng)]
    table = ablation.tsne_table(paths, perplexity=10, max_points=100, seed=0)
    assert list(table.columns) == ablation.TSNE_COLUMNS
    assert table.groupby("model").size().to_dict() == {"a": 100, "a.all": 100}
    # The same stratified subset for both models.
    assert (table[table.model == "a"]["index"].to_numpy() == table[table.model == "a.all"]["index"].to_numpy()).all()
    silhouette = {m: silhouette_score(p[["x", "y"]], p["label"]) for m, p in table.groupby("model")}
    assert silhouette["a"] > 0.5 > silhouette["a.all"]
    again = ablation.tsne_table(paths, perplexity=10, max_points=100, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded
    plotting.save(figures.fig6_tsne(table), [tmp_path / "tsne.png"])
    assert (tmp_path / "tsne.png").stat().st_size > 10_000


def test_tsne_refuses_features_of_different_test_sets(tmp_path):
    rng = np.random.default_rng(0)
    first = _features_file(tmp_path / "a.h5", "a", "none", 1.0, rng)
    other = tmp_path / "b.h5"
    write_split_file(other, {"test": {"features": np.zeros((5, 16), np.float32), "labels": np.arange(5)}},
                     {"model": "b", "dataset": "toy"})
    with pytest.raises(ValueError, match="b.h5: its test labels differ"):
        ablation.tsne_table([first, other])


def test_the_full_scale_ablation_plans_resumable_imagenet_pretraining(tmp_path):
    paper, overlay = ROOT / "config" / "kornblith2019.yaml", ROOT / "config" / "kornblith2019_ablation.yaml"
    targets = ["results/tables/tsne.csv", "results/models/googlenet_here.dropout-aux/pretrain.json"]
    (tmp_path / "config").mkdir()  # the documented command, run where the default config lies
    shutil.copy(ROOT / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    result = run_snakemake("-n", "-p", *targets, "--configfile", str(paper), str(overlay),
                           "--replace-workflow-config", workdir=tmp_path, configfile=paper)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    counts = job_counts(result.stdout)
    # ImageNet and Flowers-102 read; Inception v3 pretrained with every switch off and with all four, GoogLeNet
    # with dropout and its auxiliary heads; their Flowers-102 features embedded.
    assert counts == {"dataset": 2, "pretrain": 3, "extract_features": 2, "tsne_table": 1, "total": 8}
    assert "results/models/inception_v3_here.all/checkpoint.pt" in result.stdout


@pytest.mark.parametrize("change, message", [
    (lambda c: c["models"].__setitem__("r18", {"arch": "resnet18", "pretrain": {"aux_head": True}}),
     r"models.r18.pretrain: torchvision's resnet18 has no auxiliary classifier"),
    (lambda c: c["ablation"].__setitem__("model", "r18") or c["models"].__setitem__("r18", {"arch": "resnet18"}),
     r"the ablation's variant r18.dropout: torchvision's resnet18 has no dropout"),
    (lambda c: c["source"].__setitem__("dataset", "imagenet"), r"source.options.root is missing.*ILSVRC 2012"),
])
def test_switches_the_architecture_lacks_and_an_imagenet_without_root_are_refused(change, message, with_ablation):
    with pytest.raises(ConfigError, match=message):
        check_models(with_ablation(change))


def test_the_long_pretraining_ablation_config_plans_the_six_networks_and_the_probe(tmp_path):
    result = run_snakemake("-n", workdir=tmp_path, configfile=ROOT / "config" / "ablation_long_pretraining.yaml")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    counts = job_counts(result.stdout)
    assert counts["pretrain"] == 6 and counts["probe"] == 6 * 5 and "train_grid_point" not in counts
    assert counts["ablation_tables"] == counts["tsne_table"] == 1
