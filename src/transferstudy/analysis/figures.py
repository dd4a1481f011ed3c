"""Paper-style figures: each a function of the analysis tables, all in one shared style, each with a caption.

    python -m transferstudy figures fig1_imagenet_vs_transfer --accuracy accuracy.csv --out fig1.pdf
    python -m transferstudy figures fig4_pretrained_vs_random --accuracy accuracy.csv \
        --convergence convergence.csv --steps-to-threshold steps_to_threshold.csv --out fig4.pdf --out fig4.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from . import stats  # noqa: E402
from .catalogue import FIGURE_TABLES  # noqa: E402
from ..io import atomic_path  # noqa: E402
from ..switches import NO_SWITCHES  # noqa: E402

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
            x = stats.source_logit(part["source_top1"])
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
            ax.set_xlabel("Source top-1 accuracy (%)")
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
                x, y = stats.source_logit(part["source_top1"]), stats.transfer_logit(part)
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


def _pairs(accuracy, setting_x, setting_y):
    """(model, dataset) pairs with results in both settings: columns model, dataset, metric (where the table
    has it: it is optional), x, y."""
    accuracy = accuracy.assign(log_odds=stats.transfer_logit(accuracy))
    columns = [c for c in ("model", "dataset", "metric", "value", "log_odds") if c in accuracy]
    x = accuracy[accuracy.setting == setting_x][columns]
    y = accuracy[accuracy.setting == setting_y][["model", "dataset", "value", "log_odds"]]
    return x.merge(y, on=["model", "dataset"], suffixes=("_x", "_y")).rename(
        columns={"value_x": "x", "value_y": "y"})


def dataset_colors(datasets):
    cmap = plt.get_cmap("Dark2" if len(datasets) <= 8 else "tab20")
    return {dataset: cmap(i % cmap.N) for i, dataset in enumerate(sorted(datasets))}


def _paired_scatter(ax, pairs, colors, xlabel, ylabel, better_label):
    """Log-odds scatter of two settings' accuracies per (model, dataset), with the diagonal and a count of
    the pairs above it."""
    x, y = pairs["log_odds_x"], pairs["log_odds_y"]
    for dataset, part in pairs.groupby("dataset"):
        ax.scatter(part["log_odds_x"], part["log_odds_y"], s=14, color=colors[dataset], label=dataset, zorder=2)
    lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
    pad = 0.05 * (hi - lo or 1)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ls="--", color="0.5", lw=0.8, zorder=1)
    better = int((pairs["y"] > pairs["x"]).sum())
    ax.text(0.04, 0.96, f"{better_label} in {better} of {len(pairs)} pairs", transform=ax.transAxes, va="top")
    _logit_ticks(ax, np.concatenate([pairs["x"], pairs["y"]]), "x")
    _logit_ticks(ax, np.concatenate([pairs["x"], pairs["y"]]), "y")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_aspect("equal", adjustable="datalim")


def _no_pairs_figure(message):
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.3, 3.0))
        ax.text(0.5, 0.5, message, transform=ax.transAxes, ha="center", va="center", color="0.4", wrap=True)
        ax.set_axis_off()
    return fig


def fig3_finetune_vs_logistic(accuracy):
    """Fine-tuning against logistic regression on the same features' network, one point per (model,
    dataset), on log-odds axes with the diagonal (the paper: fine-tuning better in 179 of 192 pairs)."""
    stats.check_accuracy_table(accuracy)
    pairs = _pairs(accuracy, "logistic_regression", "finetune")
    if pairs.empty:
        return _no_pairs_figure("no (model, dataset) pair has both logistic-regression and fine-tune results")
    colors = dataset_colors(pairs["dataset"].unique())
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(3.6, 3.3))
        _paired_scatter(ax, pairs, colors, "Logistic regression accuracy (%)", "Fine-tuned accuracy (%)",
                        "fine-tuning better")
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def fig4_pretrained_vs_random(accuracy, convergence, steps_to_threshold):
    """Pretrained (fine-tuned) against random initialisation: (a) test accuracy per (model, dataset);
    (b) steps each needs to reach the threshold, censored runs as lower bounds; (c) validation curves per
    dataset, fine-tuning solid, scratch dashed, a colour per model."""
    stats.check_accuracy_table(accuracy)
    pairs = _pairs(accuracy, "scratch", "finetune")
    if pairs.empty:
        return _no_pairs_figure("no (model, dataset) pair has both fine-tune and scratch results")
    datasets = sorted(convergence["dataset"].unique())
    colors = dataset_colors(pairs["dataset"].unique())
    model_color = model_colors(accuracy.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    with plt.rc_context(STYLE):
        fig = plt.figure(figsize=(max(6.6, 2.2 * len(datasets)), 5.6), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.15, 1])
        ax_acc, ax_steps = top.subplots(1, 2)
        _paired_scatter(ax_acc, pairs, colors, "Random initialisation accuracy (%)", "Fine-tuned accuracy (%)",
                        "pretraining better")
        ax_acc.set_title("(a) test accuracy")

        # A censored run is plotted at its total steps (the bound the speed-up uses).
        steps = steps_to_threshold.assign(
            plot_finetune=steps_to_threshold["finetune_steps"].fillna(steps_to_threshold["finetune_total_steps"]),
            plot_scratch=steps_to_threshold["scratch_steps"].fillna(steps_to_threshold["scratch_total_steps"]))
        for dataset, part in steps.groupby("dataset"):
            for censored, marker in (("none", "o"), ("scratch", "^"), ("finetune", "v")):
                chosen = part[part["censored"] == censored]
                if len(chosen):
                    ax_steps.scatter(chosen["plot_finetune"], chosen["plot_scratch"], s=16,
                                     marker=marker, color=colors.get(dataset, "0.3"),
                                     facecolors="none" if censored != "none" else None, zorder=2)
        if len(steps):
            plotted = np.concatenate([steps["plot_finetune"], steps["plot_scratch"]])
            lo, hi = plotted.min() / 1.6, plotted.max() * 1.6
            ax_steps.plot([lo, hi], [lo, hi], ls="--", color="0.5", lw=0.8, zorder=1)
            ax_steps.set_xscale("log")
            ax_steps.set_yscale("log")
            ax_steps.set_xlim(lo, hi)
            ax_steps.set_ylim(lo, hi)
            for axis in (ax_steps.xaxis, ax_steps.yaxis):
                axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
                axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            exact = steps[steps["censored"] == "none"]["speedup"]
            text = (f"median speed-up {exact.median():.1f}x\nover {len(exact)} pair(s) reaching it" if len(exact)
                    else "no pair with both settings\nreaching the threshold")
            for setting, marker, label, bound in (("scratch", "^", "scratch", "lower"),
                                                  ("finetune", "v", "fine-tune", "upper")):
                n_censored = int((steps["censored"] == setting).sum())
                if n_censored:
                    text += f"\n{marker}: {n_censored} {label} run(s) never\nreached it ({bound} bounds)"
            ax_steps.text(0.97, 0.04, text, transform=ax_steps.transAxes, va="bottom", ha="right", fontsize=6.5)
        ax_steps.set_xlabel("Fine-tuning steps to threshold")
        ax_steps.set_ylabel("Scratch steps to threshold")
        ax_steps.set_title("(b) steps to threshold")
        handles = [plt.Line2D([], [], ls="", marker="o", ms=4, color=c, label=d) for d, c in colors.items()]
        ax_steps.legend(handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)

        axes = np.atleast_1d(bottom.subplots(1, max(len(datasets), 1), sharey=False))
        for ax, dataset in zip(axes, datasets):
            part = convergence[convergence["dataset"] == dataset]
            for (model, setting), curve in part.groupby(["model", "setting"]):
                curve = curve.sort_values("step")
                ax.plot(curve["step"], 100 * curve["value"], color=model_color.get(model, "0.3"),
                        ls="-" if setting == "finetune" else "--", lw=0.9)
            ax.set_title(f"(c) {dataset}", fontsize=7)
            ax.set_xlabel("training step")
        axes[0].set_ylabel("validation metric (%)")
        handles = [plt.Line2D([], [], color=c, label=m) for m, c in model_color.items()]
        handles += [plt.Line2D([], [], color="0.3", ls="-", label="fine-tuned"),
                    plt.Line2D([], [], color="0.3", ls="--", label="random init.")]
        bottom.legend(handles=handles, loc="outside right center", frameon=False)
    return fig


def _variant_label(row):
    """A variant's tag (``ls-dropout`` of ``mini_vgg.ls-dropout``), or its switches."""
    prefix = f"{row['baseline']}."
    return row["model"][len(prefix):] if row["model"].startswith(prefix) else row["switches"]


def fig5_regularization_ablation(ablation, zoo_correlation):
    """The regularisation ablation: per setting, each variant's change in transfer accuracy (mean log-odds
    change over datasets, 95% bootstrap interval over datasets) against its change in source top-1, against
    the same architecture trained with every switch off; last panel: correlation of source top-1 with
    transfer for the controlled zoo and the mixed-recipe zoo."""
    settings = [s for s in SETTING_TITLES if s in set(ablation["setting"]) and s != "scratch"]
    if not settings:
        return _no_pairs_figure("no model trained with pretraining switches has a baseline with results")
    colors = model_colors(sorted(ablation["arch"].unique()))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(settings) + 1, figsize=(3.3 * (len(settings) + 1), 3.2), squeeze=False)
        axes = axes[0]
        for ax, setting in zip(axes, settings):
            part = ablation[ablation["setting"] == setting]
            ax.axhline(0, color="0.5", lw=0.6, ls="--", zorder=0)
            ax.axvline(0, color="0.5", lw=0.6, ls="--", zorder=0)
            for _, row in part.iterrows():
                low, high = row["transfer_logit_low"], row["transfer_logit_high"]
                yerr = None if pd.isna(low) else [[row["transfer_logit_change"] - low],
                                                   [high - row["transfer_logit_change"]]]
                ax.errorbar(row["source_top1_change"], row["transfer_logit_change"], yerr=yerr, fmt="o", ms=4,
                            capsize=2, color=colors[row["arch"]], zorder=2)
                ax.annotate(_variant_label(row), (row["source_top1_change"], row["transfer_logit_change"]),
                            xytext=(3, 3), textcoords="offset points", fontsize=5.5, color="0.25")
            ax.set_title(SETTING_TITLES[setting])
            ax.set_xlabel("Source top-1 change (points)")
            ax.set_ylabel("Transfer change (mean log odds)")
        handles = [plt.Line2D([], [], ls="", marker="o", ms=4, color=c, label=a) for a, c in colors.items()]
        axes[len(settings) - 1].legend(handles=handles, loc="lower left", frameon=False, title="architecture")

        ax = axes[-1]
        means = zoo_correlation[zoo_correlation["dataset"] == stats.MEAN_OVER_DATASETS]
        zoo_style = {"controlled": ("o", "0.15", "controlled recipe"), "mixed": ("s", "tab:red", "mixed recipes")}
        labels = [s for s in SETTING_TITLES if s in set(means["setting"]) and s != "scratch"]
        for offset, (zoo, (marker, color, label)) in zip((-0.12, 0.12), zoo_style.items()):
            for i, setting in enumerate(labels):
                row = means[(means["zoo"] == zoo) & (means["setting"] == setting)]
                if row.empty or pd.isna(row["pearson_r"].iloc[0]):
                    continue
                r, low, high = row[["pearson_r", "pearson_low", "pearson_high"]].iloc[0]
                ax.errorbar(i + offset, r, yerr=[[r - low], [high - r]], fmt=marker, ms=4, capsize=2, color=color,
                            label=label if i == 0 else None)
        ax.axhline(0, color="0.5", lw=0.6, ls="--", zorder=0)
        ax.set_xticks(range(len(labels)), [SETTING_TITLES[s] for s in labels], rotation=15)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("r (source top-1 vs mean transfer)")
        ax.set_title("Controlled vs mixed recipes")
        ax.legend(loc="lower left", frameon=False)
        fig.tight_layout()
    return fig


def fig6_tsne(tsne):
    """t-SNE of one dataset's test-split penultimate features, a panel per model (every switch off first),
    points coloured by class; each panel gives the silhouette of the classes in the embedding."""
    from sklearn.metrics import silhouette_score

    order = sorted(tsne["model"].unique(),
                   key=lambda m: (tsne.loc[tsne.model == m, "switches"].iloc[0] != NO_SWITCHES, m))
    classes = sorted(tsne["label"].unique())
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(order), figsize=(3.0 * len(order), 3.1), squeeze=False)
        for ax, model in zip(axes[0], order):
            part = tsne[tsne["model"] == model]
            colors = [cmap(classes.index(label) % cmap.N) for label in part["label"]]
            ax.scatter(part["x"], part["y"], s=3, c=colors, linewidths=0)
            silhouette = silhouette_score(part[["x", "y"]], part["label"]) if len(classes) > 1 else float("nan")
            switches = str(part["switches"].iloc[0]).replace("+", ", ")
            ax.set_title(f"{model} (silhouette {silhouette:.2f})\nswitches: {switches}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        fig.suptitle(f"t-SNE of {tsne['dataset'].iloc[0]} test features ({len(part)} images, "
                     f"{len(classes)} classes)", fontsize=8)
        fig.tight_layout()
    return fig


FIGURES = {
    "fig1_imagenet_vs_transfer": fig1_imagenet_vs_transfer,
    "fig2_per_dataset": fig2_per_dataset,
    "fig3_finetune_vs_logistic": fig3_finetune_vs_logistic,
    "fig4_pretrained_vs_random": fig4_pretrained_vs_random,
    "fig5_regularization_ablation": fig5_regularization_ablation,
    "fig6_tsne": fig6_tsne,
}


def save(fig, paths):
    for path in paths:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=Path(path).suffix.lstrip("."), bbox_inches="tight")
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("figure", choices=sorted(FIGURES))
    for table in sorted({t for tables in FIGURE_TABLES.values() for t in tables}):
        parser.add_argument("--" + table.replace("_", "-"), help=f"{table} table (CSV)")
    parser.add_argument("--out", action="append", required=True, help="output file (.pdf, .png); repeatable")
    args = vars(parser.parse_args(argv))
    needed = FIGURE_TABLES[args["figure"]]
    missing = [table for table in needed if not args[table]]
    if missing:
        parser.error(f"{args['figure']} needs " + ", ".join("--" + t.replace("_", "-") for t in missing))
    save(FIGURES[args["figure"]](**{table: pd.read_csv(args[table]) for table in needed}), args["out"])
