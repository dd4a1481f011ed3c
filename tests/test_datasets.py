import numpy as np
import pytest

from transferstudy.data import datasets, splits
from transferstudy.io import read_split_file

SMALL = {
    "shapes64": {"train_per_class": 3, "val_per_class": 2},
    "glyphs_fewshot": {"train_per_class": 2, "val_per_class": 2, "test_per_class": 2},
    "stars_fine": {"train_per_class": 5, "test_per_class": 2},
    "textures": {"train_per_class": 5, "test_per_class": 2},
    "glyphs_multilabel": {"train_size": 40, "test_size": 10},
    "digits": {},
}


def test_registry_lists_source_and_targets():
    assert datasets.list_datasets(role="source") == ["imagenet", "shapes64"]
    assert set(datasets.list_datasets(role="target", kind="embedded")) == set(SMALL) - {"shapes64"}
    assert set(datasets.list_datasets(role="target", kind="official")) == set(datasets.OFFICIAL)
    with pytest.raises(KeyError, match="unknown dataset 'imagenet21k'; valid: birdsnap, caltech101"):
        datasets.get_dataset_info("imagenet21k")


@pytest.mark.parametrize("name", sorted(SMALL))
def test_generated_dataset_is_a_function_of_its_seed(tmp_path, name):
    a, attrs = datasets.prepare_dataset(name, tmp_path / "a.h5", seed=3, split_seed=1, val_fraction=0.2, **SMALL[name])
    b, _ = datasets.prepare_dataset(name, tmp_path / "b.h5", seed=3, split_seed=1, val_fraction=0.2, **SMALL[name])
    assert list(a) == (["train", "val"] if name == "shapes64" else ["train", "val", "test"])
    for split in a:
        np.testing.assert_array_equal(a[split]["images"], b[split]["images"])
        np.testing.assert_array_equal(a[split]["labels"], b[split]["labels"])
    if name != "digits":  # the real dataset's images do not depend on the seed, only its split does
        c, _ = datasets.prepare_dataset(name, tmp_path / "c.h5", seed=4, split_seed=1, val_fraction=0.2,
                                        **SMALL[name])
        assert not np.array_equal(a["train"]["images"], c["train"]["images"])
    info = datasets.get_dataset_info(name)
    on_disk, disk_attrs = read_split_file(tmp_path / "a.h5", ("images", "labels"), splits=list(a))
    np.testing.assert_array_equal(on_disk["train"]["images"], a["train"]["images"])
    assert disk_attrs["metric"] == info.metric and disk_attrs["num_classes"] == len(disk_attrs["classes"])
    for split, arrays in a.items():
        images, labels = arrays["images"], arrays["labels"]
        assert images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3
        if info.multilabel:
            assert labels.shape == (len(images), attrs["num_classes"]) and set(np.unique(labels)) <= {0, 1}
            assert labels.sum(1).min() >= 1
        else:
            assert labels.shape == (len(images),)
            assert set(np.unique(labels)) == set(range(attrs["num_classes"])), f"{split} misses a class"


def test_holdout_split_is_stratified_seeded_and_disjoint():
    labels = np.repeat(np.arange(4), [10, 20, 5, 2])
    train, val = splits.holdout_split(labels, 0.2, seed=7)
    train2, val2 = splits.holdout_split(labels, 0.2, seed=7)
    np.testing.assert_array_equal(val, val2)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(labels)
    assert np.bincount(labels[val]).tolist() == [2, 4, 1, 1]
    assert set(labels[train]) == {0, 1, 2, 3}
    other, _ = splits.holdout_split(labels, 0.2, seed=8)
    assert not np.array_equal(train, other)


def test_holdout_split_refuses_to_leave_a_class_nothing_to_train_on_naming_the_key():
    with pytest.raises(ValueError, match=r"split.val_fraction = 0.2 cannot hold out a validation split: class 'b' has "
                                         r"1 training example\(s\), and holding out 1 .* leaves none to train on$"):
        splits.holdout_split(np.array([0, 0, 1]), 0.2, seed=0, classes=["a", "b"])
    with pytest.raises(ValueError, match=r"split.val_fraction = 0.99 cannot hold out .*: class 0 has 3 training "
                                         r"example\(s\), and holding out 3 .*; lower split.val_fraction"):
        splits.holdout_split(np.array([0, 0, 0, 1, 1, 1]), 0.99, seed=0)
    multilabel = np.array([[1, 0], [1, 1], [1, 0], [1, 0]])
    with pytest.raises(ValueError, match=r"split.val_fraction = 0.5 holds out a validation split of 2 of the 4 "
                                         r"training images, leaving class 1 no positive example"):
        for seed in range(20):  # a draw that holds out the one positive of class 1
            splits.holdout_split(multilabel, 0.5, seed=seed)


def test_unknown_dataset_option_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['train_size'\]; valid: \['image_size'"):
        datasets.prepare_dataset("textures", tmp_path / "t.h5", seed=0, split_seed=0, val_fraction=0.2, train_size=3)


@pytest.mark.parametrize("options, message", [
    ({"train_per_class": "ten"}, r"datasets.textures.train_per_class = 'ten' is not a positive integer \(default 40\)"),
    ({"train_per_class": -1}, r"datasets.textures.train_per_class = -1 is not a positive integer"),
    ({"test_per_class": 0}, r"datasets.textures.test_per_class = 0 is not a positive integer"),
])
def test_builder_options_of_the_wrong_type_or_range_are_refused_when_planning(options, message):
    from transferstudy.config import ConfigError
    from transferstudy.study.plan import Study

    with pytest.raises(ConfigError, match=message):
        Study({"models": {"net": {"arch": "mini_vgg"}}, "source": {"dataset": "shapes64"},
               "datasets": {"textures": options}})


def test_builder_options_given_as_text_are_read_as_their_type():
    from transferstudy.study.plan import Study

    study = Study({"models": {"net": {"arch": "mini_vgg"}}, "source": {"dataset": "shapes64"},
                   "datasets": {"textures": {"train_per_class": "10"}, "digits": {"test_fraction": "0.25"}}})
    assert study.data.options("textures") == {"train_per_class": 10}
    assert study.data.options("digits") == {"test_fraction": 0.25} and study.data.options("shapes64") == {}
