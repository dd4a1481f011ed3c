"""The README's "Your own models and datasets" example, run as written through the workflow: a folder dataset, a
CSV dataset, a torchvision network, a network from a builder function and one from a checkpoint with foreign
parameter names; probe, fine-tuning and training from scratch."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml
from PIL import Image

from conftest import ROOT, job_counts, run_snakemake
from transferstudy.io import read_attrs
from transferstudy.nets import pretrained

pytestmark = pytest.mark.slow


def readme_file(name):
    """The README code block that starts with the comment ``# <name>``."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"```\w+\n(# {re.escape(name)}[^\n]*\n.*?)```", text, re.S)
    assert match, f"README.md has no code block starting with '# {name}'"
    return match.group(1)


def _image(path, colour, rng, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.clip(np.array(colour, float) + rng.normal(0, 25, (20, 24, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)


@pytest.fixture(scope="module")
def own_study(tmp_path_factory):
    work = tmp_path_factory.mktemp("own")
    (work / "my_nets.py").write_text(readme_file("my_nets.py"))
    (work / "my_study.yaml").write_text(readme_file("my_study.yaml"))
    rng = np.random.default_rng(0)
    colours = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
    for split, count in (("train", 8), ("test", 4)):
        for name, colour in colours.items():
            for i in range(count):
                _image(work / "data" / "photos" / split / name / f"{i}.png", colour, rng)
    rows = ["path,label"]
    for k, (name, colour) in enumerate(colours.items()):
        for i in range(10):
            _image(work / "data" / "scans" / "images" / f"{name}{i}.jpg", colour, rng, mode="L" if k else "RGB")
            rows.append(f"images/{name}{i}.jpg,{name}")
    (work / "data" / "scans" / "labels.csv").write_text("\n".join(rows) + "\n")

    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_nets", work / "my_nets.py")
    nets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nets)
    (work / "checkpoints").mkdir()
    torch.manual_seed(1)
    torch.save(nets.SmallNet().state_dict(), work / "checkpoints" / "my_net.pt")
    torch.manual_seed(2)
    ported = nets.SmallNet().state_dict()
    torch.save({"model": {re.sub(r"^features\.", "module.backbone.", re.sub(r"^fc\.", "module.head.", name)): tensor
                          for name, tensor in ported.items()}}, work / "checkpoints" / "ported.pth")

    torch.manual_seed(0)
    env = {**os.environ, "TORCH_HOME": str(work / "torch")}
    weights = pretrained.torchvision_weights("mobilenet_v3_small", "IMAGENET1K_V1")
    path = work / "torch" / "hub" / "checkpoints" / pretrained.torchvision_weights_path(weights).name
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), path)
    # Small enough for a test: random weights (no published hash), a short grid, few steps.
    overlay = {
        "models": {"mobilenet_v3": {"check_hash": False}},
        "features": {"batch_size": 32},
        "probe": {"penalty_min": 1e-3, "penalty_max": 1e3, "num_penalties": 5, "max_iter": 200},
        "finetune": {"lr": [0.01], "recipe": {"steps": 4, "batch_size": 8, "eval_every": 2, "checkpoint_every": 2}},
        "scratch": {"recipe": {"steps": 4, "batch_size": 8, "eval_every": 2, "checkpoint_every": 2}},
        "analysis": {"permutations": 100},
    }
    (work / "test_overlay.yaml").write_text(yaml.safe_dump(overlay))
    args = ("--configfile", str(work / "my_study.yaml"), str(work / "test_overlay.yaml"), "--replace-workflow-config")
    result = run_snakemake("--cores", "2", *args, workdir=work, configfile=work / "my_study.yaml", env=env)
    return work, args, env, result


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
    assert own["checkpoint_sha256"] != mine["checkpoint_sha256"] and own["layer"] == "input to fc (the final classifier)"
    features = read_attrs(work / "results/features/my_net_ported/photos.h5")
    assert features["checkpoint_sha256"] == own["checkpoint_sha256"]


def test_editing_a_builder_reruns_what_depends_on_it(own_study):
    work, args, env, result = own_study
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    nets = work / "my_nets.py"
    nets.write_text(nets.read_text() + "\n# edited\n")
    plan = run_snakemake("-n", *args, workdir=work, configfile=work / "my_study.yaml", env=env)
    assert plan.returncode == 0, (plan.stdout + plan.stderr)[-4000:]
    counts = job_counts(plan.stdout)
    assert counts["pretrained_model"] == 2 and counts["extract_features"] == 4  # my_net, my_net_ported x 2 datasets
