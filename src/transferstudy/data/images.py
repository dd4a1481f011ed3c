"""The images of a dataset split, read and preprocessed in DataLoader workers.

A split file (``datasets.prepare_dataset``) holds either the images (``images``, uint8 [N, H, W, 3]) or their
files (``paths`` under the ``root`` attribute). ``SplitImages`` serves both as a torch ``Dataset``; for files
the decoding and resizing happen in worker processes, so the network never waits on a single core. An image
that cannot be read raises an error naming its file, or, with ``unreadable="skip"``, is left out and counted.

Evaluation preprocessing follows the network's ``pretrained_cfg``: resize the shorter side to ``size /
crop_pct`` (antialiased, in the network's interpolation), centre-crop ``size`` (``eval_transform`` per image in
workers, ``preprocess`` for a batch held in memory); normalisation with the network's statistics
(``normalize``) is done on the batch, on the network's device.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import InputError


UNREADABLE = ("error", "skip")


class UnreadableImage(InputError):
    """An image file that cannot be decoded; the message names it."""


# Transparent pixels are shown as on a white page (as a browser shows a PNG), not as whatever colour the
# file stores under them (PIL's convert("RGB") drops the alpha channel).
ALPHA_BACKGROUND = (255, 255, 255)
# Integer modes of more than 8 bits: PIL's convert("RGB") clips them at 255 (a 16-bit image turns white).
WIDE_INTEGER_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def to_rgb(image, path):
    """uint8 [H, W, 3] RGB pixels of a PIL image of any mode, converted faithfully: 16-bit (and 32-bit integer
    holding 0-65535) pixels scaled from 0-65535 to 0-255, palette, CMYK, YCbCr, LAB, HSV and 1-bit through PIL,
    transparency composited on ``ALPHA_BACKGROUND``. Float pixels (mode F: no defined range) and integers beyond 16
    bits are refused, naming ``path``."""
    mode = image.mode
    if mode in WIDE_INTEGER_MODES:
        pixels = np.asarray(image).astype(np.int64)
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise UnreadableImage(f"{path}: {mode} pixels span {pixels.min()}..{pixels.max()}, beyond 16 bits; save "
                                  "the image with 8 or 16 bits per channel")
        grey = ((pixels * 255 + 32767) // 65535).astype(np.uint8)  # 0-65535 -> 0-255, rounded
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "F":
        raise UnreadableImage(f"{path}: 32-bit float pixels (PIL mode F) have no defined range; save the image "
                              "with 8 or 16 bits per channel")
    if mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and image.has_transparency_data):
        rgba = (image.convert("LA") if mode == "La" else image).convert("RGBA")  # PIL cannot take La to RGBA
        page = Image.new("RGBA", image.size, ALPHA_BACKGROUND + (255,))
        return np.asarray(Image.alpha_composite(page, rgba).convert("RGB"))
    return np.asarray(image if mode == "RGB" else image.convert("RGB"))


def decode(path):
    """uint8 [3, H, W] RGB tensor of an image file (``to_rgb``)."""
    try:
        with Image.open(path) as image:
            pixels = to_rgb(image, path)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise UnreadableImage(f"{path}: cannot read this image ({error})") from error
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


class SplitImages(torch.utils.data.Dataset):
    """Item ``i``: (``transform`` of image ``i`` as uint8 [3, H, W], i); (None, i) for a skipped unreadable file."""

    def __init__(self, images=None, paths=None, root=None, transform=None, unreadable="error"):
        if (images is None) == (paths is None):
            raise ValueError("give images or paths")
        if unreadable not in UNREADABLE:
            raise InputError(f"unreadable={unreadable!r}; valid: {UNREADABLE}")
        self.images, self.paths, self.root = images, paths, Path(root) if root else None
        self.transform, self.unreadable = transform, unreadable

    def __len__(self):
        return len(self.images) if self.images is not None else len(self.paths)

    def __getitem__(self, i):
        if self.images is not None:
            x = torch.from_numpy(np.ascontiguousarray(self.images[i])).permute(2, 0, 1)
        else:
            try:
                x = decode(self.root / self.paths[i])
            except UnreadableImage:
                if self.unreadable == "skip":
                    return None, i
                raise
        return (self.transform(x) if self.transform else x), i


def collate_readable(batch):
    """Stack the readable items; returns (images or None, their indices, indices of skipped items)."""
    kept = [(x, i) for x, i in batch if x is not None]
    skipped = [i for x, i in batch if x is None]
    if not kept:
        return None, torch.zeros(0, dtype=torch.long), skipped
    xs, idx = zip(*kept)
    return torch.stack(xs), torch.tensor(idx), skipped


def images_to_tensor(images):
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)


def normalize(x, mean, std):
    """Per-channel (x - mean) / std, on ``x``'s device and dtype."""
    mean = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def preprocess(images_uint8, cfg):
    """Evaluation preprocessing of a batch of uint8 [N, H, W, 3] images for a network whose preprocessing is
    ``cfg`` (a ``PretrainedCfg``): resize, centre crop to its native size, normalise with its statistics; float32
    [N, 3, S, S]."""
    x = resize_center_crop(images_to_tensor(images_uint8), cfg.image_size, cfg.crop_pct, cfg.interpolation)
    return normalize(x, cfg.mean, cfg.std)


def resize_center_crop(x, size, crop_pct=1.0, interpolation="bilinear"):
    """Resize the shorter side of float [..., 3, H, W] to ``size / crop_pct`` (antialiased), centre-crop ``size``."""
    h, w = x.shape[-2:]
    scale_to = int(round(size / crop_pct))
    if (h, w) != (scale_to, scale_to) or h != w:
        factor = scale_to / min(h, w)
        new_hw = (max(size, round(h * factor)), max(size, round(w * factor)))
        batched = x if x.dim() == 4 else x[None]
        out = F.interpolate(batched, size=new_hw, mode=interpolation, antialias=interpolation != "nearest",
                            align_corners=None if interpolation == "nearest" else False)
        if interpolation == "bicubic":
            out = out.clamp_(0.0, 1.0)  # bicubic overshoots; PIL's 8-bit output is clipped the same way
        x = out if x.dim() == 4 else out[0]
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def _eval_preprocess(x, size, crop_pct, interpolation):
    return resize_center_crop(x.float().div_(255.0), size, crop_pct, interpolation)


def eval_transform(cfg):
    """Per-image evaluation preprocessing (uint8 [3, H, W] -> float [3, S, S] in [0, 1]) of a network's
    ``PretrainedCfg``; picklable, for worker processes."""
    return functools.partial(_eval_preprocess, size=cfg.image_size, crop_pct=float(cfg.crop_pct),
                             interpolation=cfg.interpolation)


def single_threaded_worker(_):
    torch.set_num_threads(1)  # workers decode; the main process's threads run the network


def loader(dataset, *, batch_size, workers=0, pin_memory=False):
    """An in-order DataLoader over a ``SplitImages`` that keeps skipped items' indices."""
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, pin_memory=pin_memory,
        collate_fn=collate_readable, worker_init_fn=single_threaded_worker if workers else None,
        persistent_workers=False, prefetch_factor=4 if workers else None)
