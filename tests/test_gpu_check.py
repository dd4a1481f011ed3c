"""benchmarks/gpu_check.py, the prepared GPU run of issue 30, in its CPU mode: every section runs and records what
the GPU run will report, so the script cannot rot between the rare sessions that have a GPU."""

import json
import subprocess
import sys

import pytest

from workflow_runs import ROOT


@pytest.mark.slow
def test_the_gpu_check_runs_every_section_in_its_quick_cpu_mode(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--quick", "--device", "cpu",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    assert result["mode"] == "quick" and (tmp_path / "gpu_check.log").stat().st_size > 0
    sections = ("environment", "correctness", "probe", "extraction", "finetune", "calibration")
    assert all(name in result and "error" not in result[name] for name in sections)
    # CPU against CPU: the comparisons must find nothing, so a difference on the GPU is the GPU's.
    correct = result["correctness"]
    assert correct["features_float32"]["relative_error_vs_cpu"] == 0 and correct["features_float32"]["two_runs_equal"]
    assert correct["probe"]["test_points_difference"] == 0 and correct["finetune"]["device_runs_equal"]
    assert correct["finetune"]["cpu"] == correct["finetune"]["device"]
    probe = result["probe"]["dims"]["32"]
    assert probe["ours_seconds"] > 0 and probe["sklearn_seconds"] > 0 and abs(probe["test_points_difference"]) < 5
    assert len(result["probe"]["penalties"]) == 3 and result["probe"]["of_the_protocols"] == 45
    assert 0 < result["extraction"]["ratio"] and result["extraction"]["images"] == 8
    assert 0 < result["finetune"]["ratio"] and result["finetune"]["image_size"] == 224
    calibration = json.loads((tmp_path / "calibration.json").read_text())
    assert set(result["calibration"]["networks"]) == set(calibration["networks"]) and calibration["device"] == "cpu"


def test_the_gpu_check_refuses_cuda_where_torch_sees_no_gpu(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "torch sees no GPU here" in done.stderr
