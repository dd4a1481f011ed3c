"""Image files through the extraction path: worker decoding, preprocessing, unreadable files."""

import numpy as np
import pytest
import torch
from PIL import Image

from official_copies import make_copy
from transferstudy.data import datasets, images
from transferstudy.data.preprocessing import PretrainedCfg
from transferstudy.nets import architectures
from transferstudy.transfer.features import extract_features
from transferstudy.io import read_split_file, save_torch


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = architectures.create_model("mini_convnet", num_classes=4)
    path = tmp_path / "ckpt.pt"
    save_torch({"arch": "mini_convnet", "num_classes": 4, "state_dict": model.state_dict(),
                "pretrained_cfg": {"input_size": [3, 24, 24], "mean": [0.5] * 3, "std": [0.25] * 3,
                                   "interpolation": "bicubic", "crop_pct": 0.875},
                "source_dataset": "none"}, path)
    return path


@pytest.fixture
def dtd(tmp_path):
    make_copy("dtd", tmp_path / "root")
    datasets.prepare_dataset("dtd", tmp_path / "dtd.h5", seed=0, split_seed=0, val_fraction=0.2,
                             root=str(tmp_path / "root"))
    return tmp_path / "dtd.h5", tmp_path / "root"


def test_eval_transform_resizes_the_shorter_side_and_crops_the_centre():
    x = torch.arange(40 * 30 * 3, dtype=torch.uint8).reshape(3, 30, 40)  # H 30, W 40
    out = images.eval_transform(PretrainedCfg((3, 24, 24), mean=(0.5,) * 3, std=(0.5,) * 3, interpolation="bicubic",
                                              crop_pct=0.8))(x)
    assert out.shape == (3, 24, 24) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0  # bicubic overshoot clipped, as PIL's 8-bit output is


def test_features_of_image_files_equal_with_and_without_workers(checkpoint, dtd, tmp_path):
    dataset, _ = dtd
    serial, attrs = extract_features(checkpoint, dataset, tmp_path / "a.h5", options={"batch_size": 4})
    parallel, _ = extract_features(checkpoint, dataset, tmp_path / "b.h5", options={"batch_size": 4, "workers": 2})
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(serial[split]["features"], parallel[split]["features"])
    assert attrs["root"] and attrs["image_size"] == 24 and attrs["skipped_images"] == {}


def test_an_unreadable_image_fails_naming_it_or_is_skipped_and_counted(checkpoint, dtd, tmp_path):
    dataset, root = dtd
    (root / "dtd/dtd/images/braided/braided_0007.jpg").write_bytes(b"not a jpeg")  # a test image
    with pytest.raises(images.UnreadableImage, match="braided_0007.jpg: cannot read this image"):
        extract_features(checkpoint, dataset, tmp_path / "a.h5", options={"batch_size": 4})
    assert not (tmp_path / "a.h5").exists()
    out, attrs = extract_features(checkpoint, dataset, tmp_path / "b.h5",
                                  options={"batch_size": 4, "workers": 1, "unreadable": "skip"})
    assert attrs["skipped_images"] == {"test": ["dtd/dtd/images/braided/braided_0007.jpg"]}
    stored, _ = read_split_file(tmp_path / "b.h5", ("features", "labels"))
    assert len(stored["test"]["labels"]) == len(stored["test"]["features"]) == 5


@pytest.mark.parametrize("mode, value, rgb", [
    ("I;16", 65535, 255), ("I;16", 257 * 100, 100), ("I;16B", 257 * 7, 7), ("I", 257 * 200, 200), ("1", 1, 255),
    ("L", 9, 9), ("RGBA", (0, 0, 0, 0), 255), ("LA", (0, 0), 255), ("RGBA", (0, 0, 0, 128), 127),
    ("La", (0, 0), 255), ("CMYK", (0, 0, 0, 255), 0), ("YCbCr", (128, 128, 128), 128),
])
def test_every_pil_mode_becomes_faithful_rgb(mode, value, rgb):
    # 16-bit pixels scaled, not clipped (convert("RGB") turns 16-bit images white); transparency over white
    pixels = images.to_rgb(Image.new(mode, (3, 2), value), "x.png")
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 3, 3)
    assert (pixels == rgb).all(), pixels[0, 0]


def test_a_palette_with_a_transparent_entry_is_composited_on_white():
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.putpixel((1, 0), 1)
    image.info["transparency"] = 0
    assert images.to_rgb(image, "x.png").tolist() == [[[255, 255, 255], [0, 255, 0]]]


def test_a_16_bit_png_decodes_to_its_grey_levels(tmp_path):
    ramp = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4369)  # 0 .. 65535
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    assert Image.open(tmp_path / "ramp.png").mode == "I;16"
    decoded = images.decode(tmp_path / "ramp.png")
    assert decoded[0].flatten().tolist() == [17 * k for k in range(16)]


@pytest.mark.parametrize("image, message", [
    (Image.new("F", (2, 2), 0.5), r"x.tif: 32-bit float pixels \(PIL mode F\) have no defined range"),
    (Image.new("I", (2, 2), 70000), r"x.tif: I pixels span 70000..70000, beyond 16 bits"),
])
def test_pixels_without_a_known_range_are_refused_naming_the_file(image, message):
    with pytest.raises(images.UnreadableImage, match=message):
        images.to_rgb(image, "x.tif")
