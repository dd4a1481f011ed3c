"""Every figure rendered from a table of the paper's shape (16 networks, 12 datasets, three settings): no text
over another text or over a data point, percent axes with round ticks, datasets in the study's order."""

import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest

from transferstudy.analysis import ablation, convergence, figures, plotting, properties
from transferstudy.analysis import subsets as subset_analysis
from transferstudy.analysis.catalogue import FIGURE_TABLES
from transferstudy.analysis.transferability import evaluation_tables

DATASETS = ["food101", "cifar10", "cifar100", "birdsnap", "sun397", "stanford_cars", "fgvc_aircraft", "voc2007",
            "dtd", "oxford_iiit_pet", "caltech101", "flowers102"]
MODELS = [f"net{k:02d}" for k in range(16)]


def paper_shaped_tables(seed=0):
    rng = np.random.default_rng(seed)
    top1 = np.sort(rng.uniform(0.70, 0.83, len(MODELS)))
    rows, curves = [], []
    for (m, model), (d, dataset) in itertools.product(enumerate(MODELS), enumerate(DATASETS)):
        base = 0.55 + 0.03 * d
        for setting, shift in (("logistic_regression", 0.0), ("finetune", 0.08), ("scratch", 0.03)):
            value = float(np.clip(base + shift + 0.9 * (top1[m] - 0.76) + rng.normal(0, 0.01), 0.2, 0.99))
            rows.append({"model": model, "dataset": dataset, "setting": setting, "metric": "top1", "value": value,
                         "source_top1": top1[m], "n_test": 2000})
        for setting, rate in (("finetune", 4.0), ("scratch", 1.0)):
            for step in range(0, 20001, 2000):
                curves.append({"setting": setting, "model": model, "dataset": dataset, "metric": "top1",
                               "step": step, "value": base * (1 - np.exp(-rate * (step + 500) / 20000)),
                               "lr": 0.01, "weight_decay": 0.0, "total_steps": 20000})
    accuracy, curves = pd.DataFrame(rows), pd.DataFrame(curves)
    sizes = dict(zip(MODELS, 10 ** rng.uniform(6, 8, len(MODELS))))  # parameters; FLOPs 150 per parameter
    accuracy = accuracy.assign(params=accuracy["model"].map(sizes), flops=accuracy["model"].map(sizes) * 150)
    return {"accuracy": accuracy, "convergence": curves, "steps_to_threshold": convergence.steps_to_threshold(curves),
            "source_properties": properties.property_table(accuracy)}


def ablation_tables(seed=0):
    """The ablation's tables for four architectures, each with every switch off, five variants and a mixed twin."""
    rng = np.random.default_rng(seed)
    variants = ["no_gamma", "ls", "dropout", "aux", "all"]
    rows = []
    for a, arch in enumerate(["inception_v3", "resnet50", "mobilenet_v2", "googlenet"]):
        for tag in ["none", *variants, "ls-dropout"]:
            model = arch if tag == "none" else f"{arch}.{tag}"
            top1 = 0.72 + 0.02 * a + (0 if tag == "none" else rng.normal(0.003, 0.004))
            for dataset in DATASETS[:6]:
                for setting in ("logistic_regression", "finetune"):
                    rows.append({"model": model, "dataset": dataset, "setting": setting, "value":
                                 float(np.clip(0.6 + 0.5 * (top1 - 0.72) + rng.normal(0, 0.02), 0.05, 0.95)),
                                 "source_top1": top1, "arch": arch, "n_test": 1000,
                                 "switches": "none" if tag == "none" else tag.replace("-", "+")})
    accuracy = pd.DataFrame(rows)
    mixed = [f"{arch}.ls-dropout" for arch in ["inception_v3", "resnet50", "mobilenet_v2", "googlenet"]]
    tsne_rows = [{"model": model, "switches": switches, "dataset": "dtd", "index": i, "label": i % 10,
                  "x": rng.normal(i % 10, 1), "y": rng.normal(i // 10 % 10, 1)}
                 for model, switches in (("inception_v3", "none"), ("inception_v3.all", "all")) for i in range(400)]
    return {"ablation": ablation.ablation_table(accuracy),
            "zoo_correlation": ablation.zoo_correlation_table(accuracy, mixed), "tsne": pd.DataFrame(tsne_rows)}


ESTIMATOR_NOISE = {"logme": 0.01, "leep": 0.03, "nce": 0.1, "hscore": 0.3, "sfda": 0.05, "transrate": 0.2,
                   "gbc": 0.05, "ncti": 0.04, "knn": 0.02}


def transferability_tables(seed=0):
    """The estimators' evaluation on the paper-shaped accuracy table: every estimator a
    noisy copy of the measured log odds, noisier on few-label subsets of 2, 5, 10 and 25 examples per class."""
    rng = np.random.default_rng(seed)
    accuracy = paper_shaped_tables(seed)["accuracy"]
    probes = accuracy[accuracy.setting == "logistic_regression"]
    rows = [{"model": row.model, "dataset": row.dataset, "estimator": estimator, "score": row.value + rng.normal(0, noise),
             "seconds": 0.5, "probe_seconds": 30.0}
            for row in probes.itertuples() for estimator, noise in ESTIMATOR_NOISE.items()]
    few = [{"model": row.model, "dataset": row.dataset, "examples_per_class": shots, "seed": draw,
            "estimator": estimator, "score": row.value + rng.normal(0, noise * 10 / shots)}
           for row in probes.itertuples() for shots in (2, 5, 10, 25) for draw in range(3)
           for estimator, noise in ESTIMATOR_NOISE.items()]
    return evaluation_tables(accuracy, pd.DataFrame(rows), pd.DataFrame(few))


def subset_tables(seed=0):
    """Training-set-size tables of the paper's shape: 16 networks, two datasets, five sizes and three seeds, both
    training arms and the probe."""
    rng = np.random.default_rng(seed)
    top1 = np.sort(rng.uniform(0.70, 0.83, len(MODELS)))
    rows = []
    for (m, model), dataset, setting in itertools.product(enumerate(MODELS), ["stanford_cars", "fgvc_aircraft"],
                                                          ["logistic_regression", "finetune", "scratch"]):
        for size in [2, 5, 10, 25, 50, "all"]:
            shots = 100 if size == "all" else size
            for seed_ in ([np.nan] if size == "all" else [0, 1, 2]):
                value = float(np.clip(0.2 + 0.15 * np.log(shots) + 0.9 * (top1[m] - 0.76) + rng.normal(0, 0.02),
                                      0.02, 0.98))
                rows.append({"setting": setting, "model": model, "dataset": dataset, "examples_per_class": str(size),
                             "seed": seed_, "value": value, "source_top1": top1[m], "n_test": 3000,
                             "capped_classes": 0})
    summary = subset_analysis.summary_table(pd.DataFrame(rows))
    return {"subsets_summary": summary, "subsets_correlation": subset_analysis.correlation_by_size(summary)}


def _texts(fig):
    """(text, display box) of every text drawn: tick labels only of ticks inside their axis's view (matplotlib
    keeps, undrawn, the labels of ticks beyond it)."""
    renderer = fig.canvas.get_renderer()
    tick_labels, drawn = set(), []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    tick_labels.add(label)
                    if label.get_visible() and label.get_text().strip() and low - 1e-9 <= tick.get_loc() <= high + 1e-9:
                        drawn.append(label)
    drawn += [t for t in fig.findobj(matplotlib.text.Text)
              if t not in tick_labels and t.get_visible() and t.get_text().strip()]
    return [(t.get_text(), t.get_window_extent(renderer)) for t in drawn]


def _points(fig):
    """Display coordinates of every scatter point and marker."""
    points = []
    for collection in fig.findobj(matplotlib.collections.PathCollection):
        offsets = collection.get_offsets()
        if len(offsets):
            points.append(collection.get_offset_transform().transform(offsets))
    for line in fig.findobj(matplotlib.lines.Line2D):
        if line.get_marker() not in (None, "None", "", " ") and line.get_linestyle() in ("None", "", " "):
            data = np.column_stack(line.get_data())
            if len(data) and line.axes is not None:
                points.append(line.get_transform().transform(data))
    return np.concatenate(points) if points else np.zeros((0, 2))


def _overlaps(boxes):
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if box_a.x0 < box_b.x1 - 0.5 and box_b.x0 < box_a.x1 - 0.5 and box_a.y0 < box_b.y1 - 0.5
            and box_b.y0 < box_a.y1 - 0.5]


def _draw(name, tables):
    fig = figures.FIGURES[name](**{table: tables[table] for table in FIGURE_TABLES[name]})
    fig.canvas.draw()
    return fig


@pytest.fixture(scope="module")
def every_table():
    return {**paper_shaped_tables(), **ablation_tables(), **transferability_tables(), **subset_tables()}


@pytest.mark.parametrize("name", list(figures.FIGURES))
def test_no_text_covers_another_or_a_data_point(name, every_table, tmp_path):
    fig = _draw(name, every_table)
    boxes = _texts(fig)
    assert not _overlaps(boxes), _overlaps(boxes)[:5]
    points = _points(fig)
    covered = [(text, int(np.sum((points[:, 0] > box.x0) & (points[:, 0] < box.x1) & (points[:, 1] > box.y0)
                                 & (points[:, 1] < box.y1)))) for text, box in boxes]
    assert not [c for c in covered if c[1]], [c for c in covered if c[1]][:5]
    plotting.save(fig, [tmp_path / f"{name}.png"])


def test_percent_ticks_are_round_and_enough():
    assert list(plotting.percent_ticks(0.70, 0.83) * 100) == pytest.approx([70, 72, 74, 76, 78, 80, 82])
    assert list(plotting.percent_ticks(0.05, 0.95) * 100) == pytest.approx([5, 20, 50, 70, 90])
    assert list(plotting.percent_ticks(0.971, 0.989, max_ticks=5) * 100) == pytest.approx([97.2, 97.6, 98.0, 98.4, 98.8])
    # A wide range: the logit axis's own round values, so the stretched top still has labels.
    assert list(plotting.percent_ticks(0.45, 0.99) * 100) == pytest.approx([50, 70, 90, 95, 98, 99])


def test_axes_have_four_round_percent_ticks_and_datasets_keep_the_studys_order():
    tables = paper_shaped_tables()
    fig = _draw("fig2_per_dataset", tables)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().split(" ")[0] for ax in panels[:12]] == DATASETS
    assert max(len(row) for row in np.array(panels[:12]).reshape(-1, 4)) == 4
    for ax in panels:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            shown = [label.get_text() for label in labels if label.get_text()]
            assert len(shown) >= 4, (ax.get_title(), shown)
            assert all(float(text) == round(float(text), 2) for text in shown)
    fig1 = _draw("fig1_imagenet_vs_transfer", tables)
    for ax in [ax for ax in fig1.axes if ax.get_title()]:
        low, high = ax.get_xlim()
        ticks = ax.get_xticks()
        assert len(ticks) >= 4 and ticks.min() >= low and ticks.max() <= high
