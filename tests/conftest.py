"""Shared fixtures: the tiny study and the own-models study run once per session, configurations of the
default study with a change, a TORCH_HOME of the test's own, and accuracy tables of a given pattern."""

import copy

import pandas as pd
import pytest
import yaml

from workflow_runs import ROOT, TINY_CONFIG, run_snakemake


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """The tiny study run locally on 2 cores, once per session: (directory, CompletedProcess)."""
    workdir = tmp_path_factory.mktemp("tiny_study")
    return workdir, run_snakemake("--cores", "2", workdir=workdir)


@pytest.fixture(scope="session")
def own_study(tmp_path_factory):
    """The README's own-models-and-datasets example run locally on 2 cores, once per session: (directory, its
    Snakemake config arguments, environment, CompletedProcess)."""
    from own_example import make_own_example

    workdir = tmp_path_factory.mktemp("own_study")
    args, env = make_own_example(workdir)
    return workdir, args, env, run_snakemake("--cores", "2", *args, workdir=workdir, configfile=args[1], env=env)


@pytest.fixture
def tiny_config():
    return TINY_CONFIG


@pytest.fixture(scope="session")
def default_config():
    """The default study's configuration (config/config.yaml), as loaded; copy it before changing it."""
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


@pytest.fixture
def config_with(default_config):
    """A function of a change (a function that edits a config in place) giving a changed copy of the default
    study's configuration."""
    def changed(change):
        config = copy.deepcopy(default_config)
        change(config)
        return config
    return changed


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """TORCH_HOME of the test's own (torchvision's and pretrainedmodels' weights cache), empty."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


@pytest.fixture
def accuracy_of():
    """A function giving a tidy accuracy table: one row per (model, dataset, setting) whose ``value(i, model,
    dataset, setting)`` is not None, the i-th model's ``source_top1(i)``, and ``columns`` the same in every row."""
    def table(value, *, models, datasets, source_top1, settings=("logistic_regression",), **columns):
        rows = [{"model": model, "dataset": dataset, "setting": setting, "metric": "top1",
                 "value": value(i, model, dataset, setting), "source_top1": source_top1(i), **columns}
                for i, model in enumerate(models) for dataset in datasets for setting in settings]
        return pd.DataFrame([row for row in rows if row["value"] is not None])
    return table
