"""tools/gpu_check.sh --cpu-dry-run: every step of the GPU check (issue 23) at toy size on the CPU, so the
script that runs on a GPU machine cannot rot; and its one-line usage errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
STEPS = [
    "install",
    "environment",
    "fixtures",
    "tests",
    "doctor_gpu",
    "doctor_paper",
    "bench_fp32",
    "bench_bf16",
    "gru",
    "course",
    "evaluate",
    "torchrun",
    "ddp_probe",
]
LIMIT_S = 1800  # a guard against a hang; on an idle 2-core machine the dry run takes a few minutes


def _gpu_check(*args: str) -> subprocess.CompletedProcess:
    """bash tools/gpu_check.sh ARGS with this interpreter; on a hang SIGTERM lets the check end its children."""
    proc = subprocess.Popen(
        ["bash", "tools/gpu_check.sh", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHON": sys.executable},
    )
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate()
        pytest.fail(f"gpu_check.sh ran over {LIMIT_S} s:\n{out[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory) -> tuple[dict, subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpu_check")
    res = _gpu_check(str(out), "--cpu-dry-run")
    return json.loads((out / "gpu_check.json").read_text()), res, out


def test_every_step_ran_and_passed(dry_run):
    figures, res, out = dry_run
    assert list(figures["steps"]) == STEPS
    failed = {n: s.get("output_tail", "")[-1500:] for n, s in figures["steps"].items() if s["rc"] != 0}
    assert not failed and res.returncode == 0, failed or res.stdout[-2000:]
    assert all(s["seconds"] > 0 and s["commands"] for s in figures["steps"].values())
    assert figures["dry_run"] is True and figures["date"] and "commit" in figures
    env = figures["environment"]
    assert env["torch"] == torch.__version__ and env["cuda_available"] is torch.cuda.is_available()
    log = (out / "gpu_check.log").read_text()
    assert all(f"==== {n}\n" in log for n in STEPS) and "steps ok" in res.stdout


def test_each_step_has_its_figures(dry_run):
    steps = dry_run[0]["steps"]
    fig = {n: s["figures"] for n, s in steps.items()}
    assert "installed" in fig["install"]
    if fig["fixtures"]["found"]:
        assert fig["tests"]["passed"] >= 4 and fig["tests"]["failed"] == 0 and fig["tests"]["device"] == "cpu"
    for name in ("doctor_gpu", "doctor_paper"):
        assert {"04_pretraining", "05_finetuning", "total"} <= set(fig[name]["estimate_minutes"]), name
        assert fig[name]["measured"] and fig[name]["device"]["device"] == "cpu"
    (row, *_) = fig["bench_fp32"]["rows"]
    assert row["config"] == "small" and row["eval_img_s"] > 0 and row["train_img_s"] > 0
    assert all(r["eval_bf16_img_s"] > 0 for r in fig["bench_bf16"]["rows"]) and fig["bench_bf16"]["bf16"] is True
    gru = fig["gru"]["gru"]
    assert gru["device"] == "cpu" and min(gru["ms_fwd_bwd"].values()) > 0 and gru["max_abs_diff"] < 1e-5
    assert "01_data" in fig["course"]["notebook_minutes"]
    assert fig["evaluate"]["over_all"]["n"] == 12 and fig["evaluate"]["over_all"]["psnr"] > 0
    stages = fig["torchrun"]["stages"]
    assert {s: (v["world"], v["finished"], v["profile"]) for s, v in stages.items()} == {
        "pretrain": (1, True, "paper"),
        "finetune": (1, True, "paper"),
    }
    assert fig["ddp_probe"]["backend"] == "gloo" and fig["ddp_probe"]["world"] == 1 and fig["ddp_probe"]["grads_finite"]


@pytest.mark.parametrize("args", [[], ["--cpu-dry-run"], ["out", "--bogus"]])
def test_bad_command_lines_are_one_line_and_exit_2(args):
    res = _gpu_check(*args)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
