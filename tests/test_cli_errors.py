"""The command line on bad input: every stage, given a missing, empty, foreign, truncated or wrong-kind file or
an option out of range, says so in one line naming the file or option, exit status 2, never a traceback; a
real bug still shows its traceback, with a request to report it."""

import shutil

import h5py
import numpy as np
import pytest

from transferstudy import cli
from transferstudy.transfer import probe, transferability


@pytest.fixture(scope="module")
def files(tiny_study, tmp_path_factory):
    """Good files from the tiny study and bad ones beside them, by name."""
    workdir, run = tiny_study
    assert run.returncode == 0, run.stderr[-2000:]
    bad = tmp_path_factory.mktemp("bad_input")
    results = workdir / "results"
    good = {"features": results / "features/mini_vgg/textures.h5", "dataset": results / "data/textures.h5",
            "checkpoint": results / "models/mini_vgg/checkpoint.pt",
            "pretrain": results / "models/mini_vgg/pretrain.json",
            "probe_result": results / "logistic_regression/mini_vgg/textures.json",
            "accuracy": results / "tables/accuracy.csv"}
    made = {name: shutil.copy(path, bad / f"{name}{path.suffix}") for name, path in good.items()}
    (bad / "text.h5").write_text("hello")
    (bad / "empty.h5").write_bytes(b"")
    (bad / "truncated.h5").write_bytes(good["features"].read_bytes()[:4000])
    (bad / "text.pt").write_text("hello")
    (bad / "truncated.pt").write_bytes(good["checkpoint"].read_bytes()[:3000])
    (bad / "garbage.json").write_text("{not json")
    (bad / "empty.json").write_text("{}")
    (bad / "binary.json").write_bytes(bytes(range(128, 256)))
    (bad / "columns.csv").write_text("a,b\n1,2\n")
    (bad / "empty.csv").write_bytes(b"")
    (bad / "binary.csv").write_bytes(bytes(range(128, 256)))
    (bad / "list.yaml").write_text("- a\n- b\n")
    (bad / "a_directory").mkdir()
    return {**{name: str(path) for name, path in made.items()}, "dir": str(bad)}


CASES = [
    # (arguments, what the one line must name); {name} is a file of the fixture, {dir} its folder
    (["probe", "{dir}/missing.h5", "--out", "{dir}/o.json"], "missing.h5: no such file"),
    (["probe", "{dir}/text.h5", "--out", "{dir}/o.json"], "text.h5: cannot read it as HDF5"),
    (["probe", "{dir}/empty.h5", "--out", "{dir}/o.json"], "empty.h5: cannot read it as HDF5"),
    (["probe", "{dir}/truncated.h5", "--out", "{dir}/o.json"], "truncated.h5: cannot read it as HDF5"),
    (["probe", "{dataset}", "--out", "{dir}/o.json"], "group 'train' has no dataset 'features'"),
    (["probe", "{dir}/a_directory", "--out", "{dir}/o.json"], "a_directory: a directory"),
    (["probe", "{features}", "--out", "{dir}/o.json", "--num-penalties", "0"], "probe.num_penalties"),
    (["transferability", "{dir}/truncated.h5", "--out", "{dir}/o.json"], "truncated.h5: cannot read it as HDF5"),
    (["transferability", "{features}", "--model", "{dir}/text.pt", "--out", "{dir}/o.json"],
     "text.pt: cannot read it as a checkpoint"),
    (["transferability", "{features}", "--model", "{dir}/truncated.pt", "--out", "{dir}/o.json"],
     "truncated.pt: cannot read it as a checkpoint"),
    (["transferability", "{features}", "--estimators", "logme", "magic", "--out", "{dir}/o.json"],
     "--estimators lists ['magic']; valid: logme"),
    (["transferability", "{features}", "--estimators", "{dir}/missing.py:score", "--out", "{dir}/o.json"],
     "missing.py ("),
    (["features", "{dir}/text.pt", "{dataset}", "--out", "{dir}/o.h5"], "text.pt: cannot read it as a checkpoint"),
    (["features", "{checkpoint}", "{features}", "--out", "{dir}/o.h5"], "has neither 'images' nor 'paths'"),
    (["features", "{checkpoint}", "{dir}/missing.h5", "--out", "{dir}/o.h5"], "missing.h5: no such file"),
    (["finetune", "{checkpoint}", "{dataset}", "--lr", "1e9", "--out", "{dir}/o.json", "--state", "{dir}/s.pt"],
     "--lr"),
    (["finetune", "{checkpoint}", "{dir}/truncated.h5", "--lr", "0.1", "--out", "{dir}/o.json", "--state",
      "{dir}/s.pt"], "truncated.h5: cannot read it as HDF5"),
    (["finetune", "{checkpoint}", "{dataset}", "--selection", "{dir}/garbage.json", "--out", "{dir}/o.json",
      "--state", "{dir}/s.pt"], "garbage.json: not valid JSON"),
    (["finetune", "{checkpoint}", "{dataset}", "--selection", "{dir}/empty.json", "--out", "{dir}/o.json",
      "--state", "{dir}/s.pt"], "empty.json: lacks the key(s)"),
    (["finetune", "select", "{dir}/empty.json", "--out", "{dir}/o.json"], "empty.json: lacks the key(s)"),
    (["finetune", "select", "{dir}/binary.json", "--out", "{dir}/o.json"], "binary.json: not valid JSON"),
    (["finetune", "select", "{dir}/missing.json", "--out", "{dir}/o.json"], "missing.json: No such file"),
    (["aggregate", "{dir}/empty.json", "--pretrain", "{pretrain}", "--out", "{dir}/o.csv"], "empty.json: lacks"),
    (["aggregate", "{probe_result}", "--pretrain", "{dir}/binary.json", "--out", "{dir}/o.csv"],
     "binary.json: not valid JSON"),
    (["stats", "{dir}/columns.csv", "--out", "{dir}/o.csv"], "accuracy table lacks column(s)"),
    (["stats", "{dir}/empty.csv", "--out", "{dir}/o.csv"], "empty.csv: cannot read it as a CSV"),
    (["stats", "{dir}/binary.csv", "--out", "{dir}/o.csv"], "binary.csv: cannot read it as a CSV"),
    (["stats", "{dir}/missing.csv", "--out", "{dir}/o.csv"], "missing.csv: No such file"),
    (["convergence", "{dir}/empty.json", "--curves", "{dir}/c.csv", "--steps", "{dir}/s.csv"], "empty.json: lacks"),
    (["transferability-table", "{dir}/garbage.json", "--out", "{dir}/o.csv"], "garbage.json: not valid JSON"),
    (["analysis", "{dir}/empty.csv", "--out", "{dir}/out"], "empty.csv: cannot read it as a CSV"),
    (["analysis", "{accuracy}", "--transferability", "{dir}/columns.csv", "--out", "{dir}/out"],
     "transferability table lacks column(s)"),
    (["figures", "fig1_imagenet_vs_transfer", "--accuracy", "{dir}/binary.csv", "--out", "{dir}/f.pdf"],
     "binary.csv: cannot read it as a CSV"),
    (["subset", "{dir}/text.h5", "--shots", "2", "--out", "{dir}/o.h5"], "text.h5: cannot read it as HDF5"),
    (["subset", "{dataset}", "--shots", "2", "--seed", "-1", "--out", "{dir}/o.h5"], "seed = -1 (--seed)"),
    (["ablation", "{dir}/text.h5", "--out", "{dir}/o.csv"], "text.h5: cannot read it as HDF5"),
    (["plan", "--configfile", "{dir}/missing.yaml"], "missing.yaml: No such file"),
    (["plan", "--configfile", "{dir}/binary.csv"], "binary.csv: cannot read it as YAML"),
    (["plan", "--configfile", "{dir}/list.yaml"], "list.yaml: a configuration file holds a mapping"),
]


@pytest.mark.parametrize("arguments, named", CASES, ids=[" ".join(case[0][:2]) + f" [{i}]"
                                                          for i, case in enumerate(CASES)])
def test_bad_input_is_one_line_naming_it_with_exit_status_2(files, arguments, named, capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["transferstudy"])  # main names the program in sys.argv[0]
    status = cli.main([argument.format(**files) for argument in arguments])
    error = capsys.readouterr().err
    lines = [line for line in error.splitlines() if line.strip() and " INFO " not in line]
    assert status == 2, error
    assert "Traceback" not in error and len(lines) == 1, error
    stage = arguments[0]
    assert lines[0].startswith(f"transferstudy {stage}: error: ") and named in lines[0], lines[0]


def test_a_bug_shows_its_traceback_and_asks_for_a_report(files, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("an internal key")

    monkeypatch.setattr("sys.argv", ["transferstudy"])
    monkeypatch.setattr(probe, "run_probe", broken)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["probe", files["features"], "--out", files["dir"] + "/o.json"])
    error = capsys.readouterr().err
    assert stopped.value.code == 1
    assert "Traceback" in error and "KeyError: 'an internal key'" in error
    assert "this is a bug in transferstudy, not a problem with your input; please report it" in error


def _features_file(path, train, labels, num_classes=3):
    with h5py.File(path, "w") as f:
        f.attrs.update({"dataset": "toy", "metric": "top1", "num_classes": num_classes, "multilabel": False})
        for split in ("train", "val", "test"):
            f.create_group(split)
            f[split]["features"] = train
            f[split]["labels"] = labels
    return path


@pytest.mark.parametrize("features, labels, named", [
    (np.ones((9, 4), np.float32), np.arange(9) % 3, "has the same features for every example"),
    (np.full((9, 4), np.nan, np.float32), np.arange(9) % 3, "NaN/inf feature values"),
    (np.zeros((9, 0), np.float32), np.arange(9) % 3, "features must be [N, D] with D >= 1"),
    (np.zeros((0, 4), np.float32), np.zeros(0, np.int64), "has no examples"),
    (np.random.default_rng(0).normal(size=(9, 4)).astype(np.float32), (np.arange(9) % 3) + 0.5,
     "must be whole class indices"),
])
def test_the_probe_and_the_estimators_refuse_features_nothing_can_be_fitted_on(tmp_path, features, labels, named):
    path = _features_file(tmp_path / "features.h5", features, labels)
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        probe.run_probe(str(path), str(tmp_path / "probe.json"))
    with pytest.raises(ValueError, match=named.replace("[", r"\[").replace("]", r"\]")):
        transferability.score_features(str(path), out_path=str(tmp_path / "scores.json"))
    assert not (tmp_path / "probe.json").exists() and not (tmp_path / "scores.json").exists()
