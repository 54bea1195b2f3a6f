"""The maintainers' experiments (experiments/): the STR-decoder probe, the yardsticks and their shared loop."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import pytest
import torch
from torch import nn

from experiments import loop, probe, yardsticks
from stirer_lib import evaluation
from stirer_lib.checkpoint import read
from stirer_lib.models import build_stirer, load_crnn, save_checkpoint
from stirer_lib.scoring import bicubic_upsample

pytestmark = pytest.mark.usefixtures("one_thread")
SIZES = {"train1": 12, "train2": 12, "easy": 4, "medium": 4, "hard": 4, "pretrain": 24}
SHORT = ["--steps", "3", "--eval-every", "2", "--max-test", "2"]  # evaluations after steps 2 and 3


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from stirer_lib.data.synth import generate

    root = tmp_path_factory.mktemp("experiments") / "root"
    generate(root, SIZES, seed=0, workers=1, verbose=False)
    return root


def test_probe_trains_a_fresh_decoder_and_only_reads_the_checkpoint(data_root, tmp_path, capsys):
    torch.manual_seed(0)
    ckpt = save_checkpoint(build_stirer("small"), tmp_path / "stirer.pt")
    before = read(ckpt)["model"]
    args = ["--ckpt", str(ckpt), "--data", str(data_root)]
    assert probe.main([*args, *SHORT, "--t5-init", "t5"]) == 0
    out = capsys.readouterr().out
    assert "24 training / 6 test words; t5_init t5" in out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("step")] == ["2", "3"]
    after = read(ckpt)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)
    with pytest.raises(SystemExit):
        probe.main([*args, "--t5-init", "xavier"])
    capsys.readouterr()
    assert probe.main(["--ckpt", str(ckpt), "--data", str(data_root / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_yardsticks_start_at_bicubic_train_and_report(data_root, tmp_path, capsys):
    """The issue-12 yardsticks: the untrained SR CNN is bicubic exactly; both jobs train, evaluate and print."""
    lr = torch.rand(2, 4, 16, 64)
    assert torch.equal(yardsticks.ResidualSR(8, 1)(lr).sr, bicubic_upsample(lr))
    for job in (["sr", "--width", "8", "--blocks", "1"], ["reader", "--source", "textzoom"]):
        args = ["--data", str(data_root), "--run-dir", str(tmp_path), "--no-progress"]
        assert yardsticks.main([*job, *args, *SHORT]) == 0
        out = capsys.readouterr().out
        steps = [line.split()[1] for line in out.splitlines() if line.startswith("step")]
        assert steps == (["2", "3"] if job[0] == "sr" else ["0", "2", "3"]), out  # the CRNN evaluates at step 0 too
        assert ("gain" in out) if job[0] == "sr" else ("LR accuracy (%) easy" in out)
    assert yardsticks.main(["sr", "--data", str(data_root / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_reader_yardstick_scores_the_crnn_on_bicubic_lr(data_root, tmp_path):
    """The reader trains in train_crnn on BicubicAsHR data: its accuracies are the CRNN's on the bicubic LR."""
    records = yardsticks.train_reader(data_root, tmp_path, steps=2, eval_every=2, source="textzoom", max_test=3)
    crnn = load_crnn(tmp_path / "crnn" / "crnn.pt")
    res = evaluation.evaluate_loaders(
        None, evaluation.test_loaders(data_root, 64, 3), crnn, ssim_on=False, details=False, crnn_on=("lr_bicubic",)
    )
    assert records[-1]["step"] == 2
    assert records[-1]["acc"] == {s: r["crnn_acc_lr_bicubic"] for s, r in res["splits"].items()}
    item = yardsticks.BicubicAsHR(evaluation.test_loaders(data_root, 1, 1)["easy"].dataset)[0]
    assert torch.equal(item[0], bicubic_upsample(item[1][None])[0])


def test_loop_stops_after_the_step_a_signal_arrives_and_refuses_a_non_finite_loss():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x = torch.randn(8, 3)

    def loss(step: int) -> torch.Tensor:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # the run is asked to stop during step 2
        return model(x).pow(2).mean()

    records = list(loop.train_steps(model, iter(range(1, 100)), loss, 10, 0.1, lambda: {"w": 1.0}, eval_every=5))
    assert [r["step"] for r in records] == [2] and records[0]["w"] == 1.0 and records[0]["loss"] > 0
    with pytest.raises(FloatingPointError, match="non-finite loss at step 1"):
        list(
            loop.train_steps(
                model, iter(range(9)), lambda _: torch.tensor(math.nan, requires_grad=True), 3, 0.1, dict, eval_every=1
            )
        )
