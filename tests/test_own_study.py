"""The README's "Your own models and datasets" example, run as written through the workflow: a folder dataset, a
CSV dataset, a torchvision network, a network from a builder function and one from a checkpoint with foreign
parameter names; probe, fine-tuning and training from scratch."""

import json

import pandas as pd
import pytest

from workflow_runs import job_counts, run_snakemake
from transferstudy.io import read_attrs

pytestmark = pytest.mark.slow


def test_the_readme_example_runs_to_tables_and_figures(own_study):
    work, _, _, result = own_study
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    accuracy = pd.read_csv(work / "results/tables/accuracy.csv")
    counts = accuracy.groupby(["setting", "dataset"]).size().to_dict()
    assert counts == {("logistic_regression", "photos"): 3, ("logistic_regression", "scans"): 3,
                      ("finetune", "photos"): 3, ("scratch", "photos"): 2}
    # my_net and my_net_ported share an architecture: one run from scratch for both.
    assert set(accuracy[accuracy.setting == "scratch"].model) == {"mobilenet_v3", "my_net"}
    top1 = accuracy.groupby("model").source_top1.first()
    assert top1["my_net"] == 0.52 and top1["my_net_ported"] == 0.55 and top1["mobilenet_v3"] == pytest.approx(0.67668)
    assert set(accuracy[accuracy.dataset == "scans"].metric) == {"mean_per_class"}
    assert (work / "figures/fig1_imagenet_vs_transfer.pdf").exists()

    checked = json.loads((work / "results/data/checked.json").read_text())
    assert checked["photos"]["sizes"]["test"] == 12 and sum(checked["scans"]["sizes"].values()) == 30
    scans = read_attrs(work / "results/data/scans.h5")
    assert scans["declared"]["format"] == "csv" and scans["classes"] == ["blue", "green", "red"]

    own = json.loads((work / "results/models/my_net_ported/pretrain.json").read_text())
    mine = json.loads((work / "results/models/my_net/pretrain.json").read_text())
    assert own["builder_sha256"] == mine["builder_sha256"] and own["weights_file_sha256"]
    assert own["checkpoint_sha256"] != mine["checkpoint_sha256"]
    assert own["layer"] == "input to fc (the final classifier)"
    features = read_attrs(work / "results/features/my_net_ported/photos.h5")
    assert features["checkpoint_sha256"] == own["checkpoint_sha256"]


def test_editing_a_builder_reruns_what_depends_on_it(own_study):
    work, args, env, result = own_study
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    nets = work / "my_nets.py"
    original = nets.read_text()
    try:
        nets.write_text(original + "\n# edited\n")
        plan = run_snakemake("-n", *args, workdir=work, configfile=args[1], env=env)
    finally:
        nets.write_text(original)
    assert plan.returncode == 0, (plan.stdout + plan.stderr)[-4000:]
    counts = job_counts(plan.stdout)
    assert counts["pretrained_model"] == 2 and counts["extract_features"] == 4  # my_net, my_net_ported x 2 datasets
