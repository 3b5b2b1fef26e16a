#!/usr/bin/env bash
# On the lent GPU machine: install the carried wheels of one phase, then run
# benchmarks/gpu.py for it, writing the report to $OUT (README "GPU", benchmarks/README.md).
#   device run: bash benchmarks/gpu.sh train    (carry: .whl/train)
#   device run: bash benchmarks/gpu.sh decode   (carry: .whl/decode)
# Extra arguments go to benchmarks/gpu.py (e.g. `--shapes 1b --steps 20`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
phase=${1:?usage: gpu.sh train|decode [gpu.py options]}
shift
PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/lema-gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" TOKENIZERS_PARALLELISM=false
"$PY" -m pip install -q --no-index --no-deps .whl/"$phase"/*.whl 2>&1 | tail -3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" benchmarks/gpu.py "$phase" --out "$OUT/$phase.json" "$@" 2>&1 | tee "$OUT/$phase.log"
