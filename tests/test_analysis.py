import pandas as pd
import pytest

from transferstudy import cli
from transferstudy.analysis import catalogue, figures, tables

HAND_WRITTEN = """model,dataset,setting,metric,value,source_top1
alexnet,cars,logistic_regression,top1,0.35,0.57
resnet50,cars,logistic_regression,top1,0.52,0.76
vgg16,cars,logistic_regression,top1,0.45,0.72
densenet121,cars,logistic_regression,top1,0.50,0.74
alexnet,flowers,logistic_regression,mean_per_class,0.80,0.57
resnet50,flowers,logistic_regression,mean_per_class,0.93,0.76
vgg16,flowers,logistic_regression,mean_per_class,0.88,0.72
densenet121,flowers,logistic_regression,mean_per_class,0.91,0.74
alexnet,cars,finetune,top1,0.80,0.57
resnet50,cars,finetune,top1,0.91,0.76
vgg16,cars,finetune,top1,0.88,0.72
densenet121,cars,finetune,top1,0.90,0.74
"""


SCRATCH = """alexnet,cars,scratch,top1,0.70,0.57
resnet50,cars,scratch,top1,0.85,0.76
vgg16,cars,scratch,top1,0.84,0.72
densenet121,cars,scratch,top1,0.83,0.74
"""


def _curves():
    rows = []
    for model, speed in (("alexnet", 1), ("resnet50", 2), ("vgg16", 3), ("densenet121", 4)):
        for setting, total in (("finetune", 40), ("scratch", 80)):
            for step in range(10, total + 1, 10):
                rate = speed * (3 if setting == "finetune" else 1)
                rows.append({"setting": setting, "model": model, "dataset": "cars", "metric": "top1", "step": step,
                             "value": 0.9 * (1 - 0.5 ** (rate * step / 40)), "total_steps": total})
    return pd.DataFrame(rows)


def test_standalone_analysis_of_a_hand_written_table(tmp_path):
    csv = tmp_path / "accuracy.csv"
    csv.write_text(HAND_WRITTEN + SCRATCH)
    _curves().to_csv(tmp_path / "curves.csv", index=False)
    cli.main(["analysis", str(csv), "--out", str(tmp_path / "out"), "--convergence", str(tmp_path / "curves.csv")])
    out = tmp_path / "out"
    correlation = pd.read_csv(out / "correlation.csv")
    assert set(correlation.setting) == {"logistic_regression", "finetune", "scratch"}
    lr_mean = correlation[(correlation.setting == "logistic_regression") & (correlation.dataset == "mean (logit)")]
    assert lr_mean.pearson_r.iloc[0] > 0.9
    assert "\\begin{tabular}" in (out / "correlation.tex").read_text()
    matrix = pd.read_csv(out / "accuracy_matrix_logistic_regression.csv")
    assert list(matrix.model) == ["alexnet", "vgg16", "densenet121", "resnet50"]
    assert matrix.loc[matrix.model == "resnet50", "cars"].iloc[0] == pytest.approx(52.0)
    for name in catalogue.figures_for(["logistic_regression", "finetune", "scratch"]):
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
        assert (out / f"{name}.png").stat().st_size > 10_000
    assert not (out / "fig5_regularization_ablation.pdf").exists()  # no ablation in this table
    steps = pd.read_csv(out / "steps_to_threshold.csv")
    assert len(steps) == 4 and (steps.speedup > 1).all()
    speedup = pd.read_csv(out / "speedup.csv").set_index("pairs")
    reached = steps[steps.censored == "none"].speedup
    assert speedup.loc["both reached", "n_pairs"] == len(reached)
    assert speedup.loc["both reached", "median_speedup"] == pytest.approx(reached.median())
    assert len(reached) == 1 and speedup.loc["both reached", "note"] == "one pair: no interval"
    every = speedup.loc["all, censored as bounds"]
    assert every.n_pairs == 4 and every.low <= every.median_speedup == steps.speedup.median() <= every.high
    assert every.n_scratch_censored == (steps.censored == "scratch").sum() and "lower bounds" in every.note
    assert "$" not in (out / "correlation.tex").read_text() or "times 10^{" in (out / "correlation.tex").read_text()


def test_figures_whose_data_is_absent_are_skipped_not_drawn_empty(tmp_path):
    table = pd.read_csv(__import__("io").StringIO(HAND_WRITTEN))  # no scratch, no curves
    paths = {p.name for p in tables.analyse(table, tmp_path)}
    assert "fig3_finetune_vs_logistic.pdf" in paths and "fig4_pretrained_vs_random.pdf" not in paths
    assert catalogue.figures_for(["logistic_regression"]) == ["fig1_imagenet_vs_transfer", "fig2_per_dataset",
                                                             "fig11_source_properties"]
    assert "fig4_pretrained_vs_random" in catalogue.figures_for(["logistic_regression", "finetune", "scratch"])


def test_fine_tune_against_logistic_regression_counts_pairs_above_the_diagonal():
    table = pd.read_csv(__import__("io").StringIO(HAND_WRITTEN))
    fig = figures.fig3_finetune_vs_logistic(table)
    assert fig.axes[0].get_title() == "fine-tuning better in 4 of 4 pairs"


def test_two_models_give_a_message_in_the_figure_not_a_crash(tmp_path):
    table = pd.read_csv(__import__("io").StringIO(HAND_WRITTEN))
    table = table[table.model.isin(["alexnet", "resnet50"])]
    paths = tables.analyse(table, tmp_path)
    correlation = pd.read_csv(tmp_path / "correlation.csv")
    assert correlation.pearson_r.isna().all() and correlation.note.str.contains("fewer than 3").all()
    assert all(p.exists() for p in paths)


def test_every_figure_has_a_caption():
    assert set(catalogue.CAPTIONS) == set(figures.FIGURES)
    assert all(len(c) > 100 for c in catalogue.CAPTIONS.values())
