"""Benchmark: training images/s of a real fine-tuning run against a pure training-step loop.

The real run is ``transferstudy.transfer.finetune.train`` (indexing, random-resized-crop + flip, normalisation,
periodic evaluation and checkpointing included); the reference is the same model, batch size, optimiser,
device, precision and memory format stepping on synthetic tensors already in place. Prints both rates and
their ratio (target: >= 85%).

    python benchmarks/finetune_throughput.py --arch mini_resnet8 --steps 100 --batch-size 64
    python benchmarks/finetune_throughput.py --arch mini_resnet14 --device cuda --batch-size 256 --steps 300
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from transferstudy.config import ArmRecipe
from transferstudy.data import datasets
from transferstudy.nets import architectures as models
from transferstudy.nets.inference import MEMORY_FORMAT, precision
from transferstudy.train import pretrain
from transferstudy.transfer import finetune


def pure_loop(model, num_classes, batch_size, size, steps, device):
    """Training steps of ``model`` on synthetic tensors of the real run's shape: the ceiling a real run can
    reach."""
    torch.manual_seed(0)
    device = torch.device(device)
    amp_dtype = precision(device, None)
    model = model.train().to(device, memory_format=MEMORY_FORMAT)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x = torch.randn(batch_size, 3, size, size, device=device).contiguous(memory_format=MEMORY_FORMAT)
    y = torch.randint(0, num_classes, (batch_size,), device=device)

    def step():
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="mini_resnet8", choices=models.list_models())
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        datasets.prepare_dataset("shapes64", tmp / "source.h5", seed=0, split_seed=0, val_fraction=0.2,
                                 train_per_class=4, val_per_class=2)
        pretrain.pretrain(args.arch, tmp / "source.h5", tmp / "ckpt.pt", tmp / "pretrain.json",
                          recipe={"epochs": 1, "batch_size": 64})
        datasets.prepare_dataset("stars_fine", tmp / "target.h5", seed=0, split_seed=0, val_fraction=0.2)
        run = finetune.TrainRun(tmp / "ckpt.pt", tmp / "target.h5", tmp / "run.json", tmp / "run.pt",
                                init="pretrained", lr=0.01, weight_decay=1e-4, fit="train", device=args.device,
                                recipe=ArmRecipe(steps=args.steps, batch_size=args.batch_size, eval_every=args.steps,
                                                 checkpoint_every=args.steps))
        result = finetune.train(run, threads=args.threads)
    torch.manual_seed(0)
    reference = pure_loop(models.create_model(args.arch, num_classes=18), 18, args.batch_size, 32, args.steps,
                          args.device)
    real = result["images_per_second"]
    print(f"{args.arch}, batch {args.batch_size}, {args.steps} steps, {args.threads} thread(s), "
          f"{result['device']}, precision {result['amp'] or 'float32'}")
    print(f"real run   {real:8.1f} images/s (augmentation, indexing, evaluation and checkpoint included)")
    print(f"pure loop  {reference:8.1f} images/s (synthetic tensors in memory)")
    print(f"real / pure: {100 * real / reference:.0f}%")


if __name__ == "__main__":
    main()
