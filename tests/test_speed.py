"""The speed-ups keep the numbers: one train step's gradients equal those of commit be7bf5b; bench CLI."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GRAD_REF = REPO / "tests" / "data" / "grad_reference_be7bf5b.pt"
REL = 1e-4

pytestmark = pytest.mark.usefixtures("one_thread")


def _tool():
    spec = importlib.util.spec_from_file_location("make_grad_reference", REPO / "tools" / "make_grad_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def test_train_step_gradients_match_be7bf5b(fixtures_dir):
    ref = torch.load(GRAD_REF, weights_only=True)
    ours = _tool().train_step_gradients(fixtures_dir)
    for k, v in ref["loss"].items():
        assert _rel(ours["loss"][k], v) < REL, k
    assert set(ours["grad_norm"]) == set(ref["grad_norm"])
    worst = max(ref["grad_norm"], key=lambda n: _rel(ours["grad_norm"][n], ref["grad_norm"][n]))
    assert _rel(ours["grad_norm"][worst], ref["grad_norm"][worst]) < REL, worst
    for n, g in ref["grad_full"].items():
        assert _rel(ours["grad_full"][n], g) < REL, n


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stirer_lib.bench", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_bench_help_and_bad_arguments():
    for args in ([], ["--help"], ["compare", "--help"], ["model", "--help"]):
        r = _cli(*args)
        assert r.returncode == 0 and "usage" in r.stdout.lower(), (args, r.stderr)
    for args in (["nonsense"], ["compare", "--reps", "x"], ["model", "--bogus"]):
        r = _cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr
