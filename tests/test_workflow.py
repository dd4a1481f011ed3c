"""The workflow as a user runs it: dry-run, DAG, and a tiny study end to end."""

import collections
import hashlib
import json
import re
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from workflow_runs import ROOT, TINY_CONFIG, job_counts, run_snakemake
from transferstudy.analysis import figures
from transferstudy.data import datasets
from transferstudy.nets import architectures
from transferstudy.io import read_split_file
from transferstudy.settings import ESTIMATORS
from transferstudy.transfer.transferability import NCTI_NOTE, PER_LABEL_NOTE


def test_dry_run_of_the_default_study_lists_every_stage(tmp_path):
    result = run_snakemake("-n", workdir=tmp_path, configfile=ROOT / "config" / "config.yaml")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout)
    assert counts["dataset"] == 6 and counts["pretrain"] == 7
    assert counts["extract_features"] == counts["probe"] == 7 * 5
    assert counts["check_models"] == counts["all"] == 1
    # All but the ablation's two and the subsets' two, off by default.
    assert counts["figure"] == len(figures.FIGURES) - 4 == 7
    assert counts["accuracy_table"] == counts["analysis_tables"] == counts["pairwise_table"] == 1
    # The transferability estimators: a job per (model, dataset), a table of scores and their evaluation.
    assert counts["transferability"] == 7 * 5
    assert counts["transferability_table"] == counts["transferability_evaluation"] == 1
    # Fine-tune and scratch arms: 7 models x 1 dataset x a 2-point grid each, one selection and refit per pair.
    assert counts["train_grid_point"] == 7 * 1 * 2 * 2
    assert counts["select_hyperparameters"] == counts["train_refit"] == 7 * 1 * 2
    assert counts["convergence_tables"] == 1 and "ablation_tables" not in counts


def test_disabled_training_arms_and_estimators_drop_their_jobs_and_figures(tmp_path):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["finetune"]["enabled"] = False
    config["scratch"]["enabled"] = False
    config["transferability"] = {"enabled": False}
    configfile = tmp_path / "probe_only.yaml"
    configfile.write_text(yaml.safe_dump(config))
    result = run_snakemake("-n", workdir=tmp_path / "run", configfile=configfile)
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout)
    assert "train_grid_point" not in counts and "convergence_tables" not in counts
    assert not {"transferability", "transferability_table", "transferability_evaluation"} & set(counts)
    # fig1, fig2 and fig11 (source properties); fig3 and fig4 need the fine-tune and scratch settings, fig7 and
    # fig10 the estimators.
    assert counts["figure"] == 3


def test_the_ablation_is_switched_on_by_one_key(tmp_path):
    result = run_snakemake("-n", "--config", "ablation={enabled: true}", workdir=tmp_path,
                           configfile=ROOT / "config" / "config.yaml")
    assert result.returncode == 0, result.stderr[-2000:]
    counts = job_counts(result.stdout)
    # 7 networks and the ablation's 9 recipe variants (mini_vgg: each switch alone and all four; 4 mixed twins).
    models = 7 + 9
    assert counts["pretrain"] == models and counts["extract_features"] == counts["probe"] == models * 5
    assert counts["figure"] == len(figures.FIGURES) - 2  # all but the subsets' two, off by default
    # Fine-tuning for every model; from random initialisation only the 7 architectures (the variants differ
    # only in pretraining).
    assert counts["train_grid_point"] == (models + 7) * 1 * 2
    assert counts["select_hyperparameters"] == counts["train_refit"] == (models + 7) * 1
    assert counts["ablation_tables"] == counts["tsne_table"] == 1


def _dry_run_of_a_full_study(configfile, workdir):
    """The job counts of a dry-run of a shipped full-scale config, as documented: from a directory holding the
    default config/config.yaml, with --replace-workflow-config keeping Snakemake from merging the mini-study's
    models and datasets into it. No weights or data needed to plan."""
    (workdir / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", workdir / "config" / "config.yaml")
    result = run_snakemake("-n", "--quiet", "rules", "--replace-workflow-config", workdir=workdir,
                           configfile=ROOT / "config" / configfile)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return job_counts(result.stdout + result.stderr)


def test_dry_run_of_the_paper_study_plans_every_job(tmp_path):
    # 16 networks x 12 datasets; grids of 7 x 8 for both training arms.
    counts = _dry_run_of_a_full_study("kornblith2019.yaml", tmp_path)
    pairs = 16 * 12
    assert counts["pretrained_model"] == 16 and counts["dataset"] == 12 and "pretrain" not in counts
    assert counts["extract_features"] == counts["probe"] == counts["transferability"] == pairs
    assert counts["train_grid_point"] == pairs * (7 * 8 + 7 * 8)
    assert counts["train_refit"] == counts["select_hyperparameters"] == 2 * pairs
    # With check_models, the estimators (a job per pair, their two tables and their two figures, fig7 and
    # fig10) and the source properties' figure, fig11.
    assert counts["total"] == 22694 + 1 + pairs + 4 + 1


def test_dry_run_of_the_modern_study_plans_the_papers_protocol_over_twenty_networks(tmp_path):
    counts = _dry_run_of_a_full_study("modern.yaml", tmp_path)
    pairs = 20 * 12
    assert counts["pretrained_model"] == 20 and counts["dataset"] == 12 and "pretrain" not in counts
    assert counts["extract_features"] == counts["probe"] == counts["transferability"] == pairs
    # From random initialisation once per architecture: 17 (DeiT III, ConvNeXt-B and the CLIP ViT-B twice each).
    assert counts["train_grid_point"] == pairs * 7 * 8 + 17 * 12 * 7 * 8
    assert counts["train_refit"] == counts["select_hyperparameters"] == pairs + 17 * 12
    assert counts["figure"] == len(figures.FIGURES) - 4  # all but the ablation's and the subsets' figures


def test_the_modern_study_is_the_papers_protocol_over_another_zoo():
    modern, paper = (yaml.safe_load((ROOT / "config" / name).read_text()) for name in ("modern.yaml",
                                                                                        "kornblith2019.yaml"))
    assert modern.pop("models").keys().isdisjoint(paper.pop("models")) and "imagenet_val" in paper.pop("source")
    assert modern == paper


def test_a_missing_dataset_root_stops_a_run_before_any_job_but_not_a_dry_run(tmp_path):
    missing = tmp_path / "no such dir"
    args = ("results/data/cifar10.h5", "--config", f"datasets={{cifar10: {{root: '{missing}'}}}}")
    assert run_snakemake("-n", *args, workdir=tmp_path).returncode == 0
    result = run_snakemake("--cores", "1", *args, workdir=tmp_path)
    assert result.returncode != 0
    assert f"datasets.cifar10.root = '{missing}'" in result.stderr and "does not exist" in result.stderr
    assert "cifar-10-batches-py" in result.stderr and "download: true" in result.stderr
    assert not (tmp_path / "logs").exists(), "no job started"


def test_cuda_without_a_gpu_stops_a_local_run_before_any_job(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_snakemake("--cores", "1", "results/data/digits.h5", "--config", "device=cuda", workdir=tmp_path)
    assert result.returncode != 0 and "torch sees no GPU on this machine" in result.stderr
    assert "--profile slurm" in result.stderr and not (tmp_path / "logs").exists()


def test_successive_halving_trains_rungs_and_refits_the_last_rungs_best(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["finetune"].update(lr=[0.01, 0.03, 0.1], weight_decay=[0.0, 0.0001],
                              search={"method": "successive_halving", "eta": 3, "rungs": 2})
    configfile = tmp_path / "halving.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run = tmp_path / "results/finetune/mini_convnet/textures"
    result = run_snakemake("--cores", "2", str(run.relative_to(tmp_path) / "refit.json"), workdir=tmp_path,
                           configfile=configfile)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    # 6 points for 10 / 3 = 4 steps, the best 2 for the recipe's 10, then the refit.
    jobs = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", result.stdout + result.stderr, re.M)
    ran = collections.Counter(jobs)
    assert ran["train_rung_point"] == 6 + 2 and ran["promote_rung"] == 1 and ran["train_refit"] == 1
    assert len(list((run / "rung0").glob("lr*.json"))) == 6 and len(list((run / "rung1").glob("lr*.json"))) == 2
    promoted = json.loads((run / "rung0/promoted.json").read_text())
    selection = json.loads((run / "selected.json").read_text())
    assert {(p["lr"], p["weight_decay"]) for p in selection["grid"]} == {
        (p["lr"], p["weight_decay"]) for p in promoted["promoted"]}
    assert [rung["steps"] for rung in selection["search"]["rungs"]] == [4, 10]
    assert selection["search"]["steps_spent"] == 6 * 4 + 2 * 10 and selection["steps"] == 10
    refit = json.loads((run / "refit.json").read_text())
    assert (refit["lr"], refit["weight_decay"]) == (selection["lr"], selection["weight_decay"])
    assert refit["recipe"]["steps"] == 10
    again = run_snakemake("-n", str(run.relative_to(tmp_path) / "refit.json"), workdir=tmp_path,
                          configfile=configfile)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_dag_and_rulegraph_are_graphviz(tmp_path):
    for flag in ("--dag", "--rulegraph"):
        result = run_snakemake(flag, workdir=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.lstrip().startswith("digraph")
        assert "pretrain" in result.stdout and "probe" in result.stdout


# The tiny study (tests/config/tiny.yaml), run once per session by the fixture: its models, its datasets, and the
# ablation's variants (mini_convnet with each switch alone and all four; two mixed-recipe twins).
TINY_MODELS = ["mini_convnet", "mini_vgg", "mini_resnet8"]
TINY_DATASETS = ["digits", "textures", "glyphs_multilabel", "glyphs_fewshot"]
TINY_VARIANTS = ["mini_convnet.no_gamma", "mini_convnet.ls", "mini_convnet.dropout", "mini_convnet.aux",
                 "mini_convnet.all", "mini_vgg.dropout", "mini_resnet8.ls-aux"]
TINY_EVERYONE = TINY_MODELS + TINY_VARIANTS


def _finished(tiny_study):
    """The tiny study's directory, once it has run to the end."""
    workdir, result = tiny_study
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return workdir


def _accuracy(workdir):
    return pd.read_csv(workdir / "results/tables/accuracy.csv")


@pytest.mark.slow
def test_the_tiny_study_runs_every_setting_on_every_pair_it_plans(tiny_study):
    workdir = _finished(tiny_study)
    accuracy = _accuracy(workdir)
    # Probe on every dataset and fine-tuning on textures for every model; scratch only per architecture.
    assert len(accuracy) == len(TINY_EVERYONE) * (len(TINY_DATASETS) + 1) + len(TINY_MODELS)
    assert set(accuracy.model) == set(TINY_EVERYONE) and set(accuracy.dataset) == set(TINY_DATASETS)
    assert set(accuracy[accuracy.setting == "scratch"].model) == set(TINY_MODELS)
    assert accuracy.value.between(0, 1).all()
    trained = accuracy[accuracy.setting != "logistic_regression"]
    assert set(trained.setting) == {"finetune", "scratch"} and set(trained.dataset) == {"textures"}
    for name in TINY_DATASETS:
        assert set(accuracy[accuracy.dataset == name].metric) == {datasets.get_dataset_info(name).metric}
    # Digits are easy even for tiny networks pretrained for two epochs: well above chance (0.1).
    assert accuracy[accuracy.dataset == "digits"].value.min() > 0.5


@pytest.mark.slow
def test_the_tiny_studys_features_and_results_trace_to_their_checkpoints(tiny_study):
    workdir = _finished(tiny_study)
    accuracy = _accuracy(workdir)
    for model in TINY_MODELS:
        checkpoint = workdir / f"results/models/{model}/checkpoint.pt"
        pretrain = json.loads((workdir / f"results/models/{model}/pretrain.json").read_text())
        assert pretrain["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        assert 0 < pretrain["source_top1"] <= 1
        assert (accuracy[accuracy.model == model].source_top1 == pretrain["source_top1"]).all()
        assert len(pretrain["history"]) == (3 if model == "mini_resnet8" else 2)  # per-model override applied
        for name in TINY_DATASETS:
            feats, attrs = read_split_file(workdir / f"results/features/{model}/{name}.h5", ("features", "labels"))
            data, _ = read_split_file(workdir / f"results/data/{name}.h5", ("images", "labels"))
            dim = architectures.create_model(model, num_classes=2).num_features
            for split in ("train", "val", "test"):
                assert feats[split]["features"].dtype == np.float32
                assert feats[split]["features"].shape == (len(data[split]["labels"]), dim)
                assert np.isfinite(feats[split]["features"]).all()
                np.testing.assert_array_equal(feats[split]["labels"], data[split]["labels"])
            assert attrs["checkpoint_sha256"] == pretrain["checkpoint_sha256"]
            assert attrs["model"] == model and attrs["layer"].startswith("global average pool")
            assert attrs["image_size"] == 32 and attrs["preprocessing"]["augmentation"] is None
            assert attrs["val_split"] in {"official", "holdout"} and "torch" in attrs["versions"]
            if attrs["val_split"] == "holdout":
                assert attrs["split_seed"] == 0 and attrs["val_fraction"] == 0.2
            probe = json.loads((workdir / f"results/logistic_regression/{model}/{name}.json").read_text())
            assert len(probe["grid"]) == 9
            row = accuracy[(accuracy.model == model) & (accuracy.dataset == name)
                           & (accuracy.setting == "logistic_regression")].iloc[0]
            assert row.value == probe["value"] and row.n_test == len(feats["test"]["labels"])
        for setting, grid in (("finetune", 2), ("scratch", 2)):
            run = workdir / f"results/{setting}/{model}/textures"
            selection = json.loads((run / "selected.json").read_text())
            refit = json.loads((run / "refit.json").read_text())
            assert len(selection["grid"]) == grid and refit["selection"] == selection
            assert (refit["lr"], refit["weight_decay"]) == (selection["lr"], selection["weight_decay"])
            assert refit["fit"] == "trainval" and refit["eval_split"] == "test"
            assert refit["checkpoint_sha256"] == pretrain["checkpoint_sha256"]
            assert not list(run.rglob("*.state.pt")), "finished runs leave no state behind"
            row = accuracy[(accuracy.model == model) & (accuracy.setting == setting)].iloc[0]
            assert row.value == refit["value"]


@pytest.mark.slow
def test_the_tiny_studys_statistics_cover_every_setting_and_pair_of_models(tiny_study):
    workdir = _finished(tiny_study)
    accuracy = _accuracy(workdir)
    correlation = pd.read_csv(workdir / "results/tables/correlation.csv")
    assert set(correlation.dataset) == set(TINY_DATASETS) | {"mean (logit)"}
    assert (correlation.n_models == correlation.setting.map({"logistic_regression": 10, "finetune": 10,
                                                             "scratch": 3})).all()
    assert correlation.pearson_r.between(-1, 1).all()
    assert (correlation.pearson_low <= correlation.pearson_high).all()
    assert set(correlation.setting) == {"logistic_regression", "finetune", "scratch"}
    mixed = pd.read_csv(workdir / "results/tables/mixed_effects.csv").set_index("setting")
    assert mixed.n_datasets["logistic_regression"] == 4 and np.isfinite(mixed.slope["logistic_regression"])
    matrix = pd.read_csv(workdir / "results/tables/accuracy_matrix_logistic_regression.csv")
    assert list(matrix.columns[:2]) == ["model", "source_top1"] and len(matrix) == len(TINY_EVERYONE)
    assert "tabular" in (workdir / "results/tables/correlation.tex").read_text()

    pairwise = pd.read_csv(workdir / "results/tables/pairwise.csv")
    # Every pair of models, per (setting, dataset): 10 models on the probe's 4 datasets and fine-tuning, 3 scratch.
    assert len(pairwise) == 45 * (len(TINY_DATASETS) + 1) + 3
    assert pairwise.p_permutation.between(0, 1).all() and (pairwise.n_permutations == 200).all()
    for _, row in pairwise.iterrows():
        value = accuracy[(accuracy.model == row.model_a) & (accuracy.dataset == row.dataset)
                         & (accuracy.setting == row.setting)].value.iloc[0]
        assert row.value_a == pytest.approx(value)
    assert pairwise[pairwise.metric == "top1"].p_mcnemar.notna().all()

    curves = pd.read_csv(workdir / "results/tables/convergence.csv")
    assert len(curves) == len(TINY_EVERYONE) * 10 // 5 + 3 * 20 // 5  # fine-tune and scratch validation curves
    steps = pd.read_csv(workdir / "results/tables/steps_to_threshold.csv")
    assert len(steps) == 3 and set(steps.censored) <= {"none", "scratch", "finetune"}
    speedup = pd.read_csv(workdir / "results/tables/speedup.csv").set_index("pairs")
    assert speedup.loc["all, censored as bounds", "n_pairs"] == 3


@pytest.mark.slow
def test_the_tiny_studys_ablation_compares_every_variant_with_its_baseline(tiny_study):
    workdir = _finished(tiny_study)
    # The regularisation ablation: every variant against its architecture's model with every switch off.
    for variant in TINY_VARIANTS:
        pretrain = json.loads((workdir / f"results/models/{variant}/pretrain.json").read_text())
        assert pretrain["switches"] and pretrain["recipe"]["epochs"] == (3 if "resnet8" in variant else 2)
        attrs = read_split_file(workdir / f"results/features/{variant}/textures.h5", ("labels",))[1]
        assert attrs["switches"] == "+".join(pretrain["switches"])
    assert json.loads((workdir / "results/models/mini_convnet.all/pretrain.json").read_text())["recipe"] == {
        **json.loads((workdir / "results/models/mini_convnet/pretrain.json").read_text())["recipe"],
        "bn_gamma": False, "label_smoothing": 0.1, "dropout": 0.2, "aux_head": True}
    table = pd.read_csv(workdir / "results/tables/ablation.csv")
    assert len(table) == 2 * len(TINY_VARIANTS)  # logistic regression and fine-tuning
    assert dict(zip(table.model, table.baseline)) == {v: v.split(".")[0] for v in TINY_VARIANTS}
    lr = table[table.setting == "logistic_regression"]
    assert (lr.n_datasets == 4).all() and (lr.transfer_logit_low <= lr.transfer_logit_change).all()
    assert (lr.transfer_logit_change <= lr.transfer_logit_high).all()
    zoos = pd.read_csv(workdir / "results/tables/zoo_correlation.csv")
    assert set(zoos.models) == {"mini_convnet;mini_resnet8;mini_vgg",
                                "mini_convnet.all;mini_resnet8.ls-aux;mini_vgg.dropout"}
    tsne = pd.read_csv(workdir / "results/tables/tsne.csv")
    assert tsne.groupby("model").size().to_dict() == {"mini_convnet": 60, "mini_convnet.all": 60}


@pytest.mark.slow
def test_the_tiny_studys_estimators_score_every_pair_and_are_judged_on_every_dataset(tiny_study):
    workdir = _finished(tiny_study)
    accuracy = _accuracy(workdir)
    # Every estimator scored every (model, dataset) the probe has, multi-label data per label, in less time than
    # the probe; the evaluation judges them and top-1 on every dataset of both transfer settings.
    scores = pd.read_csv(workdir / "results/tables/transferability.csv")
    probes = accuracy[accuracy.setting == "logistic_regression"]
    assert len(scores) == len(ESTIMATORS) * len(probes) and scores["score"].notna().all()
    multilabel = scores[scores.dataset == "glyphs_multilabel"]
    assert set(multilabel.query("estimator not in ['logme', 'knn', 'ncti']")["note"]) == {PER_LABEL_NOTE}
    assert set(multilabel.query("estimator == 'ncti'")["note"]) == {
        f"{NCTI_NOTE} ({probes.model.nunique()}); {PER_LABEL_NOTE}"}
    assert scores.query("estimator == 'knn'")["note"].str.match(r"k = \d+ \(leave-one-out on ").all()
    assert (scores["source_classes"] == 64).all() and (scores["probe_seconds"] > 0).all()
    pairs = scores.groupby(["model", "dataset"]).agg(seconds=("seconds", "sum"), probe=("probe_seconds", "first"))
    assert (pairs["seconds"] < pairs["probe"]).mean() > 0.5
    evaluation = pd.read_csv(workdir / "results/tables/transferability_evaluation.csv")
    for setting, n_datasets in (("logistic_regression", 4), ("finetune", 1)):
        part = evaluation[evaluation.setting == setting]
        assert set(part.estimator) == {"source_top1", "params", "flops", *ESTIMATORS}  # sizes counted for every model
        assert part.dataset.nunique() == n_datasets + 1  # and the mean over datasets
        per_dataset = part[part.dataset != "mean over datasets"]
        assert per_dataset.weighted_tau.between(-1, 1).all() and (per_dataset.n_models == len(TINY_EVERYONE)).all()
        assert (per_dataset.tau_low <= per_dataset.tau_high).all()
    # Each estimator against each baseline, and the stability of their ranking (fine-tuning has one dataset: no
    # verdict, and no dataset to leave out).
    baselines = pd.read_csv(workdir / "results/tables/transferability_baselines.csv")
    assert set(baselines.baseline) == {"source_top1", "params", "flops", "knn"}
    assert set(baselines.query("setting == 'finetune'").verdict) == {"no verdict: fewer than 2 datasets"}
    stability = pd.read_csv(workdir / "results/tables/transferability_stability.csv")
    assert set(stability.query("setting == 'logistic_regression'").perturbation) == {
        "other setting", "one dataset left out", "a third of the models left out"}
    assert stability.rank_held.between(0, 1).all() and stability.winner_held.between(0, 1).all()


@pytest.mark.slow
def test_the_tiny_studys_subsets_hold_k_examples_per_class_and_the_full_split(tiny_study):
    workdir = _finished(tiny_study)
    accuracy = _accuracy(workdir)
    # Training-set-size curves: the probe on every model, scratch on each architecture, two 2-shot subsets of
    # textures each, and the full training split as size "all".
    subset_rows = pd.read_csv(workdir / "results/tables/subsets.csv")
    assert subset_rows.groupby("setting").size().to_dict() == {"logistic_regression": len(TINY_EVERYONE) * 3,
                                                               "scratch": len(TINY_MODELS) * 3}
    two_shot = subset_rows[subset_rows.examples_per_class == "2"]
    assert (two_shot.n_train == 2 * 12).all() and (two_shot.n_val == 2 * 12).all() and set(two_shot.seed) == {0, 1}
    full = subset_rows[subset_rows.examples_per_class == "all"].set_index(["setting", "model"])["value"]
    textures = accuracy[accuracy.dataset == "textures"].set_index(["setting", "model"])["value"]
    assert full.to_dict() == textures[full.index].to_dict()
    by_size = pd.read_csv(workdir / "results/tables/subsets_correlation.csv")
    assert set(by_size.examples_per_class.astype(str)) == {"2", "all"}
    with h5py.File(workdir / "results/features/mini_vgg/textures.2shot.seed1.h5") as f:
        assert f["train/features"].shape == (2 * 12, 64) and f["test/features"].shape[0] == 5 * 12


@pytest.mark.slow
def test_the_tiny_study_draws_every_figure_rebuilds_one_alone_and_reports_them(tiny_study):
    workdir = _finished(tiny_study)
    # Every figure but the subsets' pretrained-vs-random one (fine-tuning does not run on the tiny subsets).
    drawn = set(figures.FIGURES) - {"fig9_subsets_pretrained_vs_random"}
    for name in drawn:
        assert (workdir / f"figures/{name}.pdf").read_bytes()[:4] == b"%PDF"
    figure = workdir / "figures/fig1_imagenet_vs_transfer.pdf"
    with h5py.File(workdir / "results/features/mini_vgg/digits.h5") as f:
        assert f["train/features"].shape[1] == 64

    # Nothing left to do; one figure is rebuilt alone, by its target.
    again = run_snakemake("-n", workdir=workdir)
    assert "Nothing to be done" in again.stdout + again.stderr
    figure.unlink()
    rebuilt = run_snakemake("--cores", "2", "figures/fig1_imagenet_vs_transfer.pdf", workdir=workdir)
    assert rebuilt.returncode == 0 and figure.exists()
    assert job_counts(rebuilt.stdout + rebuilt.stderr) == {"figure": 1, "total": 1}

    # A self-contained report with every figure and table, and the figures' captions.
    report = run_snakemake("--report", str(workdir / "report.html"), workdir=workdir)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (workdir / "report.html").read_text()
    for name in [*drawn, "accuracy.csv", "correlation.csv", "mixed_effects.csv", "pairwise.csv",
                 "convergence.csv", "steps_to_threshold.csv", "ablation.csv", "zoo_correlation.csv",
                 "transferability.csv", "transferability_evaluation.csv", "transferability_baselines.csv",
                 "transferability_stability.csv", "subsets.csv", "subsets_summary.csv",
                 "subsets_correlation.csv"]:
        assert name in html
    assert "least-squares fit with its 95% confidence band" in html



def _clone(tmp_path):
    """This checkout's files (tracked or not ignored) copied as a fresh clone would be: newer than every result."""
    import subprocess

    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            capture_output=True, text=True, check=True).stdout.split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, clone / name)
    return clone


def test_results_follow_the_code_not_its_path_or_age(tiny_study, tmp_path):
    workdir, result = tiny_study
    assert result.returncode == 0
    clone = _clone(tmp_path)
    same = run_snakemake("-n", workdir=workdir, root=clone)
    assert "Nothing to be done" in same.stdout + same.stderr, (same.stdout + same.stderr)[-3000:]

    # A library edit re-runs the jobs whose scripts use the module, and what depends on them: here the tables.
    stats = clone / "src/transferstudy/analysis/stats.py"
    stats.write_text(stats.read_text().replace("CONFIDENCE = 0.95", "CONFIDENCE = 0.9"))
    edited = run_snakemake("-n", workdir=workdir, root=clone)
    rerun = job_counts(edited.stdout + edited.stderr)
    assert rerun.get("analysis_tables") == 1, edited.stdout[-3000:]
    assert not {"pretrain", "extract_features", "probe", "train_grid_point", "train_refit"} & set(rerun)
    stats.write_text(stats.read_text().replace("CONFIDENCE = 0.9", "CONFIDENCE = 0.95"))

    # A script edit re-runs that script's jobs (Snakemake's mtime rule for scripts is replaced by content).
    script = clone / "workflow/scripts/probe.py"
    script.write_text(script.read_text() + "\n# edited\n")
    edited = run_snakemake("-n", workdir=workdir, root=clone)
    rerun = job_counts(edited.stdout + edited.stderr)
    subset_probes = pd.read_csv(workdir / "results/tables/subsets.csv").query(
        "setting == 'logistic_regression' and examples_per_class != 'all'")
    probes = len(subset_probes) + len(
        pd.read_csv(workdir / "results/tables/accuracy.csv").query("setting == 'logistic_regression'"))
    assert rerun.get("probe") == probes and "pretrain" not in rerun and "extract_features" not in rerun


def test_leep_and_nce_refuse_a_network_the_features_did_not_come_from(tiny_study, tmp_path):
    from transferstudy.transfer.transferability import score_features

    workdir, result = tiny_study
    assert result.returncode == 0
    features = tmp_path / "features.h5"
    shutil.copyfile(workdir / "results/features/mini_vgg/textures.h5", features)
    scored = score_features(features, workdir / "results/models/mini_vgg/checkpoint.pt", estimators=["leep"])
    assert scored["source_classes"] == 64 and np.isfinite(scored["scores"][0]["score"])
    with pytest.raises(ValueError, match="checkpoint.pt: its weights .* are not those .*features.h5 was extracted"):
        score_features(features, workdir / "results/models/mini_convnet/checkpoint.pt", estimators=["leep"])


def test_the_estimators_read_the_source_classifier_from_the_features_file_without_torch(tiny_study, tmp_path):
    import subprocess
    import sys

    from transferstudy.transfer.transferability import score_features

    workdir, result = tiny_study
    assert result.returncode == 0
    features = workdir / "results/features/mini_vgg/textures.h5"
    with h5py.File(features) as f:
        assert f["source_head/weight"].shape == (64, f["train/features"].shape[1])
    from_file = score_features(features, estimators=["leep", "nce"])
    from_network = score_features(features, workdir / "results/models/mini_vgg/checkpoint.pt",
                                  estimators=["leep", "nce"])
    assert from_file["source_classes"] == from_network["source_classes"] == 64
    for ours, theirs in zip(from_file["scores"], from_network["scores"]):
        assert ours["score"] == pytest.approx(theirs["score"], rel=1e-6), ours["estimator"]
    # The job's path: the whole scoring, and not one torch module imported.
    code = ("import sys; from transferstudy.transfer.transferability import score_features; "
            f"score_features({str(features)!r}, out_path={str(tmp_path / 'scores.json')!r}); "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip().splitlines()[-1] == "[]"
    assert json.loads((tmp_path / "scores.json").read_text())["scores"][1]["score"] is not None


def test_the_split_seed_remakes_only_the_datasets_it_holds_out_of(tiny_study):
    workdir, result = tiny_study
    assert result.returncode == 0
    plan = run_snakemake("-n", "--config", "split={seed: 7}", workdir=workdir)
    rerun = job_counts(plan.stdout + plan.stderr)
    held_out = [name for name in yaml.safe_load(TINY_CONFIG.read_text())["datasets"]
                if not datasets.get_dataset_info(name).official_val]
    assert rerun["dataset"] == len(held_out) and "pretrain" not in rerun, plan.stdout[-3000:]


def test_the_number_of_decoding_processes_re_runs_nothing(tiny_study):
    # How many processes decode images changes no result: a resource of the jobs, not a parameter.
    workdir, result = tiny_study
    assert result.returncode == 0
    plan = run_snakemake("-n", "--config", "features={workers: 2}", "finetune={workers: 1}", "scratch={workers: 3}",
                         workdir=workdir)
    assert "Nothing to be done" in plan.stdout + plan.stderr, (plan.stdout + plan.stderr)[-3000:]


def test_results_copied_without_snakemakes_records_get_them_back_by_touching(tiny_study, tmp_path):
    # The README's limit and its remedy: without .snakemake/ a changed key re-runs nothing until the outputs are
    # stamped again with the parameters that made them.
    workdir, result = tiny_study
    assert result.returncode == 0
    copied = tmp_path / "copied"
    shutil.copytree(workdir, copied, ignore=shutil.ignore_patterns(".snakemake"), copy_function=shutil.copy2)
    changed = ("--config", "probe={num_penalties: 5}")
    blind = run_snakemake("-n", *changed, workdir=copied)
    assert "Nothing to be done" in blind.stdout + blind.stderr, (blind.stdout + blind.stderr)[-3000:]
    touched = run_snakemake("--cores", "1", "--touch", "--forceall", workdir=copied)
    assert touched.returncode == 0, (touched.stdout + touched.stderr)[-3000:]
    same = run_snakemake("-n", workdir=copied)
    assert "Nothing to be done" in same.stdout + same.stderr, (same.stdout + same.stderr)[-3000:]
    seen = run_snakemake("-n", *changed, workdir=copied)
    assert job_counts(seen.stdout + seen.stderr).get("probe", 0) > 0, seen.stdout[-3000:]


def test_a_score_of_ones_own_joins_the_estimators_and_their_evaluation(tiny_study, tmp_path):
    workdir, result = tiny_study
    assert result.returncode == 0
    copied = tmp_path / "copied"
    shutil.copytree(workdir, copied, copy_function=shutil.copy2)
    scores = tmp_path / "my_scores.py"
    scores.write_text("def width(features, labels):\n    return float(features.shape[1])\n")
    own = f'transferability={{estimators: [logme, {{python: "{scores}:width"}}]}}'
    ran = run_snakemake("--cores", "2", "--config", own, "--", "results/tables/transferability_evaluation.csv",
                        workdir=copied)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    rerun = job_counts(ran.stdout + ran.stderr)
    assert rerun["transferability"] == len(list((workdir / "results/transferability").rglob("*.json")))
    assert not {"extract_features", "probe", "pretrain"} & set(rerun)
    table = pd.read_csv(copied / "results/tables/transferability.csv")
    assert set(table["estimator"]) == {"logme", "width"}
    widths = table[table["estimator"] == "width"].set_index(["model", "dataset"])["score"]
    assert (widths == table[table["estimator"] == "width"].set_index(["model", "dataset"])["feature_dim"]).all()
    evaluation = pd.read_csv(copied / "results/tables/transferability_evaluation.csv")
    assert "width" in set(evaluation["estimator"])
    # Editing the score's file re-runs its jobs.
    scores.write_text(scores.read_text() + "# edited\n")
    edited = run_snakemake("-n", "--config", own, "--", "results/tables/transferability_evaluation.csv",
                           workdir=copied)
    assert job_counts(edited.stdout + edited.stderr).get("transferability") == rerun["transferability"]


def test_scripts_import_the_checkouts_library_whatever_the_environment(monkeypatch):
    import runpy
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "_library.py"))
    assert sys.path[0] == str(ROOT / "src")
    for script in (ROOT / "workflow" / "scripts").glob("[a-z]*.py"):
        assert "import _library" in script.read_text(), f"{script.name} does not import _library first"
