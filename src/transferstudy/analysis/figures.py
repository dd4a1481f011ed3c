"""Paper-style figures: each a function of the analysis tables, all in the one shared style of ``plotting``, each
with a caption.

    python -m transferstudy figures fig1_imagenet_vs_transfer --accuracy accuracy.csv --out fig1.pdf
    python -m transferstudy figures fig4_pretrained_vs_random --accuracy accuracy.csv \
        --convergence convergence.csv --steps-to-threshold steps_to_threshold.csv --out fig4.pdf --out fig4.png
"""

from __future__ import annotations

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from . import stats
from .plotting import (SETTING_TITLES, STYLE, dataset_colors, dataset_legend, figure, fit_with_band, logit_ticks,
                       message_figure, model_colors, point_and_range, rows_per_dataset, square_limits, subplots)
from .subsets import ALL, size_order, t_interval
from .transferability import MEAN_OVER_DATASETS as MEAN_OVER_ESTIMATOR_DATASETS
from ..settings import BASELINES
from ..switches import NO_SWITCHES


def _r_label(row):
    """'r = 0.97 [0.80, 0.99]' from a correlation-table row, or its note."""
    if pd.isna(row["pearson_r"]):
        return str(row["note"])
    return f"r = {row['pearson_r']:.2f} [{row['pearson_low']:.2f}, {row['pearson_high']:.2f}]"


def _settings(accuracy):
    return [s for s in SETTING_TITLES if s in set(accuracy["setting"])]


def _datasets(table):
    """The datasets in the table's order (the study's: the accuracy table keeps the config's order)."""
    return list(pd.unique(table["dataset"]))


def fig1_imagenet_vs_transfer(accuracy):
    """Average transfer accuracy (mean logit over datasets) against source top-1, one panel per setting."""
    stats.check_accuracy_table(accuracy)
    settings = _settings(accuracy)
    means = stats.model_means(accuracy)
    correlations = stats.correlation_table(accuracy)
    colors = model_colors(means.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(settings), figsize=(2.4 * len(settings), 2.5), squeeze=False,
                              layout="constrained")
        for ax, setting in zip(axes[0], settings):
            part = means[means["setting"] == setting].sort_values("source_top1")
            x = stats.source_logit(part["source_top1"])
            for (_, row), xi in zip(part.iterrows(), x):
                ax.errorbar(xi, row["mean_logit"], yerr=row["sem_logit"], fmt="o", ms=3.5, capsize=2,
                            color=colors[row["model"]], label=row["model"])
            summary = correlations[(correlations.setting == setting)
                                   & (correlations.dataset == stats.MEAN_OVER_DATASETS)].iloc[0]
            if not pd.isna(summary["pearson_r"]):
                fit_with_band(ax, x, part["mean_logit"])
            ax.margins(x=0.08, y=0.08)
            logit_ticks(ax, "x")
            # The r label is in the title, where it cannot cover a data point.
            ax.set_title(f"{SETTING_TITLES[setting]}\n{_r_label(summary)}", fontsize=8)
            ax.set_xlabel("Source top-1 accuracy (%)")
            ax.set_ylabel("Transfer accuracy (log odds)")
        fig.legend(handles=axes[0][-1].get_legend_handles_labels()[0], loc="outside right center", frameon=False)
    return fig


PANELS_PER_ROW = 4
VARIANT_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "<", ">", "h", "p")


def fig2_per_dataset(accuracy):
    """Per-dataset scatter of logit transfer accuracy against source top-1: for each setting, a panel per dataset
    it has results on (at most ``PANELS_PER_ROW`` to a row, in the study's order), each with its least-squares
    line, 95% band, and Pearson r with its bootstrap interval in the panel's title."""
    stats.check_accuracy_table(accuracy)
    settings = _settings(accuracy)
    panels = {setting: _datasets(accuracy[accuracy.setting == setting]) for setting in settings}
    correlations = stats.correlation_table(accuracy)
    colors = model_colors(accuracy.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    columns = min(PANELS_PER_ROW, max(len(datasets) for datasets in panels.values()))
    rows = {setting: -(-len(datasets) // columns) for setting, datasets in panels.items()}
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(sum(rows.values()), columns, squeeze=False, layout="constrained",
                              figsize=(1.75 * columns + 1.2, 1.75 * sum(rows.values())))
        first_row = 0
        for setting in settings:
            for j, dataset in enumerate(panels[setting]):
                ax = axes[first_row + j // columns][j % columns]
                part = accuracy[(accuracy.setting == setting) & (accuracy.dataset == dataset)]
                part = part.sort_values("source_top1")
                metric = f" ({part['metric'].iloc[0]})" if "metric" in part else ""
                x, y = stats.source_logit(part["source_top1"]), stats.transfer_logit(part)
                ax.scatter(x, y, s=10, c=[colors[m] for m in part["model"]], zorder=2)
                row = correlations[(correlations.setting == setting) & (correlations.dataset == dataset)].iloc[0]
                if not pd.isna(row["pearson_r"]):
                    fit_with_band(ax, x, y)
                ax.margins(0.1)
                logit_ticks(ax, "x", max_ticks=5)
                logit_ticks(ax, "y", max_ticks=5)
                ax.tick_params(labelsize=5.5)
                ax.set_title(f"{dataset}{metric}\n{_r_label(row)}", fontsize=6)
                if j % columns == 0:
                    ax.set_ylabel(f"{SETTING_TITLES[setting]}\ntransfer (%)", fontsize=6.5)
                ax.set_xlabel("source top-1 (%)", fontsize=6.5)
            for j in range(len(panels[setting]), rows[setting] * columns):
                axes[first_row + j // columns][j % columns].set_axis_off()
            first_row += rows[setting]
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=m) for m, c in colors.items()]
        fig.legend(handles=handles, loc="outside right center", frameon=False)
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


def _paired_scatter(ax, pairs, colors, xlabel, ylabel, better_label):
    """Log-odds scatter of two settings' accuracies per (model, dataset), with the diagonal and a count of
    the pairs above it."""
    for dataset in colors:
        part = pairs[pairs["dataset"] == dataset]
        ax.scatter(part["log_odds_x"], part["log_odds_y"], s=12, color=colors[dataset], label=dataset, zorder=2)
    low, high = square_limits(ax, np.concatenate([pairs["log_odds_x"], pairs["log_odds_y"]]))
    ax.plot([low, high], [low, high], ls="--", color="0.5", lw=0.8, zorder=1)
    ax.set_aspect("equal", adjustable="box")
    logit_ticks(ax, "x")
    logit_ticks(ax, "y")
    better = int((pairs["log_odds_y"] > pairs["log_odds_x"]).sum())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return f"{better_label} in {better} of {len(pairs)} pairs"


def fig3_finetune_vs_logistic(accuracy):
    """Fine-tuning against logistic regression on the same features' network, one point per (model,
    dataset), on log-odds axes with the diagonal (the paper: fine-tuning better in 179 of 192 pairs)."""
    stats.check_accuracy_table(accuracy)
    pairs = _pairs(accuracy, "logistic_regression", "finetune")
    if pairs.empty:
        return message_figure("no (model, dataset) pair has both logistic-regression and fine-tune results")
    colors = dataset_colors(_datasets(pairs))
    with matplotlib.rc_context(STYLE):
        fig, ax = subplots(figsize=(3.4, 2.9), layout="constrained")
        ax.set_title(_paired_scatter(ax, pairs, colors, "Logistic regression accuracy (%)",
                                     "Fine-tuned accuracy (%)", "fine-tuning better"), fontsize=8)
        fig.legend(loc="outside right center", frameon=False)
    return fig


def _steps_summary(steps):
    """The median speed-up over the pairs where both settings reached the threshold, in words."""
    exact = steps[steps["censored"] == "none"]["speedup"]
    if not len(exact):
        return "no pair with both settings reaching it"
    return f"median speed-up {exact.median():.1f}x over {len(exact)} pair(s)"


def fig4_pretrained_vs_random(accuracy, convergence, steps_to_threshold):
    """Pretrained (fine-tuned) against random initialisation: (a) test accuracy per (model, dataset);
    (b) steps each needs to reach the threshold, censored runs as bounds (open triangles); (c) validation
    curves per dataset (at most ``PANELS_PER_ROW`` to a row), fine-tuning solid, scratch dashed, a colour per
    model."""
    stats.check_accuracy_table(accuracy)
    pairs = _pairs(accuracy, "scratch", "finetune")
    if pairs.empty:
        return message_figure("no (model, dataset) pair has both fine-tune and scratch results")
    datasets = [d for d in _datasets(accuracy) if d in set(convergence["dataset"])]
    colors = dataset_colors([d for d in _datasets(accuracy) if d in set(pairs["dataset"])])
    model_color = model_colors(accuracy.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    columns = max(1, min(PANELS_PER_ROW, len(datasets)))
    curve_rows = max(1, -(-len(datasets) // columns))
    with matplotlib.rc_context(STYLE):
        fig = figure(figsize=(7.0, 2.9 + 1.8 * curve_rows), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[2.9, 1.8 * curve_rows])
        ax_acc, ax_steps = top.subplots(1, 2)
        better = _paired_scatter(ax_acc, pairs, colors, "Random initialisation accuracy (%)",
                                 "Fine-tuned accuracy (%)", "pretraining better")
        ax_acc.set_title(f"(a) test accuracy\n{better}", fontsize=8)

        # A censored run is plotted at its total steps (the bound the speed-up uses).
        steps = steps_to_threshold.assign(
            plot_finetune=steps_to_threshold["finetune_steps"].fillna(steps_to_threshold["finetune_total_steps"]),
            plot_scratch=steps_to_threshold["scratch_steps"].fillna(steps_to_threshold["scratch_total_steps"]))
        markers = {"none": ("o", "reached by both"), "scratch": ("^", "scratch never reached it (lower bound)"),
                   "finetune": ("v", "fine-tuning never reached it (upper bound)")}
        for dataset, part in steps.groupby("dataset"):
            for censored, (marker, _) in markers.items():
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
            ax_steps.set_aspect("equal", adjustable="box")
            for axis in (ax_steps.xaxis, ax_steps.yaxis):
                axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
                axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax_steps.set_xlabel("Fine-tuning steps to threshold")
        ax_steps.set_ylabel("Scratch steps to threshold")
        ax_steps.set_title(f"(b) steps to threshold\n{_steps_summary(steps)}", fontsize=8)
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=d) for d, c in colors.items()]
        handles += [Line2D([], [], ls="", marker=marker, ms=4, color="0.3", markerfacecolor="none"
                               if censored != "none" else "0.3", label=label)
                    for censored, (marker, label) in markers.items() if (steps["censored"] == censored).any()]
        top.legend(handles=handles, loc="outside right center", frameon=False)

        axes = np.atleast_2d(bottom.subplots(curve_rows, columns, squeeze=False))
        for k, ax in enumerate(axes.flat):
            if k >= len(datasets):
                ax.set_axis_off()
                continue
            dataset = datasets[k]
            part = convergence[convergence["dataset"] == dataset]
            for (model, setting), curve in part.groupby(["model", "setting"]):
                curve = curve.sort_values("step")
                ax.plot(curve["step"], 100 * curve["value"], color=model_color.get(model, "0.3"),
                        ls="-" if setting == "finetune" else "--", lw=0.9)
            ax.set_title(f"(c) {dataset}", fontsize=7)
            ax.set_xlabel("training step")
            if k % columns == 0:
                ax.set_ylabel("validation metric (%)")
        handles = [Line2D([], [], color=c, label=m) for m, c in model_color.items()
                   if m in set(convergence["model"])]
        handles += [Line2D([], [], color="0.3", ls="-", label="fine-tuned"),
                    Line2D([], [], color="0.3", ls="--", label="random init.")]
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
        return message_figure("no model trained with pretraining switches has a baseline with results")
    colors = model_colors(sorted(ablation["arch"].unique()))
    tags = sorted({_variant_label(row) for _, row in ablation.iterrows()})
    # A marker per variant, not a text label beside each point: labels would cover points and each other.
    marker_of = {tag: VARIANT_MARKERS[i % len(VARIANT_MARKERS)] for i, tag in enumerate(tags)}
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(settings) + 1, figsize=(2.4 * (len(settings) + 1) + 1.4, 2.6), squeeze=False,
                              layout="constrained")
        axes = axes[0]
        for ax, setting in zip(axes, settings):
            part = ablation[ablation["setting"] == setting]
            ax.axhline(0, color="0.5", lw=0.6, ls="--", zorder=0)
            ax.axvline(0, color="0.5", lw=0.6, ls="--", zorder=0)
            for _, row in part.iterrows():
                point_and_range(ax, row["source_top1_change"], row["transfer_logit_change"],
                                 row["transfer_logit_low"], row["transfer_logit_high"],
                                 marker=marker_of[_variant_label(row)], color=colors[row["arch"]])
            ax.set_title(SETTING_TITLES[setting])
            ax.set_xlabel("Source top-1 change (points)")
            ax.set_ylabel("Transfer change (mean log odds)")
        handles = [Line2D([], [], ls="", marker="o", ms=4, color=c, label=a) for a, c in colors.items()]
        handles += [Line2D([], [], ls="", marker=marker_of[t], ms=4, color="0.3", label=t) for t in tags]
        fig.legend(handles=handles, loc="outside right center", frameon=False, title="architecture, variant")

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
                point_and_range(ax, i + offset, r, low, high, marker=marker, color=color,
                                 label=label if i == 0 else None)
        ax.axhline(0, color="0.5", lw=0.6, ls="--", zorder=0)
        ax.set_xticks(range(len(labels)), [SETTING_TITLES[s] for s in labels], rotation=15)
        ax.set_xlim(-0.5, len(labels) - 0.5)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("r (source top-1 vs mean transfer)")
        ax.set_title("Controlled vs mixed recipes")
        ax.legend(loc="lower left", frameon=False)
    return fig


def fig6_tsne(tsne):
    """t-SNE of one dataset's test-split penultimate features, a panel per model (every switch off first),
    points coloured by class; each panel gives the silhouette of the classes in the embedding."""
    from sklearn.metrics import silhouette_score

    order = sorted(tsne["model"].unique(),
                   key=lambda m: (tsne.loc[tsne.model == m, "switches"].iloc[0] != NO_SWITCHES, m))
    classes = sorted(tsne["label"].unique())
    cmap = matplotlib.colormaps.get_cmap("tab20" if len(classes) > 10 else "tab10")
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(order), figsize=(3.0 * len(order), 3.1), squeeze=False)
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


ESTIMATOR_LABELS = {"source_top1": "source top-1", "params": "parameters", "flops": "FLOPs", "knn": "k-NN accuracy",
                    "logme": "LogME", "leep": "LEEP", "nce": "NCE", "hscore": "H-score (shrinkage)", "sfda": "SFDA",
                    "transrate": "TransRate", "gbc": "GBC", "ncti": "NCTI"}


def fig7_transferability(transferability_evaluation):
    """Transferability estimators judged against measured transfer: per setting, each estimator's weighted
    Kendall tau with the models' accuracy on each dataset (a colour per dataset) and its mean over datasets with
    a 95% bootstrap interval over datasets (black); the baselines first, above a dotted line."""
    table = transferability_evaluation
    settings = [s for s in SETTING_TITLES if s in set(table["setting"])]
    if not settings:
        return message_figure("no transfer setting in the transferability evaluation")
    estimators = list(pd.unique(table["estimator"]))
    datasets = [d for d in pd.unique(table["dataset"])  # those with a statistic (three models or more)
                if d != MEAN_OVER_ESTIMATOR_DATASETS and table.loc[table["dataset"] == d, "weighted_tau"].notna().any()]
    colors = dataset_colors(datasets)
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(settings), figsize=(2.6 * len(settings) + 1.3, 0.45 * len(estimators) + 1.0),
                              squeeze=False, sharey=True, layout="constrained")
        baselines = sum(estimator in BASELINES for estimator in estimators)
        for ax, setting in zip(axes[0], settings):
            rows_per_dataset(ax, table[table["setting"] == setting], "estimator", estimators, ESTIMATOR_LABELS,
                             datasets, colors, mean_dataset=MEAN_OVER_ESTIMATOR_DATASETS,
                             columns=("weighted_tau", "tau_low", "tau_high"),
                             xlabel="Weighted Kendall tau with accuracy")
            if 0 < baselines < len(estimators):  # the baselines above, the scores below
                ax.axhline(baselines - 0.5, color="0.5", lw=0.6, ls=":", zorder=0)
            ax.set_title(SETTING_TITLES[setting])
        dataset_legend(fig, colors, "mean (95% CI)")
    return fig


def _size_axis(ax, sizes):
    """A log axis of examples per class with the full training split ('all') one step past the largest size;
    returns {size: x}."""
    where = {size: float(size) for size in sizes if size != ALL}
    if ALL in sizes:
        where[ALL] = max(where.values(), default=1.0) * 2.5
    ax.set_xscale("log")
    ax.set_xticks(sorted(where.values()), [str(size) for size in sorted(where, key=where.get)])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlim(min(where.values()) / 1.4, max(where.values()) * 1.4)
    return where


def _sizes(table):
    return sorted(pd.unique(table["examples_per_class"].astype(str)), key=size_order)


def fig8_training_set_size(subsets_summary, subsets_correlation):
    """Transfer accuracy against examples per class, a row per setting and a panel per dataset (a line per model,
    mean over seeds with its t-interval), and the correlation of source top-1 with transfer at each size."""
    summary = subsets_summary.assign(examples_per_class=subsets_summary["examples_per_class"].astype(str))
    correlation = subsets_correlation.assign(
        examples_per_class=subsets_correlation["examples_per_class"].astype(str))
    settings = [s for s in SETTING_TITLES if s in set(summary["setting"])]
    datasets = _datasets(summary)
    sizes = _sizes(summary)
    colors = model_colors(summary.drop_duplicates("model").sort_values("source_top1")["model"].tolist())
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(len(settings), len(datasets) + 1, squeeze=False, layout="constrained",
                              figsize=(1.9 * (len(datasets) + 1) + 1.2, 1.9 * len(settings) + 0.3))
        for row, setting in enumerate(settings):
            for column, dataset in enumerate(datasets):
                ax = axes[row][column]
                part = summary[(summary.setting == setting) & (summary.dataset == dataset)]
                where = _size_axis(ax, sizes)
                for model, curve in part.groupby("model", sort=False):
                    curve = curve.assign(x=curve["examples_per_class"].map(where).astype(float)).sort_values("x")
                    ax.plot(curve["x"], 100 * curve["mean"], "-o", ms=2.5, lw=0.9, color=colors[model])
                    ax.fill_between(curve["x"], 100 * curve["low"].fillna(curve["mean"]),
                                    100 * curve["high"].fillna(curve["mean"]), color=colors[model], alpha=0.15, lw=0)
                ax.set_title(dataset if row == 0 else "", fontsize=7)
                ax.tick_params(labelsize=6)
                if column == 0:
                    ax.set_ylabel(f"{SETTING_TITLES[setting]}\ntest accuracy (%)", fontsize=6.5)
                if row == len(settings) - 1:
                    ax.set_xlabel("examples per class", fontsize=6.5)
            ax = axes[row][-1]
            part = correlation[(correlation.setting == setting) & (correlation.dataset == stats.MEAN_OVER_DATASETS)]
            part = part[part["pearson_r"].notna()]
            where = _size_axis(ax, sizes)
            x = part["examples_per_class"].map(where).to_numpy(float)
            # A percentile interval need not contain its estimate: drawn as a range, not as +- errors.
            ax.vlines(x, part["pearson_low"].to_numpy(float), part["pearson_high"].to_numpy(float), color="black",
                      lw=0.9)
            ax.plot(x, part["pearson_r"].to_numpy(float), "-D", ms=3, color="black")
            ax.axhline(0, color="0.5", lw=0.6, ls="--", zorder=0)
            ax.set_ylim(-1.05, 1.05)
            ax.tick_params(labelsize=6)
            ax.set_title("r (source top-1, mean transfer)" if row == 0 else "", fontsize=7)
            if row == len(settings) - 1:
                ax.set_xlabel("examples per class", fontsize=6.5)
        handles = [Line2D([], [], color=c, marker="o", ms=3, label=m) for m, c in colors.items()]
        fig.legend(handles=handles, loc="outside right center", frameon=False)
    return fig


def fig9_subsets_pretrained_vs_random(subsets_summary):
    """Fine-tuning (solid) against training from scratch (dashed) per dataset as the training set shrinks: the
    mean over the arm's models of their mean over seeds, with a 95% t-interval over models."""
    summary = subsets_summary.assign(examples_per_class=subsets_summary["examples_per_class"].astype(str))
    summary = summary[summary["setting"].isin(["finetune", "scratch"])]
    if set(summary["setting"]) != {"finetune", "scratch"}:
        return message_figure("fine-tuning and training from scratch were not both run on subsets")
    datasets = [d for d in _datasets(summary) if summary[summary.dataset == d]["setting"].nunique() == 2]
    sizes = _sizes(summary)
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(datasets), squeeze=False, layout="constrained",
                              figsize=(2.3 * len(datasets) + 1.3, 2.4))
        for ax, dataset in zip(axes[0], datasets):
            where = _size_axis(ax, sizes)
            for setting, style in (("finetune", "-"), ("scratch", "--")):
                part = summary[(summary.setting == setting) & (summary.dataset == dataset)]
                grouped = [(size, group["mean"].to_numpy()) for size, group in part.groupby("examples_per_class")]
                grouped.sort(key=lambda item: where[item[0]])
                x = [where[size] for size, _ in grouped]
                means = np.array([values.mean() for _, values in grouped])
                bands = np.array([t_interval(values) for _, values in grouped], float)
                ax.plot(x, 100 * means, style, marker="o", ms=3, color="black", label=SETTING_TITLES[setting])
                ax.fill_between(x, 100 * np.where(np.isnan(bands[:, 0]), means, bands[:, 0]),
                                100 * np.where(np.isnan(bands[:, 1]), means, bands[:, 1]), color="0.5", alpha=0.2,
                                lw=0)
            ax.set_title(dataset, fontsize=8)
            ax.set_xlabel("examples per class")
            ax.set_ylabel("test accuracy (%)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", frameon=False)
    return fig


def fig10_few_label_selection(transferability_few_labels_evaluation):
    """Selection from few labels: per setting, each estimator's weighted Kendall tau with the models' accuracy on
    the full data, mean over datasets, when the estimator is computed from k examples per class (the full training
    split last, 'all'); the baselines that need no labels (source top-1, parameters, FLOPs) as horizontal lines."""
    table = transferability_few_labels_evaluation
    table = table[table["dataset"] == MEAN_OVER_ESTIMATOR_DATASETS] if len(table) else table
    settings = [s for s in SETTING_TITLES if s in set(table["setting"])]
    if not settings or set(table["examples_per_class"].astype(str)) <= {ALL}:
        return message_figure("no few-label subsets scored (transferability.examples_per_class, single-label "
                              "datasets)")
    sizes = _sizes(table)
    estimators = list(pd.unique(table["estimator"]))
    colors = model_colors(estimators)
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(settings), figsize=(3.4 * len(settings) + 1.6, 3.0), squeeze=False,
                              sharey=True, layout="constrained")
        for ax, setting in zip(axes[0], settings):
            where = _size_axis(ax, sizes)
            part = table[table["setting"] == setting]
            for estimator in estimators:
                rows = part[part["estimator"] == estimator].dropna(subset=["weighted_tau"])
                label = ESTIMATOR_LABELS.get(estimator, estimator)
                if set(rows["examples_per_class"].astype(str)) == {ALL}:  # scored without labels: no curve
                    ax.axhline(rows["weighted_tau"].iloc[0], color=colors[estimator], lw=0.9, ls="--", label=label)
                    continue
                rows = rows.sort_values("examples_per_class", key=lambda c: c.astype(str).map(size_order))
                ax.plot([where[str(k)] for k in rows["examples_per_class"]], rows["weighted_tau"], "o-", ms=3,
                        color=colors[estimator], label=label)
            ax.axhline(0, color="0.5", lw=0.6, ls=":", zorder=0)
            ax.set_ylim(-1.05, 1.05)
            ax.set_xlabel("Examples per class the score sees")
            ax.set_title(SETTING_TITLES[setting])
        axes[0][0].set_ylabel("Weighted Kendall tau with\nfull-data accuracy (mean over datasets)")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right center", frameon=False)
    return fig


PROPERTY_LABELS = {"source_top1": "source top-1", "imagenet_real_top1": "ReaL top-1", "imagenet_v2_top1": "V2 top-1",
                   "imagenet_sketch_top1": "Sketch top-1", "imagenet_r_top1": "ImageNet-R top-1",
                   "imagenet_a_top1": "ImageNet-A top-1", "params": "parameters", "flops": "FLOPs",
                   "pretraining_data": "more pretraining data"}


def fig11_source_properties(source_properties):
    """Which source property predicts transfer: per setting, each property's Pearson r with transfer accuracy
    (log odds) on each dataset (a colour per dataset) and on the mean over datasets with its 95% bootstrap
    interval over models (black)."""
    table = source_properties
    settings = [s for s in SETTING_TITLES if s in set(table["setting"])]
    if not settings:
        return message_figure("no setting in the source-property table")
    # A property with no correlation anywhere (no model has it, or it is constant) is named in the table, not drawn.
    drawn = table.groupby("property", sort=False)["pearson_r"].apply(lambda r: r.notna().any())
    properties = list(drawn.index[drawn])
    datasets = [d for d in pd.unique(table["dataset"]) if d != stats.MEAN_OVER_DATASETS]
    colors = dataset_colors(datasets)
    with matplotlib.rc_context(STYLE):
        fig, axes = subplots(1, len(settings), figsize=(2.6 * len(settings) + 1.3, 0.55 * len(properties) + 1.2),
                              squeeze=False, sharey=True, layout="constrained")
        for ax, setting in zip(axes[0], settings):
            rows_per_dataset(ax, table[table["setting"] == setting], "property", properties, PROPERTY_LABELS,
                             datasets, colors, mean_dataset=stats.MEAN_OVER_DATASETS,
                             columns=("pearson_r", "pearson_low", "pearson_high"),
                             xlabel="Pearson r with transfer (log odds)")
            ax.set_title(SETTING_TITLES[setting])
        dataset_legend(fig, colors, "mean over datasets (95% CI)")
    return fig


FIGURES = {
    "fig1_imagenet_vs_transfer": fig1_imagenet_vs_transfer,
    "fig2_per_dataset": fig2_per_dataset,
    "fig3_finetune_vs_logistic": fig3_finetune_vs_logistic,
    "fig4_pretrained_vs_random": fig4_pretrained_vs_random,
    "fig5_regularization_ablation": fig5_regularization_ablation,
    "fig6_tsne": fig6_tsne,
    "fig7_transferability": fig7_transferability,
    "fig8_training_set_size": fig8_training_set_size,
    "fig9_subsets_pretrained_vs_random": fig9_subsets_pretrained_vs_random,
    "fig10_few_label_selection": fig10_few_label_selection,
    "fig11_source_properties": fig11_source_properties,
}
