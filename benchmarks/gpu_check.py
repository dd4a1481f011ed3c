"""The GPU path, measured in one run: CUDA against CPU for correctness, and each GPU stage against its reference
side by side (issue 30). Written for a lent GPU machine's own Python and torch, with this repository's src/ on
the path; every section is timed and checked in the same process, and its result goes into one JSON.

Sections (each runs even when an earlier one failed; a failure is recorded with its error and the script exits
non-zero):

- ``environment``: torch, the device, the CPU cores;
- ``correctness``: the same network's penultimate features of the same images on the device and on the CPU
  (relative error, float32 and the workflow's autocast precision), the probe on the same features on both (chosen
  penalty, test metric), a short fine-tuning run on both (final loss and validation metric), and the device run
  twice (equal or not: cuDNN's non-deterministic kernels);
- ``probe``: our solver on the device against scikit-learn's float32 lbfgs sweep on all CPU cores, on the
  synthetic features of ``probe_vs_sklearn.py`` at 2,048 and 4,032 dimensions, both on the protocol's 45
  penalties (the quick mode: 3 of them, the grid's ends and middle): wall times, their ratio, test accuracies and
  their difference;
- ``extraction``: JPEGs of ``--image-size`` through a torchvision network (random weights: the rate does not
  depend on them) with the workflow's loading (``penultimate_features``, workers as many as the cores) against
  the forward-only rate on tensors already on the device; and ``torchvision.io.decode_jpeg`` on the device as
  the remedy if decoding bounds it;
- ``finetune``: the workflow's training loop (``finetune.train``: augmentation, indexing, evaluation and
  checkpoints included) against a pure training-step loop on the same network, batch, precision and memory
  format;
- ``calibration``: ``transferstudy calibrate`` of a configuration's networks on the device, the file the cost
  plan turns into hours.

    python benchmarks/gpu_check.py --out OUT                      # on the GPU machine: about 8 minutes
    python benchmarks/gpu_check.py --quick --device cpu --out OUT # here: seconds, what the test runs
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import features_throughput  # noqa: E402  (benchmarks/ beside this file)
import finetune_throughput  # noqa: E402
import probe_vs_sklearn  # noqa: E402

from transferstudy.config import ArmRecipe  # noqa: E402
from transferstudy.data import datasets, images  # noqa: E402
from transferstudy.nets import pretrained, zoo  # noqa: E402
from transferstudy.nets.inference import (MEMORY_FORMAT, penultimate_features, precision,  # noqa: E402
                                          precision_label)
from transferstudy.transfer import finetune, probe  # noqa: E402

log = logging.getLogger("gpu_check")

# Sizes of each mode: the GPU machine's full run, and the CPU test's seconds.
FULL = {"probe": {"train": 20_000, "val": 5_000, "test": 10_000, "classes": 100}, "probe_dims": [2048, 4032],
        "probe_penalties": 45, "images": 2_000, "image_size": (500, 375), "network": "resnet50", "batch": 256,
        "finetune_steps": 60, "correct_images": 64, "correct_batch": 32, "correct_steps": 10,
        "calibration_config": "config/kornblith2019.yaml", "calibration_repeats": 3}
QUICK = {"probe": {"train": 300, "val": 100, "test": 100, "classes": 5}, "probe_dims": [32],
         "probe_penalties": 3, "images": 8, "image_size": (80, 60), "network": "resnet18", "batch": 4,
         "finetune_steps": 3, "correct_images": 4, "correct_batch": 4, "correct_steps": 3,
         "calibration_config": "tests/config/tiny.yaml", "calibration_repeats": 1}
# What the issue asks the ratios to reach.
GOALS = {"probe_speedup": 100.0, "probe_accuracy_points": 0.3, "extraction_ratio": 0.8, "finetune_ratio": 0.85}


def network(name="resnet18"):
    """A torchvision network of random weights, seeded (the same on every call): a ``python:`` model of the
    workflow's, so that zoo records, extraction and fine-tuning load it as they load any network. Which network:
    $GPU_CHECK_NETWORK (set by the section that times it; a ``python:`` reference passes no arguments)."""
    import torchvision

    torch.manual_seed(0)
    cfg = {"input_size": (3, 224, 224), "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
           "interpolation": "bilinear", "crop_pct": 0.875}
    return torchvision.models.get_model(os.environ.get("GPU_CHECK_NETWORK", name), weights=None), cfg


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _relative_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def environment(device, sizes, work):
    info = {"torch": torch.__version__, "python": sys.version.split()[0], "cpu_cores": os.cpu_count(),
            "device": str(device)}
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def _loaded():
    """The check's network through the workflow's python source (a zoo record and its load)."""
    spec = {"python": f"{Path(__file__).resolve()}:network", "source_top1": 0.001}  # random weights: chance
    return spec, pretrained.load(spec)


def _jpeg_dataset(work, count, size, cfg):
    folder = work / f"jpegs_{count}_{size[0]}x{size[1]}"
    folder.mkdir(exist_ok=True)
    paths = features_throughput.write_jpegs(folder, count, size)
    return folder, images.SplitImages(paths=paths, root=str(folder), transform=images.eval_transform(cfg))


def correctness(device, sizes, work):
    result = {}
    spec, loaded = _loaded()
    _, dataset = _jpeg_dataset(work, sizes["correct_images"], sizes["image_size"], loaded.pretrained_cfg)
    reference, _ = penultimate_features(loaded, dataset, batch_size=sizes["correct_batch"], device="cpu")
    loaded.body.to(device, memory_format=MEMORY_FORMAT)
    for label, amp in (("float32", False), ("workflow_precision", None)):
        features, _ = penultimate_features(loaded, dataset, batch_size=sizes["correct_batch"], device=device, amp=amp)
        again, _ = penultimate_features(loaded, dataset, batch_size=sizes["correct_batch"], device=device, amp=amp)
        result[f"features_{label}"] = {
            "precision": precision_label(precision(torch.device(device), amp)) or "float32",
            "relative_error_vs_cpu": _relative_error(features, reference),
            "two_runs_equal": bool(np.array_equal(features, again))}
    loaded.body.to("cpu")
    splits = probe_vs_sklearn.synthetic_features(**{k: v // 2 for k, v in sizes["probe"].items() if k != "classes"},
                                                 dim=64, classes=sizes["probe"]["classes"], seed=1)
    grid = {"num_penalties": 9, "penalty_min": 1e-6, "penalty_max": 1e5}
    runs = {where: probe.probe_arrays(splits, sizes["probe"]["classes"], False, "top1", device=where,
                                      solver=grid)[1] for where in ("cpu", device)}
    result["probe"] = {where: {"chosen_penalty": run["chosen_penalty"], "test_top1": run["value"]}
                       for where, run in (("cpu", runs["cpu"]), ("device", runs[device]))}
    result["probe"]["test_points_difference"] = 100 * (runs[device]["value"] - runs["cpu"]["value"])
    record = work / "network.json"
    zoo.describe(spec, record, model_name="check_network")
    target = work / "target.h5"
    datasets.prepare_dataset("stars_fine", target, seed=0, split_seed=0, val_fraction=0.2)
    steps = sizes["correct_steps"]
    recipe = ArmRecipe(steps=steps, batch_size=sizes["correct_batch"], eval_every=steps, checkpoint_every=steps)
    finetuned = {}
    for label, where in (("cpu", "cpu"), ("device", device), ("device_again", device)):
        run = finetune.TrainRun(record, target, work / f"ft_{label}.json", work / f"ft_{label}.pt",
                                init="pretrained", lr=0.01, weight_decay=1e-4, device=where, recipe=recipe)
        out = finetune.train(run)
        losses = [entry["loss"] for entry in out["history"] if "loss" in entry]
        finetuned[label] = {"final_loss": losses[-1] if losses else None, "val_metric": out["value"],
                            "precision": out["amp"]}
    result["finetune"] = {**finetuned, "device_runs_equal": finetuned["device"] == finetuned["device_again"]}
    return result


def probe_speed(device, sizes, work):
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    full = probe.penalty_grid(1e-6, 1e5, 45)
    chosen = np.linspace(0, len(full) - 1, sizes["probe_penalties"]).round().astype(int)
    penalties = [float(full[i]) for i in chosen]
    result = {"penalties": penalties, "of_the_protocols": len(full), "sklearn_threads": threads, "dims": {}}
    from threadpoolctl import threadpool_limits

    for dim in sizes["probe_dims"]:
        splits = probe_vs_sklearn.synthetic_features(sizes["probe"]["train"], sizes["probe"]["val"],
                                                     sizes["probe"]["test"], dim, sizes["probe"]["classes"], 0)
        grid = {"num_penalties": len(penalties), "penalty_min": min(penalties), "penalty_max": max(penalties)}
        probe.probe_arrays(splits, sizes["probe"]["classes"], False, "top1", device=device, solver=grid)  # warm-up
        _sync(device)
        started = time.perf_counter()
        _, ours = probe.probe_arrays(splits, sizes["probe"]["classes"], False, "top1", device=device, solver=grid)
        _sync(device)
        ours_seconds = time.perf_counter() - started
        with threadpool_limits(threads):
            started = time.perf_counter()
            sk_test, sk_chosen, sk_iterations, _ = probe_vs_sklearn.sklearn_protocol(splits, dtype="float32", **grid)
            sk_seconds = time.perf_counter() - started
        result["dims"][str(dim)] = {
            "ours_seconds": ours_seconds, "sklearn_seconds": sk_seconds, "speedup": sk_seconds / ours_seconds,
            "ours_test_top1": ours["value"], "sklearn_test_top1": sk_test,
            "test_points_difference": 100 * (ours["value"] - sk_test), "ours_chosen": ours["chosen_penalty"],
            "sklearn_chosen": sk_chosen, "goal_speedup": GOALS["probe_speedup"],
            "meets_goals": sk_seconds / ours_seconds >= GOALS["probe_speedup"]
            and abs(100 * (ours["value"] - sk_test)) <= GOALS["probe_accuracy_points"]}
        log.info("probe at %d dims: ours %.2f s, sklearn %.2f s (%.0fx)", dim, ours_seconds, sk_seconds,
                 sk_seconds / ours_seconds)
    return result


def extraction(device, sizes, work):
    import torchvision

    loaded = features_throughput.loaded_network(sizes["network"], work)
    loaded.body.to(device, memory_format=MEMORY_FORMAT)
    folder, dataset = _jpeg_dataset(work, sizes["images"], sizes["image_size"], loaded.pretrained_cfg)
    workers = os.cpu_count()
    forward = features_throughput.forward_only(loaded, dataset, sizes["batch"], device, None)
    penultimate_features(loaded, torch.utils.data.Subset(dataset, range(sizes["batch"])), batch_size=sizes["batch"],
                         device=device)  # warm-up
    started = time.perf_counter()
    features, skipped = penultimate_features(loaded, dataset, batch_size=sizes["batch"], workers=workers, device=device)
    _sync(device)
    real = len(features) / (time.perf_counter() - started)
    result = {"network": sizes["network"], "images": len(features), "skipped": len(skipped), "workers": workers,
              "image_size": list(sizes["image_size"]), "batch": sizes["batch"], "forward_images_per_s": forward,
              "workflow_images_per_s": real, "ratio": real / forward, "goal": GOALS["extraction_ratio"]}
    # Decoding alone, for the remedy: PIL in the workers' way (one process) against nvJPEG on the device.
    paths = sorted(folder.glob("*.jpg"))
    started = time.perf_counter()
    for path in paths:
        Image.open(path).convert("RGB").load()
    result["pil_decode_images_per_s_one_process"] = len(paths) / (time.perf_counter() - started)
    if torch.device(device).type == "cuda":
        data = [torchvision.io.read_file(str(path)) for path in paths]
        torchvision.io.decode_jpeg(data[:8], device=device)
        _sync(device)
        started = time.perf_counter()
        for start in range(0, len(data), sizes["batch"]):
            torchvision.io.decode_jpeg(data[start:start + sizes["batch"]], device=device)
        _sync(device)
        result["gpu_decode_images_per_s"] = len(data) / (time.perf_counter() - started)
    return result


def finetune_speed(device, sizes, work):
    os.environ["GPU_CHECK_NETWORK"] = sizes["network"]
    spec, loaded = _loaded()
    record = work / "speed_network.json"
    zoo.describe(spec, record, model_name="speed_network")
    target = work / "speed_target.h5"
    if not target.exists():
        datasets.prepare_dataset("stars_fine", target, seed=0, split_seed=0, val_fraction=0.2)
    steps = sizes["finetune_steps"]
    recipe = ArmRecipe(steps=steps, batch_size=sizes["batch"], eval_every=steps, checkpoint_every=steps)
    run = finetune.TrainRun(record, target, work / "speed.json", work / "speed.pt", init="pretrained", lr=0.01,
                            weight_decay=1e-4, device=device, recipe=recipe)
    real = finetune.train(run)["images_per_second"]
    size = loaded.pretrained_cfg.image_size
    model = loaded.with_new_head(18)
    pure = finetune_throughput.pure_loop(model, 18, sizes["batch"], size, steps, device)
    return {"network": sizes["network"], "image_size": size, "batch": sizes["batch"], "steps": steps,
            "workflow_images_per_s": real, "pure_loop_images_per_s": pure, "ratio": real / pure,
            "goal": GOALS["finetune_ratio"]}


def calibration(device, sizes, work, out):
    path = out / "calibration.json"
    command = [sys.executable, "-m", "transferstudy", "calibrate", "--configfile",
               str(ROOT / sizes["calibration_config"]), "--device", str(device), "--out", str(path),
               "--repeats", str(sizes["calibration_repeats"])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=sizes.get("calibration_timeout"))
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    calibrated = json.loads(path.read_text())
    return {"file": path.name, "networks": {name: {k: entry[k] for k in ("forward_images_per_s", "train_images_per_s")}
                                            for name, entry in calibrated["networks"].items()},
            "rates": calibrated["rates"]}


# In the order they run: the longest (the scikit-learn sweep, the 16 networks' calibration) last, so that a run cut
# short by its lease keeps the rest (the JSON is written after each section).
SECTIONS = {"environment": environment, "correctness": correctness, "extraction": extraction,
            "finetune": finetune_speed, "probe": probe_speed, "calibration": calibration}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu_check.json, its log and the calibration")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: the CPU test's mode")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS))
    parser.add_argument("--calibration-timeout", type=int, default=240, help="seconds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        handlers=[logging.FileHandler(out / "gpu_check.log"), logging.StreamHandler()])
    sizes = {**(QUICK if args.quick else FULL), "calibration_timeout": args.calibration_timeout}
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no GPU here (use --device cpu)")
    results, failed = {"mode": "quick" if args.quick else "full", "sizes": sizes}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.sections:
            started = time.perf_counter()
            try:
                extra = (out,) if name == "calibration" else ()
                results[name] = SECTIONS[name](args.device, sizes, Path(tmp), *extra)
            except Exception as error:  # one section's failure must not lose the others' measurements
                failed.append(name)
                results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
                log.error("%s failed: %s", name, error)
            results.setdefault(name, {})["seconds"] = round(time.perf_counter() - started, 1)
            (out / "gpu_check.json").write_text(json.dumps(results, indent=1, default=str))
            log.info("%s done in %.1f s", name, results[name]["seconds"])
    print(json.dumps({name: {k: v for k, v in part.items() if k != "traceback"} if isinstance(part, dict) else part
                      for name, part in results.items()}, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
