"""The trainer on a tiny synthetic set: learning, resume equivalence, Ctrl-C, non-finite loss, CLI, DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stirer_lib.checkpoint import read
from stirer_lib.course.build import train_stage
from stirer_lib.course.profiles import Profile, get_profile
from stirer_lib.evaluation import results_table
from stirer_lib.rundir import RunExistsError, read_metrics
from stirer_lib.training import trainer as trainer_mod
from stirer_lib.training.optim import build_optimizer, build_scheduler, group_lr
from stirer_lib.training.resume import ResumeMismatchError
from stirer_lib.training.sampler import EpochBatchSampler
from stirer_lib.training.trainer import Callbacks, NonFiniteLossError, TrainingInterrupted

REPO = Path(__file__).resolve().parents[1]
SIZES = {"train1": 12, "train2": 12, "easy": 4, "medium": 4, "hard": 4, "pretrain": 24}
STEPS = 6
OVERRIDES = {
    "data.sizes": SIZES,
    "pretrain.max_steps": STEPS,
    "pretrain.batch_size": 4,
    "pretrain.ckpt_every": 2,
    "pretrain.eval_every": -1,
    "pretrain.log_every": 1,
    "pretrain.lr": 1e-3,
    "pretrain.lr_sr": 1e-3,
    "finetune.max_steps": 2,
    "finetune.batch_size": 4,
    "finetune.eval_every": 0,
    "finetune.log_every": 1,
    "eval.batch_size": 12,
}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from stirer_lib.data.synth import generate

    root = tmp_path_factory.mktemp("synth") / "root"
    generate(root, SIZES, seed=0, workers=1, verbose=False)
    return root


def _prof(data_root: Path, run_root: Path, **extra) -> Profile:
    prof = get_profile("smoke", {**OVERRIDES, **extra})
    prof.data.root, prof.run_dir = str(data_root), str(run_root)
    return prof


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read(path)["model"]


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"{len(diff)} tensors differ, e.g. {diff[:3]}"


@pytest.fixture(scope="module")
def straight_run(data_root, tmp_path_factory) -> Path:
    """One uninterrupted pretraining run of STEPS steps."""
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("straight")
    summary = train_stage(_prof(data_root, run), "pretrain", progress=False)
    assert summary["finished"] and summary["step"] == STEPS
    return run / "pretrain"


def test_sampler_shards_are_disjoint_and_deterministic():
    full = [i for b in EpochBatchSampler(10, 5, seed=3, epoch=1) for i in b]
    assert sorted(full) == list(range(10))
    again = [i for b in EpochBatchSampler(10, 5, seed=3, epoch=1) for i in b]
    other = [i for b in EpochBatchSampler(10, 5, seed=3, epoch=2) for i in b]
    assert full == again and full != other
    shards = [[i for b in EpochBatchSampler(10, 2, 3, 1, rank=r, world=2) for i in b] for r in (0, 1)]
    assert not set(shards[0]) & set(shards[1]) and len(shards[0]) == len(shards[1]) == 4
    resumed = [i for b in EpochBatchSampler(10, 2, 3, 1, rank=0, world=2, start=1) for i in b]
    assert resumed == shards[0][2:]


def test_optimizer_groups_and_schedule():
    from stirer_lib.models import build_stirer

    model = build_stirer("small")
    opt = build_optimizer(model, lr=1e-4, lr_sr=5e-4)
    body, head = opt.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert head["lr"] == 5e-4 and body["lr"] == 1e-4
    assert head["params"] and all(
        "upsample" in names[id(p)] or "conv_after_body" in names[id(p)] for p in head["params"]
    )
    sched = build_scheduler(opt, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == [1e-4] * 5 and lrs[5:] == [5e-5] * 5
    # the optional STR-decoder group (ViT + T5) takes exactly the vit.* / decoder.* parameters
    opt = build_optimizer(model, lr=2e-3, lr_sr=1e-3, lr_str=5e-4)
    body, head, str_dec = opt.param_groups
    assert (body["lr"], head["lr"], str_dec["lr"]) == (2e-3, 1e-3, 5e-4) and group_lr(opt, "str_decoder") == 5e-4
    str_names = {names[id(p)] for p in str_dec["params"]}
    assert str_names == {n for n, _ in model.named_parameters() if n.startswith(("vit.", "decoder."))}
    assert not any(n.startswith(("vit.", "decoder.")) for n in (names[id(p)] for p in body["params"]))


def test_a_few_steps_reduce_the_loss(straight_run):
    records = [json.loads(ln) for ln in (straight_run / "metrics.jsonl").read_text().splitlines()]
    totals = [r["total"] for r in records if r["kind"] == "train"]
    assert len(totals) == STEPS
    assert records[0]["kind"] == "start" and records[0]["data_style"] == get_profile("smoke", OVERRIDES).data.style
    assert sum(totals[-2:]) / 2 < 0.8 * sum(totals[:2]) / 2, totals
    state = read(straight_run / "last.pt")
    assert state["finished"] and state["step"] == STEPS and state["total_steps"] == STEPS
    assert {"model", "optimizer", "scheduler", "scaler", "rng", "config", "epoch"} <= set(state)
    assert (straight_run / "curves.png").stat().st_size > 0


def test_cli_resume_equals_straight_run(data_root, straight_run, tmp_path):
    from stirer_lib.train import main

    run = tmp_path / "pretrain"
    sets = [f"--set={k}={v!r}" for k, v in OVERRIDES.items()]
    args = [
        "--stage",
        "pretrain",
        "--profile",
        "smoke",
        "--run-dir",
        str(run),
        "--data",
        str(data_root),
        "--no-progress",
        *sets,
    ]
    assert main([*args, "--max-steps", "4"]) == 0
    state = read(run / "last.pt")
    assert state["step"] == 4 and not state["finished"]
    assert main(args) == 2  # an unfinished run is not silently restarted
    assert main([*args, "--resume", "--max-steps", "6"]) == 0
    _assert_same(_weights(run / "last.pt"), _weights(straight_run / "last.pt"))
    assert main(args) == 2  # a finished run is not overwritten unless asked
    mtime = (run / "last.pt").stat().st_mtime_ns
    assert main([*args, "--resume"]) == 0 and (run / "last.pt").stat().st_mtime_ns == mtime  # nothing left to do
    steps = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(STEPS + 1))


def test_resume_with_other_settings_names_what_differs(data_root, straight_run, tmp_path, capsys):
    import shutil

    from stirer_lib.train import main

    shutil.copytree(straight_run, tmp_path / "pretrain")
    with pytest.raises(ResumeMismatchError, match=r"'t5_init': \('release', 't5'\)"):
        train_stage(_prof(data_root, tmp_path, **{"model.t5_init": "t5"}), "pretrain", resume=True, progress=False)
    with pytest.raises(ResumeMismatchError, match=r"pretrain.lr_str"):
        train_stage(_prof(data_root, tmp_path, **{"pretrain.lr_str": 5e-4}), "pretrain", resume=True, progress=False)
    sets = [f"--set={k}={v!r}" for k, v in {**OVERRIDES, "pretrain.lr_str": 5e-4}.items()]
    assert (
        main(
            [
                "--stage",
                "pretrain",
                "--profile",
                "smoke",
                "--run-dir",
                str(tmp_path / "pretrain"),
                "--data",
                str(data_root),
                "--no-progress",
                "--resume",
                *sets,
            ]
        )
        == 2
    )
    assert "optimizer groups ['body', 'sr_head']" in capsys.readouterr().err


def test_ctrl_c_saves_last_and_resume_matches(data_root, straight_run, tmp_path):
    prof = _prof(data_root, tmp_path)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under nohup / a background job

    def interrupt(step: int) -> None:
        if step == 3:
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        train_stage(prof, "pretrain", callbacks=Callbacks(on_step=[interrupt]), progress=False)
    state = read(tmp_path / "pretrain" / "last.pt")
    assert state["step"] == 3 and not state["finished"]
    assert signal.getsignal(signal.SIGINT) is before  # the trainer restores the handler it found
    train_stage(prof, "pretrain", resume=True, progress=False)
    _assert_same(_weights(tmp_path / "pretrain" / "last.pt"), _weights(straight_run / "last.pt"))


@pytest.mark.parametrize("log_every", [1, 5])  # 5: found at the checkpoint of step 4, before it is written
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(data_root, tmp_path, monkeypatch, log_every):
    real = trainer_mod.stirer_loss
    calls = {"n": 0}

    def poisoned(out, batch, alpha=0.5):
        parts = real(out, batch, alpha)
        calls["n"] += 1
        if calls["n"] == 3:
            parts["total"] = parts["total"] * float("nan")
        return parts

    monkeypatch.setattr(trainer_mod, "stirer_loss", poisoned)
    prof = _prof(data_root, tmp_path, **{"pretrain.log_every": log_every})
    with pytest.raises(NonFiniteLossError, match=r"step 3 .*last good checkpoint .* is kept.*--resume \(a resumed"):
        train_stage(prof, "pretrain", progress=False)
    assert read(tmp_path / "pretrain" / "last.pt")["step"] == 2
    with pytest.raises(RunExistsError, match="--resume"):
        train_stage(prof, "pretrain", progress=False)


def test_a_train_step_reads_no_value_on_the_host(data_root, tmp_path, monkeypatch):
    """No .item() / .tolist() / bool() / float() / int() / torch.equal in a train step (each waits for a GPU):
    the step returns the loss terms on the device, and the trainer reads them every log_every steps."""
    from stirer_lib.course.build import make_trainer

    trainer = make_trainer(_prof(data_root, tmp_path), "pretrain", progress=False)
    try:
        batch = next(iter(trainer_mod.epoch_loader(trainer.dataset, trainer.s, 0, 0, 0, trainer.info)))
        trainer.model.train()
        reads: list[str] = []

        def recording(name: str):
            real = getattr(torch.Tensor, name)

            def read_on_host(self, *args, **kwargs):
                reads.append(name)
                return real(self, *args, **kwargs)

            return read_on_host

        for name in ("item", "tolist", "__bool__", "__float__", "__int__"):
            monkeypatch.setattr(torch.Tensor, name, recording(name))
        real_equal = torch.equal
        monkeypatch.setattr(torch, "equal", lambda *a: reads.append("equal") or real_equal(*a))
        parts = trainer.train_step(batch)
        monkeypatch.undo()
        assert reads == []
        assert parts["total"].dtype == torch.float32 and not parts["total"].requires_grad
        assert trainer.step == 1 and len(trainer._unchecked) == 1
        trainer.check_finite()
        assert trainer._unchecked == []
    finally:
        trainer.close()


def test_finetune_starts_from_pretraining_and_evaluates(data_root, straight_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="pretraining checkpoint"):
        train_stage(_prof(data_root, tmp_path), "finetune", progress=False)
    summary = train_stage(
        _prof(data_root, straight_run.parent),
        "finetune",
        run_dir=tmp_path / "finetune",
        init=straight_run / "last.pt",
        progress=False,
    )
    assert summary["finished"] and summary["best"] is not None
    best = read(tmp_path / "finetune" / "best.pt")
    assert best["step"] == 2 and set(best["metrics"]["splits"]) == {"easy", "medium", "hard"}
    assert len(best["metrics"]["mean_of_splits"]["steps"]) == 4  # three mini decoders + the final decoder
    m = best["metrics"]["mean_of_splits"]
    assert 0 <= m["acc"] <= 100 and 5 < m["bicubic"]["psnr"] < 60
    assert all(r["skipped"] == {} for r in best["metrics"]["splits"].values())
    assert "bicubic LR" in results_table({"fine-tuned": best["metrics"]})
    assert read(tmp_path / "finetune" / "last.pt")["init_from"] == str(straight_run / "last.pt")
    evals = [r for r in read_metrics(tmp_path / "finetune" / "metrics.jsonl") if r["kind"] == "eval"]
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 2  # the curve starts where the stage starts


def test_torchrun_gloo_two_processes(data_root, tmp_path):
    run = tmp_path / "pretrain"
    sets = [f"--set={k}={v!r}" for k, v in {**OVERRIDES, "pretrain.batch_size": 2, "pretrain.max_steps": 3}.items()]
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
        "pretrain",
        "--profile",
        "smoke",
        "--run-dir",
        str(run),
        "--data",
        str(data_root),
        "--no-progress",
        *sets,
    ]
    res = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    state = read(run / "last.pt")
    assert state["world"] == 2 and state["step"] == 3 and state["finished"] and len(state["rng"]) == 2
    start = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert start["world"] == 2 and start["steps_per_epoch"] == 6  # 24 words / 2 ranks / 2 per batch


def test_best_by_last_keeps_the_latest_evaluation(data_root, straight_run, tmp_path, monkeypatch):
    monkeypatch.setattr(trainer_mod, "is_better", lambda new, best: best is None)  # "acc_final" would keep step 1
    prof = _prof(
        data_root,
        straight_run.parent,
        **{"finetune.max_steps": 3, "finetune.eval_every": 1, "finetune.best_by": "last"},
    )
    summary = train_stage(prof, "finetune", run_dir=tmp_path / "ft", init=straight_run / "last.pt", progress=False)
    assert summary["best"]["step"] == 3 and read(tmp_path / "ft" / "best.pt")["step"] == 3
    with pytest.raises(ValueError, match="best_by is 'newest'.*acc_final"):
        train_stage(
            _prof(data_root, straight_run.parent, **{"finetune.best_by": "newest"}),
            "finetune",
            run_dir=tmp_path / "ft2",
            init=straight_run / "last.pt",
            progress=False,
        )


def test_cosine_schedule_warms_up_then_decays_every_group_to_zero():
    """schedule="cosine" (the cpu profile): linear warm-up, then a cosine to 0 at the last step, per group."""
    p1, p2 = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p1], "lr": 1e-3}, {"params": [p2], "lr": 4e-3}])
    sched = build_scheduler(opt, total_steps=12, kind="cosine", warmup_steps=2)
    lrs = []
    for _ in range(12):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx([1e-3 / 3, 4e-3 / 3]) and lrs[2] == pytest.approx([1e-3, 4e-3])
    assert all(a[0] >= b[0] for a, b in zip(lrs[2:], lrs[3:])) and lrs[-1][0] < 0.03e-3
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown schedule"):
        build_scheduler(opt, 10, kind="linear")
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    sched = build_scheduler(opt, total_steps=6, kind="constant", warmup_steps=1)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([5e-4] + [1e-3] * 5)


def test_finetune_from_a_reference_run_with_the_encoder_frozen(data_root, tmp_path):
    """finetune.init=reference:cpu-long builds cpu-long's model, loads its shipped stage 1 strictly, and with
    freeze=encoder only the feature encoder's own weights stay as loaded (mini decoders and decoders learn)."""
    from stirer_lib.course import reference
    from stirer_lib.course.build import build_model, stage_config, stage_start
    from stirer_lib.models.stirer import is_feature_encoder_key

    if not (reference.reference_dir("cpu-long") / "pretrain.pt").exists():
        pytest.skip("reference/cpu-long/pretrain.pt is not in this checkout")
    prof = _prof(data_root, tmp_path, **{"finetune.init": "reference:cpu-long", "finetune.freeze": "encoder"})
    assert stage_config(prof, "finetune") == get_profile("cpu-long").model.stirer_config()
    assert prof.model.changes == {}
    start = stage_start(prof, "finetune")
    assert start == reference.checkpoint("cpu-long", "pretrain")
    summary = train_stage(prof, "finetune", progress=False)
    assert summary["finished"]
    before, last = read(start)["model"], read(tmp_path / "finetune" / "last.pt")
    assert last["init_from"] == str(start) and last["config"]["use_bigru"] and last["config"]["embed_dim"] == 48
    after, weights = last["model"], {k for k, _ in build_model(prof, "finetune").named_parameters()}
    changed = {k for k in weights if not torch.equal(after[k].float(), before[k].float())}
    assert changed and not any(is_feature_encoder_key(k) for k in changed)  # (BatchNorm statistics are buffers)
    assert any(k.startswith(("vit.", "decoder.")) for k in changed)  # the STR decoder learned
    assert any(k.startswith("layers.") for k in changed)  # so did the mini decoders inside the PSTST blocks
    assert reference.started_from(tmp_path / "finetune" / "metrics.jsonl") == "cpu-long"
    assert reference.stage1_log(tmp_path / "pretrain.jsonl", tmp_path / "finetune" / "metrics.jsonl") == (
        reference.reference_dir("cpu-long") / "pretrain_metrics.jsonl"
    )


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("finetune.init", "reference:nope", "'nope' is not a profile"),
        ("finetune.init", "mine", "choose run, none or reference:P"),
        ("finetune.freeze", "all", "choose one of ('none', 'encoder')"),
    ],
)
def test_bad_start_or_freeze_settings_are_refused(key, value, words):
    from stirer_lib.errors import SettingError

    with pytest.raises(SettingError, match=words.replace("(", r"\(").replace(")", r"\)")):
        get_profile("smoke", {key: value})
