import numpy as np
import pytest

from transferstudy.io import (atomic_path, read_attrs, read_dataset, read_json, read_split_file, write_json,
                              write_split_file)


def _splits(n=5, d=3):
    rng = np.random.default_rng(0)
    return {s: {"features": rng.normal(size=(n, d)).astype(np.float32), "labels": np.arange(n)}
            for s in ("train", "val", "test")}


def test_split_file_round_trip_keeps_arrays_and_provenance(tmp_path):
    path = tmp_path / "f.h5"
    attrs = {"model": "m", "checkpoint_sha256": "ab" * 32, "image_size": 32, "val_fraction": 0.2,
             "multilabel": False, "preprocessing": {"mean": [0.1, 0.2, 0.3], "crop": "centre"},
             "classes": ["a", "b"]}
    splits = _splits()
    write_split_file(path, splits, attrs)
    back, back_attrs = read_split_file(path, ("features", "labels"))
    for split in splits:
        np.testing.assert_array_equal(back[split]["features"], splits[split]["features"])
        assert back[split]["features"].dtype == np.float32
    assert back_attrs == attrs
    assert read_attrs(path) == attrs


def test_read_split_file_names_file_and_problem(tmp_path):
    path = tmp_path / "f.h5"
    splits = _splits()
    del splits["val"]
    write_split_file(path, splits, {})
    with pytest.raises(ValueError, match=r"f\.h5: missing group 'val'"):
        read_split_file(path, ("features", "labels"))
    with pytest.raises(ValueError, match="has no dataset 'images'"):
        read_split_file(path, ("images",), splits=("train",))
    splits["train"]["labels"] = np.arange(4)
    write_split_file(path, splits, {})
    with pytest.raises(ValueError, match="arrays of different lengths"):
        read_split_file(path, ("features", "labels"), splits=("train",))


def test_a_dataset_file_reads_as_images_in_memory_or_as_files_under_its_root(tmp_path):
    images = np.zeros((2, 4, 4, 3), np.uint8)
    write_split_file(tmp_path / "mem.h5", {"train": {"images": images, "labels": np.array([0, 1])}}, {"dataset": "m"})
    write_split_file(tmp_path / "files.h5", {"train": {"paths": np.array([b"a.jpg", b"b/c.png"]),
                                                       "labels": np.array([1, 0])}}, {"root": "/data"})
    mem = read_dataset(tmp_path / "mem.h5", ("train",))[0]["train"]
    assert mem.images.shape == (2, 4, 4, 3) and mem.paths is None and mem.root is None
    files = read_dataset(tmp_path / "files.h5", ("train",))[0]["train"]
    assert files.images is None and files.paths == ["a.jpg", "b/c.png"] and files.root == "/data"
    assert list(files.labels) == [1, 0]
    write_split_file(tmp_path / "bare.h5", {"train": {"labels": np.array([0])}}, {})
    with pytest.raises(ValueError, match="bare.h5: group 'train' has neither 'images' nor 'paths'"):
        read_dataset(tmp_path / "bare.h5", ("train",))


def test_atomic_path_leaves_nothing_when_the_write_fails(tmp_path):
    target = tmp_path / "out" / "result.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"a": np.float32(1.5), "b": np.arange(2)})
    assert read_json(target) == {"a": 1.5, "b": [0, 1]}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_atomic_output_gets_the_usual_permissions(tmp_path):
    import os

    write_json(tmp_path / "r.json", {})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_each_rule_is_rerun_by_edits_to_the_library_modules_its_script_uses(tmp_path):
    import shutil

    from workflow_runs import ROOT
    from transferstudy import provenance

    scripts = ROOT / "workflow" / "scripts"
    probe_files = {p.relative_to(provenance.PACKAGE).as_posix() for p in provenance.code_files(scripts / "probe.py")}
    assert {"transfer/probe.py", "metrics.py", "config.py"} <= probe_files and "analysis/stats.py" not in probe_files
    zoo_files = {p.name for p in provenance.code_files(scripts / "pretrained_model.py")}
    assert {"zoo.py", "pretrained.py", "timm_imagenet_results.csv"} <= zoo_files
    copy = tmp_path / "transferstudy"
    shutil.copytree(provenance.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = {name: provenance.code_hash(scripts / name, copy) for name in ("probe.py", "analysis_tables.py")}
    stats = copy / "analysis" / "stats.py"
    stats.write_text(stats.read_text().replace("CONFIDENCE = 0.95", "CONFIDENCE = 0.9"))
    provenance.code_hash.cache_clear()
    assert provenance.code_hash(scripts / "analysis_tables.py", copy) != before["analysis_tables.py"]
    assert provenance.code_hash(scripts / "probe.py", copy) == before["probe.py"]


def test_damaged_files_are_errors_that_name_them(tmp_path):
    import torch

    from transferstudy.train.loop import resume

    (tmp_path / "r.json").write_text('{"test_metric": 0.5')
    with pytest.raises(ValueError, match=r"r.json: not valid JSON .*Delete it"):
        read_json(tmp_path / "r.json")
    write_split_file(tmp_path / "f.h5", {"test": {"labels": np.arange(3)}}, {"model": "m"})
    data = (tmp_path / "f.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.h5").write_text("not hdf5")
    for name in ("cut.h5", "text.h5"):
        with pytest.raises(ValueError, match=rf"{name}: cannot read it as HDF5"):
            read_split_file(tmp_path / name, ("labels",), splits=("test",))
        with pytest.raises(ValueError, match=rf"{name}: cannot read it as HDF5"):
            read_attrs(tmp_path / name)
    (tmp_path / "state.pt").write_bytes(b"\x80\x02garbage")
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"state.pt: cannot read this saved state .*delete it"):
        resume(tmp_path / "state.pt", {"lr": 0.1}, model, optimizer, "cpu")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other.pt is not a state saved by a training run"):
        resume(tmp_path / "other.pt", {"lr": 0.1}, model, optimizer, "cpu")


def test_a_split_file_without_the_attributes_a_step_needs_names_them(tmp_path):
    from transferstudy.transfer.probe import run_probe

    splits = {split: {"features": np.ones((4, 2), np.float32), "labels": np.array([0, 1, 0, 1])}
              for split in ("train", "val", "test")}
    write_split_file(tmp_path / "f.h5", splits, {"dataset": "d", "metric": "top1"})
    with pytest.raises(ValueError, match=r"f.h5: lacks the attribute\(s\) num_classes, multilabel; a split file"):
        run_probe(tmp_path / "f.h5")
