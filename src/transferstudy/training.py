"""What pretraining, fine-tuning and feature extraction share: the paper's optimiser and learning-rate schedule,
the mixed-precision choice per device, and resumable training state."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from .io import save_torch

log = logging.getLogger(__name__)


def sgd_nesterov(model, lr, momentum, weight_decay):
    """SGD with Nesterov momentum over the trainable parameters; weight decay on weight tensors only, not on
    biases or batch-norm."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    return torch.optim.SGD([{"params": decay, "weight_decay": weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}], lr=lr, momentum=momentum, nesterov=True)


def set_cosine_lr(optimizer, base_lr, step, total_steps):
    """The learning rate of ``step`` under cosine decay from ``base_lr`` to 0 over ``total_steps``."""
    factor = 0.5 * (1 + math.cos(math.pi * step / total_steps))
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor


def precision(device, amp):
    """The autocast dtype: bfloat16 on a CUDA device that supports it when ``amp`` is None (automatic) or
    True; None (float32) on CPU unless asked for."""
    device = torch.device(device)
    if amp is False or (amp is None and device.type != "cuda"):
        return None
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def step_seed(seed, step, stream):
    """The seed of one (run seed, step, stream): randomness that does not depend on where a run resumed.
    Streams: 0 the epoch's order, 1 the augmentation draws, 2 global draws (dropout)."""
    return (seed * 1_000_003 + step) * 7 + stream


def resume(state_path, config, model, optimizer, device):
    """The saved state of a run of this ``config`` with the model and optimizer restored from it, or None when
    there is none yet. A state written by another configuration is refused, never silently resumed."""
    state_path = Path(state_path)
    if not state_path.exists():
        return None
    state = torch.load(state_path, map_location=device, weights_only=False)
    if state["config"] != config:
        raise ValueError(f"{state_path} was written by a run with another configuration ({state['config']}); "
                         f"delete it to start this run ({config}) afresh")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    log.info("resuming from %s at step %d", state_path, state["step"])
    return state


def save_state(state_path, config, model, optimizer, **progress):
    """Save a resumable state atomically: the run's configuration, weights, optimizer, and ``progress``
    (step, history, ...)."""
    save_torch({"config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(), **progress},
               state_path)
