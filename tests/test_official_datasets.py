"""The 12 official-format loaders on tiny copies in each dataset's official layout."""

import numpy as np
import pytest

from official_copies import COPIES, make_copy
from transferstudy.data import datasets, official
from transferstudy.io import read_split_file


def test_every_paper_dataset_has_a_loader_and_a_copy():
    assert set(datasets.OFFICIAL) == set(COPIES) == set(official.OBTAIN) - {"imagenet"}  # the source
    assert len(datasets.OFFICIAL) == 12 and datasets.list_datasets(role="source", kind="official") == ["imagenet"]
    assert set(official.DOWNLOADERS) <= set(datasets.OFFICIAL)


@pytest.mark.parametrize("name", sorted(COPIES))
def test_official_loader_reads_the_official_layout(name, tmp_path):
    expected = make_copy(name, tmp_path / "root")
    info = datasets.get_dataset_info(name)
    splits, attrs = datasets.prepare_dataset(name, tmp_path / f"{name}.h5", seed=0, split_seed=0, val_fraction=0.2,
                                             root=str(tmp_path / "root"))
    stored, stored_attrs = read_split_file(tmp_path / f"{name}.h5", ("labels",))
    assert stored_attrs["metric"] == info.metric and stored_attrs["num_classes"] == expected["classes"]
    assert stored_attrs["val_split"] == ("official" if info.official_val else "holdout")
    sizes = {split: len(stored[split]["labels"]) for split in ("train", "val", "test")}
    if info.official_val:
        assert sizes == {split: expected[split] for split in ("train", "val", "test")}
    else:  # the official training split, divided into train and a seeded hold-out
        assert sizes["train"] + sizes["val"] == expected["train"] and sizes["test"] == expected["test"]
        assert sizes["val"] > 0
    assert stored_attrs.get("missing_images") == expected.get("missing_images")
    for split in ("train", "val", "test"):
        labels = splits[split]["labels"]
        if info.multilabel:
            assert labels.shape[1] == expected["classes"] and set(np.unique(labels)) <= {0, 1}
        else:
            assert labels.min() >= 0 and labels.max() < expected["classes"]
        if "paths" in splits[split]:
            for path in splits[split]["paths"]:
                assert (tmp_path / "root" / path.decode()).is_file()
        else:
            assert splits[split]["images"].shape[1:] == (32, 32, 3)


def test_splits_follow_the_protocol(tmp_path):
    # Caltech-101: 30 training images per class (then 20% of them held out), seeded; the rest is test.
    make_copy("caltech101", tmp_path / "caltech")
    a, attrs = datasets.prepare_dataset("caltech101", tmp_path / "a.h5", seed=0, split_seed=0, val_fraction=0.2,
                                        root=str(tmp_path / "caltech"))
    b, _ = datasets.prepare_dataset("caltech101", tmp_path / "b.h5", seed=1, split_seed=0, val_fraction=0.2,
                                    root=str(tmp_path / "caltech"))
    trainval = np.concatenate([a["train"]["labels"], a["val"]["labels"]])
    assert np.bincount(trainval).tolist() == [30, 30, 30] and attrs["num_classes"] == 3
    assert "BACKGROUND_Google" in attrs["classes"]  # the paper's 102 classes include it
    assert set(a["test"]["paths"]) != set(b["test"]["paths"])  # another seed, another sample
    # SUN397: split 1's lists, not split 2's; VOC: labels from the annotations, difficult objects included.
    make_copy("sun397", tmp_path / "sun")
    sun, _ = datasets.prepare_dataset("sun397", tmp_path / "sun.h5", seed=0, split_seed=0, val_fraction=0.2,
                                      root=str(tmp_path / "sun"))
    assert all(b"sun_" in p and int(p.decode().rsplit("x", 1)[1][0]) >= 3 for p in sun["test"]["paths"])
    make_copy("voc2007", tmp_path / "voc")
    voc, attrs = datasets.prepare_dataset("voc2007", tmp_path / "voc.h5", seed=0, split_seed=0, val_fraction=0.2,
                                          root=str(tmp_path / "voc"))
    classes = attrs["classes"]
    third = voc["train"]["labels"][2]  # a bottle, a bus and a difficult person
    assert {classes[k] for k in np.flatnonzero(third)} == {"bottle", "bus", "person"}
    assert (voc["train"]["labels"].sum(0) > 0).all()


@pytest.mark.parametrize("name", sorted(COPIES))
def test_a_missing_dataset_says_how_to_get_it(name, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(official.DatasetNotFound) as error:
        datasets.prepare_dataset(name, tmp_path / "x.h5", seed=0, split_seed=0, val_fraction=0.2,
                                 root=str(tmp_path / "empty"))
    assert name in str(error.value) and "To get it" in str(error.value)
    assert not (tmp_path / "x.h5").exists()


def test_a_missing_image_file_is_found_before_any_work(tmp_path):
    make_copy("dtd", tmp_path / "root")
    (tmp_path / "root" / "dtd" / "dtd" / "images" / "blotchy" / "blotchy_0002.jpg").unlink()
    with pytest.raises(official.DatasetNotFound, match="1 listed image file.*blotchy_0002.jpg"):
        datasets.prepare_dataset("dtd", tmp_path / "x.h5", seed=0, split_seed=0, val_fraction=0.2,
                                 root=str(tmp_path / "root"))


def test_download_is_refused_where_torchvision_cannot(tmp_path):
    with pytest.raises(ValueError, match="torchvision cannot download it"):
        official.download("birdsnap", tmp_path)
