import json

import numpy as np
import pandas as pd
import pytest

from transferstudy.analysis import convergence
from transferstudy.analysis.stats import logit


def _curves(finetune, scratch, every=10, model="m", dataset="d"):
    rows = []
    for setting, values in (("finetune", finetune), ("scratch", scratch)):
        for i, value in enumerate(values):
            rows.append({"setting": setting, "model": model, "dataset": dataset, "metric": "top1",
                         "step": every * (i + 1), "value": value, "lr": 0.1, "weight_decay": 0.0,
                         "total_steps": every * len(values)})
    return pd.DataFrame(rows)


def test_threshold_is_a_fraction_of_the_best_odds_and_steps_are_the_first_crossing():
    curves = _curves([0.5, 0.78, 0.8, 0.79], [0.1, 0.3, 0.6, 0.7, 0.785, 0.8, 0.8, 0.8])
    row = convergence.steps_to_threshold(curves, fraction=0.9).iloc[0]
    # best 0.8: odds 4, threshold odds 3.6, accuracy 3.6 / 4.6 = 0.7826...
    assert row.best_value == 0.8 and row.threshold_value == pytest.approx(3.6 / 4.6)
    assert row.finetune_steps == 30 and row.scratch_steps == 50
    assert row.speedup == pytest.approx(50 / 30) and row.censored == "none"


def test_a_scratch_run_that_never_reaches_the_threshold_gives_a_lower_bound():
    curves = _curves([0.6, 0.9], [0.1, 0.2, 0.3, 0.4])
    row = convergence.steps_to_threshold(curves).iloc[0]
    assert np.isnan(row.scratch_steps) and row.censored == "scratch"
    assert row.finetune_steps == 20 and row.speedup == pytest.approx(40 / 20)


def test_a_fine_tune_run_that_never_reaches_it_gives_an_upper_bound():
    curves = _curves([0.2, 0.3], [0.1, 0.5, 0.9, 0.9])
    row = convergence.steps_to_threshold(curves).iloc[0]
    assert np.isnan(row.finetune_steps) and row.censored == "finetune"
    assert row.speedup == pytest.approx(30 / 20)


def test_pairs_without_both_settings_are_left_out_and_bad_fractions_refused():
    curves = _curves([0.5, 0.6], [0.5, 0.6])
    only_finetune = curves[curves.setting == "finetune"]
    assert convergence.steps_to_threshold(only_finetune).empty
    with pytest.raises(ValueError, match="outside"):
        convergence.steps_to_threshold(curves, fraction=1.5)


def test_a_threshold_in_log_odds_is_the_best_logit_plus_log_fraction():
    curves = _curves([0.3, 0.35], [0.1, 0.2])  # below 50%: a fraction of the log-odds would be meaningless
    row = convergence.steps_to_threshold(curves, fraction=0.5).iloc[0]
    assert logit(row.threshold_value) == pytest.approx(logit(0.35) + np.log(0.5))
    assert row.finetune_steps == 10 and row.censored == "scratch"


def test_curves_table_reads_selection_files(tmp_path):
    selection = {"setting": "finetune", "model": "m", "dataset": "d", "metric": "top1", "lr": 0.1,
                 "weight_decay": 0.0, "steps": 20, "history": [{"step": 10, "metric": 0.4, "loss": 1.0},
                                                               {"step": 20, "metric": 0.5, "loss": 0.9}]}
    path = tmp_path / "selected.json"
    path.write_text(json.dumps(selection))
    table = convergence.curves_table([path])
    assert list(table.step) == [10, 20] and list(table.value) == [0.4, 0.5]
    assert list(table.columns) == convergence.CURVE_COLUMNS and (table.total_steps == 20).all()
