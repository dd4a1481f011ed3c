"""The paper-scale path of the workflow on tiny copies: torchvision and timm networks whose weights sit in the
local caches, the paper's datasets in their official layouts, through the real rules."""

import json
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml

from workflow_runs import run_snakemake
from official_copies import COPIES, make_copy
from transferstudy.nets.sources import torchvision as tv_source
from transferstudy.io import read_split_file

TV_MODEL = "tv_mobilenet_v3_small"


@pytest.fixture(scope="module")
def paper_setup(tmp_path_factory):
    """Tiny copies of the 12 datasets, a TORCH_HOME with two torchvision weights files and a timm weights
    file; returns (directory, environment, config)."""
    root = tmp_path_factory.mktemp("paper")
    for name in COPIES:
        make_copy(name, root / "data" / name)
    env = {**os.environ, "TORCH_HOME": str(root / "torch")}
    torch.manual_seed(0)
    for name in ("mobilenet_v3_small", "shufflenet_v2_x0_5"):
        path = root / "torch" / "hub" / "checkpoints" / tv_source.weights_path(
            tv_source.weights_enum(name)).name
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(torchvision.models.get_model(name, weights=None).state_dict(), path)
    import timm

    torch.save(timm.create_model("mobilenetv3_small_050", pretrained=False).state_dict(), root / "timm.pth")
    config = {
        "seed": 0, "device": "cpu", "threads": 1,
        "models": {
            TV_MODEL: {"torchvision": "mobilenet_v3_small", "weights": "IMAGENET1K_V1", "check_hash": False},
            "tv_shufflenet": {"torchvision": "shufflenet_v2_x0_5", "check_hash": False},
            "timm_mobilenetv3": {"timm": "mobilenetv3_small_050.lamb_in1k", "weights_file": str(root / "timm.pth"),
                                 "source_top1": 0.579},
        },
        "datasets": {name: {"root": str(root / "data" / name)} for name in COPIES},
        "split": {"val_fraction": 0.2, "seed": 0},
        "features": {"batch_size": 32, "workers": 1},
        "probe": {"penalty_min": 1e-3, "penalty_max": 1e3, "num_penalties": 5, "max_iter": 200},
        "analysis": {"permutations": 100, "seed": 0},
    }
    return root, env, config


def _write_config(root, config, name):
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_every_paper_dataset_goes_through_its_loader_and_the_extraction_rule(paper_setup):
    root, env, config = paper_setup
    configfile = _write_config(root, config, "all_datasets")
    targets = ["results/data/checked.json"] + [f"results/features/{TV_MODEL}/{name}.h5" for name in COPIES]
    result = run_snakemake("--cores", "2", *targets, workdir=root / "run", configfile=configfile, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    checked = json.loads((root / "run/results/data/checked.json").read_text())
    assert set(checked) == set(COPIES) and checked["birdsnap"]["missing_images"] == 1
    record = json.loads((root / f"run/results/models/{TV_MODEL}/pretrain.json").read_text())
    assert record["source_top1"] == pytest.approx(0.67668) and record["source_top1_from"] == "weights metadata"
    # Its size counted on the network itself: torchvision's MobileNet v3 small has 2,542,856 parameters.
    assert record["params"] == 2_542_856 and record["flops"] > 0 and "counted" in record["flops_from"]
    assert (record["pretraining_data"], record["pretraining_data_from"]) == ("in1k", "torchvision's weights name")
    for name in COPIES:
        feats, attrs = read_split_file(root / f"run/results/features/{TV_MODEL}/{name}.h5", ("features", "labels"))
        data, _ = read_split_file(root / f"run/results/data/{name}.h5", ("labels",))
        for split in ("train", "val", "test"):
            assert feats[split]["features"].shape == (len(data[split]["labels"]), 1024)
            assert np.isfinite(feats[split]["features"]).all()
        assert attrs["layer"] == "input to classifier.3 (the final classifier)" and attrs["image_size"] == 224
        assert attrs["checkpoint_sha256"] == record["checkpoint_sha256"]
        assert attrs["weights"] == "MobileNet_V3_Small_Weights.IMAGENET1K_V1"


def test_the_paper_path_runs_the_whole_study(paper_setup):
    root, env, config = paper_setup
    chosen = ["dtd", "voc2007", "cifar10"]  # files with an official val split, multi-label, in-memory images
    config = {**config, "datasets": {name: config["datasets"][name] for name in chosen},
              "finetune": {"datasets": ["dtd"], "lr": [0.01], "weight_decay": [0.0], "workers": 1,
                           "recipe": {"steps": 4, "batch_size": 4, "eval_every": 2, "checkpoint_every": 2}}}
    configfile = _write_config(root, config, "study")
    result = run_snakemake("--cores", "2", workdir=root / "run", configfile=configfile, env=env)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    accuracy = pd.read_csv(root / "run/results/tables/accuracy.csv")
    probes = accuracy[accuracy.setting == "logistic_regression"]
    assert len(probes) == 9 and set(probes.dataset) == set(chosen)
    assert set(probes[probes.dataset == "voc2007"].metric) == {"map11"}
    tuned = accuracy[accuracy.setting == "finetune"]
    assert len(tuned) == 3 and set(tuned.dataset) == {"dtd"} and tuned.value.between(0, 1).all()
    top1 = accuracy.groupby("model").source_top1.first()
    assert top1["timm_mobilenetv3"] == 0.579 and top1[TV_MODEL] == pytest.approx(0.67668)
    assert (root / "run/figures/fig1_imagenet_vs_transfer.pdf").exists()
