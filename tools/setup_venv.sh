#!/usr/bin/env bash
# Create or reuse the course's virtual environment and install everything it needs.
#   tools/setup_venv.sh [VENV_DIR]     (default .venv)
# torch: a CUDA build where `nvidia-smi` finds a GPU, else the CPU build of torch 2.13.0
# (PyTorch's CPU index; a local wheel found through pip's find-links is used first).
# Then every other dependency at the exact version of requirements-lock.txt (tools/lock.sh refreshes it);
# STIRER_UNLOCKED=1 installs the newest versions pyproject.toml's ranges allow instead.
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
cd "$(dirname "$0")/.."

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "[setup] GPU found: installing a CUDA build of torch"
    $PIP install "torch>=2.4,<2.15"
  else
    echo "[setup] no GPU: installing the CPU build torch==2.13.0"
    $PIP install --retries 1 --timeout 30 --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
  fi
fi

if [ "${STIRER_UNLOCKED:-0}" = 1 ]; then
  echo "[setup] STIRER_UNLOCKED=1: installing stirer_lib with the newest dependencies pyproject.toml allows"
  $PIP install -e ".[dev]"
else
  echo "[setup] installing the course's dependencies at the versions the tests and reference runs used (requirements-lock.txt)"
  $PIP install -r requirements-lock.txt
  $PIP install --no-deps -e ".[dev]"
  $PIP check
fi
echo "[setup] done: $("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
