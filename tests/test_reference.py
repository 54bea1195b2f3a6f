"""The reference run: RUN/reference/ written after a course, published into reference/<profile>/, loaded by the
notebooks with use_reference=True; and the checkpoints the repository ships load strictly into today's code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from stirer_lib.checkpoint import atomic_save, read
from stirer_lib.course import reference
from stirer_lib.course.build import stage_config
from stirer_lib.course.profiles import get_profile
from stirer_lib.errors import MissingCheckpointError, RunDirError
from stirer_lib.models import build_stirer, config_from_name, load_crnn, load_stirer
from stirer_lib.models.crnn import CRNN

REPO = Path(__file__).resolve().parents[1]


def _fake_run(run: Path) -> None:
    """A finished course run's files, small: CRNN, both stages (best.pt + metrics.jsonl), the evaluations."""
    cfg = config_from_name("small")
    (run / "crnn").mkdir(parents=True)
    atomic_save(
        {
            "model": CRNN(width=0.25, nh=16).state_dict(),
            "config": {"width": 0.25, "nh": 16, "nc": 1},
            "step": 3,
            "history": [{"step": 0, "acc": {"easy": 0.0}}, {"step": 3, "acc": {"easy": 50.0}}],
            "optimizer": {"big": torch.zeros(10)},
        },
        run / "crnn" / "crnn.pt",
    )
    (run / "crnn" / "accuracy_gap.json").write_text(json.dumps({"easy": {"hr": {"accuracy": 80.0, "n": 2}}}))
    for i, stage in enumerate(("pretrain", "finetune")):
        (run / stage).mkdir()
        torch.manual_seed(i)
        atomic_save(
            {
                "model": build_stirer(cfg).state_dict(),
                "config": cfg.to_dict(),
                "step": 5 + i,
                "optimizer": {"state": {}},
            },
            run / stage / "best.pt",
        )
        ev = {"kind": "eval", "step": 5 + i, "mean_of_splits": {"acc": 10.0 + i}, "over_all": {"acc": 9.0}}
        (run / stage / "metrics.jsonl").write_text(
            json.dumps({"kind": "start", "step": 0}) + "\n" + json.dumps(ev) + "\n"
        )


def test_write_publish_install_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "repo_root", lambda: tmp_path / "repo")
    run = tmp_path / "run"
    _fake_run(run)
    dst = reference.write(run, {"01_data.ipynb": 0.5, "02_crnn_baseline.ipynb": 2.25}, "python -m stirer_lib.course")
    res = json.loads((dst / "results.json").read_text())
    assert res["total_minutes"] == 2.75 and res["provenance"]["command"] == "python -m stirer_lib.course"
    assert res["finetune"]["mean_of_splits"]["acc"] == 11.0 and res["crnn"]["easy"]["hr"]["accuracy"] == 80.0
    assert "optimizer" not in read(dst / "crnn.pt") and read(dst / "pretrain.pt")["step"] == 5
    assert [h["step"] for h in read(dst / "crnn.pt")["history"]] == [0, 3]  # notebook 02's curve ships with it
    with pytest.raises(MissingCheckpointError, match="publish-reference"):
        reference.checkpoint("cpu", "pretrain")
    published = reference.publish(run, "cpu")
    assert published == tmp_path / "repo" / "reference" / "cpu" and (published / "finetune_metrics.jsonl").exists()
    with pytest.raises(RunDirError, match="--overwrite"):
        reference.publish(run, "cpu")
    reference.publish(run, "cpu", overwrite=True)
    ref = reference.load("cpu")
    assert reference.beside(12.345, ref, "finetune.mean_of_splits.acc") == "12.35 % (reference run: 11.00 %)"
    assert reference.beside(None, None, "x") == "-"

    learner = tmp_path / "learner"
    got = reference.install("cpu", learner, "crnn")
    assert got["step"] == 3 and load_crnn(learner / "crnn" / "crnn.pt").width == 0.25
    got = reference.install("cpu", learner, "finetune")
    assert load_stirer(learner / "finetune" / "best.pt").config.name == "small"
    assert (learner / "finetune" / "metrics.jsonl").read_text().count("\n") == 2
    reference.install("cpu", learner, "finetune")  # its own earlier install is replaced
    assert got["from"] == "reference/cpu/finetune.pt"
    assert (
        reference.weights_used(learner, "finetune") == "loaded reference/cpu/finetune.pt (the reference run's, 6 steps)"
    )
    assert reference.weights_used(run, "pretrain") == "trained 5 steps (pretrain/best.pt)"
    assert reference.weights_used(learner, "pretrain") is None
    note = reference.weights_note("cpu", "finetune", True)
    assert (
        "reference/cpu/finetune.pt" in note
        and "`python -m stirer_lib.course`" in note
        and "use_reference = False" in note
    )
    assert "use_reference = True" in reference.weights_note("cpu", "crnn", False)
    assert "none shipped" in reference.weights_note("gpu", "pretrain", True)
    said = reference.run_weights("cpu", learner, ["crnn", "pretrain", "finetune"], use_reference=True)
    assert said.count("loaded reference/cpu/") == 3  # the missing pretrained model was installed
    with pytest.raises(MissingCheckpointError, match="run notebook 04 first"):
        reference.run_weights("cpu", tmp_path / "empty", ["pretrain"], use_reference=False)


def test_install_never_replaces_a_learners_own_run(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "repo_root", lambda: tmp_path / "repo")
    run = tmp_path / "run"
    _fake_run(run)
    reference.write(run, {}, "cmd")
    reference.publish(run, "cpu")
    with pytest.raises(RunDirError, match="run of your own"):
        reference.install("cpu", run, "pretrain")  # run/pretrain/best.pt is the learner's
    assert "optimizer" in read(run / "pretrain" / "best.pt")


@pytest.mark.parametrize("profile", ["cpu", "cpu-long", "cpu-open"])
def test_a_shipped_stage1_loads_strictly_into_its_profiles_model(profile):
    """Every shipped stage 1 (a finished run's, or the first stage of a run still training) is the model its
    profile's pretraining builds, loads strictly and runs; its log ships beside it."""
    shipped = REPO / "reference" / profile
    if not (shipped / "pretrain.pt").exists():
        pytest.skip(f"no stage 1 shipped in reference/{profile}/")
    # the finished stage 1, those at an earlier step (pretrain_stepSTEP.pt), and a stage 2 shipped before its run
    # has a results file: all the model the profile's pretraining builds
    stage2 = [] if (shipped / "results.json").exists() else sorted(shipped.glob("finetune.pt"))  # else: test below
    for path in [*sorted(shipped.glob("pretrain*.pt")), *stage2]:
        model = load_stirer(path)
        stage = "finetune" if path.name == "finetune.pt" else "pretrain"
        assert model.config == stage_config(get_profile(profile), stage), path.name
        with torch.no_grad():
            out = model.eval()(torch.rand(1, 4, 16, 64))
        assert out.sr.shape == (1, 4, 32, 128) and out.text_ids is not None
    assert any(r["kind"] == "eval" for r in map(json.loads, (shipped / "pretrain_metrics.jsonl").open()))
    if (shipped / "crnn.pt").exists() and not (shipped / "results.json").exists():  # a run still training
        prof = get_profile(profile)
        crnn = load_crnn(shipped / "crnn.pt")
        assert (crnn.width, crnn.nh) == (prof.crnn.width, prof.crnn.hidden)
        history = read(shipped / "crnn.pt")["history"]
        assert history[0]["step"] == 0 and any(k.startswith("acc_") for k in history[-1])
    assert sum(p.stat().st_size for p in shipped.iterdir()) < 20e6  # the repository stays small enough to copy


@pytest.mark.parametrize("profile", ["cpu", "cpu-long"])
def test_shipped_checkpoints_load_strictly_into_todays_code(profile):
    """A profile's reference checkpoints (CRNN, pretrained and fine-tuned STIRER) load strictly and run."""
    shipped = REPO / "reference" / profile
    if not (shipped / "results.json").exists():
        pytest.skip(f"no reference run shipped in reference/{profile}/")
    prof = get_profile(profile)
    crnn = load_crnn(shipped / "crnn.pt")
    assert (crnn.width, crnn.nh) == (prof.crnn.width, prof.crnn.hidden)
    for stage in ("pretrain", "finetune"):
        model = load_stirer(shipped / f"{stage}.pt")
        assert model.config == stage_config(prof, stage)  # cpu fine-tunes cpu-open's stage 1
        with torch.no_grad():
            out = model.eval()(torch.rand(2, 4, 16, 64))
        assert out.sr.shape == (2, 4, 32, 128) and out.text_ids is not None
    ref = json.loads((shipped / "results.json").read_text())
    assert {"date", "machine", "command", "commit"} <= set(ref["provenance"])
    assert sum(p.stat().st_size for p in shipped.iterdir()) < 20e6  # the repository stays small enough to copy


def test_training_seconds_add_the_segments_of_a_resumed_run(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [
        {"kind": "start", "step": 0},
        {"kind": "train", "step": 25, "time_s": 30.0},
        {"kind": "train", "step": 50, "time_s": 61.0},
        {"kind": "train", "step": 75, "time_s": 12.0},
        {"kind": "eval", "step": 75, "time_s": 20.5},
    ]
    log.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert reference.training_seconds(log) == pytest.approx(81.5)
    assert reference.training_seconds(tmp_path / "missing.jsonl") == 0.0


def test_a_stage_trained_in_segments_ships_one_log(tmp_path, monkeypatch):
    monkeypatch.setattr(reference, "repo_root", lambda: tmp_path / "repo")
    seg1, seg2 = tmp_path / "seg1.jsonl", tmp_path / "seg2.jsonl"
    start = {"kind": "start", "step": 0, "batch_size": 8, "world": 1}
    seg1.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {**start, "init_from": "/elsewhere/reference/cpu-long/pretrain.pt"},
                {"kind": "eval", "step": 0, "mean_of_splits": {"acc": 20.0}},
                {"kind": "train", "step": 40, "time_s": 30.0},
                {"kind": "eval", "step": 40, "mean_of_splits": {"acc": 40.0}},
            )
        )
        + "\n"
    )
    seg2.write_text(
        "\n".join(
            json.dumps(r)
            for r in (
                {**start, "init_from": "/work/reference/cpu-open/pretrain.pt"},
                {"kind": "train", "step": 10, "time_s": 9.0},
                {"kind": "eval", "step": 10, "mean_of_splits": {"acc": 45.0}},
            )
        )
        + "\n"
    )
    out = reference.reference_dir("cpu-open") / "pretrain_metrics.jsonl"
    out.parent.mkdir(parents=True)
    reference.continued_log(seg1, seg2, out)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["kind"], r["step"]) for r in records][-3:] == [("start", 40), ("train", 50), ("eval", 50)]
    assert records[-3]["continues"] == 40 and "continues" not in records[0]
    assert reference.training_seconds(out) == pytest.approx(39.0)  # both segments' time
    words = reference.stage1_words("cpu-open")
    assert (
        words.startswith("50 pretraining steps of 8 words (400 images") and "after the cpu-long run's stage 1" in words
    )
    with pytest.raises(RunDirError, match="exists"):
        reference.continued_log(seg1, seg2, out)  # a shipped log is never overwritten


def test_evals_table_formats_the_records():
    step = lambda acc, psnr: {"acc": acc, "psnr": psnr, "ssim": 0.5}  # noqa: E731
    m = {
        "steps": [step(10.0, 20.0), step(40.0, 21.0)],
        "acc": 40.0,
        "psnr": 21.0,
        "ssim": 0.7,
        "bicubic": {"psnr": 20.5, "ssim": 0.69},
        "crnn_acc": 30.0,
        "crnn_acc_lr_bicubic": 12.0,
        "crnn_acc_hr": 81.0,
    }
    rows, headers = reference.evals_table({"this run": [{"step": 300, "mean_of_splits": m}], "reference run": []})
    assert rows == [["this run", "300", "21.00 / 20.50", "10.0", "40.0"]] and len(headers) == 5
    ref = {"eval": {"mean_of_splits": m}}
    assert reference.value(ref, "eval.mean_of_splits.steps.0.acc") == 10.0


def test_a_stage1_at_an_earlier_step_is_named_found_and_drawn_up_to_that_step(tmp_path, monkeypatch):
    from stirer_lib.course.profiles import get_profile, reference_start, reference_step
    from stirer_lib.errors import SettingError
    from stirer_lib.viz.scaling import run_curve

    assert (reference_start("reference:cpu-open@5000"), reference_step("reference:cpu-open@5000")) == ("cpu-open", 5000)
    assert reference_step("reference:cpu-open") is None and reference_start("run") is None
    with pytest.raises(SettingError, match="whole number"):
        get_profile("cpu", {"finetune.init": "reference:cpu-open@five"})
    monkeypatch.setattr(reference, "repo_root", lambda: tmp_path / "repo")
    with pytest.raises(MissingCheckpointError, match="pretrain_step5000.pt"):
        reference.checkpoint("cpu-open", "pretrain", 5000)
    fine = tmp_path / "finetune.jsonl"
    start = {"kind": "start", "step": 0, "batch_size": 8, "world": 1}
    fine.write_text(
        json.dumps({**start, "init_from": "/x/reference/cpu-open/pretrain_step5000.pt"})
        + "\n"
        + json.dumps(
            {"kind": "eval", "step": 0, "mean_of_splits": {"acc": 70.0, "psnr": 21.0, "bicubic": {"psnr": 20.0}}}
        )
        + "\n"
    )
    assert reference.started_from(fine) == "cpu-open" and reference.started_step(fine) == 5000
    pre = tmp_path / "pretrain.jsonl"
    evals = [
        {"kind": "eval", "step": s, "mean_of_splits": {"acc": s / 100, "psnr": 21.0, "bicubic": {"psnr": 20.0}}}
        for s in (0, 5000, 6000)
    ]
    pre.write_text("\n".join(json.dumps(r) for r in [start, *evals]) + "\n")
    curve = run_curve("cpu", pre, fine, pretrain_until=reference.started_step(fine))
    assert curve.images == [0, 40_000, 40_000] and curve.finetune_from == 40_000  # the step-6,000 point is not its past


def test_reference_curves_name_the_test_words_of_another_world(tmp_path, monkeypatch):
    """Every reference run with both stages' logs is drawn; one whose data style is not the notebook's says which
    test words its points read (the open-world run reads full-style words, the lesson runs the lesson's)."""
    monkeypatch.setattr(reference, "repo_root", lambda: tmp_path)
    start = {"kind": "start", "step": 0, "batch_size": 8, "world": 1}
    ev = {"kind": "eval", "step": 10, "mean_of_splits": {"acc": 40.0, "psnr": 21.0, "bicubic": {"psnr": 20.5}}}
    for name in ("cpu-long", "cpu-open", "gpu"):
        ref = reference.reference_dir(name)
        ref.mkdir(parents=True)
        for stage in ("pretrain", "finetune") if name != "gpu" else ("pretrain",):  # gpu: no fine-tuning log
            (ref / reference.METRICS[stage]).write_text(json.dumps(start) + "\n" + json.dumps(ev) + "\n")
    lesson = get_profile("cpu").data.style
    assert [c.name for c in reference.reference_curves(lesson)] == [
        "cpu-long reference",
        "cpu-open reference (full-style test words)",
    ]
    assert [c.name for c in reference.reference_curves("full")][0] == "cpu-long reference (lesson-style test words)"
    assert [c.acc for c in reference.reference_curves()] == [[40.0, 40.0], [40.0, 40.0]]


def test_world_readings_come_from_results_or_evaluations(tmp_path, monkeypatch):
    """A finished lesson run reads its own test set (lesson) and its out-of-distribution set (full style) from
    results.json; a run still training from evaluations.json, only the sets through the course's camera."""
    from stirer_lib.course import lesson

    monkeypatch.setattr(reference, "repo_root", lambda: tmp_path)
    mean = lambda acc: {"mean_of_splits": {"acc": acc}}  # noqa: E731
    reference.reference_dir("cpu").mkdir(parents=True)
    (reference.reference_dir("cpu") / reference.RESULTS).write_text(json.dumps({"eval": mean(80.0), "ood": mean(40.0)}))
    reference.reference_dir("cpu-open").mkdir(parents=True)
    evaluations = {
        "provenance": {"date": "x"},
        "full_heldout": {"style": "full", "camera": "heldout", **mean(99.0)},
        "full": {"style": "full", "camera": "course", **mean(52.5)},
    }
    (reference.reference_dir("cpu-open") / reference.EVALUATIONS).write_text(json.dumps(evaluations))
    assert reference.world_readings("cpu") == {"lesson": 80.0, "full": 40.0}
    assert reference.world_readings("cpu-open") == {"full": 52.5}
    assert reference.world_readings("cpu-long") == {}
    said = lesson.worlds_sentence()
    assert "the cpu reference 80.0 % and 40.0 %; the cpu-open reference not measured and 52.5 %." in said
