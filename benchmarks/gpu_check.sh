#!/usr/bin/env bash
# benchmarks/gpu_check.py on a lent GPU machine, from the repository root there: installs the wheels of what its
# image lacks (`make gpu-wheels` here puts them in .whl/, carried with the run), then runs the check with the
# machine's own python3 and torch, writing gpu_check.json, its log and calibration.json into $OUT (or $1).
set -euo pipefail
out=${1:-${OUT:?give the output folder}}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem --format=csv | tee "$out/nvidia-smi.csv"
python3 benchmarks/gpu_check.py --out "$out" "${@:2}"
