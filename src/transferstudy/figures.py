"""Paper-style figures: each a function of the accuracy table, all in one shared style.

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


def fig1_imagenet_vs_transfer(accuracy):
    """Average transfer accuracy (mean logit over datasets) against source top-1, one panel per setting."""
    stats.check_accuracy_table(accuracy)
    settings = [s for s in SETTING_TITLES if s in set(accuracy["setting"])]
    means = stats.model_means(accuracy)
    correlations = stats.correlation_table(accuracy)
    colors = model_colors(sorted(means["model"].unique(), key=lambda m: means.loc[means.model == m, "source_top1"].iloc[0]))
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
            if len(part) >= stats.MIN_MODELS and not pd.isna(summary["pearson_r"]):
                slope, intercept = np.polyfit(x, part["mean_logit"], 1)
                grid = np.linspace(x.min(), x.max(), 50)
                ax.plot(grid, intercept + slope * grid, color="0.3", lw=0.8, zorder=0)
                ax.text(0.04, 0.95, f"r = {summary['pearson_r']:.2f}", transform=ax.transAxes, va="top")
            else:
                ax.text(0.04, 0.95, str(summary["note"]), transform=ax.transAxes, va="top", fontsize=6)
            _logit_ticks(ax, part["source_top1"])
            ax.set_title(SETTING_TITLES[setting])
            ax.set_xlabel("Source (ImageNet stand-in) top-1 accuracy (%)")
            ax.set_ylabel("Transfer accuracy (log odds)")
        axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
        n_datasets = accuracy["dataset"].nunique()
        fig.suptitle(f"Average transfer over {n_datasets} datasets (error bars: s.e.m. across datasets)",
                     fontsize=7, y=1.02)
    return fig


FIGURES = {"fig1_imagenet_vs_transfer": fig1_imagenet_vs_transfer}


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
