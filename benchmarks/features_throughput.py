"""Benchmark: end-to-end feature extraction from JPEG files against the network's forward-only rate.

The real path is ``transferstudy.nets.inference.penultimate_features`` over image files (decode, resize, centre
crop in DataLoader workers; normalisation and the network in the main process); the reference is the same
network, batch size, device, precision and memory format on pre-decoded, preprocessed tensors already in
place. Prints both rates in images/s and their ratio (target: at least 90%).

Networks are torchvision's (``--model resnet50``) or timm's (``--model timm:nasnetalarge.tf_in1k``, loaded by
the workflow's timm source from a file of random weights), each at its own input size. ``--workers 1 2``
times the real path once per worker count.

    python benchmarks/features_throughput.py --model resnet18 --images 512 --workers 1 --threads 1
    python benchmarks/features_throughput.py --model timm:nasnetalarge.tf_in1k --images 128 --workers 1 2
    python benchmarks/features_throughput.py --model resnet50 --device cuda --images 20000 --workers 12
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from transferstudy.data import images
from transferstudy.data.images import normalize
from transferstudy.nets import network
from transferstudy.nets.sources import timm as timm_source
from transferstudy.nets.sources import torchvision as tv_source
from transferstudy.nets.inference import MEMORY_FORMAT, penultimate_features, precision


def write_jpegs(folder, count, size, seed=0):
    """``count`` photo-sized JPEGs (smooth colour fields with noise, so they compress like photos)."""
    rng = np.random.default_rng(seed)
    w, h = size
    paths = []
    for i in range(count):
        base = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3)).astype(np.uint8)
        pixels = np.asarray(Image.fromarray(base).resize((w, h), Image.BILINEAR), np.float32)
        pixels = np.clip(pixels + rng.normal(0, 12, pixels.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:06d}.jpg", quality=90)
        paths.append(f"{i:06d}.jpg")
    return paths


def loaded_network(name, folder):
    """A network with random weights, split at its penultimate layer like a pretrained one: torchvision's by
    name, or ``timm:<name>`` through the timm source from a weights file written in ``folder``."""
    torch.manual_seed(0)
    if name.startswith("timm:"):
        import timm

        name = name.removeprefix("timm:")
        path = Path(folder) / "random_weights.pth"
        torch.save(timm.create_model(name, pretrained=False).state_dict(), path)
        return timm_source.TimmSource().load({"timm": name, "weights_file": str(path)})
    model = torchvision.models.get_model(name, weights=None, **tv_source.builder_options(name)).eval()
    head = network.split_at_head(model, tv_source.torchvision_head(name))
    cfg = tv_source.weights_cfg(tv_source.weights_enum(name))
    return network.Pretrained(body=model, head=head, num_features=head.in_features, pretrained_cfg=cfg,
                              info=network.NetworkInfo(spec={"torchvision": name}, arch=name, weights_file="",
                                                       sha256="", layer="random weights"))


@torch.no_grad()
def forward_only(loaded, dataset, batch_size, device, amp):
    """images/s of the network alone on the same images, decoded and preprocessed beforehand."""
    device = torch.device(device)
    amp_dtype = precision(device, amp)
    cfg = loaded.pretrained_cfg
    x = torch.stack([dataset[i][0] for i in range(len(dataset))])
    x = normalize(x, cfg.mean, cfg.std).to(device).contiguous(memory_format=MEMORY_FORMAT)
    batches = [x[i:i + batch_size] for i in range(0, len(x), batch_size)]
    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        loaded.penultimate(batches[0])  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for batch in batches:
            loaded.penultimate(batch).float().cpu()
    return len(x) / (time.perf_counter() - started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18", help="torchvision model name, or timm:<name>")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--image-size", type=int, nargs=2, default=[500, 375], metavar=("W", "H"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1], help="decoding workers (each timed)")
    parser.add_argument("--threads", type=int, default=1, help="threads of the network's process")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        loaded = loaded_network(args.model, tmp)
        loaded.body.to(args.device, memory_format=MEMORY_FORMAT)
        paths = write_jpegs(Path(tmp), args.images, tuple(args.image_size))
        dataset = images.SplitImages(paths=paths, root=tmp, transform=images.eval_transform(loaded.pretrained_cfg))
        print(f"{args.model} at {loaded.pretrained_cfg.image_size} px, {args.images} JPEGs of {args.image_size[0]}x"
              f"{args.image_size[1]}, batch {args.batch_size}, {args.threads} thread(s), {args.device}", flush=True)
        reference = forward_only(loaded, dataset, args.batch_size, args.device, args.amp)
        print(f"forward only:         {reference:8.2f} images/s", flush=True)
        penultimate_features(loaded, torch.utils.data.Subset(dataset, range(args.batch_size)),
                             batch_size=args.batch_size, device=args.device, amp=args.amp)  # warm-up
        for workers in args.workers:
            started = time.perf_counter()
            features, skipped = penultimate_features(loaded, dataset, batch_size=args.batch_size, workers=workers,
                                                     device=args.device, amp=args.amp)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            real = len(features) / (time.perf_counter() - started)
            assert not skipped and len(features) == args.images
            print(f"end to end, {workers} worker(s): {real:8.2f} images/s = {real / reference:6.1%} of forward only",
                  flush=True)


if __name__ == "__main__":
    main()
