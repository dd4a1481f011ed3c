"""What pretraining, fine-tuning and feature extraction share: the paper's optimiser and learning-rate schedule,
and the mixed-precision choice per device."""

from __future__ import annotations

import math

import torch


def sgd_nesterov(model, lr, momentum, weight_decay):
    """SGD with Nesterov momentum; weight decay on weight tensors only, not on biases or batch-norm."""
    decay, no_decay = [], []
    for parameter in model.parameters():
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
