#!/usr/bin/env bash
# One command on a CUDA machine (issue #15): extraction (decode bound, ViT-B/16 fp32 / bf16), NUS-shape
# training step and predict throughput, written to one JSON file (default gpu_check.json). <= 5 minutes.
#   bash benchmarks/gpu_check.sh [out.json]      (after `make install`; PYTHON=... to use another interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 KEDRO_DISABLE_TELEMETRY=1 MLFLOW_DISABLE_TELEMETRY=true
PY="${PYTHON:-.venv/bin/python}"
if [ ! -x "$PY" ]; then
  echo "gpu_check: $PY not found: run \`make install\` first (or set PYTHON)" >&2
  exit 1
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
timeout 300 "$PY" benchmarks/gpu_check.py --out "${1:-gpu_check.json}"
