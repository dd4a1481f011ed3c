"""What a study will cost before it runs: per job, the images it processes, its FLOPs, the bytes it writes, its
peak memory and its time on the device that runs it, and the resources (memory, minutes) each job requests.

Free of torch, like the rest of the plan. The networks' counts (FLOPs, parameters, width, activations) come from
the cost table ``nets/network_costs.csv`` or a calibration file, the datasets' sizes from their built files or
their registration (the paper's published sizes), and times from throughputs measured on the device by
``transferstudy calibrate``. Without a calibration, times use ``GUESSED`` rates, and every row says which it is.

The models of time and memory (``JobCost``):
- a network's forward pass costs its counted FLOPs per image, a training step three forward passes per image;
- a training job holds its weights, gradients and momentum (12 bytes a parameter), the batch's activations kept
  for the backward pass (counted) and, while evaluating, one forward pass's;
- feature extraction holds the network and its features until they are written (N x D x 4 bytes);
- the probe holds the features it read and its own rows of train and val (``transfer.logistic``), and either
  what whitening takes (chunks of rows, D x D matrices) or what the path takes (the L-BFGS memory, an
  iteration's N x C arrays), the latter ``PROBE_RETENTION`` times over; its sweep costs ``PROBE_ITERATIONS``
  iterations per penalty, each two products of the N x D features with the D x C weights;
- every job also holds the Python process with torch and its stage's modules loaded (``base_mb``) and what it
  reads and writes (``JOB_OVERHEAD_MB``);
- on a GPU, what a job computes with is held on the device (``device_mb``, activations halved under bfloat16
  autocast) and the host holds the process and what it gathers (``host_mb``, what the job requests).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..data.datasets import DatasetSizes, read_sizes
from ..data.subsets import parse_subset_name
from ..config import CostOptions
from ..errors import InputError
from ..io import atomic_path
from ..nets.costs import NetworkCost, read_table, spec_name
from ..settings import LOGISTIC_REGRESSION
from ..transfer.transferability import KNN_SELECTION_ROWS

# Published-free guesses where no calibration is given: effective FLOP/s of a forward pass, of a training step
# and of the probe's matrix products, and a process's memory before it computes. Orders of magnitude only.
GUESSED = {
    "cpu": {"forward": 50e9, "train": 25e9, "probe": 20e9, "base_mb": 700},
    "cuda": {"forward": 30e12, "train": 10e12, "probe": 5e12, "base_mb": 3000},
}
# L-BFGS iterations per penalty of the warm-started path: the most measured (304 over 45 penalties, on the
# default study's features; 50-72 at the paper's largest shapes, docs/benchmarks.md).
PROBE_ITERATIONS = 7
# What the allocator keeps of the path's working memory besides what is live, as a multiple of it (measured:
# SUN397's shape, 397 classes, benchmarks/paper_shapes.py).
PROBE_RETENTION = 2.0
# N x C arrays an L-BFGS iteration holds (logits, residual, moves, the line search's and the secant's).
PROBE_ITERATION_ARRAYS = 10
# Bytes a parameter takes while training: weights, gradients and SGD momentum (float32).
TRAIN_BYTES_PER_PARAM = 12
# A dataset of one's own before it is built: its size is not known until then (``snakemake results/data/<name>.h5``
# builds it; the plan then reads it).
GUESSED_SIZES = DatasetSizes(classes=100, train=10_000, val=2_500, test=10_000)
# What CUDA's context takes on a GPU besides torch's allocations.
CUDA_CONTEXT_MB = 500
# ImageNet's validation images, on which a downloaded network's top-1 is measured (``source.imagenet_val``).
IMAGENET_VAL = 50_000
# A job's start (Python, torch, the library) in seconds, where no calibration measured it.
START_SECONDS = 5


# What each computing stage's job imports before it computes (every one uses torch): `transferstudy calibrate`
# measures a job's start and its memory before it computes by importing them in a fresh Python.
STAGE_MODULES = {"pretrain": "torch, transferstudy.train.pretrain", "pretrained_model": "torch, transferstudy.nets.zoo",
                 "extract_features": "torch, transferstudy.transfer.features",
                 "probe": "torch, transferstudy.transfer.probe",
                 "transferability": "torch, transferstudy.transfer.transferability",
                 "train": "torch, transferstudy.transfer.finetune"}
# What a job holds besides its computation and its imports: its inputs as read, its outputs as written, the
# workflow's script wrapper (20-30 MB measured on the default study's probe jobs).
JOB_OVERHEAD_MB = 64


def stage_of(rule):
    """The stage of a plan row's rule (``finetune:train_rung_point.rung1`` -> ``train``)."""
    rule = rule.split(":")[-1].split(".")[0]
    return "train" if rule.startswith("train_") else rule


# Where a row's time comes from, least certain first: a guessed rate, network or dataset size; the calibration's
# FLOP rates over counted FLOPs; the calibration's timing of this very network.
SOURCES = ("guess", "calibrated", "measured")


@dataclass(frozen=True)
class JobCost:
    """The estimate of ``jobs`` jobs of one rule on one (model, dataset): their totals (images, FLOPs, bytes,
    seconds) and one job's peak memory. ``source`` (``SOURCES``) says how certain its time is."""

    rule: str
    model: str
    dataset: str
    jobs: int
    images: int
    flops: float
    bytes_written: int
    host_mb: float  # one job's peak memory on the host (what it requests)
    device_mb: float  # and on its accelerator (0 on a CPU)
    seconds: float
    source: str

    def resources(self, safety_factor=CostOptions.safety_factor, attempt=1, min_runtime=CostOptions.min_runtime):
        """What one job requests: ``mem_mb`` and ``runtime`` (minutes), the estimate times the safety factor,
        raised with each attempt of a job that was killed at its limit."""
        per_job = self.seconds / max(self.jobs, 1)
        return {"mem_mb": math.ceil(self.host_mb * safety_factor * attempt),
                "runtime": max(min_runtime, math.ceil(per_job * safety_factor * attempt / 60))}


def input_size(study, model):
    """The input size a model runs at: None for a downloaded network (its native size, which its source knows),
    and for a network pretrained here its source's (the in-memory source's images, or the recipe's crop)."""
    zoo, data = study.zoo, study.data
    if model not in zoo.recipes:
        return None
    if data.info(data.source).kind == "embedded":
        return data.options(data.source).get("image_size") or data.info(data.source).options["image_size"]
    return zoo.recipes[model].image_size


def study_networks(study):
    """The networks of a study, one per table name: ``{name: (spec, input size or None)}`` (what is counted and
    calibrated)."""
    networks = {}
    for model, spec in study.zoo.models.items():
        networks.setdefault(spec_name(spec), (spec, input_size(study, model)))
    return networks


def read_calibration(path):
    """A calibration file (``transferstudy calibrate``'s JSON), or None for no path."""
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise InputError(f"cost.calibration = {str(path)!r}: no such file; make it with `transferstudy calibrate`")
    calibration = json.loads(path.read_text())
    missing = {"device", "start_seconds", "base_mb", "rates", "networks"} - set(calibration)
    if missing:
        raise InputError(f"{path}: not a calibration file (missing {sorted(missing)}); make it with "
                         "`transferstudy calibrate`")
    return calibration


class CostPlan:
    """The cost of every job of a study (``rows``), its totals, and what each job requests (``request``).

    ``data_dir``: where built dataset files are looked for (exact sizes); ``calibration``: a parsed calibration
    file, or None for guessed times on ``study.options.device``."""

    def __init__(self, study, calibration=None, data_dir="results/data", table=None):
        self.study = study
        self.calibration = calibration
        device = calibration["device"] if calibration else study.options.device
        self.guess = GUESSED["cuda" if device == "cuda" else "cpu"]
        self.on_device = device == "cuda"
        # Per stage: a job's start and its memory before it computes, measured or guessed.
        self.start_seconds = {stage: START_SECONDS for stage in STAGE_MODULES}
        self.base_mb = {stage: self.guess["base_mb"] for stage in STAGE_MODULES}
        if calibration:
            self.start_seconds.update(calibration.get("start_seconds", {}))
            self.base_mb.update(calibration.get("base_mb", {}))
        self.networks = {**(table if table is not None else read_table()),
                         **{name: NetworkCost(**{key: row[key] for key in NetworkCost.__dataclass_fields__})
                            for name, row in (calibration or {}).get("networks", {}).items()}}
        self.data_dir = Path(data_dir)
        self.rows = self._rows()
        self._by_job = {(row.rule, row.model, row.dataset): row for row in self.rows}

    # --- inputs -----------------------------------------------------------------------------------------------

    @functools.cache
    def sizes(self, dataset):
        """A dataset's split sizes, and whether they are known: from its built file when there is one, else from
        its registration; a dataset of one's own not yet built: ``GUESSED_SIZES`` (False)."""
        path = self.data_dir / f"{dataset}.h5"
        if path.is_file():
            return read_sizes(path), True
        info = self.study.data.info(dataset)
        if info.sizes is None:
            return GUESSED_SIZES, False
        options = {**info.options, **self.study.data.options(dataset)}
        return info.sizes(**options).held_out(self.study.split.val_fraction), True

    @functools.cache
    def network(self, model):
        """The counted cost of a model at the size it runs at, and whether it is known (False: a guess, the
        largest network of the table, which makes totals err high; its jobs' requests do not use it)."""
        cost = self.networks.get(spec_name(self.study.zoo.models[model]))
        if cost is None:
            return max(self.networks.values(), key=lambda c: c.forward_flops), False
        size = input_size(self.study, model)
        return (cost.at_size(size) if size else cost), True

    def _measured(self, model):
        """What the calibration measured of this model's network at the size it runs at (empty: nothing)."""
        measured = (self.calibration or {}).get("networks", {}).get(spec_name(self.study.zoo.models[model]), {})
        return measured if measured.get("input_size") == self.network(model)[0].input_size else {}

    def rates(self, model):
        """Images per second of a model's forward pass and of its training step, and where they come from:
        ``measured`` (the calibration timed this network at this size), ``calibrated`` (the calibration's FLOP
        rates over the network's counted FLOPs) or ``guess``."""
        cost, known = self.network(model)
        if not self.calibration:
            return self.guess["forward"] / cost.forward_flops, self.guess["train"] / cost.train_flops, "guess"
        measured = self._measured(model)
        if "train_images_per_s" in measured:
            return measured["forward_images_per_s"], measured["train_images_per_s"], "measured"
        rates = self.calibration["rates"]
        return (rates["forward"] / cost.forward_flops, rates["train"] / cost.train_flops,
                "calibrated" if known else "guess")

    @property
    def probe_rate(self):
        """FLOP/s of the probe's matrix products."""
        return (self.calibration or {}).get("rates", {}).get("probe") or self.guess["probe"]

    # --- jobs -------------------------------------------------------------------------------------------------

    def _row(self, rule, model, dataset, sources, *, jobs=1, images=0, flops=0.0, bytes_written=0, compute_mb=0.0,
             host_mb=0.0, seconds=0.0):
        """A row: ``compute_mb`` is held where the job computes (its accelerator, or the host), ``host_mb`` on the
        host in any case; its ``source`` is the least certain of ``sources`` (a flag False counts as a guess)."""
        named = ["guess" if source is False else source for source in sources if source is not True]
        source = min(named, key=SOURCES.index, default="measured")
        stage = stage_of(rule)
        host = self.base_mb[stage] + JOB_OVERHEAD_MB + host_mb + (0 if self.on_device else compute_mb)
        device = CUDA_CONTEXT_MB + compute_mb if self.on_device else 0.0
        return JobCost(rule, model, dataset, jobs, int(images), float(flops), int(bytes_written), round(host, 1),
                       round(device, 1), round(seconds + jobs * self.start_seconds[stage], 1), source)

    def _activations(self, amp):
        """Activation bytes per counted (float32) byte: half under bfloat16 autocast (on by default on CUDA)."""
        return 0.5 if (amp if amp is not None else self.on_device) else 1.0

    def _rows(self):
        study = self.study
        rows = [self._pretrain(model) for model in study.zoo.recipes]
        rows += [self._zoo_record(model) for model in study.zoo.downloaded]
        for model, dataset in study.pairs(LOGISTIC_REGRESSION):
            rows += [self._extract(model, dataset), self._probe(model, dataset)]
            if study.transferability.enabled:
                rows.append(self._transferability(model, dataset))
        for arm in study.arms:
            for model, dataset in study.pairs(arm):
                rows += self._arm(arm, model, dataset)
        return rows

    def _measured_mb(self, model, kind, batch_size):
        """The calibration's peak memory of this network's forward pass or training step, scaled to
        ``batch_size``, or None where it did not measure this network at this size."""
        measured = self._measured(model)
        if measured.get(f"{kind}_peak_mb") is None:
            return None
        calibrated = measured["batch_size" if kind == "forward" else "train_batch_size"]
        return max(measured[f"{kind}_peak_mb"], 0.0) * max(batch_size / calibrated, 1.0)

    def _training_mb(self, model, batch_size, amp):
        cost = self.network(model)[0]
        modelled = (cost.params * TRAIN_BYTES_PER_PARAM + batch_size * cost.saved_bytes * self._activations(amp)) / 1e6
        measured = self._measured_mb(model, "train", batch_size)
        return modelled if measured is None else measured

    def _inference_mb(self, model):
        # Without gradients only a few layers' activations live at once: half of what training keeps, as a bound.
        cost, features = self.network(model)[0], self.study.features
        modelled = (cost.params * 4
                    + features.batch_size * cost.saved_bytes / 2 * self._activations(features.amp)) / 1e6
        measured = self._measured_mb(model, "forward", features.batch_size)
        return modelled if measured is None else measured

    def _pretrain(self, model):
        recipe, (cost, known) = self.study.zoo.recipes[model], self.network(model)
        sizes, sized = self.sizes(self.study.data.source)
        forward, train, rated = self.rates(model)
        trained = recipe.epochs * sizes.train
        return self._row("pretrain", model, self.study.data.source, (known, sized, rated),
                         images=trained + sizes.val, flops=trained * cost.train_flops + sizes.val * cost.forward_flops,
                         bytes_written=cost.params * TRAIN_BYTES_PER_PARAM,
                         compute_mb=self._training_mb(model, recipe.batch_size, self.study.features.amp),
                         seconds=trained / train + sizes.val / forward)

    def _zoo_record(self, model):
        """A downloaded network's record: loading it, and its top-1 measured on ImageNet's validation images when
        the study has them."""
        cost, known = self.network(model)
        images = IMAGENET_VAL if self.study.data.imagenet_val else 0
        forward, _, rated = self.rates(model)
        return self._row("pretrained_model", model, "imagenet" if images else "", (known, rated), images=images,
                         flops=images * cost.forward_flops, compute_mb=self._inference_mb(model),
                         seconds=images / forward)

    def _extract(self, model, dataset):
        (cost, known), (sizes, sized) = self.network(model), self.sizes(dataset)
        forward, _, rated = self.rates(model)
        images = sizes.train + sizes.val + sizes.test
        features = images * cost.features * 4
        return self._row("extract_features", model, dataset, (known, sized, rated), images=images,
                         flops=images * cost.forward_flops, bytes_written=features,
                         compute_mb=self._inference_mb(model), host_mb=features / 1e6, seconds=images / forward)

    def _probe_flops(self, n, d, c, penalties):
        """A regularisation path's FLOPs: standardising and whitening (N D^2 + D^3), then L-BFGS iterations."""
        return 2 * n * d * d + d ** 3 + penalties * PROBE_ITERATIONS * 4 * n * d * c

    def _probe(self, model, dataset):
        (cost, known), (sizes, sized) = self.network(model), self.sizes(dataset)
        d, c = cost.features, sizes.classes
        flops = (self._probe_flops(sizes.train, d, c, self.study.probe.num_penalties)
                 + self._probe_flops(sizes.train + sizes.val, d, c, 1))  # the sweep, then the refit
        features = (sizes.train + sizes.val + sizes.test) * d * 4
        return self._row("probe", model, dataset, (known, sized, "calibrated" if self.calibration else "guess"),
                         flops=flops, bytes_written=sizes.test * c * 4, host_mb=features / 1e6,
                         compute_mb=self._probe_mb(sizes, d, c), seconds=flops / self.probe_rate)

    def _probe_mb(self, sizes, d, c):
        """The probe's own memory beside the features it read: its rows (train and val, D + 1 wide), and the
        larger of whitening's (two chunks of rows, four D x D matrices) and the path's, allocator retention
        included (the L-BFGS memory, an iteration's N x C arrays, two D x D matrices)."""
        solver = self.study.probe
        rows = (sizes.train + sizes.val) * (d + 1)
        whitening = 2 * min(solver.chunk_rows, sizes.train) * d + 4 * d * d
        path = PROBE_RETENTION * (2 * solver.history_size * c * (d + 1)
                                  + PROBE_ITERATION_ARRAYS * sizes.train * c + 2 * d * d)
        return 4 * (rows + max(whitening, path)) / 1e6

    def _transferability(self, model, dataset):
        (cost, known), (sizes, sized) = self.network(model), self.sizes(dataset)
        n, d = sizes.train + sizes.val, cost.features
        # The spectral scores' D x D products and decompositions, and k-NN's similarities of its queries (those
        # that choose k, and the validation split) to every training example.
        knn_queries = min(sizes.train, KNN_SELECTION_ROWS) + sizes.val
        flops = 4 * n * d * d + 2 * d ** 3 + 2 * knn_queries * sizes.train * d
        return self._row("transferability", model, dataset,
                         (known, sized, "calibrated" if self.calibration else "guess"), flops=flops,
                         compute_mb=3 * n * d * 4 / 1e6, seconds=flops / self.probe_rate)

    def _run(self, rule, model, dataset, sized, *, jobs, steps, batch_size, eval_every, evaluated, amp, state=True):
        """``jobs`` training runs of ``steps`` steps, each evaluating ``evaluated`` images every ``eval_every``
        (``eval_every=None``: once, at the end)."""
        cost, known = self.network(model)
        forward, train, rated = self.rates(model)
        evaluations = 1 if eval_every is None else steps // eval_every + 1
        trained, scored = steps * batch_size, evaluations * evaluated
        return self._row(rule, model, dataset, (known, sized, rated), jobs=jobs, images=jobs * (trained + scored),
                         flops=jobs * (trained * cost.train_flops + scored * cost.forward_flops),
                         bytes_written=jobs * cost.params * TRAIN_BYTES_PER_PARAM * state,
                         compute_mb=self._training_mb(model, batch_size, amp),
                         seconds=jobs * (trained / train + scored / forward))

    def _arm(self, arm, model, dataset):
        options, (sizes, sized) = self.study.arms[arm], self.sizes(dataset)
        recipe = options.recipe
        common = {"batch_size": recipe.batch_size, "eval_every": recipe.eval_every, "amp": options.amp}
        plan = self.study.arms.rung_plan(arm)
        if plan:
            rows = [self._run(f"{arm}:train_rung_point.rung{rung}", model, dataset, sized, jobs=points, steps=steps,
                              evaluated=sizes.val, **common) for rung, (points, steps) in enumerate(plan)]
        else:
            rows = [self._run(f"{arm}:train_grid_point", model, dataset, sized, jobs=len(self.study.arms.grid(arm)),
                              steps=recipe.steps, evaluated=sizes.val, **common)]
        rows.append(self._run(f"{arm}:train_refit", model, dataset, sized, jobs=1, steps=recipe.steps,
                              evaluated=sizes.test, state=False, **{**common, "eval_every": None}))
        return rows

    # --- answers ----------------------------------------------------------------------------------------------

    @functools.cache
    def request(self, rule, *, model, dataset=None, arm=None, rung=None, attempt=1):
        """What one job of a workflow rule requests (``{"mem_mb", "runtime"}``): its estimate times
        ``cost.safety_factor``, that again for each retry (``attempt``), at least ``cost.min_runtime`` minutes.
        A job on a subset requests what one on its whole dataset would."""
        if rule == "pretrain":
            dataset = self.study.data.source
        elif rule == "pretrained_model":
            dataset = "imagenet" if self.study.data.imagenet_val else ""
        else:
            dataset = (parse_subset_name(dataset) or (dataset,))[0]
        options = self.study.cost
        if not self.network(model)[1]:  # not counted: the plan's figures for it are guesses, not requests
            return {"mem_mb": options.uncounted_mem_mb * attempt, "runtime": options.uncounted_runtime * attempt}
        name = f"{arm}:{rule}" if arm else rule
        row = self._by_job[name + (f".rung{rung}" if rung is not None else ""), model, dataset]
        return row.resources(options.safety_factor, attempt, options.min_runtime)

    @property
    def uncounted(self):
        """The models whose networks the plan has not counted (not in its table, no calibration)."""
        return [model for model in self.study.zoo.models if not self.network(model)[1]]

    def totals(self):
        """Per job type: jobs, device-hours, FLOPs, bytes written and the largest peak memory."""
        out = {}
        for row in self.rows:
            stage = row.rule.split(".")[0]
            total = out.setdefault(stage, {"jobs": 0, "hours": 0.0, "flops": 0.0, "bytes": 0, "peak_mb": 0.0})
            peak = row.device_mb if self.on_device else row.host_mb
            total["jobs"] += row.jobs
            total["hours"] += row.seconds / 3600
            total["flops"] += row.flops
            total["bytes"] += row.bytes_written
            total["peak_mb"] = max(total["peak_mb"], peak)
        return out



def write_rows(plan, path):
    """The plan as a tidy CSV: one row per job type and (model, dataset), its jobs and their totals."""
    import csv

    names = list(JobCost.__dataclass_fields__)
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        writer.writerows(asdict(row) for row in plan.rows)


def _amount(value, units):
    for unit, size in units:
        if abs(value) >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f}"


def _bytes(value):
    return _amount(value, (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)))


def _flops(value):
    return _amount(value, (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9)))


def summary(plan, top=10, alternative=None, alternative_name=""):
    """What a person reads first: totals per stage, the ``top`` most expensive jobs, disk, where the times come
    from; with ``alternative`` (another plan of the same study), how its totals differ."""
    totals = plan.totals()
    guessed = sum(row.seconds for row in plan.rows if row.source == "guess")
    all_seconds = sum(row.seconds for row in plan.rows) or 1
    memory = "GPU memory" if plan.on_device else "memory"
    lines = [f"{'stage':34s} {'jobs':>8s} {'device-hours':>13s} {'compute':>14s} {'written':>10s} {memory:>12s}"]
    for stage, total in sorted(totals.items(), key=lambda item: -item[1]["hours"]):
        lines.append(f"{stage:34s} {total['jobs']:8,d} {total['hours']:13,.1f} {_flops(total['flops']):>14s} "
                     f"{_bytes(total['bytes']):>10s} {total['peak_mb'] / 1e3:10.1f} GB")
    jobs = sum(total["jobs"] for total in totals.values())
    hours = sum(total["hours"] for total in totals.values())
    lines.append(f"{'total':34s} {jobs:8,d} {hours:13,.1f} {_flops(sum(t['flops'] for t in totals.values())):>14s} "
                 f"{_bytes(sum(t['bytes'] for t in totals.values())):>10s}")
    lines.append("")
    lines.append(f"the {top} most expensive (rule, model, dataset), device-hours for all their jobs:")
    for row in sorted(plan.rows, key=lambda row: -row.seconds)[:top]:
        peak = row.device_mb if plan.on_device else row.host_mb
        lines.append(f"  {row.seconds / 3600:10,.1f} h  {row.rule} {row.model} {row.dataset} ({row.jobs} job(s), "
                     f"peak {peak / 1e3:.1f} GB each)")
    where = (f"calibration on {plan.calibration['device']} ({plan.calibration.get('host', '?')})" if plan.calibration
             else f"guessed rates for {plan.study.options.device} (no cost.calibration; `transferstudy calibrate` "
                  "measures them)")
    lines.append(f"times: {where}; {100 * guessed / all_seconds:.0f}% of the time estimate rests on guesses")
    if plan.uncounted:
        lines.append(f"not counted: {', '.join(plan.uncounted)} (not in the cost table; `transferstudy calibrate` "
                     "counts and times them): their rows assume the table's largest network, and their jobs request "
                     "cost.uncounted_mem_mb and cost.uncounted_runtime")
    capacity = (plan.calibration or {}).get("device_memory_mb")
    too_large = sorted({row.rule for row in plan.rows if capacity and (row.device_mb if plan.on_device
                                                                          else row.host_mb) > capacity})
    if too_large:
        lines.append(f"DOES NOT FIT the calibrated device's {capacity / 1e3:.0f} GB: jobs of {', '.join(too_large)} "
                     "(lower their batch size, or run them on a larger device)")
    if alternative is not None:
        other = sum(total["hours"] for total in alternative.totals().values())
        lines.append(f"with {alternative_name}: {other:,.1f} device-hours ({100 * other / max(hours, 1e-9):.0f}% "
                     f"of {hours:,.1f})")
    return "\n".join(lines)


def plan_study(config, *, calibration=None, data_dir="results/data", top=10):
    """A configuration's cost plan and what a person reads of it (``summary``, with the totals under successive
    halving for arms that search a full grid): (plan, text). ``calibration``: a calibration file's path (default:
    the config's ``cost.calibration``)."""
    import copy

    from .plan import Study

    study = Study(config)
    calibration = read_calibration(calibration or study.cost.calibration)
    plan = CostPlan(study, calibration, data_dir)
    grid_arms = [arm for arm, options in study.arms.items() if options.search.method == "grid"]
    if not grid_arms:
        return plan, summary(plan, top)
    halving = copy.deepcopy(config)
    for arm in grid_arms:
        halving[arm]["search"] = {**(halving[arm].get("search") or {}), "method": "successive_halving"}
    alternative = CostPlan(Study(halving), calibration, data_dir)
    return plan, summary(plan, top, alternative, f"{', '.join(grid_arms)}.search: successive_halving")
