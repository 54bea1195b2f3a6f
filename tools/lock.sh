#!/usr/bin/env bash
# Refresh requirements-lock.txt: the exact versions of the course's dependencies as installed in the venv that ran
# the tests and made the reference runs (pip-tools' pip-compile, constrained to that venv's `pip freeze`).
#   tools/lock.sh [VENV_DIR]      (default .venv; `make lock`)
# To move to newer versions: upgrade the venv (`.venv/bin/python -m pip install -U -e ".[dev]"`), run `make test`
# (and the reference runs), then run this. torch is left out of the lock: tools/setup_venv.sh installs the CPU
# build of torch 2.13.0, or a CUDA build on a GPU machine, before the lock.
set -euo pipefail
VENV=${1:-.venv}
cd "$(dirname "$0")/.."
PY="$VENV/bin/python"
"$PY" -m pip install -q "pip-tools>=7.4"
freeze=$(mktemp)
trap 'rm -f "$freeze"' EXIT
"$PY" -m pip freeze --exclude-editable > "$freeze"
"$PY" -m piptools compile pyproject.toml --extra dev --constraint "$freeze" --unsafe-package torch \
  --strip-extras --no-emit-index-url --no-emit-find-links --quiet --output-file requirements-lock.txt
sed -i -e "\|^    #   -c $freeze$|d" -e "s|$freeze|the venv's pip freeze|" requirements-lock.txt
echo "wrote requirements-lock.txt ($(grep -c '==' requirements-lock.txt) pinned packages)"
