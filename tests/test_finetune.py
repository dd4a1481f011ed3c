import json
import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from transferstudy import cli, metrics
from transferstudy.config import PretrainRecipe
from transferstudy.data import datasets
from transferstudy.io import read_predictions
from transferstudy.nets.inference import precision
from transferstudy.switches import switches_on
from transferstudy.train import batches, pretrain
from transferstudy.train.loop import StepLoop, sgd_nesterov
from transferstudy.transfer import finetune, search


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
    run = finetune.TrainRun(artefacts / "ckpt.pt", artefacts / "textures.h5", tmp_path / f"{name}.json",
                            tmp_path / f"{name}.state.pt", **options)
    return finetune.train(run)


def test_finetune_and_scratch_runs_record_their_curve(artefacts, tmp_path):
    tuned = _run(artefacts, tmp_path, "ft")
    scratch = _run(artefacts, tmp_path, "sc", init="random")
    assert tuned["setting"] == "finetune" and scratch["setting"] == "scratch"
    assert [h["step"] for h in tuned["history"]] == [10, 20, 30]
    assert tuned["eval_split"] == "val" and 0 <= tuned["value"] <= 1
    assert tuned["value"] == tuned["history"][-1]["metric"]
    assert tuned["bn_momentum"] == pytest.approx(0.1)  # max(1 - 10/s, 0.9) with s = 5 steps per epoch
    assert tuned["resumed_from_step"] is None


def test_refit_scores_test_and_saves_predictions(artefacts, tmp_path):
    result = _run(artefacts, tmp_path, "refit", fit="trainval", predictions=tmp_path / "pred.h5")
    labels, scores, attrs = read_predictions(tmp_path / "pred.h5")
    assert result["eval_split"] == "test" and len(labels) == result["sizes"]["test"] == 48
    assert result["n_fit"] == result["sizes"]["train"] + result["sizes"]["val"] == 96
    assert attrs["setting"] == "finetune"
    # Test is scored once, at the end: the curve has the loss at each report, no test metric.
    assert [sorted(h) for h in result["history"]] == [["loss", "step"]] * 3
    assert result["value"] == metrics.score(result["metric"], labels, scores)


def test_a_refit_whose_test_split_repeats_train_is_refused_before_training(artefacts, tmp_path):
    import h5py
    import shutil

    copied = tmp_path / "copied.h5"
    shutil.copy(artefacts / "textures.h5", copied)
    with h5py.File(copied, "r+") as f:
        del f["test"]
        f.copy(f["train"], "test")
    run = finetune.TrainRun(artefacts / "ckpt.pt", copied, tmp_path / "r.json", tmp_path / "r.state.pt",
                            init="pretrained", lr=0.05, weight_decay=0.0, fit="trainval")
    with pytest.raises(ValueError, match=r"copied.h5: \d+ of the \d+ test images are identical to training or "
                                         r"validation images"):
        finetune.train(run)
    assert not (tmp_path / "r.json").exists()


def test_a_run_killed_with_sigkill_resumes_to_the_same_result(artefacts, tmp_path):
    common = [str(artefacts / "ckpt.pt"), str(artefacts / "textures.h5"), "--lr", "0.05", "--weight-decay", "1e-4",
              "--steps", "200", "--batch-size", "16", "--eval-every", "50", "--checkpoint-every", "10"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    reference = subprocess.run([sys.executable, "-m", "transferstudy", "finetune", *common, "--out",
                                str(tmp_path / "ref.json"), "--state", str(tmp_path / "ref.pt")],
                               capture_output=True, text=True, env=env, timeout=300)
    assert reference.returncode == 0, reference.stderr[-2000:]

    state = tmp_path / "killed.pt"
    cmd = [sys.executable, "-m", "transferstudy", "finetune", *common, "--out", str(tmp_path / "killed.json"),
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
    assert second["history"] == first["history"] and second["value"] == first["value"]
    a, b = (torch.load(tmp_path / f, weights_only=False)["model"] for f in ("ref.pt", "killed.pt"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_a_state_from_another_configuration_is_refused(artefacts, tmp_path):
    _run(artefacts, tmp_path, "a")
    (tmp_path / "a.json").unlink()
    with pytest.raises(ValueError, match="another configuration"):
        _run(artefacts, tmp_path, "a", lr=0.01)


@pytest.mark.parametrize("overrides, message", [
    ({"lr": 0.0}, r"learning rate 0.0 \(--lr; the config's <arm>.lr\) is outside \(0, 10\]"),
    ({"lr": 50.0}, r"learning rate 50.0 \(--lr; the config's <arm>.lr\) is outside \(0, 10\]"),
    ({"recipe": {"steps": 0}}, "steps = 0 must be at least 1"),
    ({"recipe": {"batch_size": 1000}},
     r"batch size 1000 is larger than the training split .*textures.h5 \(72 examples"),
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


def test_a_diverging_grid_point_is_recorded_not_fatal_and_a_diverging_refit_fails(artefacts, tmp_path,
                                                                                  monkeypatch):
    finite_loss = finetune._loss
    monkeypatch.setattr(finetune, "_loss", lambda *args: finite_loss(*args) * float("inf"))
    result = _run(artefacts, tmp_path, "hot", keep_state=False)
    assert result["diverged_at_step"] == 10 and result["value"] is None and result["history"] == []
    assert not (tmp_path / "hot.state.pt").exists()
    with pytest.raises(FloatingPointError, match="refit diverged"):
        _run(artefacts, tmp_path, "hot_refit", fit="trainval")


def test_mixed_precision_path_runs_and_records_its_dtype(artefacts, tmp_path):
    # bfloat16 autocast is what CUDA runs use; CPU autocast exercises the same code path here.
    result = _run(artefacts, tmp_path, "bf16", amp=True)
    assert result["amp"] == "bfloat16" and 0 <= result["value"] <= 1
    assert precision("cpu", None) is None and precision("cpu", True) == torch.bfloat16


def test_augmentation_crops_within_the_image_and_flips():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    whole = batches.random_resized_crop(x, 8, torch.Generator().manual_seed(0), scale_min=1.0)
    # Area fraction 1 and aspect ratio within [3/4, 4/3] leave the whole image (up to a flip) or a
    # near-whole crop: values stay inside the image's range.
    assert whole.shape == x.shape and whole.min() >= x.min() and whole.max() <= x.max()
    same = batches.random_resized_crop(x, 8, torch.Generator().manual_seed(0), scale_min=1.0)
    assert torch.equal(whole, same)
    flips = [batches.random_resized_crop(x[:1], 8, torch.Generator().manual_seed(s), scale_min=1.0) for s in range(20)]
    assert any(torch.equal(f, x[:1].flip(-1)) for f in flips) and any(torch.equal(f, x[:1]) for f in flips)


def test_crops_use_torchvisions_roi_align_kernel():
    from torchvision.ops import roi_align

    x = torch.rand(3, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[0, 1.0, 2.0, 20.0, 18.0], [1, 0.0, 0.0, 24.0, 20.0], [2, 3.0, 5.0, 9.0, 11.0]])
    assert torch.equal(batches.roi_align(x, boxes, 7),
                       roi_align(x, boxes, output_size=(7, 7), sampling_ratio=-1, aligned=True))


def test_the_optimizer_is_torchs_sgd_step_for_step_and_state_for_state():
    from transferstudy.nets import architectures
    from transferstudy.train.loop import NesterovSGD

    torch.manual_seed(0)
    ours, theirs = (architectures.create_model("mini_resnet8", num_classes=5) for _ in range(2))
    theirs.load_state_dict(ours.state_dict())

    def groups(model):
        return [{"params": [p for p in model.parameters() if p.ndim > 1], "weight_decay": 1e-3},
                {"params": [p for p in model.parameters() if p.ndim <= 1], "weight_decay": 0.0}]

    ours_sgd = NesterovSGD(groups(ours), lr=0.1, momentum=0.9)
    torch_sgd = torch.optim.SGD(groups(theirs), lr=0.1, momentum=0.9, nesterov=True)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 5, (8,))
    for step in range(4):
        for model, optimizer in ((ours, ours_sgd), (theirs, torch_sgd)):
            lr = 0.1 * (1 - step / 8)  # as set_cosine_lr sets it, group by group
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(ours.state_dict().values(), theirs.state_dict().values()))
    saved_ours, saved_torch = ours_sgd.state_dict(), torch_sgd.state_dict()
    assert saved_ours["state"].keys() == saved_torch["state"].keys()
    assert all(torch.equal(saved_ours["state"][i]["momentum_buffer"], saved_torch["state"][i]["momentum_buffer"])
               for i in saved_torch["state"])
    # Either's saved state resumes the other.
    torch_sgd.load_state_dict(saved_ours)
    resumed = NesterovSGD(groups(ours), lr=0.5, momentum=0.9)
    resumed.load_state_dict(saved_torch)
    assert resumed.param_groups[0]["lr"] == saved_torch["param_groups"][0]["lr"] and len(resumed.state) == len(
        ours_sgd.state)


def test_a_training_job_starts_without_torchvision_or_torch_dynamo(artefacts, tmp_path):
    import subprocess
    import sys

    # torchvision's package pulls in torch._dynamo, and so does making any torch.optim optimizer: about a second
    # each at the start of every training job.
    code = ("import sys; from transferstudy.transfer import finetune; "
            f"finetune.train(finetune.TrainRun({str(artefacts / 'ckpt.pt')!r}, {str(artefacts / 'textures.h5')!r}, "
            f"{str(tmp_path / 'r.json')!r}, {str(tmp_path / 's.pt')!r}, init='pretrained', lr=0.05, "
            "weight_decay=1e-4, fit='train', recipe={'steps': 2, 'batch_size': 16, 'eval_every': 1, "
            "'checkpoint_every': 1})); "
            "print(sorted(m for m in sys.modules if m.startswith(('torchvision', 'torch._dynamo'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip().splitlines()[-1] == "[]"


def _grid_result(tmp_path, lr, wd, metric, **extra):
    result = {"model": "m", "dataset": "d", "setting": "finetune", "fit": "train", "metric": "top1", "lr": lr,
              "weight_decay": wd, "value": metric, "diverged_at_step": None if metric is not None else 10,
              "history": [{"step": 10, "metric": metric}], "recipe": {"steps": 10}, "config_hash": f"{lr}-{wd}",
              **extra}
    path = tmp_path / f"lr{lr}_wd{wd}.json"
    path.write_text(json.dumps(result))
    return path


def test_selection_takes_the_best_validation_metric_and_never_a_diverged_point(tmp_path):
    paths = [_grid_result(tmp_path, 0.1, 0.0, 0.6), _grid_result(tmp_path, 0.01, 0.0, 0.7),
             _grid_result(tmp_path, 0.01, 1e-4, 0.7), _grid_result(tmp_path, 1.0, 0.0, None)]
    selection = search.select_hyperparameters(paths, tmp_path / "selected.json")
    assert (selection["lr"], selection["weight_decay"], selection["val_metric"]) == (0.01, 0.0, 0.7)  # tie: smaller wd
    assert json.loads((tmp_path / "selected.json").read_text()) == selection
    assert len(selection["grid"]) == 4 and selection["grid"][-1]["diverged_at_step"] == 10


def test_selection_refuses_all_diverged_and_mixed_grids(tmp_path):
    with pytest.raises(ValueError, match="every grid point diverged"):
        search.select_hyperparameters([_grid_result(tmp_path, 1.0, 0.0, None)])
    mixed = [_grid_result(tmp_path, 0.1, 0.0, 0.5), _grid_result(tmp_path, 0.2, 0.0, 0.5, dataset="other")]
    with pytest.raises(ValueError, match="mix runs"):
        search.select_hyperparameters(mixed)


def test_a_refit_becomes_a_traceable_accuracy_row_and_a_grid_point_is_refused(artefacts, tmp_path):
    from transferstudy.analysis.aggregate import accuracy_table

    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "pretrain.json").write_text(json.dumps({"source_top1": 0.4, "params": 1000, "flops": 5}))
    refit = _run(artefacts, tmp_path, "refit", fit="trainval", init="random", model_name="mini",
                 record={"selection": {"lr": 0.05, "model": "mini", "dataset": "textures", "setting": "scratch"}})
    row = accuracy_table([tmp_path / "refit.json"], [tmp_path / "mini" / "pretrain.json"]).iloc[0]
    assert (row.model, row.setting, row.value, row.source_top1) == ("mini", "scratch", refit["value"], 0.4)
    assert (row.params, row.flops) == (1000, 5)  # the source properties the pretrain JSON records
    assert row.checkpoint_sha256 == refit["checkpoint_sha256"] and row.split_seed == 0 and row.n_test == 48
    assert json.loads(row.hyperparameters) == {"lr": 0.05, "weight_decay": 1e-4}
    assert refit["selection"]["lr"] == 0.05 and pd.isna(row.not_converged)
    _run(artefacts, tmp_path, "grid", model_name="mini")
    with pytest.raises(ValueError, match="a result scored on 'val' \\(a grid point\\), not on test"):
        accuracy_table([tmp_path / "grid.json"], [tmp_path / "mini" / "pretrain.json"])
    # Two pretrain JSONs in directories of the same name describe one model twice: refused, not overwritten.
    (tmp_path / "elsewhere" / "mini").mkdir(parents=True)
    (tmp_path / "elsewhere" / "mini" / "pretrain.json").write_text(json.dumps({"source_top1": 0.9}))
    with pytest.raises(ValueError, match=r"elsewhere/mini/pretrain.json and .*mini/pretrain.json both describe model "
                                         r"'mini'"):
        accuracy_table([tmp_path / "refit.json"], [tmp_path / "mini" / "pretrain.json",
                                                    tmp_path / "elsewhere" / "mini" / "pretrain.json"])
    # The table is checked where it is written: the same result twice, a value outside [0, 1], missing keys.
    pretrain = [tmp_path / "mini" / "pretrain.json"]
    with pytest.raises(ValueError, match=r"duplicate \(model, dataset, setting\) rows"):
        accuracy_table([tmp_path / "refit.json"] * 2, pretrain)
    (tmp_path / "odd.json").write_text(json.dumps({**refit, "value": 1.7}))
    with pytest.raises(ValueError, match=r"'value' value\(s\) outside \[0, 1\]"):
        accuracy_table([tmp_path / "odd.json"], pretrain)
    (tmp_path / "bare.json").write_text(json.dumps({key: refit[key] for key in ("model", "dataset", "setting")}))
    with pytest.raises(ValueError, match=r"bare.json: lacks the key\(s\) metric, value, eval_split, sizes"):
        accuracy_table([tmp_path / "bare.json"], pretrain)
    (tmp_path / "noarch.json").write_text(json.dumps({k: v for k, v in refit.items() if k != "arch"}))
    with pytest.raises(ValueError, match=r"noarch.json: lacks the key\(s\) arch;"):
        accuracy_table([tmp_path / "noarch.json"], pretrain)


def test_command_line_grid_point_selection_and_refit(artefacts, tmp_path, capsys):
    common = [str(artefacts / "ckpt.pt"), str(artefacts / "textures.h5"), "--steps", "10", "--batch-size", "16",
              "--eval-every", "5", "--checkpoint-every", "5"]
    for lr in ("0.01", "0.1"):
        cli.main(["finetune", *common, "--lr", lr, "--out", str(tmp_path / f"lr{lr}.json"),
                       "--state", str(tmp_path / f"lr{lr}.pt")])
    cli.main(["finetune", "select", str(tmp_path / "lr0.01.json"), str(tmp_path / "lr0.1.json"),
                   "--out", str(tmp_path / "selected.json")])
    assert "validation top1" in capsys.readouterr().out
    cli.main(["finetune", *common, "--selection", str(tmp_path / "selected.json"), "--fit", "trainval",
                   "--out", str(tmp_path / "refit.json"), "--state", str(tmp_path / "refit.pt")])
    selection, refit = (json.loads((tmp_path / f).read_text()) for f in ("selected.json", "refit.json"))
    assert refit["lr"] == selection["lr"] and refit["selection"] == selection and refit["eval_split"] == "test"
    # A selection made for another dataset is not refitted here.
    (tmp_path / "other.json").write_text(json.dumps({**selection, "dataset": "stars_fine"}))
    assert cli.main(["finetune", *common, "--selection", str(tmp_path / "other.json"), "--fit", "trainval",
                     "--out", str(tmp_path / "refit2.json"), "--state", str(tmp_path / "refit2.pt")]) == 2
    assert re.search(r"the selection was made for \{.*'dataset': 'stars_fine'.*not for this run's "
                     r"\{.*'dataset': 'textures'", capsys.readouterr().err)


def _as_image_files(split_file, out, root):
    """The same dataset as image files (lossless PNG) and a split file listing them."""
    from PIL import Image

    from transferstudy.io import read_split_file, write_split_file

    splits, attrs = read_split_file(split_file, ("images", "labels"))
    listed = {}
    for split, arrays in splits.items():
        paths = []
        for i, image in enumerate(arrays["images"]):
            path = f"{split}/{i}.png"
            (root / split).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / path)
            paths.append(path.encode())
        listed[split] = {"paths": paths, "labels": arrays["labels"]}
    write_split_file(out, listed, {**attrs, "root": str(root)})


def test_a_dataset_of_image_files_trains_exactly_as_the_same_images_in_memory(artefacts, tmp_path):
    _as_image_files(artefacts / "textures.h5", tmp_path / "files.h5", tmp_path / "images")
    options = {"init": "pretrained", "lr": 0.05, "weight_decay": 1e-4, "fit": "trainval",
               "recipe": {"steps": 12, "batch_size": 16, "eval_every": 6, "checkpoint_every": 6}}
    checkpoint = artefacts / "ckpt.pt"
    in_memory = finetune.train(finetune.TrainRun(checkpoint, artefacts / "textures.h5", tmp_path / "a.json",
                                                 tmp_path / "a.pt", **options))
    streamed = finetune.train(finetune.TrainRun(checkpoint, tmp_path / "files.h5", tmp_path / "b.json",
                                                tmp_path / "b.pt", workers=2, **options))
    assert streamed["history"] == in_memory["history"]
    assert streamed["value"] == in_memory["value"] and streamed["n_fit"] == 96


def test_pretraining_with_every_switch_records_them_and_the_checkpoint_loads_without_its_aux_head(artefacts,
                                                                                                  tmp_path):
    from transferstudy.nets import pretrained

    recipe = {"epochs": 1, "batch_size": 64, "bn_gamma": False, "label_smoothing": 0.1, "dropout": 0.5,
              "aux_head": True, "aux_weight": 0.3}
    metrics = pretrain.pretrain("mini_vgg", artefacts / "source.h5", tmp_path / "all.pt", tmp_path / "all.json",
                                recipe=recipe)
    assert metrics["switches"] == ["no_bn_gamma", "label_smoothing", "dropout", "aux_head"]
    assert switches_on(PretrainRecipe().as_dict()) == []
    checkpoint = torch.load(tmp_path / "all.pt", weights_only=True)
    assert any(key.startswith("aux.") for key in checkpoint["state_dict"])  # kept in the file, for the record
    loaded = pretrained.load(tmp_path / "all.pt")
    assert loaded.body.aux is None and loaded.info.model_options["drop_rate"] == 0.5
    tuned = loaded.with_new_head(7)
    norms = [m for m in tuned.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(not m.weight.requires_grad and torch.all(m.weight == 1) for m in norms)
    assert tuned.drop.p == 0.5 and tuned.fc.out_features == 7


def test_the_auxiliary_loss_weight_changes_training(artefacts, tmp_path):
    runs = [pretrain.pretrain("mini_convnet", artefacts / "source.h5", tmp_path / f"{w}.pt", tmp_path / f"{w}.json",
                              recipe={"epochs": 1, "batch_size": 64, "aux_head": True, "aux_weight": w})
            for w in (0.0, 1.0)]
    assert runs[0]["history"][0]["train_loss"] != runs[1]["history"][0]["train_loss"]


def test_the_step_loop_runs_network_and_batch_channels_last_on_cpu():
    # oneDNN's channels_last convolutions are faster on CPU too (docs/benchmarks.md); a batch cropped in NCHW is
    # converted, and the network's weights are laid out to match.
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            seen.append(x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous())
            return self.conv(x).mean((2, 3))

    model = Recorder()
    x = torch.rand(2, 3, 8, 8)  # as roi_align makes the crops
    loop = StepLoop(model, sgd_nesterov(model, 0.1, 0.9, 0.0), lr=0.1, total_steps=2, device="cpu")
    loop.run(lambda step: (x, torch.tensor([0, 1])), lambda m, a, b: (F.cross_entropy(m(a), b), m(a)),
             report_every=1)
    assert seen and all(seen) and len(loop.history) == 0 and loop.step == 2
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
