"""The training batch streams: each is called with a step and gives that step's (inputs, labels) on the device,
augmented and normalised, ready for ``loop.StepLoop``.

- ``CropBatches`` (fine-tuning, training from scratch, pretraining on image files): per step, a slice of the
  epoch's seeded permutation, each example random-resized-cropped (area fraction in [crop_scale_min, 1], aspect
  ratio in [3/4, 4/3]) and flipped with the step's seeded draws. Images held in memory are cropped on the device
  in one batched call; image files are decoded and cropped in DataLoader workers with the same draws, so both
  give the same batches, and a resumed run the same as an uninterrupted one.
- ``TranslateFlipBatches`` (pretraining in memory): each epoch a permutation, each example shifted by up to a
  few pixels and flipped, all drawn in sequence from one generator (a run that never resumes).
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data import images
from .loop import step_generator


@functools.cache
def _roi_align_kernel():
    """torchvision's compiled roi_align, the kernel ``torchvision.ops.roi_align`` calls for a batch of [K, 5]
    boxes (outside deterministic mode on GPU, which the workflow does not use): loaded from torchvision's extension
    library without importing the torchvision package, whose ``__init__`` pulls in torch._dynamo (over a second at
    the start of every training job). Where that library is not found, through ``torchvision.ops``."""
    try:
        return torch.ops.torchvision.roi_align  # torchvision imported already
    except (AttributeError, RuntimeError):
        pass
    package = importlib.util.find_spec("torchvision").submodule_search_locations[0]
    finder = importlib.machinery.FileFinder(package, (importlib.machinery.ExtensionFileLoader,
                                                      importlib.machinery.EXTENSION_SUFFIXES))
    library = next((spec for spec in map(finder.find_spec, ("_C_stable", "_C")) if spec is not None), None)
    if library is not None:
        torch.ops.load_library(library.origin)
    else:
        import torchvision.ops  # noqa: F401  (registers the kernel)
    return torch.ops.torchvision.roi_align


def roi_align(x, boxes, size):
    """``torchvision.ops.roi_align(x, boxes, (size, size), sampling_ratio=-1, aligned=True)`` for [K, 5] boxes
    (batch index, left, top, right, bottom)."""
    return _roi_align_kernel()(x, boxes, 1.0, size, size, -1, True)


@functools.lru_cache(maxsize=2)
def _epoch_order(seed, epoch, n):
    return torch.randperm(n, generator=step_generator(seed, epoch, 0))


def batch_indices(seed, step, steps_per_epoch, n, batch_size):
    """The examples of a step: a slice of the epoch's seeded permutation."""
    epoch, position = divmod(step, steps_per_epoch)
    return _epoch_order(seed, epoch, n)[position * batch_size:(position + 1) * batch_size]


def crop_draws(n, generator, scale_min):
    """The random-resized-crop and flip draws of ``n`` examples (area fraction in [scale_min, 1], aspect ratio
    in [3/4, 4/3], position, flip), independent of the images' sizes; from ``generator`` (CPU)."""
    area = torch.empty(n).uniform_(scale_min, 1.0, generator=generator)
    ratio = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator).exp()
    position = torch.rand(n, 2, generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    return area, ratio, position, flips


def crop_boxes(h, w, area, ratio, position):
    """roi_align boxes (left, top, right, bottom) in an h x w image for the draws of ``crop_draws``."""
    area = area * h * w
    ch = (area / ratio).sqrt().round().clamp(1, h)
    cw = (area * ratio).sqrt().round().clamp(1, w)
    top = (position[..., 0] * (h - ch + 1)).floor()
    left = (position[..., 1] * (w - cw + 1)).floor()
    return torch.stack([left, top, left + cw, top + ch], dim=-1)


def random_resized_crop(x, size, generator, scale_min):
    """Random resized crop and horizontal flip, per example, for a whole batch at once: ``x`` is float
    [N, 3, H, W] on any device; the crop parameters come from ``generator`` (CPU), so they do not depend on the
    device. roi_align resamples each crop bilinearly, averaging several samples per output pixel when it
    shrinks (antialiased)."""
    n, _, h, w = x.shape
    area, ratio, position, flips = crop_draws(n, generator, scale_min)
    boxes = torch.cat([torch.arange(n, dtype=torch.float32)[:, None], crop_boxes(h, w, area, ratio, position)], 1)
    out = roi_align(x, boxes.to(x.device, x.dtype), size)
    flips = flips.to(x.device)
    return torch.where(flips.view(-1, 1, 1, 1), out.flip(-1), out)


def translate_flip(x, generator, pad=3):
    """Random translation (reflect-pad, crop) and horizontal flip, per example."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = offsets[i].tolist()
        crop = padded[i, :, dy:dy + h, dx:dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


class FileCrops(torch.utils.data.Dataset):
    """Training crops of image files, made in DataLoader workers: item (index, area, ratio, y, x, flip) is
    image ``index`` cropped and flipped as ``random_resized_crop`` would, float [3, size, size] in [0, 1]."""

    def __init__(self, paths, root, size):
        self.paths, self.root, self.size = paths, Path(root), size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, item):
        index, area, ratio, y, x, flip = item
        image = images.decode(self.root / self.paths[index]).float().div_(255.0)[None]
        box = crop_boxes(image.shape[-2], image.shape[-1], torch.tensor(area), torch.tensor(ratio),
                         torch.tensor([y, x]))
        out = roi_align(image, torch.cat([torch.zeros(1), box])[None], self.size)[0]
        return out.flip(-1) if flip else out


class _StepItems:
    """Batch sampler of image-file training: per step from ``first_step`` on, the items of ``FileCrops`` (the
    step's examples with their crop draws), made lazily so a 40,000-step run holds none of them in advance."""

    def __init__(self, n, *, seed, batch_size, crop_scale_min, total_steps, first_step, steps_per_epoch):
        self.n, self.seed, self.batch_size, self.crop_scale_min = n, seed, batch_size, crop_scale_min
        self.total_steps, self.first_step, self.steps_per_epoch = total_steps, first_step, steps_per_epoch

    def __len__(self):
        return self.total_steps - self.first_step

    def __iter__(self):
        for step in range(self.first_step, self.total_steps):
            idx = batch_indices(self.seed, step, self.steps_per_epoch, self.n, self.batch_size)
            area, ratio, position, flips = crop_draws(len(idx), step_generator(self.seed, step, 1),
                                                      self.crop_scale_min)
            yield [(int(i), float(a), float(r), float(p[0]), float(p[1]), bool(f))
                   for i, a, r, p, f in zip(idx, area, ratio, position, flips)]


class CropBatches:
    """Random-resized-crop training batches, normalised with ``mean`` and ``std``, on ``device``: see the module's
    description. Give the images (uint8 [N, H, W, 3]) or their ``paths`` under ``root``; ``labels`` are class
    indices [N] or multi-label 0/1 rows [N, C]. Image files stream from ``first_step`` on, so the stream is called
    with consecutive steps."""

    def __init__(self, labels, *, images_uint8=None, paths=None, root=None, size, mean, std, seed, batch_size,
                 crop_scale_min, total_steps, first_step=0, device="cpu", workers=0):
        self.device = torch.device(device)
        labels = torch.as_tensor(labels)
        self.labels = (labels if labels.ndim == 2 else labels.long()).to(self.device)
        self.size, self.mean, self.std, self.seed = size, mean, std, seed
        self.batch_size, self.crop_scale_min = batch_size, crop_scale_min
        self.steps_per_epoch = math.ceil(len(labels) / batch_size)
        self.images = None if images_uint8 is None else images.images_to_tensor(images_uint8).to(self.device)
        self._files, self._next_step = None, first_step
        if self.images is None:
            sampler = _StepItems(len(paths), seed=seed, batch_size=batch_size, crop_scale_min=crop_scale_min,
                                 total_steps=total_steps, first_step=first_step,
                                 steps_per_epoch=self.steps_per_epoch)
            self._files = iter(torch.utils.data.DataLoader(
                FileCrops(paths, root, size), batch_sampler=sampler, num_workers=workers,
                worker_init_fn=images.single_threaded_worker if workers else None,
                prefetch_factor=4 if workers else None))

    def __call__(self, step):
        idx = batch_indices(self.seed, step, self.steps_per_epoch, len(self.labels), self.batch_size).to(self.device)
        if self.images is not None:
            x = random_resized_crop(self.images[idx], self.size, step_generator(self.seed, step, 1),
                                    self.crop_scale_min)
        else:
            if step != self._next_step:
                raise ValueError(f"image-file batches stream in order: asked for step {step}, next is "
                                 f"{self._next_step}")
            self._next_step += 1
            x = next(self._files).to(self.device, non_blocking=True)
        return images.normalize(x, self.mean, self.std), self.labels[idx]


class TranslateFlipBatches:
    """Pretraining batches of (already normalised) images in memory: each epoch a permutation of the examples,
    each example translated and flipped (``translate_flip``, with ``augment``), all drawn in sequence from
    ``generator``."""

    def __init__(self, x, y, *, batch_size, generator, augment=True):
        self.x, self.y, self.batch_size, self.generator, self.augment = x, y, batch_size, generator, augment
        self.steps_per_epoch = math.ceil(len(x) / batch_size)
        self.order = None

    def __call__(self, step):
        position = step % self.steps_per_epoch
        if position == 0:
            self.order = torch.randperm(len(self.x), generator=self.generator)
        idx = self.order[position * self.batch_size:(position + 1) * self.batch_size].to(self.x.device)
        x, y = self.x[idx], self.y[idx]
        if self.augment:
            x = translate_flip(x, self.generator)
        return x, y
