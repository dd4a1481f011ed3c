"""The one training loop of the study, and what every training run shares: the paper's optimiser (SGD with
Nesterov momentum, weight decay on weights only) and cosine schedule, per-step seeds and resumable state.

Pretraining (in memory or on image files), fine-tuning and training from scratch all run their steps through
``StepLoop``. Per step: the caller's batch (a function of the step), the global draws (dropout) seeded by the
step where the run can resume, the cosine learning rate, the forward pass and loss (in channels_last; on CUDA
under bfloat16 autocast), one SGD step. Every ``report_every`` steps and at the end, the mean training loss
(and top-1, where labels are classes) since the previous report is checked (not finite: the run diverged) and
handed to the caller's report (evaluation, history, progress); every ``checkpoint_every`` steps and at the end, the
state is saved atomically. A run started again beside a state of the same configuration continues from it and
ends exactly where an uninterrupted one would; a state of another configuration is refused.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import torch

from ..errors import InputError, cause
from ..io import save_torch
from ..nets.inference import MEMORY_FORMAT, precision

log = logging.getLogger(__name__)


class NesterovSGD:
    """``torch.optim.SGD(groups, lr, momentum, nesterov=True)``, made of the same tensor operations in the same
    order (its single-tensor update), with the same ``state_dict``: the same weights after every step, and saved
    states either can resume. Written out because every ``torch.optim`` optimizer imports torch._dynamo when it is
    made, over a second at the start of every training job (``benchmarks/job_imports.py``)."""

    def __init__(self, groups, *, lr, momentum):
        self.param_groups = [{"params": list(group["params"]), "weight_decay": group["weight_decay"], "lr": lr,
                              "momentum": momentum, "dampening": 0, "nesterov": True} for group in groups]
        self.state = {}  # parameter -> {"momentum_buffer": tensor}, as torch.optim keeps it

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for parameter in group["params"]:
                if set_to_none:
                    parameter.grad = None
                elif parameter.grad is not None:
                    parameter.grad.zero_()

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            decay, momentum, lr = group["weight_decay"], group["momentum"], group["lr"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                grad = parameter.grad
                if decay != 0:
                    grad = grad.add(parameter, alpha=decay)
                state = self.state.setdefault(parameter, {})
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    buffer = state["momentum_buffer"] = grad.detach().clone()
                else:
                    buffer.mul_(momentum).add_(grad, alpha=1)
                grad = grad.add(buffer, alpha=momentum)
                parameter.add_(grad, alpha=-lr)

    def _parameters(self):
        return [parameter for group in self.param_groups for parameter in group["params"]]

    def state_dict(self):
        """torch.optim's format: per-parameter state by index, and the groups with their parameters' indices."""
        index = {id(parameter): i for i, parameter in enumerate(self._parameters())}
        groups, start = [], 0
        for group in self.param_groups:
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "maximize": False,
                           "params": list(range(start, start + len(group["params"])))})
            start += len(group["params"])
        state = {index[id(p)]: {"momentum_buffer": s["momentum_buffer"]} for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        parameters = self._parameters()
        saved = [i for group in state_dict["param_groups"] for i in group["params"]]
        if len(saved) != len(parameters):
            raise InputError(f"the saved optimizer state has {len(saved)} parameters, this model {len(parameters)}")
        for group, saved_group in zip(self.param_groups, state_dict["param_groups"]):
            group.update({k: saved_group[k] for k in ("lr", "momentum", "weight_decay", "dampening", "nesterov")})
        by_index = dict(zip(saved, parameters))
        self.state = {by_index[i]: {"momentum_buffer": s["momentum_buffer"].to(by_index[i].device,
                                                                              by_index[i].dtype)}
                      for i, s in state_dict["state"].items() if s.get("momentum_buffer") is not None}


def sgd_nesterov(model, lr, momentum, weight_decay):
    """SGD with Nesterov momentum over the trainable parameters; weight decay on weight tensors only, not on
    biases or batch-norm."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    return NesterovSGD([{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                       lr=lr, momentum=momentum)


def set_cosine_lr(optimizer, base_lr, step, total_steps):
    """The learning rate of ``step`` under cosine decay from ``base_lr`` to 0 over ``total_steps``."""
    factor = 0.5 * (1 + math.cos(math.pi * step / total_steps))
    for group in optimizer.param_groups:
        group["lr"] = base_lr * factor


def step_seed(seed, step, stream):
    """The seed of one (run seed, step, stream): randomness that does not depend on where a run resumed.
    Streams: 0 the epoch's order, 1 the augmentation draws, 2 global draws (dropout)."""
    return (seed * 1_000_003 + step) * 7 + stream


def step_generator(seed, step, stream):
    """A CPU generator for one (seed, step, stream) (``step_seed``)."""
    return torch.Generator().manual_seed(step_seed(seed, step, stream))


def resume(state_path, config, model, optimizer, device):
    """The saved state of a run of this ``config`` with the model and optimizer restored from it, or None when
    there is none yet. A state written by another configuration is refused, never silently resumed."""
    state_path = Path(state_path)
    if not state_path.exists():
        return None
    try:
        state = torch.load(state_path, map_location=device, weights_only=False)
    except Exception as error:  # torch raises several types for a damaged file
        raise InputError(f"{state_path}: cannot read this saved state ({cause(error)}); delete it "
                         "to start the run afresh") from error
    if not isinstance(state, dict) or "config" not in state:
        raise InputError(f"{state_path} is not a state saved by a training run; delete it to start the run afresh")
    if state["config"] != config:
        raise InputError(f"{state_path} was written by a run with another configuration ({state['config']}); "
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


class Diverged(FloatingPointError):
    """The training loss stopped being finite."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class StepLoop:
    """The training steps of one run of ``model``: see the module's description.

    ``draws_seed``: seeds the global random draws (dropout) of each step by (seed, step), which a resumable run
    needs; None leaves the global generator running on (a run that never resumes). ``state_path`` and
    ``state_config``: where the resumable state lives and the configuration it must match (None: the run keeps
    no state). ``name`` names the run in messages.
    """

    def __init__(self, model, optimizer, *, lr, total_steps, device, amp=None, draws_seed=None, state_path=None,
                 state_config=None, checkpoint_every=None, name="run"):
        self.model, self.optimizer, self.lr, self.total_steps = model, optimizer, lr, total_steps
        self.device = torch.device(device)
        self.amp_dtype = precision(self.device, amp)
        model.to(memory_format=MEMORY_FORMAT)  # in place: the optimizer keeps the same parameters
        self.draws_seed, self.name = draws_seed, name
        self.state_path = None if state_path is None else Path(state_path)
        self.state_config, self.checkpoint_every = state_config, checkpoint_every
        self.step, self.history, self.resumed_from = 0, [], None
        sums = {"loss": 0.0, "steps": 0, "correct": 0, "examples": 0}  # since the last report
        if self.state_path is not None:
            state = resume(self.state_path, state_config, model, optimizer, self.device)
            if state is not None:
                self.step = self.resumed_from = state["step"]
                self.history, sums = state["history"], state["sums"]
        # Loss and correct predictions add up on the device (no host synchronisation per step).
        self._loss_sum = torch.tensor(sums["loss"], dtype=torch.float64, device=self.device)
        self._correct = torch.tensor(sums["correct"], device=self.device)
        self._steps, self._examples = sums["steps"], sums["examples"]
        self.first_step, self.seconds = self.step, 0.0

    def run(self, batch, loss, *, report_every, report=None, on_divergence="raise"):
        """Train from the current step to ``total_steps``. ``batch(step)`` gives the step's (inputs, labels) on
        the device; ``loss(model, inputs, labels)`` gives (loss, logits) under autocast; ``report(step, stats)``
        is called every ``report_every`` steps and at the end with the mean ``loss`` and the ``top1`` (None for
        labels that are not classes) since the previous report. A non-finite loss raises ``Diverged``, or with
        ``on_divergence="stop"`` ends the run; returns the step it diverged by, or None."""
        started = time.time()
        try:
            while self.step < self.total_steps:
                x, y = batch(self.step)
                x = x.contiguous(memory_format=MEMORY_FORMAT)
                if self.draws_seed is not None:
                    torch.manual_seed(step_seed(self.draws_seed, self.step, 2))
                set_cosine_lr(self.optimizer, self.lr, self.step, self.total_steps)
                self.model.train()
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                    value, logits = loss(self.model, x, y)
                self.optimizer.zero_grad(set_to_none=True)
                value.backward()
                self.optimizer.step()
                self.step += 1
                self._accumulate(value, logits, y)
                if self.step % report_every == 0 or self.step == self.total_steps:
                    stats = self._take_stats()  # one host synchronisation per report, not per step
                    if not math.isfinite(stats["loss"]):
                        message = (f"loss became {stats['loss']} by step {self.step} (lr {self.lr:g}): the "
                                   f"{self.name} diverged")
                        if on_divergence == "raise":
                            raise Diverged(message, self.step)
                        log.warning("%s; recording it as diverged", message)
                        return self.step
                    if report is not None:
                        report(self.step, stats)
                if self.state_path is not None and (self.step % self.checkpoint_every == 0
                                                    or self.step == self.total_steps):
                    self.save()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
        finally:
            self.seconds += time.time() - started
        return None

    def _accumulate(self, value, logits, y):
        self._loss_sum += value.detach().double()
        self._steps += 1
        if y.ndim == 1 and logits.ndim == 2:
            self._correct += (logits.detach().argmax(1) == y).sum()
            self._examples += len(y)

    def _take_stats(self):
        loss, correct = self._loss_sum.item(), self._correct.item()
        stats = {"loss": loss / self._steps, "top1": correct / self._examples if self._examples else None}
        self._loss_sum.zero_()
        self._correct.zero_()
        self._steps = self._examples = 0
        return stats

    def save(self):
        """Save the run's state (weights, optimizer, step, history, the sums since the last report)."""
        sums = {"loss": self._loss_sum.item(), "steps": self._steps, "correct": self._correct.item(),
                "examples": self._examples}
        save_state(self.state_path, self.state_config, self.model, self.optimizer, step=self.step,
                   history=self.history, sums=sums)

    @property
    def steps_per_second(self):
        """Training throughput of this session of the run, evaluations included."""
        return (self.step - self.first_step) / max(self.seconds, 1e-9)
