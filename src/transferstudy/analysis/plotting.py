"""The figures' shared drawing: one style, colours per model and per dataset, the tick algorithm of a logit
(accuracy) axis, a fitted line with its band, points with their intervals, and saving. Figures are made as
Figure objects on an Agg canvas of their own: no pyplot, its backend selection or global state (and a fifth of a
second less at the start of every figure job).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from . import stats
from ..io import atomic_path

SETTING_TITLES = {"logistic_regression": "Logistic Regression", "finetune": "Fine-Tuned",
                  "scratch": "Trained from Random Init."}
STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 6.5, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.0, "pdf.fonttype": 42, "figure.dpi": 150,
}


def figure(**kwargs):
    """pyplot.figure without pyplot: a Figure drawn by Agg (a renderer for layout, PDF and PNG output)."""
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def subplots(nrows=1, ncols=1, *, figsize=None, layout=None, squeeze=True, **kwargs):
    """pyplot.subplots without pyplot: a Figure and its axes."""
    fig = figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, squeeze=squeeze, **kwargs)


def model_colors(models):
    cmap = matplotlib.colormaps.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {model: cmap(i % cmap.N) for i, model in enumerate(models)}


# Steps between labelled ticks of a percent axis, coarse to fine: 1-2-5 first, quarters where those do not fit.
PERCENT_STEPS = ((50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01), (25, 2.5, 0.25, 0.025))
MIN_TICKS, MAX_TICKS = 4, 7


def log_odds(p):
    return np.log(p / (1 - p))


# Round accuracies (percent) that stay apart on a logit axis however wide its range.
LOGIT_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 50, 70, 80, 90, 95, 98, 99, 99.5, 99.8, 99.9)


def _thinned(candidates, span, max_ticks):
    kept = []
    for tick in candidates:
        if not kept or log_odds(tick) - log_odds(kept[-1]) >= span / max_ticks:
            kept.append(tick)
    return kept


def _stepped(low, high, step):
    """The multiples of ``step`` (percent) inside (low, high) (fractions)."""
    values = np.arange(np.ceil(100 * low / step - 1e-9), np.floor(100 * high / step + 1e-9) + 1) * step / 100
    return values[(values > 0) & (values < 1)]


def percent_ticks(low, high, max_ticks=MAX_TICKS):
    """Round percentages inside (low, high) (fractions) for a logit axis: evenly stepped (the coarsest 1-2-5 step,
    else quarter step, giving ``MIN_TICKS`` to ``max_ticks`` ticks) where that spreads them over the axis, no two
    closer than half of 1/``max_ticks`` of it and no stretch without a tick longer than 1/4 of it (in log odds);
    otherwise the logit axis's own round values (1, 2, 5, 10, ..., 90, 95, 98, 99, ...), thinned to 1/``max_ticks``
    of the axis apart; failing both, every k-th multiple of the coarsest step with enough of them (at least
    ``MIN_TICKS`` of them, though that may exceed ``max_ticks``)."""
    span = log_odds(high) - log_odds(low)
    for steps in PERCENT_STEPS:
        for step in steps:
            ticks = _stepped(low, high, step)
            if not MIN_TICKS <= len(ticks) <= max_ticks:
                continue
            edges = log_odds(np.concatenate([[low], ticks, [high]]))
            if np.diff(log_odds(ticks)).min() >= 0.5 * span / max_ticks and np.diff(edges).max() <= 0.25 * span:
                return ticks
            break  # a finer step of this family would crowd the same stretch more
    kept = _thinned([t / 100 for t in LOGIT_TICKS if low <= t / 100 <= high], span, max_ticks)
    if len(kept) >= MIN_TICKS:
        return np.array(kept)
    ticks = np.asarray(next((t for step in PERCENT_STEPS[0] if len(t := _stepped(low, high, step)) >= MIN_TICKS),
                            kept))
    stride = next(k for k in range(int(np.ceil(len(ticks) / max_ticks)), 0, -1) if len(ticks[::k]) >= MIN_TICKS
                  or k == 1)
    return ticks[::stride]


def logit_ticks(ax, axis="x", max_ticks=MAX_TICKS):
    """Ticks at round accuracies on a logit-scaled axis, labelled in percent, for the axis's visible range
    (call once the axis's limits are final)."""
    get_limits, set_ticks, set_limits = ((ax.get_xlim, ax.set_xticks, ax.set_xlim) if axis == "x"
                                         else (ax.get_ylim, ax.set_yticks, ax.set_ylim))
    limits = get_limits()
    low, high = 1 / (1 + np.exp(-np.array(limits)))
    ticks = percent_ticks(low, high, max_ticks)
    set_ticks(log_odds(ticks), [f"{100 * t:g}" for t in ticks])
    set_limits(limits)


def fit_with_band(ax, x, y, color="0.3"):
    """Least-squares line with its 95% confidence band (statsmodels)."""
    grid = np.linspace(np.min(x), np.max(x), 50)
    mean, low, high = stats.ols_band(x, y, grid)
    ax.fill_between(grid, low, high, color=color, alpha=0.15, lw=0, zorder=0)
    ax.plot(grid, mean, color=color, lw=0.8, zorder=1)


def dataset_colors(datasets):
    """A colour per dataset, in the order given."""
    cmap = matplotlib.colormaps.get_cmap("Dark2" if len(datasets) <= 8 else "tab20")
    return {dataset: cmap(i % cmap.N) for i, dataset in enumerate(datasets)}


def square_limits(ax, values, pad=0.06):
    """The same limits on both axes (log-odds values), a margin around the data."""
    low, high = float(np.min(values)), float(np.max(values))
    margin = pad * (high - low or 1.0)
    ax.set_xlim(low - margin, high + margin)
    ax.set_ylim(low - margin, high + margin)
    return low - margin, high + margin


def point_and_range(ax, x, y, low, high, *, marker, color, label=None):
    """A point and its interval drawn as a vertical range: a percentile bootstrap interval need not contain its
    estimate, which symmetric-looking error bars (+- lengths) cannot show."""
    if not (pd.isna(low) or pd.isna(high)):
        ax.vlines(x, low, high, color=color, lw=0.9, zorder=2)
    ax.plot(x, y, marker=marker, ls="", ms=4, color=color, label=label, zorder=3)


def rows_per_dataset(ax, part, key, names, labels, datasets, colors, *, mean_dataset, columns, xlabel):
    """A row per name of ``part[key]`` on a [-1, 1] axis: the statistic ``columns[0]`` on each of ``datasets`` (a
    dot of its colour, side by side below the row) and on ``mean_dataset`` with its percentile interval
    (``columns[1:]``: a black diamond and range, which need not contain it); rows labelled by ``labels``."""
    value, low_column, high_column = columns
    ax.axvline(0, color="0.5", lw=0.6, ls="--", zorder=0)
    for i, name in enumerate(names):
        rows = part[part[key] == name]
        for j, dataset in enumerate(datasets):
            row = rows[rows["dataset"] == dataset]
            if row.empty or pd.isna(row[value].iloc[0]):
                continue
            offset = 0.12 + 0.25 * j / max(len(datasets) - 1, 1)
            ax.plot(row[value].iloc[0], i + offset, "o", ms=3, color=colors[dataset], zorder=2)
        mean = rows[rows["dataset"] == mean_dataset]
        if not mean.empty and not pd.isna(mean[value].iloc[0]):
            estimate, low, high = mean[[value, low_column, high_column]].iloc[0]
            if not pd.isna(low):
                ax.hlines(i, low, high, color="black", lw=0.9, zorder=3)
            ax.plot(estimate, i, "D", ms=4, color="black", zorder=3)
    ax.set_yticks(range(len(names)), [labels.get(name, name) for name in names])
    ax.set_ylim(len(names) - 0.4, -0.6)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(xlabel)


def dataset_legend(fig, colors, mean_label):
    """The legend of ``rows_per_dataset``: a dot per dataset, the black diamond for the mean."""
    handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=d) for d, c in colors.items()]
    handles.append(Line2D([], [], ls="", marker="D", ms=4, color="black", label=mean_label))
    fig.legend(handles=handles, loc="outside right center", frameon=False)


def message_figure(message):
    """A figure that says, in words, why there is nothing to draw."""
    with matplotlib.rc_context(STYLE):
        fig, ax = subplots(figsize=(3.3, 3.0))
        ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4", wrap=True)
        ax.set_axis_off()
    return fig


def save(fig, paths):
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), bbox_inches="tight")
