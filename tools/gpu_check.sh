#!/usr/bin/env bash
# The GPU check (issue 23): every GPU code path of the course, timed, in at most 8 minutes on one GPU.
#   bash tools/gpu_check.sh OUTDIR [--cpu-dry-run] [--work DIR] [--budget-s S] [--steps A,B]
# Writes OUTDIR/gpu_check.log and OUTDIR/gpu_check.json; data, runs and logs go to --work (default OUTDIR/work).
# On a bare GPU machine: first `bash tools/gpu_wheels.sh` here, then carry gpu_wheels/ (README, "The GPU check").
# --cpu-dry-run: the same steps at toy size on the CPU (tests/test_gpu_check.py). The steps live in
# tools/gpu_check.py; each one is timed and time-boxed, and a failing step does not stop the others.
# Python: $PYTHON, else .venv/bin/python when it exists, else python3 (the GPU machine's, with its torch).
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: bash tools/gpu_check.sh OUTDIR [--cpu-dry-run] [--work DIR] [--budget-s S] [--steps A,B]" >&2
  exit 2
fi
case "$1" in /*) ;; *) set -- "$PWD/$1" "${@:2}" ;; esac  # OUTDIR from where it was named
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
exec "$PY" tools/gpu_check.py "$@"
