"""Paper-style figures: each a function of the accuracy table, all in one shared style, each with a caption.

    python -m transferstudy.figures fig1_imagenet_vs_transfer accuracy.csv --out fig1.pdf [--out fig1.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import stats  # noqa: E402
from .io import atomic_path  # noqa: E402

SETTING_TITLES = {"logistic_regression": "Logistic Regression", "finetune": "Fine-Tuned",
                  "scratch": "Trained from Random Init."}
STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 6.5, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.alpha": 0.3, "grid.linewidth": 0.5, "lines.linewidth": 1.0, "pdf.fonttype": 42, "figure.dpi": 150,
}


def model_colors(models):
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {model: cmap(i % cmap.N) for i, model in enumerate(models)}


def _logit_ticks(ax, values, axis="x"):
    """Place ticks at round accuracies on a logit-scaled axis, labelled in percent."""
    lo, hi = np.min(values), np.max(values)
    candidates = np.array([1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 99.5, 99.9]) / 100
    inside = candidates[(candidates >= lo - 0.05) & (candidates <= hi + 0.05)]
    ticks = inside if len(inside) >= 2 else candidates[np.argsort(np.abs(candidates - (lo + hi) / 2))[:3]]
    setter = ax.set_xticks if axis == "x" else ax.set_yticks
    setter(stats.logit(ticks), [f"{100 * t:g}" for t in ticks])


def _fit_with_band(ax, x, y, color="0.3"):
    """Least-squares line with its 95% confidence band (statsmodels)."""
    grid = np.linspace(np.min(x), np.max(x), 50)
    mean, low, high = stats.ols_band(x, y, grid)
    ax.fill_between(grid, low, high, color=color, alpha=0.15, lw=0, zorder=0)
    ax.plot(grid, mean, color=color, lw=0.8, zorder=1)


def _r_label(row):
    """'r = 0.97 [0.80, 0.99]' from a correlation-table row, or its note."""
    if pd.isna(row["pearson_r"]):
        return str(row["note"])
    return f"r = {row['pearson_r']:.2f} [{row['pearson_low']:.2f}, {row['pearson_high']:.2f}]"


def _settings(accuracy):
    return [s for s in SETTING_TITLES if s in set(accuracy["setting"])]


def fig1_imagenet_vs_transfer(accuracy):
    """Average transfer accuracy (mean logit over datasets) against source top-1, one panel per setting."""
    stats.check_accuracy_table(accuracy)
    settings = _settings(accuracy)
    means = stats.model_means(accuracy)
    correlations = stats.correlation_table(accuracy)
    colors = model_colors(means.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(settings), figsize=(3.3 * len(settings), 3.0), squeeze=False)
        for ax, setting in zip(axes[0], settings):
            part = means[means["setting"] == setting].sort_values("source_top1")
            x = stats.logit(part["source_top1"])
            for (_, row), xi in zip(part.iterrows(), x):
                ax.errorbar(xi, row["mean_logit"], yerr=row["sem_logit"], fmt="o", ms=4, capsize=2,
                            color=colors[row["model"]], label=row["model"])
            summary = correlations[(correlations.setting == setting)
                                   & (correlations.dataset == stats.MEAN_OVER_DATASETS)].iloc[0]
            if not pd.isna(summary["pearson_r"]):
                _fit_with_band(ax, x, part["mean_logit"])
            ax.text(0.04, 0.95, _r_label(summary), transform=ax.transAxes, va="top")
            _logit_ticks(ax, part["source_top1"])
            ax.set_title(SETTING_TITLES[setting])
            ax.set_xlabel("Source (ImageNet stand-in) top-1 accuracy (%)")
            ax.set_ylabel("Transfer accuracy (log odds)")
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def fig2_per_dataset(accuracy):
    """Per-dataset scatter of logit transfer accuracy against source top-1: a row per setting, a column per
    dataset, each with its least-squares line, 95% band, and Pearson r with its bootstrap interval."""
    stats.check_accuracy_table(accuracy)
    settings = _settings(accuracy)
    datasets = sorted(accuracy["dataset"].unique())
    correlations = stats.correlation_table(accuracy)
    colors = model_colors(accuracy.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(settings), len(datasets), figsize=(2.1 * len(datasets), 2.1 * len(settings)),
                                 squeeze=False)
        for i, setting in enumerate(settings):
            for j, dataset in enumerate(datasets):
                ax = axes[i][j]
                part = accuracy[(accuracy.setting == setting) & (accuracy.dataset == dataset)]
                part = part.sort_values("source_top1")
                if part.empty:
                    ax.text(0.5, 0.5, "no results", transform=ax.transAxes, ha="center", va="center", color="0.5")
                    ax.set_xticks([])
                    ax.set_yticks([])
                    ax.set_title(dataset if i == 0 else "", fontsize=7)
                    continue
                x, y = stats.logit(part["source_top1"]), stats.logit(part["value"])
                ax.scatter(x, y, s=12, c=[colors[m] for m in part["model"]], zorder=2)
                row = correlations[(correlations.setting == setting) & (correlations.dataset == dataset)].iloc[0]
                if not pd.isna(row["pearson_r"]):
                    _fit_with_band(ax, x, y)
                ax.text(0.04, 0.96, _r_label(row), transform=ax.transAxes, va="top", fontsize=6)
                _logit_ticks(ax, part["source_top1"])
                metric = part["metric"].iloc[0] if "metric" in part else ""
                ax.set_title(f"{dataset} ({metric})" if i == 0 else "", fontsize=7)
                if j == 0:
                    ax.set_ylabel(f"{SETTING_TITLES[setting]}\ntransfer (log odds)")
                if i == len(settings) - 1:
                    ax.set_xlabel("source top-1 (%)")
        handles = [plt.Line2D([], [], ls="", marker="o", ms=4, color=c, label=m) for m, c in colors.items()]
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        fig.tight_layout()
    return fig


FIGURES = {"fig1_imagenet_vs_transfer": fig1_imagenet_vs_transfer, "fig2_per_dataset": fig2_per_dataset}

# What each figure shows and how it was computed (the report's captions).
CAPTIONS = {
    "fig1_imagenet_vs_transfer": (
        "Average transfer accuracy against source (ImageNet stand-in) top-1, one point per model and a panel "
        "per setting, as the paper's Figure 1. Transfer accuracy is the mean over datasets of each model's "
        "log-odds accuracy; error bars are the standard error of that mean across datasets. The x axis is "
        "logit-scaled. Line: least-squares fit with its 95% confidence band; r: Pearson correlation of "
        "logit(source top-1) with mean log-odds transfer accuracy, with a 95% bootstrap interval over models."),
    "fig2_per_dataset": (
        "Transfer accuracy (log odds) against source top-1 per dataset (columns) and setting (rows), one "
        "point per model. Line: least-squares fit with its 95% confidence band; r: Pearson correlation on "
        "log odds with a 95% bootstrap interval over models (10,000 paired resamples)."),
}


def save(fig, paths):
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figure", choices=sorted(FIGURES))
    parser.add_argument("accuracy", help="tidy accuracy CSV")
    parser.add_argument("--out", action="append", required=True, help="output file (.pdf, .png); repeatable")
    args = parser.parse_args(argv)
    save(FIGURES[args.figure](pd.read_csv(args.accuracy)), args.out)


if __name__ == "__main__":
    main()
