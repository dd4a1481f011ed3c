"""Benchmark: the networks in channels_last (the library's layout, ``nets.inference.MEMORY_FORMAT``) against the
default contiguous layout, side by side in one process: seconds per training step (forward, backward, SGD step)
and per forward pass of a feature-extraction batch, for each architecture, and their ratio.

    python benchmarks/memory_format.py [--arch mini_resnet8 ...] [--batch-size 32] [--eval-batch-size 256]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from transferstudy.nets import architectures
from transferstudy.nets.inference import MEMORY_FORMAT

LAYOUTS = {"contiguous": torch.contiguous_format, "channels_last": MEMORY_FORMAT}


def seconds_per_call(call, repeats):
    call()  # warm-up: oneDNN picks and caches its kernels on the first call
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) / repeats


def training_step(arch, layout, batch_size, size, classes=12):
    torch.manual_seed(0)
    model = architectures.create_model(arch, num_classes=classes).train().to(memory_format=layout)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch_size, 3, size, size).contiguous(memory_format=layout)
    y = torch.randint(0, classes, (batch_size,))

    def step():
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def forward_pass(arch, layout, batch_size, size):
    torch.manual_seed(0)
    model = architectures.create_model(arch, num_classes=12).eval().to(memory_format=layout)
    x = torch.randn(batch_size, 3, size, size).contiguous(memory_format=layout)

    @torch.inference_mode()
    def forward():
        model(x)

    return forward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", nargs="+", default=architectures.list_models())
    parser.add_argument("--batch-size", type=int, default=32, help="training batch (the mini-study's arms)")
    parser.add_argument("--eval-batch-size", type=int, default=256, help="forward batch (features.batch_size)")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.size}x{args.size} inputs")
    print(f"{'architecture':18s} {'step (s), contiguous':>22s} {'channels_last':>14s} {'ratio':>6s} "
          f"{'forward (s), contiguous':>24s} {'channels_last':>14s} {'ratio':>6s}")
    totals = dict.fromkeys((f"{kind}_{name}" for kind in ("step", "forward") for name in LAYOUTS), 0.0)
    for arch in args.arch:
        row = {}
        for name, layout in LAYOUTS.items():
            row[f"step_{name}"] = seconds_per_call(training_step(arch, layout, args.batch_size, args.size),
                                                   args.repeats)
            row[f"forward_{name}"] = seconds_per_call(forward_pass(arch, layout, args.eval_batch_size, args.size),
                                                      max(2, args.repeats // 3))
        for key, value in row.items():
            totals[key] += value
        print(_line(arch, row))
    print(_line("all", totals))


def _line(label, t):
    """A line of the table: both layouts' seconds and their ratio, for the training step and the forward pass."""
    return (f"{label:18s} {t['step_contiguous']:22.4f} {t['step_channels_last']:14.4f} "
            f"{t['step_contiguous'] / t['step_channels_last']:5.2f}x {t['forward_contiguous']:24.4f} "
            f"{t['forward_channels_last']:14.4f} {t['forward_contiguous'] / t['forward_channels_last']:5.2f}x")

if __name__ == "__main__":
    main()
