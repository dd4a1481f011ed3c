"""The regularisation ablation: what each pretraining switch does to source top-1 and to transfer.

Functions of the tidy accuracy table (its ``switches`` column says which switches each model's pretraining
turned on: ``none``, ``dropout``, ``label_smoothing+dropout``, ...; empty where the recipe is unknown, as for
downloaded networks). Each model with switches on is paired with the model of the same architecture trained
with none, and compared on every dataset both have results for:

- ``ablation_table``: per (setting, variant), the change in source top-1 and the mean change in transfer
  log-odds over datasets, with a percentile bootstrap interval over datasets;
- ``zoo_correlation_table``: the correlation of source top-1 with transfer for the controlled zoo (every
  switch off) against the mixed-recipe zoo (the paper's "public checkpoints" contrast);
- ``tsne_table``: a seeded t-SNE embedding of test-split penultimate features per model.

The ablation and zoo tables come with the analysis (``python -m transferstudy analysis ACCURACY.csv --out DIR
--mixed-zoo MODEL ...``); the t-SNE table from features files:

    python -m transferstudy ablation results/features/mini_vgg/textures.h5 \
        results/features/mini_vgg.all/textures.h5 --out tsne.csv
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import stats
from ..config import AnalysisOptions, TsneOptions
from ..errors import InputError
from ..io import read_split_file, write_csv
from ..switches import NO_SWITCHES

ABLATION_COLUMNS = ["setting", "arch", "model", "baseline", "switches", "n_datasets", "source_top1_change",
                    "source_logit_change", "transfer_logit_change", "transfer_logit_low", "transfer_logit_high",
                    "transfer_change", "datasets_worse", "note"]


def variant_pairs(accuracy):
    """``{variant: baseline}``: each model whose pretraining turned switches on, with the one model of its
    architecture trained with none. Architectures with several such models are refused (ambiguous)."""
    models = accuracy.drop_duplicates("model")[["model", "arch", "switches"]].dropna()
    baselines = models[models["switches"] == NO_SWITCHES]
    ambiguous = baselines[baselines.duplicated("arch", keep=False)]
    if len(ambiguous):
        raise InputError(f"accuracy table: architecture {ambiguous['arch'].iloc[0]!r} has several models trained "
                         f"with every switch off ({sorted(ambiguous['model'])}); the ablation needs one baseline")
    baseline_of = dict(zip(baselines["arch"], baselines["model"]))
    variants = models[(models["switches"] != NO_SWITCHES) & models["arch"].isin(baseline_of)]
    return {row.model: baseline_of[row.arch] for row in variants.itertuples()}


def ablation_table(accuracy, *, seed=AnalysisOptions.seed):
    """Per setting and variant: change against its baseline in source top-1 (points and log-odds) and in
    transfer (mean over datasets of the log-odds change, with its bootstrap interval over datasets; the mean
    change in points; how many datasets got worse)."""
    stats.check_accuracy_table(accuracy)
    if "switches" not in accuracy:
        raise InputError("accuracy table lacks the 'switches' column (which pretraining switches each model used)")
    pairs = variant_pairs(accuracy)
    rows = []
    for setting, part in accuracy.groupby("setting"):
        by_model = {model: rows_.set_index("dataset") for model, rows_ in part.groupby("model")}
        for variant, baseline in sorted(pairs.items()):
            if variant not in by_model or baseline not in by_model:
                continue
            ours, theirs = by_model[variant], by_model[baseline]
            common = sorted(set(ours.index) & set(theirs.index))
            source_v, source_b = ours["source_top1"].iloc[0], theirs["source_top1"].iloc[0]
            change = stats.transfer_logit(ours.loc[common]) - stats.transfer_logit(theirs.loc[common])
            low, high = stats.mean_interval(np.asarray(change), seed=seed)
            rows.append({
                "setting": setting, "arch": ours["arch"].iloc[0], "model": variant, "baseline": baseline,
                "switches": ours["switches"].iloc[0], "n_datasets": len(common),
                "source_top1_change": 100 * (source_v - source_b),
                "source_logit_change": float(stats.source_logit(source_v) - stats.source_logit(source_b)),
                "transfer_logit_change": float(np.mean(change)) if common else np.nan,
                "transfer_logit_low": low, "transfer_logit_high": high,
                "transfer_change": float(100 * np.mean(ours.loc[common, "value"] - theirs.loc[common, "value"]))
                if common else np.nan,
                "datasets_worse": int(np.sum(change < 0)),
                "note": "" if len(common) >= 2 else "fewer than 2 datasets: no interval",
            })
    return pd.DataFrame(rows).reindex(columns=ABLATION_COLUMNS)


def zoo_correlation_table(accuracy, mixed_models, *, seed=AnalysisOptions.seed):
    """The correlation table (``stats.correlation_table``) of the controlled zoo (the baselines of
    ``mixed_models``' architectures) and of the mixed-recipe zoo (``mixed_models``), with a ``zoo`` column
    and the models of each."""
    pairs = variant_pairs(accuracy)
    missing = [model for model in mixed_models if model not in pairs]
    if missing:
        raise InputError(f"mixed zoo: {missing} are not models with switches on and a baseline of their architecture "
                         f"in the accuracy table; variants there: {sorted(pairs)}")
    zoos = {"controlled": [pairs[model] for model in mixed_models], "mixed": list(mixed_models)}
    parts = []
    for zoo, members in zoos.items():
        table = stats.correlation_table(accuracy[accuracy["model"].isin(members)], seed=seed)
        parts.append(table.assign(zoo=zoo))
    combined = pd.concat(parts, ignore_index=True)
    return combined[["zoo"] + [c for c in combined.columns if c != "zoo"]]


def write_ablation_tables(accuracy, out_dir, mixed_models, *, seed=AnalysisOptions.seed):
    """ablation.csv and zoo_correlation.csv into ``out_dir``; returns their paths."""
    paths = [Path(out_dir) / "ablation.csv", Path(out_dir) / "zoo_correlation.csv"]
    write_csv(ablation_table(accuracy, seed=seed), paths[0])
    write_csv(zoo_correlation_table(accuracy, mixed_models, seed=seed), paths[1])
    return paths


TSNE_COLUMNS = ["model", "switches", "dataset", "index", "label", "x", "y"]


def tsne_table(features_paths, *, perplexity=TsneOptions.perplexity, max_points=TsneOptions.max_points,
               seed=AnalysisOptions.seed):
    """A t-SNE embedding (scikit-learn, seeded, PCA-initialised) of the test-split penultimate features in each
    features file (one per model, same dataset), one row per image. Beyond ``max_points`` test images, the
    same seeded stratified subset is embedded for every model."""
    from sklearn.manifold import TSNE
    from sklearn.model_selection import train_test_split

    frames, chosen, first_labels = [], None, None
    for path in features_paths:
        splits, attrs = read_split_file(path, ("features", "labels"), splits=("test",))
        x, labels = splits["test"]["features"], splits["test"]["labels"]
        if labels.ndim != 1:
            raise InputError(f"{path}: multi-label test labels; the t-SNE plot needs one class per image")
        if chosen is None:
            first_labels, chosen = labels, np.arange(len(labels))
            if len(labels) > max_points:
                chosen, _ = train_test_split(chosen, train_size=max_points, stratify=labels, random_state=seed)
                chosen = np.sort(chosen)
        if not np.array_equal(labels, first_labels):
            raise InputError(f"{path}: its test labels differ from {features_paths[0]}'s (another dataset, or "
                             "images skipped); the embeddings would not be comparable")
        x, labels = x[chosen], labels[chosen]
        # Standardised like the probe's input, so one wide feature does not decide the neighbourhoods.
        x = (x - x.mean(0)) / (x.std(0) + 1e-8)
        embedding = TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca",
                         random_state=seed).fit_transform(x)
        frames.append(pd.DataFrame({"model": attrs["model"], "switches": attrs.get("switches", ""),
                                    "dataset": attrs["dataset"], "index": chosen, "label": labels,
                                    "x": embedding[:, 0], "y": embedding[:, 1]}))
    return pd.concat(frames, ignore_index=True).reindex(columns=TSNE_COLUMNS)
