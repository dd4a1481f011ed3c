import pandas as pd
import pytest

from transferstudy import analysis, figures

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


def test_standalone_analysis_of_a_hand_written_table(tmp_path):
    csv = tmp_path / "accuracy.csv"
    csv.write_text(HAND_WRITTEN)
    analysis.main([str(csv), "--out", str(tmp_path / "out")])
    out = tmp_path / "out"
    correlation = pd.read_csv(out / "correlation.csv")
    assert set(correlation.setting) == {"logistic_regression", "finetune"}
    lr_mean = correlation[(correlation.setting == "logistic_regression") & (correlation.dataset == "mean (logit)")]
    assert lr_mean.pearson_r.iloc[0] > 0.9
    assert "\\begin{tabular}" in (out / "correlation.tex").read_text()
    matrix = pd.read_csv(out / "accuracy_matrix_logistic_regression.csv")
    assert list(matrix.model) == ["alexnet", "vgg16", "densenet121", "resnet50"]
    assert matrix.loc[matrix.model == "resnet50", "cars"].iloc[0] == pytest.approx(52.0)
    for name in figures.FIGURES:
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
        assert (out / f"{name}.png").stat().st_size > 10_000


def test_two_models_give_a_message_in_the_figure_not_a_crash(tmp_path):
    table = pd.read_csv(__import__("io").StringIO(HAND_WRITTEN))
    table = table[table.model.isin(["alexnet", "resnet50"])]
    paths = analysis.analyse(table, tmp_path)
    correlation = pd.read_csv(tmp_path / "correlation.csv")
    assert correlation.pearson_r.isna().all() and correlation.note.str.contains("fewer than 3").all()
    assert all(p.exists() for p in paths)


def test_every_figure_has_a_caption():
    assert set(figures.CAPTIONS) == set(figures.FIGURES)
    assert all(len(c) > 100 for c in figures.CAPTIONS.values())
