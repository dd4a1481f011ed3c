"""`snakemake --profile slurm` against a real SLURM: a single-node cluster on localhost, from Debian's
packages, with a fake GPU. Skipped, with the reason printed, where SLURM is absent and cannot be installed
(no root or no apt-get)."""

import json
import subprocess
import tempfile
import time

import pandas as pd
import pytest
import yaml

import slurm_cluster
from workflow_runs import ROOT, TINY_CONFIG, run_snakemake, start_snakemake

GPU_RULES = ("train_grid_point", "train_refit")
TEST_CLUSTER_OPTIONS = (
    # This test cluster has no slurmdbd (so no sacct, no accounts) and answers fast.
    "--slurm-status-command", "squeue", "--slurm-no-account",
    "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "2",
    # The profile names its partition file relative to the repository root, where users run it; these
    # runs work in another directory (--directory).
    "--slurm-partition-config", str(ROOT / "slurm" / "partitions.yaml"),
)


@pytest.fixture(scope="module")
def cluster():
    reason = slurm_cluster.unavailable_reason()
    if reason:
        pytest.skip(f"no local SLURM cluster: {reason}")
    # A short directory: munge's socket path must fit in a Unix socket address.
    with tempfile.TemporaryDirectory(prefix="slurm-") as directory:
        running = slurm_cluster.Cluster(directory).start()
        try:
            yield running
        finally:
            running.stop()


@pytest.mark.slow
@pytest.mark.slurm
def test_tiny_study_through_the_slurm_profile_matches_a_local_run(cluster, tiny_study, tmp_path):
    local_dir, local = tiny_study
    assert local.returncode == 0, local.stderr[-2000:]
    result = run_snakemake(
        "--profile", "slurm", *TEST_CLUSTER_OPTIONS,
        # The tiny study computes on CPU; asking its training jobs for a GPU checks that the `gpu`
        # resource reaches SLURM as a GPU request and lands on the GPU partition.
        "--set-resources", *[f"{rule}:gpu=1" for rule in GPU_RULES],
        *[f"{rule}:mem_mb=2000" for rule in ("probe", *GPU_RULES)],
        # The ablation's variants and the subsets would only repeat the same rules on the cluster.
        "--config", "ablation={enabled: false}", "subsets={enabled: false}",
        workdir=tmp_path, env=cluster.env, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    columns = ["model", "dataset", "setting", "value", "source_top1", "hyperparameters"]
    on_slurm = pd.read_csv(tmp_path / "results/tables/accuracy.csv")[columns]
    at_home = pd.read_csv(local_dir / "results/tables/accuracy.csv")[columns]
    at_home = at_home[at_home.model.isin(set(on_slurm.model))].reset_index(drop=True)
    assert set(on_slurm.model) == {"mini_convnet", "mini_vgg", "mini_resnet8"}
    pd.testing.assert_frame_equal(on_slurm, at_home)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results/tables/steps_to_threshold.csv"),
                                  pd.read_csv(local_dir / "results/tables/steps_to_threshold.csv"))

    records = cluster.job_records()
    assert records and all(r["JobState"] == "COMPLETED" for r in records), records
    # The plugin comments each job "rule_<rule>[_wildcards_...]", or "rule_<group id>_<rule>" for a group.
    compute_rules = ("dataset", "pretrain", "extract_features", "probe", "transferability", *GPU_RULES)
    by_rule = {}
    for record in records:
        head = record["Comment"].split("_wildcards")[0]
        rule = [name for name in compute_rules if head.endswith(name)]
        assert len(rule) == 1, record["Comment"]
        by_rule.setdefault(rule[0], []).append(record)
    assert {rule: len(jobs) for rule, jobs in by_rule.items()} == {
        "dataset": 5, "pretrain": 3, "extract_features": 12, "probe": 12, "transferability": 12,
        "train_grid_point": 12, "train_refit": 6}
    for rule, jobs in by_rule.items():
        for job in jobs:
            if rule in GPU_RULES:
                assert job["TresPerJob"] == "gres:gpu:1" and job["Partition"] == "gpu", job
            else:
                assert "gpu" not in job.get("TresPerJob", "") and job["Partition"] == "cpu", job
    # Local rules (selection, tables, figures) never go to the cluster: no other job was submitted.
    assert len(records) == sum(len(jobs) for jobs in by_rule.values())


@pytest.mark.slow
@pytest.mark.slurm
def test_own_models_and_datasets_through_the_slurm_profile_match_a_local_run(cluster, own_study, tmp_path):
    from own_example import make_own_example

    local_dir, _, _, local = own_study
    assert local.returncode == 0, (local.stdout + local.stderr)[-2000:]
    args, env = make_own_example(tmp_path)
    result = run_snakemake("--profile", "slurm", *TEST_CLUSTER_OPTIONS, *args, workdir=tmp_path, configfile=args[1],
                           env={**cluster.env, "TORCH_HOME": env["TORCH_HOME"]}, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    columns = ["model", "dataset", "setting", "value", "source_top1", "hyperparameters"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "results/tables/accuracy.csv")[columns],
                                  pd.read_csv(local_dir / "results/tables/accuracy.csv")[columns])


@pytest.mark.slow
@pytest.mark.slurm
def test_a_training_job_killed_by_slurm_is_retried_and_resumes_from_its_state(cluster, tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["scratch"]["recipe"] = {"steps": 3000, "batch_size": 16, "eval_every": 500, "checkpoint_every": 100}
    configfile = tmp_path / "long_scratch.yaml"
    configfile.write_text(yaml.safe_dump(config))
    run = "results/scratch/mini_resnet8/textures/grid/lr0.1_wd0"
    state, result_path = tmp_path / "work" / f"{run}.state.pt", tmp_path / "work" / f"{run}.json"
    process = start_snakemake(
        "--profile", "slurm", *TEST_CLUSTER_OPTIONS, f"{run}.json",
        workdir=tmp_path / "work", output=tmp_path / "snakemake.out", configfile=configfile, env=cluster.env)
    try:
        deadline = time.time() + 600
        while not state.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.5)
        assert state.exists(), "the training job saved no state"
        running = subprocess.run(["squeue", "-h", "-o", "%i %k"], capture_output=True, text=True, env=cluster.env,
                                 check=True).stdout.split("\n")
        job_ids = [line.split()[0] for line in running if "train_grid_point" in line]
        assert len(job_ids) == 1, running
        subprocess.run(["scancel", "--signal=KILL", "--full", job_ids[0]], check=True, env=cluster.env)
        process.wait(timeout=900)
    finally:
        if process.poll() is None:
            process.kill()
    output = (tmp_path / "snakemake.out").read_text()
    assert process.returncode == 0, output[-4000:]
    assert "slurm_logs/rule_" in output and "train_grid_point" in output  # the failed job's log is named
    result = json.loads(result_path.read_text())
    assert result["resumed_from_step"] is not None and result["resumed_from_step"] > 0, result["resumed_from_step"]
    assert result["history"][-1]["step"] == 3000 and not state.exists()
    log = tmp_path / "work" / f"{run.replace('results/', 'logs/')}.log"
    assert "(attempt 2)" in log.read_text() and "the previous attempt did not finish" in log.read_text()
