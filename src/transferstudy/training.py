"""What pretraining and fine-tuning share: the paper's optimiser and learning-rate schedule."""

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
