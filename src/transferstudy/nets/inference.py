"""Batched forward passes of a network: over images held in memory (``predict``) or over a split of images
decoded in DataLoader workers (``network_outputs``), with the device's precision and memory layout.

Networks run channels_last on every device (on CPU, oneDNN's convolutions are 1.1-2.9x faster that way for the
mini-study's networks: docs/benchmarks.md). On CUDA in bfloat16 autocast (float16 where bfloat16 is not supported),
from pinned memory; on CPU in float32 unless asked otherwise. Outputs are float32 NumPy arrays.
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import images


def require_device(device):
    """Refuse a CUDA device on a machine without one, with what to do instead (torch would say "Found no NVIDIA
    driver" from inside the first job)."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device = {device!r} but torch sees no GPU on this machine (torch "
                           f"{torch.__version__}, CUDA build {torch.version.cuda}); run on a GPU machine, submit "
                           "with `--profile slurm`, or set device: cpu")


def precision(device, amp):
    """The autocast dtype: bfloat16 on a CUDA device that supports it when ``amp`` is None (automatic) or
    True; None (float32) on CPU unless asked for."""
    device = torch.device(device)
    if amp is False or (amp is None and device.type != "cuda"):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


MEMORY_FORMAT = torch.channels_last  # of networks and their inputs, for training and inference alike


def precision_label(amp_dtype):
    """How results record the autocast dtype: 'bfloat16', or None for float32."""
    return str(amp_dtype).replace("torch.", "") if amp_dtype else None


@torch.no_grad()
def predict(model, x, batch_size=256, amp_dtype=None):
    """Float32 outputs of ``model`` (in eval mode) on ``x``, already preprocessed and on the model's device, as
    a NumPy array."""
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out.append(model(x[i:i + batch_size]).float().cpu())
    return torch.cat(out).numpy()


@torch.no_grad()
def network_outputs(forward, dataset, cfg, *, width, batch_size=256, workers=0, device="cpu", amp=None):
    """``forward`` of every image of a ``data.images.SplitImages`` (already in eval preprocessing), normalised
    with the network's statistics (``cfg``, a ``PretrainedCfg``) on ``device``: float32 [N, width], and the
    indices of the images it skipped."""
    device = torch.device(device)
    amp_dtype = precision(device, amp)
    out, skipped = [], []
    batches = images.loader(dataset, batch_size=batch_size, workers=workers, pin_memory=device.type == "cuda")
    for x, _, skipped_here in batches:
        skipped += skipped_here
        if x is None:
            continue
        x = images.normalize(x.to(device, non_blocking=True), cfg.mean, cfg.std)
        x = x.contiguous(memory_format=MEMORY_FORMAT)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            out.append(forward(x).float().cpu().numpy())
    return (np.concatenate(out) if out else np.zeros((0, width), np.float32)), skipped


def penultimate_features(loaded, dataset, *, batch_size=256, workers=0, device="cpu", amp=None):
    """Penultimate features of a ``nets.network.Pretrained`` on a ``SplitImages`` (float32 [N, D]) and the
    indices of the images it skipped."""
    return network_outputs(loaded.penultimate, dataset, loaded.pretrained_cfg, width=loaded.num_features,
                           batch_size=batch_size, workers=workers, device=device, amp=amp)
