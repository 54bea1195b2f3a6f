"""The `gpu` and `paper` profiles' own code paths at toy size on a CPU (issue 13, item 3).

Only sizes, steps, batch sizes and loader workers are overridden: the release model, the data
style, the evaluation and (paper) DDP over two gloo processes, the real-format layout and the
released-CRNN branch of notebook 02 run as they would on a GPU machine. The `gpu` profile's amp
"auto" is bf16 on CUDA; on a CPU the test sets amp=bf16 so the same autocast path runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stirer_lib.checkpoint import read
from stirer_lib.course.runner import run_course
from stirer_lib.data.lmdb_io import pretrain_dir, split_dir
from stirer_lib.data.synth import write_lmdb
from stirer_lib.models import CRNN

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    "01_data",
    "02_crnn_baseline",
    "03_stirer_architecture",
    "04_pretraining",
    "05_finetuning",
    "06_evaluation",
]
SIZES = {"train1": 4, "train2": 4, "easy": 2, "medium": 2, "hard": 2}
# the gpu splits hold 4 test items: notebook 01 shows 4
GPU_TOY = {
    **{f"data.sizes.{k}": 4 for k in SIZES},
    "data.sizes.pretrain": 8,
    "data.num_workers": 2,
    "crnn.max_steps": 1,
    "crnn.batch_size": 4,
    "eval.batch_size": 4,
    "pretrain.amp": "bf16",
    **{f"{s}.{k}": v for s in ("pretrain", "finetune") for k, v in {"max_steps": 1, "batch_size": 2}.items()},
}
PAPER_TOY = {
    "data.num_workers": 2,
    "eval.batch_size": 4,
    **{f"{s}.{k}": v for s in ("pretrain", "finetune") for k, v in {"epochs": 1, "batch_size": 2}.items()},
}


def _sets(overrides: dict) -> list[str]:
    return [f"{k}={v}" for k, v in overrides.items()]


@pytest.mark.course
def test_gpu_profile_whole_course_at_toy_size(tmp_path):
    """All six notebooks in the gpu profile: release model, full-style data, loader workers, bf16 autocast."""
    run_dir = tmp_path / "run"
    runs = run_course("gpu", data_root=str(tmp_path / "data"), run_dir=str(run_dir), overrides=_sets(GPU_TOY))
    assert [r.name for r in runs] == [f"{n}.ipynb" for n in NOTEBOOKS] and all(r.ok for r in runs)
    marker = json.loads((tmp_path / "data" / "synth.json").read_text())
    assert marker["style"]["name"] == "full" and marker["sizes"]["pretrain"] == 8
    for stage, amp in (("pretrain", "bf16"), ("finetune", "auto")):  # auto: bf16 on CUDA, float32 on a CPU
        state = read(run_dir / stage / "last.pt")
        assert state["finished"] and state["step"] == 1 and state["config"]["embed_dim"] == 48
        assert state["profile"]["name"] == "gpu" and state["profile"][stage]["amp"] == amp
        assert state["profile"]["data"]["num_workers"] == 2 and state["profile"]["model"]["config"] == "release"
    assert read(run_dir / "crnn" / "crnn.pt")["step"] == 1
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    assert {s: r["n"] for s, r in results["splits"].items()} == {"easy": 4, "medium": 4, "hard": 4}


def _write_real_layout(root: Path) -> None:
    """A tiny data/ in the real formats: TextZoom splits and MJSynth / SynthText LMDBs (data/README.md)."""
    for split, n in SIZES.items():
        write_lmdb(split_dir(root, split), "pair", 7, split, n, style="full")
    for i, name in enumerate(("mjsynth", "synthtext")):
        write_lmdb(pretrain_dir(root) / name, "word", 7 + i, "pretrain", 4, style="full")


def _torchrun_train(stage: str, run: Path, data: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        "-m",
        "stirer_lib.train",
        "--stage",
        stage,
        "--profile",
        "paper",
        "--run-dir",
        str(run / stage),
        "--data",
        str(data),
        "--no-progress",
        *[f"--set={s}" for s in _sets(PAPER_TOY)],
    ]
    res = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


@pytest.mark.course
def test_paper_profile_ddp_train_evaluate_and_notebooks(tmp_path, monkeypatch):
    """paper: pretrain + finetune under torchrun (2 gloo processes) on a real-format layout, the evaluate CLI,
    then notebooks 02 (crnn.max_steps=0: the released CRNN) and 06 of the paper profile."""
    data, run = tmp_path / "data", tmp_path / "runs" / "paper"
    _write_real_layout(data)
    (tmp_path / "ckpt").mkdir()
    torch.save(CRNN(32, 1, 37, 256).state_dict(), tmp_path / "ckpt" / "crnn.pth")  # crnn.pytorch's layout
    for stage in ("pretrain", "finetune"):
        _torchrun_train(stage, run, data)
        state = read(run / stage / "last.pt")
        assert state["world"] == 2 and state["finished"] and state["step"] == 2  # 8 items / 2 ranks / batch 2
        assert state["profile"]["name"] == "paper" and state["config"]["embed_dim"] == 48
    assert read(run / "finetune" / "last.pt")["init_from"] == str(run / "pretrain" / "best.pt")
    out = tmp_path / "eval" / "results.json"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "stirer_lib.evaluation",
            "--stirer",
            str(run / "finetune" / "best.pt"),
            "--crnn",
            str(tmp_path / "ckpt" / "crnn.pth"),
            "--data",
            str(data),
            "--json",
            str(out),
            "--device",
            "cpu",
            "--no-progress",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "PSNR" in res.stdout and json.loads(out.read_text())["splits"]["hard"]["n"] == 2
    monkeypatch.setenv("STIRER_COURSE_ROOT", str(tmp_path))  # ckpt/crnn.pth and the default data/ live here
    runs = run_course(
        "paper", run_dir=str(run), overrides=_sets(PAPER_TOY), only=[2, 6], notebooks_dir=REPO / "notebooks"
    )
    assert [r.name for r in runs] == ["02_crnn_baseline.ipynb", "06_evaluation.ipynb"]
    assert read(run / "crnn" / "crnn.pt")["step"] == 0  # notebook 02 took the released CRNN
    results = json.loads((run / "eval" / "results.json").read_text())
    assert results["meta"]["stirer"] == str(run / "finetune" / "best.pt") and results["splits"]["easy"]["n"] == 2
