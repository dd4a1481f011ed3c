"""Pretraining at full scale: a torchvision architecture with the regularisation switches, on an ImageNet-style
image folder, resumable (tested on a tiny folder made here in the official layout)."""

import numpy as np
import pytest
import torch
from PIL import Image

from transferstudy.data import datasets, official
from transferstudy.nets import pretrained
from transferstudy.train import loop, pretrain

SYNSETS = ["n01440764", "n01443537", "n01484850"]


def _image_folder(root, train=4, val=2, seed=0):
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("val", val)):
        for k, synset in enumerate(SYNSETS):
            (root / split / synset).mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 60, (40, 48, 3)) + 60 * k  # classes differ in brightness
                Image.fromarray(pixels.astype(np.uint8)).save(root / split / synset / f"{synset}_{i}.JPEG")
    return root


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    root = _image_folder(tmp_path_factory.mktemp("imagenet") / "imagenet")
    path = root.parent / "imagenet.h5"
    splits, attrs = datasets.prepare_dataset("imagenet", path, seed=0, split_seed=0, val_fraction=0.2, root=root)
    return path, splits, attrs


RECIPE = {"epochs": 2, "batch_size": 4, "lr": 0.01, "image_size": 64, "checkpoint_every": 2, "bn_gamma": False,
          "label_smoothing": 0.1, "dropout": 0.3, "aux_head": True, "aux_weight": 0.3}


def test_imagenet_folder_is_read_in_synset_order_with_its_own_val(imagenet):
    _, splits, attrs = imagenet
    assert attrs["role"] == "source" and attrs["val_split"] == "official" and attrs["classes"] == SYNSETS
    assert len(splits["train"]["labels"]) == 12 and list(np.bincount(splits["val"]["labels"])) == [2, 2, 2]
    assert splits["val"]["paths"][0].decode() == "val/n01440764/n01440764_0.JPEG"


def test_a_val_folder_with_other_synsets_is_refused(tmp_path):
    root = _image_folder(tmp_path / "imagenet")
    (root / "val" / "n99999999").mkdir()
    with pytest.raises(official.DatasetNotFound, match="synset directories that differ from train"):
        official.imagenet(root, None)


def test_googlenet_pretrained_with_every_switch_on_image_files(imagenet, tmp_path):
    path, _, _ = imagenet
    metrics = pretrain.pretrain("googlenet", path, tmp_path / "g.pt", tmp_path / "g.json", recipe=RECIPE,
                                state_path=tmp_path / "g.state.pt")
    assert metrics["switches"] == ["no_bn_gamma", "label_smoothing", "dropout", "aux_head"]
    assert [h["step"] for h in metrics["history"]] == [3, 6] and 0 <= metrics["source_top1"] <= 1
    assert metrics["source_val_size"] == 6 and not (tmp_path / "g.state.pt").exists()
    checkpoint = torch.load(tmp_path / "g.pt", weights_only=True)
    assert any(key.startswith("aux1.") for key in checkpoint["state_dict"])  # trained, and kept on file
    assert checkpoint["pretrained_cfg"]["input_size"] == [3, 64, 64]
    norms = [v for k, v in checkpoint["state_dict"].items() if k.endswith("bn.weight")]
    assert norms and all(torch.all(w == 1) for w in norms)  # no batch-norm scale: gamma stayed 1

    loaded = pretrained.load(tmp_path / "g.pt")
    assert loaded.body.aux1 is None and loaded.num_features == 1024 and loaded.info.switches == metrics["switches"]
    assert loaded.penultimate(torch.randn(2, 3, 64, 64)).shape == (2, 1024)
    tuned = loaded.with_new_head(5)
    assert tuned.dropout.p == 0.3 and tuned.fc.out_features == 5


def test_a_pretraining_run_killed_midway_resumes_to_the_same_weights(imagenet, tmp_path, monkeypatch):
    path, _, _ = imagenet
    recipe = {**RECIPE, "aux_head": False, "dropout": 0.2}
    reference = pretrain.pretrain("googlenet", path, tmp_path / "ref.pt", tmp_path / "ref.json", recipe=recipe,
                                  state_path=tmp_path / "ref.state.pt")
    set_lr = loop.set_cosine_lr

    def crash_at_step_3(optimizer, lr, step, total):
        if step == 3:
            raise KeyboardInterrupt("killed")
        set_lr(optimizer, lr, step, total)

    monkeypatch.setattr(loop, "set_cosine_lr", crash_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        pretrain.pretrain("googlenet", path, tmp_path / "run.pt", tmp_path / "run.json", recipe=recipe,
                          state_path=tmp_path / "run.state.pt")
    assert torch.load(tmp_path / "run.state.pt", weights_only=False)["step"] == 2
    monkeypatch.setattr(loop, "set_cosine_lr", set_lr)
    resumed = pretrain.pretrain("googlenet", path, tmp_path / "run.pt", tmp_path / "run.json", recipe=recipe,
                                state_path=tmp_path / "run.state.pt")
    assert resumed["resumed_from_step"] == 2 and reference["resumed_from_step"] is None
    assert resumed["history"] == reference["history"] and resumed["source_top1"] == reference["source_top1"]
    ours = torch.load(tmp_path / "run.pt", weights_only=True)["state_dict"]
    theirs = torch.load(tmp_path / "ref.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_switches_a_torchvision_family_lacks_are_refused(imagenet, tmp_path):
    path, _, _ = imagenet
    with pytest.raises(ValueError, match="torchvision's resnet18 has no auxiliary classifier"):
        pretrain.pretrain("resnet18", path, tmp_path / "r.pt", tmp_path / "r.json", recipe={"aux_head": True},
                          state_path=tmp_path / "r.state.pt")
