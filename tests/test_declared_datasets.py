"""Datasets declared in the config: class folders, CSV manifests and arrays, read, checked and written like the
registry's, with errors that name the file, line, key or class."""

import h5py
import numpy as np
import pytest
from PIL import Image

from transferstudy.cli import main as cli
from transferstudy.config import ConfigError
from transferstudy.data import datasets, declared
from transferstudy.io import read_attrs
from transferstudy.study.plan import Study


def _png(path, value, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    size = (6, 5)
    Image.new(mode, size, value if mode == "L" else (value, 255 - value, 7)).save(path)


def _folder_tree(root, splits=("train", "val", "test"), classes=("cat", "ant", "bee"), per_class=3):
    for s, split in enumerate(splits):
        for k, name in enumerate(classes):
            for i in range(per_class):  # every image a picture of its own
                _png(root / split / name / f"{i}.png", 40 * k + per_class * s + i, mode="L" if k == 0 else "RGB")
    return root


def _prepare(tmp_path, options, name="mine", **kwargs):
    return datasets.prepare_dataset(name, tmp_path / f"{name}.h5", seed=0, split_seed=0, val_fraction=0.25,
                                    **kwargs, **options)


def test_a_folder_tree_with_official_splits(tmp_path):
    root = _folder_tree(tmp_path / "tree")
    (root / "train" / "ant" / "notes.txt").write_text("not an image")
    splits, attrs = _prepare(tmp_path, {"format": "image_folder", "root": str(root), "metric": "mean_per_class"})
    assert attrs["classes"] == ["ant", "bee", "cat"] and attrs["metric"] == "mean_per_class"
    assert attrs["val_split"] == "official" and "split_seed" not in attrs
    assert attrs["kind"] == "declared" and attrs["declared"]["ignored_files"] == 1
    assert attrs["root"] == str(root.resolve())
    paths = [p.decode() for p in splits["train"]["paths"]]
    assert paths[0] == "train/ant/0.png" and len(paths) == 9
    np.testing.assert_array_equal(splits["test"]["labels"], np.repeat([0, 1, 2], 3))
    from transferstudy.data.images import decode

    assert decode(root / "train" / "cat" / "0.png").shape == (3, 5, 6)  # grayscale made 3-channel on reading


def test_a_folder_of_classes_is_split_by_a_seeded_stratified_test_fraction(tmp_path):
    root = tmp_path / "flat"
    for k, name in enumerate(("b", "a")):
        for i in range(10):
            _png(root / name / f"{i}.jpg", 10 * k + i)
    declaration = {"format": "image_folder", "root": str(root), "metric": "top1"}
    with pytest.raises(ValueError, match=r"has no test split; give datasets.mine.test_fraction"):
        _prepare(tmp_path, declaration)
    a, attrs = _prepare(tmp_path, {**declaration, "test_fraction": 0.3})
    b, _ = _prepare(tmp_path, {**declaration, "test_fraction": 0.3}, name="mine2")
    assert np.bincount(a["test"]["labels"]).tolist() == [3, 3]
    assert attrs["val_split"] == "holdout" and attrs["declared"]["layout"] == "classes"
    test_paths = set(a["test"]["paths"].tolist())
    assert test_paths.isdisjoint(a["train"]["paths"].tolist()) and test_paths.isdisjoint(a["val"]["paths"].tolist())
    # Another dataset name draws another split from the same seed; the same name the same one.
    c, _ = _prepare(tmp_path, {**declaration, "test_fraction": 0.3})
    assert c["test"]["paths"].tolist() == a["test"]["paths"].tolist()
    assert b["test"]["paths"].tolist() != a["test"]["paths"].tolist()


def test_a_csv_manifest_single_and_multi_label(tmp_path):
    for i in range(8):
        _png(tmp_path / "img" / f"{i}.png", 20 * i)
    (tmp_path / "single.csv").write_text(
        "path,label,split\n" + "".join(f"img/{i}.png,{'yes' if i % 2 else 'no'},{'test' if i >= 4 else 'train'}\n"
                                       for i in range(8)))
    splits, attrs = _prepare(tmp_path, {"format": "csv", "manifest": str(tmp_path / "single.csv"), "metric": "top1",
                                        "classes": ["yes", "no"]})
    assert attrs["classes"] == ["yes", "no"] and attrs["root"] == str(tmp_path.resolve())
    assert splits["test"]["labels"].tolist() == [1, 0, 1, 0]
    assert len(attrs["declared"]["manifest_sha256"]) == 64

    labels = ["a;b", "b", "a", "", "a;b", "b", "a", "a ; b"]
    (tmp_path / "multi.csv").write_text(
        "path,label,split\n" + "".join(f"img/{i}.png,{labels[i]},{'test' if i >= 4 else 'train'}\n" for i in range(8)))
    splits, attrs = _prepare(tmp_path, {"format": "csv", "manifest": str(tmp_path / "multi.csv"), "metric": "map11"})
    assert attrs["multilabel"] and attrs["classes"] == ["a", "b"]
    np.testing.assert_array_equal(splits["test"]["labels"], [[1, 1], [0, 1], [1, 0], [1, 1]])


@pytest.mark.parametrize("rows, message", [
    ("path,label\nimg/0.png,x\nimg/9.png,y\n", r"manifest.csv: 1 listed file\(s\) not found .*line 3: img/9.png"),
    ("path,label,split\nimg/0.png,x,tset\n", r"manifest.csv line 2: split 'tset' is not one of train, val, test"),
    ("path,label\nimg/0.png,\n", r"manifest.csv line 2: empty label"),
    ("path,label\nimg/0.png,x\nimg/0.png,y\n", r"line 3: img/0.png is listed again \(first on line 2\)"),
    ("path,label,split\nimg/0.png,x,train\n./img/../img/0.png,x,test\n",
     r"line 3: ./img/../img/0.png is listed again \(first on line 2 as img/0.png\)"),
    ("file,label\nimg/0.png,x\n", r"no column 'path' in its header \['file', 'label'\]"),
    ("path,label\nimg/0.png,x;y\n", r"line 2: label 'x;y' lists several classes"),
    ("path,label,split\nimg/0.png,x,test\n", r"no row of split train"),
])
def test_manifest_errors_name_the_file_and_line(tmp_path, rows, message):
    _png(tmp_path / "img" / "0.png", 3)
    (tmp_path / "manifest.csv").write_text(rows)
    with pytest.raises(declared.DeclaredDataError, match=message):
        _prepare(tmp_path, {"format": "csv", "manifest": str(tmp_path / "manifest.csv"), "metric": "top1",
                            "test_fraction": 0.5})


def test_a_class_missing_from_a_split_or_from_classes_is_named(tmp_path):
    for i in range(4):
        _png(tmp_path / "img" / f"{i}.png", i)
    (tmp_path / "m.csv").write_text("path,label,split\nimg/0.png,a,train\nimg/1.png,b,train\nimg/2.png,a,test\n")
    declaration = {"format": "csv", "manifest": str(tmp_path / "m.csv"), "metric": "top1"}
    with pytest.raises(declared.DeclaredDataError, match=r"class 'b' has no image in test"):
        _prepare(tmp_path, declaration)
    with pytest.raises(declared.DeclaredDataError, match=r"class 'b' of .*m.csv is not in datasets.mine.classes; "
                                                         r"valid: a, c"):
        _prepare(tmp_path, {**declaration, "classes": ["a", "c"]})


def test_arrays_npz_grayscale_medmnist_labels_and_h5_multilabel(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"{split}_images": rng.integers(0, 256, (n, 7, 7), dtype=np.uint8)
              for split, n in (("train", 12), ("val", 4), ("test", 6))}
    arrays.update({f"{split}_labels": (np.arange(n) % 3)[:, None].astype(np.uint8)
                   for split, n in (("train", 12), ("val", 4), ("test", 6))})
    np.savez(tmp_path / "med.npz", **arrays)
    splits, attrs = _prepare(tmp_path, {"format": "arrays", "file": str(tmp_path / "med.npz"), "metric": "top1",
                                        "classes": ["x", "y", "z"]})
    assert splits["train"]["images"].shape == (12, 7, 7, 3) and splits["train"]["labels"].dtype == np.int64
    np.testing.assert_array_equal(splits["train"]["images"][..., 2], arrays["train_images"])
    assert attrs["val_split"] == "official" and attrs["classes"] == ["x", "y", "z"] and "root" not in attrs

    with h5py.File(tmp_path / "multi.h5", "w") as f:
        for split, n in (("train", 10), ("test", 5)):
            f[f"{split}_images"] = rng.integers(0, 256, (n, 5, 5, 3), dtype=np.uint8)
            f[f"{split}_labels"] = np.stack([np.arange(n) % 2, 1 - np.arange(n) % 2, np.ones(n)], 1).astype(np.float32)
    splits, attrs = _prepare(tmp_path, {"format": "arrays", "file": str(tmp_path / "multi.h5"), "metric": "map11"})
    assert attrs["multilabel"] and attrs["classes"] == ["0", "1", "2"] and splits["test"]["labels"].shape == (5, 3)


@pytest.mark.parametrize("change, message", [
    ({"train_images": np.zeros((4, 3, 3), np.float32)}, r"a.npz: train_images has dtype float32; expected uint8"),
    ({"train_images": np.zeros((4, 3, 3, 4), np.uint8)}, r"a.npz: train_images has shape \(4, 3, 3, 4\)"),
    ({"train_labels": np.array([0, 1.5, 0, 1])}, r"a.npz: train_labels has dtype float64 with non-integer values"),
    ({"train_labels": np.array([0, 1, 0])}, r"a.npz: train_images has 4 images but train_labels 3 labels"),
    ({"test_labels": np.array([0, 0])}, r"class 'yes' has no image in test"),
    ({"train_labels": np.array([0, 1, 0, 5])}, r"labels reach class index 5, but datasets.mine.classes names 2"),
])
def test_array_errors_name_the_file_and_key(tmp_path, change, message):
    pictures = np.arange(6 * 9, dtype=np.uint8).reshape(6, 3, 3)
    arrays = {"train_images": pictures[:4], "train_labels": np.array([0, 1, 0, 1]),
              "test_images": pictures[4:], "test_labels": np.array([0, 1]), **change}
    np.savez(tmp_path / "a.npz", **arrays)
    with pytest.raises(declared.DeclaredDataError, match=message):
        _prepare(tmp_path, {"format": "arrays", "file": str(tmp_path / "a.npz"), "metric": "top1",
                            "classes": ["no", "yes"]})


def test_an_undecodable_image_fails_naming_it_or_is_skipped_and_counted(tmp_path):
    root = _folder_tree(tmp_path / "tree", splits=("train", "test"), classes=("a", "b"))
    (root / "train" / "b" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    declaration = {"format": "image_folder", "root": str(root), "metric": "top1"}
    with pytest.raises(declared.DeclaredDataError, match=r"1 image file\(s\) under .* cannot be decoded: "
                                                         r"train/b/1.png .*features.unreadable: skip"):
        _prepare(tmp_path, declaration)
    splits, attrs = _prepare(tmp_path, declaration, unreadable="skip")
    assert attrs["declared"]["unreadable_images"] == 1
    kept = [p.decode() for split in ("train", "val") for p in splits[split]["paths"]]
    assert len(kept) == 5 and "train/b/1.png" not in kept
    summary = datasets.summarize([tmp_path / "mine.h5"])
    assert summary["mine"]["unreadable_images"] == 1


def _config(datasets_section):
    return {"models": {"net": {"arch": "mini_vgg"}}, "source": {"dataset": "shapes64"}, "datasets": datasets_section}


@pytest.mark.parametrize("entry, message", [
    ({"format": "image_folder", "root": "nowhere", "metric": "top1"},
     r"dataset mine: image_folder folder nowhere .* not found; datasets.mine.root must name it"),
    ({"format": "csv", "metric": "top1"}, r"datasets.mine.manifest is missing: format csv reads its data from it"),
    ({"format": "folder", "root": ".", "metric": "top1"}, r"datasets.mine.format = 'folder' is not valid; valid: "
                                                          r"image_folder, csv, arrays"),
    ({"format": "image_folder", "root": ".", "metric": "map11"}, r"metric = 'map11' is for multi-label data"),
    ({"format": "image_folder", "root": ".", "metric": "top1", "manifest": "m.csv"},
     r"datasets.mine.manifest is not read by format image_folder"),
    ({"format": "image_folder", "root": ".", "metirc": "top1"}, r"datasets.mine has unknown key\(s\) \['metirc'\]"),
    ({"format": "image_folder", "root": ".", "metric": "top1", "test_fraction": 1.5},
     r"datasets.mine.test_fraction = 1.5 must be less than 1"),
])
def test_the_study_refuses_a_bad_declaration_naming_the_key(entry, message):
    with pytest.raises(ConfigError, match=message):
        Study(_config({"mine": entry}))


def test_the_study_plans_a_declared_dataset(tmp_path):
    np.savez(tmp_path / "a.npz", train_images=np.zeros((4, 3, 3), np.uint8), train_labels=np.array([0, 1, 0, 1]))
    study = Study(_config({"mine": {"format": "arrays", "file": str(tmp_path / "a.npz"), "metric": "map11"},
                           "textures": {}}))
    assert study.data.info("mine").multilabel and study.data.files("mine") == [str(tmp_path / "a.npz")]
    assert study.data.files("textures") == []
    with pytest.raises(ConfigError, match=r"datasets.textures declares data of its own .* under the name of a "
                                          r"built-in dataset"):
        Study(_config({"textures": {"format": "arrays", "file": str(tmp_path / "a.npz"), "metric": "top1"}}))


def test_the_command_reads_a_declaration(tmp_path):
    root = _folder_tree(tmp_path / "tree", splits=("train", "test"), classes=("a", "b"))
    cli(["datasets", "mine", "--out", str(tmp_path / "mine.h5"), "--declare",
         f'{{"format": "image_folder", "root": "{root}", "metric": "top1"}}'])
    assert read_attrs(tmp_path / "mine.h5")["classes"] == ["a", "b"]


def test_sixteen_bit_images_are_read_as_their_grey_levels_and_one_picture_everywhere_is_refused(tmp_path):
    root = tmp_path / "tree"
    for s, split in enumerate(("train", "test")):
        for k, name in enumerate(("a", "b")):
            for i in range(3):
                (root / split / name).mkdir(parents=True, exist_ok=True)
                level = 257 * (40 * k + 3 * s + i + 1)  # 16-bit levels that convert("RGB") saturates to white
                Image.fromarray(np.full((5, 6), level, np.uint16)).save(root / split / name / f"{i}.png")
    declaration = {"format": "image_folder", "root": str(root), "metric": "top1"}
    _prepare(tmp_path, declaration)
    for path in root.rglob("*.png"):
        Image.new("L", (6, 5), 0).save(path)
    with pytest.raises(declared.DeclaredDataError, match=r"dataset mine: its 12 images \(files under .*tree\) are all "
                                                         r"the same picture once read as RGB"):
        _prepare(tmp_path, declaration)
    np.savez(tmp_path / "a.npz", train_images=np.zeros((4, 3, 3), np.uint8), train_labels=np.array([0, 1, 0, 1]),
             test_images=np.zeros((2, 3, 3), np.uint8), test_labels=np.array([0, 1]))
    with pytest.raises(declared.DeclaredDataError, match=r"its 6 images \(arrays\) are all the same picture"):
        _prepare(tmp_path, {"format": "arrays", "file": str(tmp_path / "a.npz"), "metric": "top1"})


def test_a_test_split_repeating_train_is_refused_and_a_few_repeats_are_counted(tmp_path, caplog):
    root = _folder_tree(tmp_path / "tree", splits=("train", "test"), classes=("a", "b"), per_class=4)
    declaration = {"format": "image_folder", "root": str(root), "metric": "top1"}
    (root / "test" / "b" / "3.png").write_bytes((root / "train" / "a" / "0.png").read_bytes())
    splits, attrs = _prepare(tmp_path, declaration)
    assert attrs["declared"]["test_images_repeated"] == 1
    assert "1 of the 8 test image files are identical to training or validation image files" in caplog.text
    assert datasets.summarize([tmp_path / "mine.h5"])["mine"]["test_images_repeated"] == 1
    for k in range(4):  # half the test split copied from train
        (root / "test" / "a" / f"{k}.png").write_bytes((root / "train" / "b" / f"{k}.png").read_bytes())
    with pytest.raises(ValueError, match=r"dataset mine: 5 of the 8 test image files are identical to training or "
                                         r"validation image files \(e.g. test/a/0.png = train/b/0.png.*\): the test "
                                         r"split repeats the data fitted on"):
        _prepare(tmp_path, declaration)
    pictures = np.arange(6 * 9, dtype=np.uint8).reshape(6, 3, 3)
    np.savez(tmp_path / "a.npz", train_images=pictures[:4], train_labels=np.array([0, 1, 0, 1]),
             test_images=pictures[:2], test_labels=np.array([0, 1]))
    with pytest.raises(ValueError, match=r"2 of the 2 test images are identical to training or validation images"):
        _prepare(tmp_path, {"format": "arrays", "file": str(tmp_path / "a.npz"), "metric": "top1"})


def test_a_hold_out_that_leaves_a_class_nothing_to_train_on_is_refused_naming_its_key(tmp_path):
    root = _folder_tree(tmp_path / "tree", splits=("train", "test"), classes=("a", "b"), per_class=3)
    declaration = {"format": "image_folder", "root": str(root), "metric": "top1"}
    with pytest.raises(ValueError, match=r"dataset mine: split.val_fraction = 0.9 cannot hold out a validation split: "
                                         r"class 'a' has 3 training example\(s\), and holding out 3 .* leaves none"):
        datasets.prepare_dataset("mine", tmp_path / "mine.h5", seed=0, split_seed=0, val_fraction=0.9, **declaration)
    flat = tmp_path / "flat"
    for k, name in enumerate(("a", "b")):
        for i in range(4):
            _png(flat / name / f"{i}.png", 10 * k + i)
    with pytest.raises(ValueError, match=r"datasets.mine.test_fraction = 0.9 cannot hold out a test split: class 'a' "
                                         r"has 4 training example\(s\)"):
        _prepare(tmp_path, {"format": "image_folder", "root": str(flat), "metric": "top1", "test_fraction": 0.9})
    config = _config({"stars_fine": {}})
    with pytest.raises(ConfigError, match=r"split.val_fraction = 0.99: the smallest class of dataset stars_fine has "
                                          r"at most 40 training examples"):
        Study({**config, "split": {"val_fraction": 0.99}})


def test_a_dataset_of_one_class_is_refused_by_the_dataset_job(tmp_path):
    root = _folder_tree(tmp_path / "tree", splits=("train", "test"), classes=("only",))
    with pytest.raises(ValueError, match=r"dataset mine has 1 class\(es\) \['only'\]; a classifier needs at least 2"):
        _prepare(tmp_path, {"format": "image_folder", "root": str(root), "metric": "top1"})
