import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from transferstudy import datasets, finetune, pretrain
from transferstudy.io import read_predictions


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("finetune")
    datasets.prepare_dataset("shapes64", root / "source.h5", seed=0, split_seed=0, val_fraction=0.2,
                             train_per_class=4, val_per_class=2)
    pretrain.pretrain("mini_convnet", root / "source.h5", root / "ckpt.pt", root / "pretrain.json",
                      recipe={"epochs": 1, "batch_size": 64})
    datasets.prepare_dataset("textures", root / "textures.h5", seed=0, split_seed=0, val_fraction=0.2,
                             train_per_class=8, test_per_class=4)
    return root


def _run(artefacts, tmp_path, name, **overrides):
    options = {"init": "pretrained", "lr": 0.05, "weight_decay": 1e-4, "fit": "train",
               "recipe": {"steps": 30, "batch_size": 16, "eval_every": 10, "checkpoint_every": 10}}
    options.update(overrides)
    return finetune.train_run(artefacts / "ckpt.pt", artefacts / "textures.h5", tmp_path / f"{name}.json",
                              tmp_path / f"{name}.state.pt", **options)


def test_finetune_and_scratch_runs_record_their_curve(artefacts, tmp_path):
    tuned = _run(artefacts, tmp_path, "ft")
    scratch = _run(artefacts, tmp_path, "sc", init="random")
    assert tuned["setting"] == "finetune" and scratch["setting"] == "scratch"
    assert [h["step"] for h in tuned["history"]] == [10, 20, 30]
    assert tuned["eval_split"] == "val" and 0 <= tuned["final_metric"] <= 1
    assert tuned["final_metric"] == tuned["history"][-1]["metric"]
    assert tuned["bn_momentum"] == pytest.approx(0.1)  # max(1 - 10/s, 0.9) with s = 5 steps per epoch
    assert tuned["resumed_from_step"] is None


def test_refit_scores_test_and_saves_predictions(artefacts, tmp_path):
    result = _run(artefacts, tmp_path, "refit", fit="trainval", predictions_path=tmp_path / "pred.h5")
    labels, scores, attrs = read_predictions(tmp_path / "pred.h5")
    assert result["eval_split"] == "test" and len(labels) == result["sizes"]["test"] == 48
    assert result["sizes"]["train"] == 96 and attrs["setting"] == "finetune"


def test_a_run_killed_with_sigkill_resumes_to_the_same_result(artefacts, tmp_path):
    common = [str(artefacts / "ckpt.pt"), str(artefacts / "textures.h5"), "--lr", "0.05", "--weight-decay", "1e-4",
              "--steps", "200", "--batch-size", "16", "--eval-every", "50", "--checkpoint-every", "10"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = subprocess.run([sys.executable, "-m", "transferstudy.finetune", *common, "--out",
                                str(tmp_path / "ref.json"), "--state", str(tmp_path / "ref.pt")],
                               capture_output=True, text=True, env=env, timeout=300)
    assert reference.returncode == 0, reference.stderr[-2000:]

    state = tmp_path / "killed.pt"
    cmd = [sys.executable, "-m", "transferstudy.finetune", *common, "--out", str(tmp_path / "killed.json"),
           "--state", str(state)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert state.exists() and not (tmp_path / "killed.json").exists(), "the run was not killed mid-way"
    killed_at = torch.load(state, weights_only=False)["step"]
    assert 0 < killed_at < 200

    resumed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    first, second = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ref", "killed"))
    assert second["resumed_from_step"] is not None and second["resumed_from_step"] >= killed_at
    assert second["history"] == first["history"] and second["final_metric"] == first["final_metric"]
    a, b = (torch.load(tmp_path / f, weights_only=False)["model"] for f in ("ref.pt", "killed.pt"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_state_from_another_configuration_is_refused(artefacts, tmp_path):
    _run(artefacts, tmp_path, "a")
    (tmp_path / "a.json").unlink()
    with pytest.raises(ValueError, match="another configuration"):
        _run(artefacts, tmp_path, "a", lr=0.01)


@pytest.mark.parametrize("overrides, message", [
    ({"lr": 0.0}, r"learning rate 0.0 is outside \(0, 10\]"),
    ({"lr": 50.0}, r"learning rate 50.0 is outside \(0, 10\]"),
    ({"recipe": {"steps": 0}}, "steps = 0 must be at least 1"),
    ({"recipe": {"batch_size": 1000}}, r"batch size 1000 is larger than the training split .*textures.h5 \(72 examples"),
    ({"init": "imagenet"}, "init 'imagenet' is not one of"),
])
def test_bad_settings_are_refused_before_training(artefacts, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        _run(artefacts, tmp_path, "bad", **overrides)
    assert not (tmp_path / "bad.state.pt").exists()


def test_pretraining_is_reproducible_to_the_checkpoint_hash(artefacts, tmp_path):
    again = pretrain.pretrain("mini_convnet", artefacts / "source.h5", tmp_path / "again.pt", tmp_path / "again.json",
                              recipe={"epochs": 1, "batch_size": 64})
    first = json.loads((artefacts / "pretrain.json").read_text())
    assert again["checkpoint_sha256"] == first["checkpoint_sha256"]
