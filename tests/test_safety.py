"""Trust: checkpoints never run code, bad files get one line, one run per run directory, saves that
fail or are interrupted lose nothing, evaluation skips and counts."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stirer_lib import checkpoint as ck
from stirer_lib.errors import CheckpointError, RunDirError, SaveError
from stirer_lib.models import build_stirer, save_checkpoint
from stirer_lib.rundir import RunLock

REPO = Path(__file__).resolve().parents[1]
TINY = {"train1": 4, "train2": 4, "easy": 3, "medium": 3, "hard": 3, "pretrain": 8}
QUICK = [
    "--profile",
    "smoke",
    "--no-progress",
    "--set",
    "pretrain.max_steps=2",
    "--set",
    "pretrain.batch_size=2",
    "--set",
    "pretrain.eval_every=-1",
    "--set",
    "pretrain.ckpt_every=1",
]


class Planted:
    """Unpickling this writes a file: what a malicious checkpoint would do."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from stirer_lib.data.synth import generate

    root = tmp_path_factory.mktemp("safety") / "root"
    generate(root, TINY, seed=0, workers=1, verbose=False)
    return root


@pytest.fixture
def evil(tmp_path) -> tuple[Path, Path]:
    """(a checkpoint whose unpickling would write `marker`, marker)."""
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"x": torch.zeros(1)}, "payload": Planted(marker)}, path)
    return path, marker


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in err, err
    return lines[-1]


def test_a_malicious_checkpoint_never_runs_through_any_entry_point(evil, data_root, tmp_path, capsys):
    from experiments import probe
    from stirer_lib.evaluation import main as evaluate_main
    from stirer_lib.train import main as train_main

    path, marker = evil
    calls = {
        "evaluate --stirer": lambda: evaluate_main(["--stirer", str(path), "--data", str(data_root)]),
        "train --init": lambda: train_main(
            [
                "--stage",
                "finetune",
                "--run-dir",
                str(tmp_path / "a" / "finetune"),
                "--data",
                str(data_root),
                "--init",
                str(path),
                *QUICK,
            ]
        ),
        "probe --ckpt": lambda: probe.main(["--ckpt", str(path), "--data", str(data_root)]),
    }
    for name, call in calls.items():
        assert call() == 2, name
        assert "could run code" in _one_error_line(capsys), name
    good = tmp_path / "good.pt"
    save_checkpoint(build_stirer("small"), good)
    assert evaluate_main(["--stirer", str(good), "--crnn", str(path), "--data", str(data_root)]) == 2
    assert "CRNN checkpoint" in _one_error_line(capsys)
    run = tmp_path / "b" / "pretrain"  # a planted last.pt: neither a new run nor --resume unpickles it
    run.mkdir(parents=True)
    (run / "last.pt").write_bytes(path.read_bytes())
    for extra in ([], ["--resume"]):
        assert train_main(["--stage", "pretrain", "--run-dir", str(run), "--data", str(data_root), *QUICK, *extra]) == 2
        assert "could run code" in _one_error_line(capsys)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "is a PNG image"),
        (b"hello", "not a readable PyTorch checkpoint"),
        (os.urandom(300), "checkpoint"),
    ],
)
def test_a_file_that_is_not_a_checkpoint_gets_one_line(content, words, tmp_path, capsys, data_root):
    from stirer_lib.evaluation import main as evaluate_main

    f = tmp_path / "weights.pth"
    f.write_bytes(content)
    with pytest.raises(CheckpointError, match=words):
        ck.read(f)
    assert evaluate_main(["--stirer", str(f), "--data", str(data_root)]) == 2
    line = _one_error_line(capsys)
    assert str(f) in line


def test_a_truncated_checkpoint_names_the_file(tmp_path):
    good = tmp_path / "m.pt"
    save_checkpoint(build_stirer("small"), good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"{cut}.*truncated or damaged"):
        ck.read(cut)


def test_our_checkpoints_load_weights_only_and_old_ones_convert(tmp_path, capsys):
    from stirer_lib.training.rng_state import rng_state, set_rng_state

    state = rng_state()
    path = ck.atomic_save({"rng": [state], "config": {"a": 1}, "best": {"acc": float("nan")}}, tmp_path / "new.pt")
    back = torch.load(path, weights_only=True)  # plain data and tensors only
    np.random.random()
    set_rng_state(back["rng"][0])
    np.random.seed(None)
    old = tmp_path / "old.pt"  # a checkpoint of the previous format: numpy RNG state as arrays
    torch.save({"model": {"w": torch.ones(2)}, "rng": [{"numpy": np.random.get_state()}]}, old)
    with pytest.raises(CheckpointError, match="python -m stirer_lib.checkpoint convert"):
        ck.read(old)
    assert ck.main(["convert", str(old), str(tmp_path / "conv.pt")]) == 0
    assert torch.equal(ck.read(tmp_path / "conv.pt")["model"]["w"], torch.ones(2))
    assert ck.main(["convert", str(old), str(tmp_path / "conv.pt")]) == 2  # never overwrites a file
    assert "exists" in _one_error_line(capsys)


def test_strict_load_lists_the_wrong_keys():
    model = build_stirer("small")
    sd = dict(model.state_dict())
    sd.pop("conv_first.bias")
    sd["nonsense.weight"] = torch.zeros(1)
    with pytest.raises(
        CheckpointError,
        match=r"missing keys \(1\): conv_first\.bias.*unexpected keys \(1\): "
        r"nonsense\.weight",
    ):
        ck.load_strict(build_stirer("small"), sd, "test")


def test_best_or_last(tmp_path):
    assert ck.best_or_last(tmp_path) is None
    (tmp_path / "last.pt").write_bytes(b"x")
    assert ck.best_or_last(tmp_path).name == "last.pt"
    (tmp_path / "best.pt").write_bytes(b"x")
    assert ck.best_or_last(tmp_path).name == "best.pt"


def test_a_failed_save_says_why_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = ck.atomic_save({"step": 1}, tmp_path / "last.pt")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(SaveError, match=r"No space left on device \(ENOSPC\); the previous last.pt is intact"):
        ck.atomic_save({"step": 2}, path)
    monkeypatch.undo()
    assert ck.read(path)["step"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_ctrl_c_during_a_save_is_held_until_the_file_is_complete(tmp_path, monkeypatch):
    real = os.fsync

    def interrupted(fd):
        signal.raise_signal(signal.SIGINT)  # the user presses Ctrl-C while the file is being written
        real(fd)

    monkeypatch.setattr(os, "fsync", interrupted)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            ck.atomic_save({"step": 7}, tmp_path / "last.pt")
    finally:
        signal.signal(signal.SIGINT, old)
    assert ck.read(tmp_path / "last.pt")["step"] == 7  # delivered after the save, which is complete


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".last.pt.tmp-{int(dead.stdout)}"
    stale.write_bytes(b"half")
    mine = tmp_path / f".last.pt.tmp-{os.getpid()}x"  # not a pid: not ours to judge
    mine.write_bytes(b"?")
    ck.atomic_save({"step": 1}, tmp_path / "last.pt")
    assert not stale.exists() and mine.exists()


def test_a_second_process_is_refused_naming_the_holder(data_root, tmp_path, capsys):
    from stirer_lib.train import main as train_main

    run = tmp_path / "pretrain"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from stirer_lib.rundir import RunLock; "
            f"RunLock({str(run)!r}, 'train').acquire(); print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert train_main(["--stage", "pretrain", "--run-dir", str(run), "--data", str(data_root), *QUICK]) == 2
        line = _one_error_line(capsys)
        assert f"{run} is in use by another run (process {holder.pid}" in line
    finally:
        holder.kill()
        holder.wait()
    assert train_main(["--stage", "pretrain", "--run-dir", str(run), "--data", str(data_root), *QUICK]) == 0
    assert "taking over the lock" in capsys.readouterr().out  # the killed holder never released it


def test_one_run_per_run_directory(data_root, tmp_path, capsys):
    from stirer_lib.course.runner import run_course
    from stirer_lib.train import main as train_main

    run = tmp_path / "pretrain"
    with RunLock(run, "a test holding it"):
        with pytest.raises(RunDirError, match=rf"{run} is in use by another run \(process {os.getpid()}"):
            RunLock(run).acquire()
        assert train_main(["--stage", "pretrain", "--run-dir", str(run), "--data", str(data_root), *QUICK]) == 2
        assert f"process {os.getpid()}" in _one_error_line(capsys)
        with pytest.raises(RunDirError, match="in use"):
            run_course("smoke", str(data_root), str(run), only=[1])
    assert train_main(["--stage", "pretrain", "--run-dir", str(run), "--data", str(data_root), *QUICK]) == 0
    assert (run / ".lock").read_text() == ""  # released


def test_a_dead_runs_lock_is_taken_over_with_a_notice(tmp_path, capsys):
    (tmp_path / ".lock").write_text("4242424 on elsewhere (train)")  # its holder died without releasing
    with RunLock(tmp_path):
        assert "taking over the lock" in capsys.readouterr().out
        assert (tmp_path / ".lock").read_text().startswith(str(os.getpid()))


def test_a_run_directory_with_results_but_no_last_is_not_overwritten(data_root, tmp_path, capsys):
    from stirer_lib.train import main as train_main

    run = tmp_path / "pretrain"
    run.mkdir()
    (run / "best.pt").write_bytes(b"results")
    (run / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "step": 5}) + "\n")
    args = ["--stage", "pretrain", "--run-dir", str(run), "--data", str(data_root), *QUICK]
    assert train_main(args) == 2
    assert "holds results (best.pt, metrics.jsonl)" in _one_error_line(capsys)
    assert (run / "best.pt").read_bytes() == b"results"
    assert train_main([*args, "--overwrite"]) == 0


def test_resume_with_nothing_to_resume_says_so(data_root, tmp_path, capsys):
    from stirer_lib.train import main as train_main

    assert (
        train_main(
            ["--stage", "pretrain", "--run-dir", str(tmp_path / "p"), "--data", str(data_root), *QUICK, "--resume"]
        )
        == 2
    )
    assert "nothing to resume" in _one_error_line(capsys)
    assert not (tmp_path / "p" / "last.pt").exists()


def test_a_resumed_run_takes_the_new_learning_rate(data_root, tmp_path, capsys):
    from stirer_lib.train import main as train_main

    run = tmp_path / "pretrain"
    args = [
        "--stage",
        "pretrain",
        "--run-dir",
        str(run),
        "--data",
        str(data_root),
        *QUICK,
        "--set",
        "pretrain.max_steps=4",
    ]
    assert train_main([*args, "--max-steps", "2"]) == 0
    assert train_main([*args, "--resume", "--set", "pretrain.lr=3e-5"]) == 0
    assert "resuming with body learning rate 3e-05 (the checkpoint had 0.0001)" in capsys.readouterr().out
    groups = ck.read(run / "last.pt")["optimizer"]["param_groups"]
    body = next(g for g in groups if g["name"] == "body")
    assert body["initial_lr"] == 3e-5 and body["lr"] == pytest.approx(3e-5 * 0.5)  # halved after half the run


def test_user_errors_of_every_command_are_one_line_and_exit_2(tmp_path, capsys):
    from stirer_lib.course.__main__ import main as course_main
    from stirer_lib.data.synth import main as synth_main
    from stirer_lib.evaluation import main as evaluate_main
    from stirer_lib.train import main as train_main

    empty = tmp_path / "empty"
    empty.mkdir()
    notlmdb = tmp_path / "notlmdb" / "textzoom" / "test"
    for split in ("easy", "medium", "hard"):
        (notlmdb / split).mkdir(parents=True)
        (notlmdb / split / "data.mdb").write_bytes(b"not an lmdb")
    good = tmp_path / "good.pt"
    save_checkpoint(build_stirer("small"), good)
    cases = [
        (train_main, ["--stage", "pretrain", "--run-dir", str(tmp_path / "r"), "--data", str(empty)], "missing"),
        (
            train_main,
            ["--stage", "pretrain", "--run-dir", str(tmp_path / "r"), "--set", "pretrain.amp=flase"],
            "choose one of",
        ),
        (evaluate_main, ["--stirer", str(good), "--data", str(empty)], "no TextZoom test folder"),
        (evaluate_main, ["--stirer", str(good), "--data", str(tmp_path / "notlmdb")], "data.mdb"),
        (course_main, ["--profile", "smoke", "--set", "eval.batch_size=many", "--only", "1"], "eval.batch_size"),
        (synth_main, ["--out", str(empty)], "exists"),
        (synth_main, ["--out", str(tmp_path / "new"), "--size", "easy=lots"], "--size"),
    ]
    for main, argv, words in cases:
        assert main(argv) == 2, argv
        assert words in _one_error_line(capsys), argv


def test_evaluation_skips_and_counts_unreadable_records(tmp_path, data_root):
    import lmdb

    from stirer_lib.evaluation import evaluate, format_official, save_results

    root = tmp_path / "copy"
    import shutil

    shutil.copytree(data_root, root)
    env = lmdb.open(str(root / "textzoom" / "test" / "easy"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        txn.put(b"image_hr-000000002", b"not an image")
    env.close()
    model = build_stirer("small").eval()
    with pytest.warns(UserWarning, match="skipped"):
        res = evaluate(model, root, batch_size=2, progress=False)
    easy = res["splits"]["easy"]
    assert easy["n"] == TINY["easy"] - 1 and easy["skipped"] == {"unreadable image": 1}
    assert [p["label"] for p in easy["predictions"]].count(easy["predictions"][-1]["label"]) == 1
    assert res["splits"]["hard"]["skipped"] == {}
    js, txt = save_results(res, tmp_path / "r.json")
    assert json.loads(js.read_text())["splits"]["easy"]["skipped"] == {"unreadable image": 1}
    assert "easy: 1 unreadable image" in format_official(res) and "easy: 1 unreadable image" in txt.read_text()
