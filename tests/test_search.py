import json

import pytest

from workflow_runs import run_snakemake
from transferstudy.transfer import search


def _result(tmp_path, lr, wd, metric, steps, rung=0, **extra):
    result = {"model": "m", "dataset": "d", "setting": "finetune", "fit": "train", "metric": "top1", "lr": lr,
              "weight_decay": wd, "value": metric, "diverged_at_step": None if metric is not None else 3,
              "history": [{"step": steps, "metric": metric}], "recipe": {"steps": steps}, "config_hash": f"{lr}-{wd}",
              **extra}
    path = tmp_path / f"rung{rung}_lr{lr}_wd{wd}.json"
    path.write_text(json.dumps(result))
    return path


def test_rung_plan_grows_steps_by_eta_and_stops_where_one_point_would_be_left():
    # The paper's 7 x 8 grid of 20,000 steps: 56, 19 and 7 points; 35% of the full grid's steps.
    plan = search.rung_plan(56, 20000, 3, 3)
    assert plan == [(56, 2223), (19, 6667), (7, 20000)]
    assert sum(points * steps for points, steps in plan) / (56 * 20000) == pytest.approx(0.349, abs=0.001)
    # The last rung always trains for the full steps; a rung of one point is left out, the others move up.
    assert search.rung_plan(12, 90, 3, 3) == [(12, 10), (4, 30), (2, 90)]
    assert search.rung_plan(9, 90, 3, 3) == [(9, 30), (3, 90)]
    assert search.rung_plan(2, 60, 3, 3) == [(2, 60)]  # too few points to halve: the grid itself
    assert search.rung_plan(6, 60, 2, 2) == [(6, 30), (3, 60)]


def test_a_rung_promotes_its_best_points_never_a_diverged_one(tmp_path):
    paths = [_result(tmp_path, 0.1, 0.0, 0.5, 10), _result(tmp_path, 0.01, 0.0, 0.7, 10),
             _result(tmp_path, 1.0, 0.0, None, 10), _result(tmp_path, 0.03, 0.0, 0.7, 10)]
    record = search.promote(paths, 2, tmp_path / "promoted.json")
    # Ties go to the smaller learning rate, as in the selection.
    assert record["promoted"] == [{"lr": 0.01, "weight_decay": 0.0}, {"lr": 0.03, "weight_decay": 0.0}]
    assert [point["promoted"] for point in record["points"]] == [True, True, False, False]
    assert search.promoted_points(tmp_path / "promoted.json") == [(0.01, 0.0), (0.03, 0.0)]
    # Fewer finished points than places: only the finished ones go on.
    assert len(search.promote(paths, 4)["promoted"]) == 3
    search.check_promoted(tmp_path / "promoted.json", 0.03, 0.0)
    with pytest.raises(ValueError, match=r"promoted.json does not promote lr 0.1, weight decay 0 \(it promotes lr "
                                         r"0.01, wd 0, lr 0.03, wd 0\)"):
        search.check_promoted(tmp_path / "promoted.json", 0.1, 0.0)
    with pytest.raises(ValueError, match="every grid point diverged"):
        search.promote([paths[2]], 1)


def test_the_selection_records_every_rung_and_how_far_each_point_went(tmp_path):
    rung0 = [_result(tmp_path, lr, 0.0, metric, 10) for lr, metric in ((0.1, 0.5), (0.01, 0.6), (0.03, 0.4))]
    search.promote(rung0, 2, tmp_path / "promoted0.json")
    rung1 = [_result(tmp_path, lr, 0.0, metric, 30, rung=1) for lr, metric in ((0.1, 0.8), (0.01, 0.7))]
    selection = search.select_hyperparameters(rung1, tmp_path / "selected.json", rungs=[tmp_path / "promoted0.json"])
    assert (selection["lr"], selection["val_metric"], selection["steps"]) == (0.1, 0.8, 30)
    found = selection["search"]
    assert found["method"] == "successive_halving" and [r["steps"] for r in found["rungs"]] == [10, 30]
    assert {(p["lr"], p["rung"]) for p in found["rung_reached"]} == {(0.1, 1), (0.01, 1), (0.03, 0)}
    assert found["steps_spent"] == 3 * 10 + 2 * 30
    assert search.select_hyperparameters(rung0)["search"] == {"method": "grid"}


def test_a_selection_made_by_another_search_is_named_with_what_differs():
    grid = [(0.03, 0.0), (0.1, 0.0)]
    made = {"search": {"method": "grid"}, "grid": [{"lr": lr, "weight_decay": wd} for lr, wd in grid]}
    assert search.search_mismatch(made, "grid", grid, []) is None
    assert "made by a grid search; the config asks for successive_halving" in search.search_mismatch(
        made, "successive_halving", grid, [(2, 5), (1, 10)])
    assert "the config's grid is [(0.01, 0.0), (0.03, 0.0), (0.1, 0.0)]" in search.search_mismatch(
        made, "grid", [(0.01, 0.0), *grid], [])
    halving = {"search": {"method": "successive_halving", "rungs": [{"steps": 5, "points": made["grid"]},
                                                                    {"steps": 10, "points": made["grid"][:1]}]}}
    assert search.search_mismatch(halving, "successive_halving", grid, [(2, 5), (1, 10)]) is None
    assert "its rungs trained [5, 10] steps; the config's plan is [3, 12]" in search.search_mismatch(
        halving, "successive_halving", grid, [(2, 3), (1, 12)])


def test_the_workflow_refuses_to_keep_a_selection_made_by_another_search(tmp_path):
    # Snakemake keeps a finished selection whose inputs wait on successive halving's rungs (a checkpoint):
    # changing the search re-ran nothing and kept the old grid's selection.
    selected = tmp_path / "results/finetune/mini_vgg/textures/selected.json"
    selected.parent.mkdir(parents=True)
    selected.write_text(json.dumps({"search": {"method": "grid"},
                                    "grid": [{"lr": 0.03, "weight_decay": 0.0}, {"lr": 0.1, "weight_decay": 0.0}]}))
    assert run_snakemake("-n", workdir=tmp_path).returncode == 0
    halving = run_snakemake("-n", "--config", "finetune={search: {method: successive_halving, eta: 2, rungs: 2}}",
                            workdir=tmp_path)
    output = halving.stdout + halving.stderr
    assert halving.returncode != 0
    assert ("results/finetune/mini_vgg/textures/selected.json: it was made by a grid search; the config asks for "
            "successive_halving") in output and "rm results/finetune/mini_vgg/textures/selected.json" in output
