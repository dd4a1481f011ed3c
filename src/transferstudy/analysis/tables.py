"""Tables and figures from any tidy accuracy table, so results produced elsewhere can be analysed too.

    python -m transferstudy analysis ACCURACY.csv --out DIR [--convergence CURVES.csv] [--mixed-zoo MODEL ...]
        [--transferability TRANSFERABILITY.csv] [--subsets SUBSETS.csv]

The table needs the columns model, dataset, setting, value (in [0, 1]) and source_top1; metric is used
where present. DIR receives correlation.csv/.tex, mixed_effects.csv, one accuracy matrix per setting
(.csv/.tex) and, as PDF and PNG, every figure whose settings the table holds. With validation curves
(the workflow's convergence.csv: setting, model, dataset, metric, step, value, total_steps), also
steps_to_threshold.csv, speedup.csv (the median speed-up) and the pretrained-vs-random figure. With
``--mixed-zoo MODEL ...`` (and the table's switches column), the regularisation ablation's tables and figure.
With the transferability estimators' scores (columns model, dataset, estimator, score; seconds and
probe_seconds where known), transferability_evaluation.csv, transferability_baselines.csv,
transferability_stability.csv and Figure 7 (``analysis.transferability``); with their scores on few-label subsets
too, transferability_few_labels_evaluation.csv and Figure 10.
With results on training-set-size subsets (the workflow's subsets.csv: setting, model, dataset,
examples_per_class, seed, value, source_top1; n_test where known), subsets_summary.csv,
subsets_correlation.csv and their figures (``analysis.subsets``).
A setting whose model x dataset matrix misses cells is refused, listing them, unless ``--incomplete
complete_submatrix`` (``stats.for_means``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from . import ablation, figures, plotting, properties, stats
from . import subsets as subsets_analysis
from . import transferability as transferability_analysis
from . import convergence as convergence_analysis
from .catalogue import FIGURE_TABLES, figures_for
from ..config import AnalysisOptions
from ..io import atomic_path, write_csv

log = logging.getLogger(__name__)


def accuracy_matrix(table, setting, incomplete="error"):
    """The paper's layout: a row per model (by source top-1), a column per dataset, accuracies in percent,
    and each model's mean log-odds accuracy over datasets (empty for a model left out of the complete
    sub-matrix)."""
    part = table[table["setting"] == setting]
    matrix = part.pivot(index="model", columns="dataset", values="value") * 100
    means = stats.model_means(part, incomplete).set_index("model")
    matrix.insert(0, "source_top1", part.groupby("model")["source_top1"].first() * 100)
    matrix["mean (log odds)"] = means["mean_logit"]
    return matrix.sort_values("source_top1").round(2).reset_index()


def latex_p_value(p):
    """A p-value for a LaTeX table: two decimals, or scientific notation below 0.01 (never "0.00")."""
    if pd.isna(p):
        return "--"
    if p >= 0.01:
        return f"{p:.2f}"
    mantissa, exponent = f"{p:.1e}".split("e")
    return f"${mantissa} \\times 10^{{{int(exponent)}}}$"


def write_latex(frame, path, caption, p_columns=()):
    """``frame`` as a LaTeX table (text escaped); ``p_columns`` printed by ``latex_p_value``."""
    frame, math = frame.copy(), {}
    for column in p_columns:  # placeholders, so that escaping leaves the p-values' math alone
        tokens = []
        for value in frame[column]:
            tokens.append(f"PVALUE{len(math)}X")
            math[tokens[-1]] = latex_p_value(value)
        frame[column] = tokens
    text = frame.to_latex(index=False, float_format="%.2f", na_rep="--", caption=caption.replace("%", "\\%"),
                          escape=True)
    for token, value in math.items():
        text = text.replace(token, value)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_tables(table, out_dir, seed=AnalysisOptions.seed, incomplete="error"):
    """Every table of the analysis into ``out_dir``; returns the paths written."""
    out_dir = Path(out_dir)
    correlation = stats.correlation_table(table, seed=seed, incomplete=incomplete)
    paths = [out_dir / "correlation.csv", out_dir / "correlation.tex", out_dir / "mixed_effects.csv"]
    write_csv(correlation, paths[0])
    columns = ["setting", "dataset", "n_models", "pearson_r", "pearson_low", "pearson_high", "pearson_p",
               "spearman_rho", "spearman_p"]
    write_latex(correlation[columns], paths[1], "Correlation of source top-1 with transfer accuracy (log odds): "
                "Pearson r with 95% bootstrap interval over models, Spearman rho, p-values.",
                p_columns=("pearson_p", "spearman_p"))
    write_csv(stats.mixed_effects_table(table, incomplete=incomplete), paths[2])
    paths += [out_dir / "source_properties.csv", out_dir / "source_properties_mixed.csv"]
    write_csv(properties.property_table(table, seed=seed, incomplete=incomplete), paths[-2])
    write_csv(properties.mixed_property_table(table, incomplete=incomplete), paths[-1])
    for setting in sorted(table["setting"].unique()):
        matrix = accuracy_matrix(table, setting, incomplete)
        csv, tex = out_dir / f"accuracy_matrix_{setting}.csv", out_dir / f"accuracy_matrix_{setting}.tex"
        write_csv(matrix, csv)
        write_latex(matrix, tex, f"Test accuracy (%) per model and dataset, {setting}.")
        paths += [csv, tex]
    return paths


def analyse(table, out_dir, curves=None, threshold=AnalysisOptions.convergence_threshold, mixed_zoo=None,
            incomplete="error", transferability=None, subsets=None, few_labels=None):
    """Tables and figures of one accuracy table (and, optionally, validation curves; the regularisation
    ablation's tables when a mixed-recipe zoo is named; the estimators' evaluation when their scores are given, and
    their selection from few labels with their few-label scores; the training-set-size tables when subset results
    are given) into ``out_dir``. ``incomplete``: what a setting
    whose model x dataset matrix misses cells does
    (``stats.for_means``); with ``complete_submatrix``, the figures show the complete sub-matrix too (the
    estimators' evaluation, per dataset, uses every model each dataset has)."""
    stats.check_accuracy_table(table)
    paths = write_tables(table, out_dir, incomplete=incomplete)
    if transferability is not None:
        evaluation = transferability_analysis.evaluation_tables(table, transferability, few_labels)
        for name, frame in evaluation.items():
            paths.append(Path(out_dir) / f"{name}.csv")
            write_csv(frame, paths[-1])
    if incomplete == "complete_submatrix":
        table = pd.concat(stats.for_means(table, incomplete).values(), ignore_index=True)
    tables = {"accuracy": table, "source_properties": pd.read_csv(Path(out_dir) / "source_properties.csv")}
    if curves is not None:
        tables["convergence"] = curves
        tables["steps_to_threshold"] = convergence_analysis.steps_to_threshold(curves, threshold)
        paths += [Path(out_dir) / "steps_to_threshold.csv", Path(out_dir) / "speedup.csv"]
        write_csv(tables["steps_to_threshold"], paths[-2])
        write_csv(convergence_analysis.speedup_summary(tables["steps_to_threshold"]), paths[-1])
    if mixed_zoo:
        written = ablation.write_ablation_tables(table, out_dir, mixed_zoo)
        tables.update({path.stem: pd.read_csv(path) for path in written})
        paths += written
    if transferability is not None:
        tables.update(evaluation)
    subset_settings = ()
    if subsets is not None:
        tables["subsets_summary"] = subsets_analysis.summary_table(subsets)
        tables["subsets_correlation"] = subsets_analysis.correlation_by_size(tables["subsets_summary"])
        for name in ("subsets_summary", "subsets_correlation"):
            paths.append(Path(out_dir) / f"{name}.csv")
            write_csv(tables[name], paths[-1])
        subset_settings = subsets["setting"].unique()
    for name in figures_for(table["setting"].unique(), extra_tables=tables, subset_settings=subset_settings):
        if not set(FIGURE_TABLES[name]) <= set(tables):
            log.info("%s skipped: it needs the %s table(s)", name, ", ".join(FIGURE_TABLES[name]))
            continue
        outputs = [Path(out_dir) / f"{name}.pdf", Path(out_dir) / f"{name}.png"]
        plotting.save(figures.FIGURES[name](**{t: tables[t] for t in FIGURE_TABLES[name]}), outputs)
        paths += outputs
    return paths
