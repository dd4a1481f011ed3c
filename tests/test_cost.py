"""The cost plan: networks' counted FLOPs and activations, datasets' sizes, each job's estimate, the resources the
rules request from it, the calibration, and the `plan` command."""

import copy
import json
import math
import subprocess
import sys

import h5py
import pytest
import torch
import yaml
from torch import nn

from workflow_runs import ROOT, TINY_CONFIG, job_counts, run_snakemake
from transferstudy import cli
from transferstudy.data import datasets
from transferstudy.data.subsets import parse_subset_name
from transferstudy.nets import architectures, costs
from transferstudy.schema import load_config
from transferstudy.study.cost import STAGE_MODULES, CostPlan, JobCost, read_calibration, summary
from transferstudy.study.plan import Study
from transferstudy.train.calibrate import calibrate

SHIPPED = [["config.yaml"], ["kornblith2019.yaml"], ["kornblith2019.yaml", "kornblith2019_ablation.yaml"],
           ["modern.yaml"]]


def _study(*names):
    return Study(load_config([ROOT / "config" / name for name in names]))


def test_flops_parameters_and_activations_of_a_known_network_are_counted_exactly():
    with torch.device("meta"):
        model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                              nn.Flatten(), nn.Linear(8, 10))
    cost = costs.count_module(model, 16)
    # The convolution: 2 x (3 x 3 x 3) multiply-adds per output value, 8 x 16 x 16 values; the classifier 2 x 8 x 10.
    assert cost.forward_flops == 2 * 27 * 8 * 16 * 16 + 2 * 8 * 10
    assert cost.params == 3 * 8 * 9 + 8 * 10 + 10 and cost.features == 8
    assert cost.train_flops == 3 * cost.forward_flops
    # Kept for the backward pass: the image (for the convolution's weight gradient), the ReLU's output, the pooled
    # features; never the weights, which are counted as parameters.
    assert cost.saved_bytes == 4 * (3 * 16 * 16 + 8 * 16 * 16 + 8)
    doubled = cost.at_size(32)
    assert doubled.forward_flops == 4 * cost.forward_flops and doubled.params == cost.params


def test_the_cost_table_holds_every_shipped_network_and_is_current():
    table = costs.read_table()
    for names in SHIPPED:
        study = _study(*names)
        missing = {costs.spec_name(spec) for spec in study.zoo.models.values()} - set(table)
        assert not missing, f"{names}: not in {costs.TABLE.name} (run `make network-costs`): {missing}"
    for arch in architectures.list_models():  # cheap to recount: the table must not be stale
        assert costs.count({"arch": arch}, table[f"arch:{arch}"].input_size) == table[f"arch:{arch}"]
    assert costs.count({"torchvision": "resnet50"}) == table["torchvision:resnet50"]


def test_datasets_know_their_sizes_before_they_are_built(tmp_path):
    food = datasets.get_dataset_info("food101").sizes().held_out(0.2)
    assert (food.classes, food.train, food.val, food.test) == (101, 60_600, 15_150, 25_250)
    dtd = datasets.get_dataset_info("dtd").sizes().held_out(0.2)  # its creators' validation split is kept
    assert (dtd.train, dtd.val) == (1_880, 1_880)
    path = tmp_path / "textures.h5"
    datasets.prepare_dataset("textures", path, seed=0, split_seed=0, val_fraction=0.2)
    built = datasets.read_sizes(path)
    registered = datasets.get_dataset_info("textures").sizes(**datasets.get_dataset_info("textures").options)
    assert built == registered.held_out(0.2)


def test_the_plan_counts_the_jobs_the_workflow_runs(tmp_path):
    study = _study("config.yaml")
    plan = CostPlan(study, data_dir=tmp_path)
    planned = {}
    for row in plan.rows:
        rule = row.rule.split(":")[-1].split(".")[0]
        planned[rule] = planned.get(rule, 0) + row.jobs
    dry_run = run_snakemake("-n", "--quiet", "rules", workdir=tmp_path, configfile=ROOT / "config" / "config.yaml")
    counts = job_counts(dry_run.stdout + dry_run.stderr)
    assert planned == {rule: counts[rule] for rule in planned}


def test_a_job_requests_its_estimate_times_the_safety_factor_and_more_on_each_retry():
    row = JobCost("probe", "m", "d", jobs=2, images=0, flops=0.0, bytes_written=0, host_mb=1000.0, device_mb=0.0,
                  seconds=1200.0, source="guess")
    assert row.resources(1.5) == {"mem_mb": 1500, "runtime": 15}  # 600 s per job x 1.5
    assert row.resources(1.5, attempt=2) == {"mem_mb": 3000, "runtime": 30}
    assert row.resources(1.0, min_runtime=60)["runtime"] == 60


def test_the_rules_request_what_the_plan_estimates(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["cost"] = {"safety_factor": 2.0}
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    dry_run = run_snakemake("-n", "--cores", "1", workdir=tmp_path, configfile=configfile)
    assert dry_run.returncode == 0, dry_run.stderr[-2000:]
    plan = CostPlan(Study(config), data_dir=tmp_path / "results" / "data")
    jobs = (dry_run.stdout + dry_run.stderr).split("\n\n")
    probe = next(job for job in jobs if "rule probe:" in job)
    wildcards = dict(part.split("=") for part in probe.split("wildcards: ")[1].split("\n")[0].split(", "))
    expected = plan.request("probe", model=wildcards["model"], dataset=wildcards["dataset"])
    assert f"mem_mb={expected['mem_mb']}," in probe and f"runtime={expected['runtime']}," in probe
    # A job on a subset requests what one on its whole dataset would.
    dataset = (parse_subset_name(wildcards["dataset"]) or (wildcards["dataset"],))[0]
    row = next(row for row in plan.rows if (row.rule, row.model, row.dataset) == ("probe", wildcards["model"], dataset))
    assert expected["mem_mb"] == math.ceil(row.host_mb * 2)  # the config's safety factor


def test_the_paper_plan_uses_the_published_sizes_and_flags_what_is_guessed(tmp_path):
    study = _study("kornblith2019.yaml")
    plan = CostPlan(study, data_dir=tmp_path)
    extraction = {(row.model, row.dataset): row for row in plan.rows if row.rule == "extract_features"}
    food = extraction["nasnet_a_large", "food101"]
    assert food.images == 75_750 + 25_250
    assert food.bytes_written == food.images * 4032 * 4  # the features file: N x D float32
    assert {row.source for row in plan.rows} == {"guess"}  # no calibration: every time is a guess
    grid = [row for row in plan.rows if row.rule == "finetune:train_grid_point"]
    assert sum(row.jobs for row in grid) == 16 * 12 * 56


def test_a_calibration_on_this_cpu_times_the_plan(tmp_path):
    calibration = calibrate({"arch:mini_convnet": ({"arch": "mini_convnet"}, 32)}, batch_size=8, train_batch_size=4,
                            repeats=1, job_modules={"probe": STAGE_MODULES["probe"]})
    entry = calibration["networks"]["arch:mini_convnet"]
    assert entry["forward_images_per_s"] > 0 and entry["train_images_per_s"] > 0
    assert calibration["rates"]["forward"] > 0 and calibration["start_seconds"]["probe"] > 0
    assert calibration["base_mb"]["probe"] > 100  # torch alone takes more
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(calibration))
    plan = CostPlan(_study("config.yaml"), read_calibration(path), data_dir=tmp_path)
    sources = {row.model: row.source for row in plan.rows if row.rule == "extract_features"}
    assert sources["mini_convnet"] == "measured" and sources["mini_vgg"] == "calibrated"
    with pytest.raises(ValueError, match="cost.calibration = .*no such file"):
        read_calibration(tmp_path / "missing.json")


def test_the_plan_command_prints_totals_and_the_successive_halving_alternative(tmp_path, capsys):
    out = tmp_path / "plan.csv"
    assert cli.main(["plan", "--configfile", str(ROOT / "config" / "config.yaml"), "--data-dir", str(tmp_path),
                     "--out", str(out)]) in (0, None)
    printed = capsys.readouterr().out
    assert "extract_features" in printed and "successive_halving" in printed and "guess" in printed
    rows = out.read_text().splitlines()
    assert rows[0].startswith("rule,model,dataset,jobs") and len(rows) > 100


def test_features_files_hold_the_bytes_the_plan_says(tiny_study):
    workdir, run = tiny_study
    assert run.returncode == 0, run.stderr[-2000:]
    config = yaml.safe_load(TINY_CONFIG.read_text())
    plan = CostPlan(Study(copy.deepcopy(config)), data_dir=workdir / "results" / "data")
    for row in plan.rows:
        if row.rule != "extract_features":
            continue
        with h5py.File(workdir / "results" / "features" / row.model / f"{row.dataset}.h5") as f:
            written = sum(f[split]["features"].nbytes for split in f if "features" in f[split])
        assert written == row.bytes_written, (row.model, row.dataset)


def test_the_workflow_writes_the_plan_before_any_other_job(tmp_path):
    configfile = ROOT / "config" / "config.yaml"
    run = run_snakemake("--cores", "1", "results/plan.csv", workdir=tmp_path, configfile=configfile)
    assert run.returncode == 0, run.stderr[-2000:]
    assert job_counts(run.stdout + run.stderr) == {"cost_plan": 1, "total": 1}
    plan = CostPlan(Study(load_config([configfile])), data_dir=tmp_path / "results" / "data")
    assert len((tmp_path / "results" / "plan.csv").read_text().splitlines()) == len(plan.rows) + 1
    assert "device-hours" in (tmp_path / "logs" / "plan.log").read_text()


@pytest.mark.parametrize("mem_mb, short", [(1, True), (10**6, False)])
def test_a_job_log_sets_what_it_used_against_what_it_requested(tmp_path, mem_mb, short):
    log = tmp_path / "job.log"
    code = ("import types; from transferstudy.logs import log_to; "
            f"log_to({str(log)!r}, requested=types.SimpleNamespace(mem_mb={mem_mb}, runtime=5))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    text = log.read_text()
    assert f"requested: {mem_mb} MB, 5 min (attempt 1)" in text and "used: peak" in text
    assert ("the cost plan's estimate (times cost.safety_factor) was short" in text) == short


def test_a_retried_job_states_its_attempt_and_why_it_may_have_been_killed(tmp_path):
    log = tmp_path / "job.log"
    code = ("import types; from transferstudy.logs import log_to; "
            f"log_to({str(log)!r}, requested=types.SimpleNamespace(mem_mb=2000, runtime=10, attempt=2))")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
    text = log.read_text()
    assert "requested: 2000 MB, 10 min (attempt 2)" in text
    assert "the previous attempt did not finish" in text and "requests 2 x the estimate" in text


def test_a_network_the_plan_has_not_counted_requests_the_configured_fallback(tmp_path, config_with):
    config = config_with(lambda c: c["models"].__setitem__("small", {"torchvision": "mobilenet_v3_small"}))
    config["cost"] = {"uncounted_mem_mb": 3000, "uncounted_runtime": 30}
    plan = CostPlan(Study(config), data_dir=tmp_path)
    assert plan.uncounted == ["small"]
    assert plan.request("probe", model="small", dataset="textures", attempt=2) == {"mem_mb": 6000, "runtime": 60}
    counted = plan.request("probe", model="mini_vgg", dataset="textures")
    assert counted["mem_mb"] < 3000  # a counted network requests its own estimate
    assert "not counted: small" in summary(plan)
