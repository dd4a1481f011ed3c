"""The README's "Your own models and datasets" example, made runnable: its two files as the README shows them,
with the images, manifest, checkpoints and torchvision weights they refer to."""

import os
import re

import numpy as np
import torch
import torchvision
import yaml
from PIL import Image

from workflow_runs import ROOT
from transferstudy.nets.sources import torchvision as tv_source


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


def make_own_example(work):
    """The README example in ``work``: its two files, images, a manifest and checkpoints, a TORCH_HOME with the
    torchvision weights, and a small overlay; returns (Snakemake config arguments, environment)."""
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
    weights = tv_source.weights_enum("mobilenet_v3_small", "IMAGENET1K_V1")
    path = work / "torch" / "hub" / "checkpoints" / tv_source.weights_path(weights).name
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
    configs = (str(work / "my_study.yaml"), str(work / "test_overlay.yaml"))
    return ("--configfile", *configs, "--replace-workflow-config"), env
