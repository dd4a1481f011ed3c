"""Benchmark: training images/s of a real fine-tuning run against a pure training-step loop.

The real run is ``transferstudy.finetune.train_run`` (indexing, per-example augmentation, normalisation,
periodic evaluation and checkpointing included); the reference is the same model, batch size and optimiser
stepping on synthetic tensors already in memory. Prints both rates and their ratio (target: >= 85%).

    python benchmarks/finetune_throughput.py --arch mini_resnet8 --steps 100 --batch-size 64
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from transferstudy import datasets, finetune, models, pretrain


def pure_loop(arch, num_classes, batch_size, size, steps):
    """Training steps on synthetic tensors of the real run's shape: the ceiling a real run can reach."""
    torch.manual_seed(0)
    model = models.create_model(arch, num_classes=num_classes).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch_size, 3, size, size)
    y = torch.randint(0, num_classes, (batch_size,))
    for warmup in range(3):
        F.cross_entropy(model(x), y).backward()
    started = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="mini_resnet8", choices=models.list_models())
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        datasets.prepare_dataset("shapes64", tmp / "source.h5", seed=0, split_seed=0, val_fraction=0.2,
                                 train_per_class=4, val_per_class=2)
        pretrain.pretrain(args.arch, tmp / "source.h5", tmp / "ckpt.pt", tmp / "pretrain.json",
                          recipe={"epochs": 1, "batch_size": 64})
        datasets.prepare_dataset("stars_fine", tmp / "target.h5", seed=0, split_seed=0, val_fraction=0.2)
        result = finetune.train_run(tmp / "ckpt.pt", tmp / "target.h5", tmp / "run.json", tmp / "run.pt",
                                    init="pretrained", lr=0.01, weight_decay=1e-4, fit="train", threads=args.threads,
                                    recipe={"steps": args.steps, "batch_size": args.batch_size,
                                            "eval_every": args.steps, "checkpoint_every": args.steps})
    reference = pure_loop(args.arch, 18, args.batch_size, 32, args.steps)
    real = result["images_per_second"]
    print(f"{args.arch}, batch {args.batch_size}, {args.steps} steps, {args.threads} thread(s), CPU")
    print(f"real run   {real:8.1f} images/s (augmentation, indexing, evaluation and checkpoint included)")
    print(f"pure loop  {reference:8.1f} images/s (synthetic tensors in memory)")
    print(f"real / pure: {100 * real / reference:.0f}%")


if __name__ == "__main__":
    main()
