"""`python -m stirer_lib.doctor`: every section printed, nothing written, missing real data explained, bad input."""

from __future__ import annotations

import time

import pytest

from stirer_lib import doctor
from stirer_lib.course import get_profile

SECTIONS = ("== device", "== disk", "== data", "== measured on this device", "== estimated time")
CHEAP = [
    "--steps",
    "1",
    *[
        f"--set={kv}"
        for kv in (
            "model.config=small",
            "data.num_workers=0",
            "crnn.batch_size=4",
            "eval.batch_size=4",
            "pretrain.batch_size=2",
            "finetune.batch_size=2",
        )
    ],
]


def test_doctor_smoke_prints_every_section_and_writes_nothing(tmp_path, capsys):
    data, run = tmp_path / "data", tmp_path / "run"
    t0 = time.perf_counter()
    assert doctor.main(["--profile", "smoke", "--data", str(data), "--run-dir", str(run), *CHEAP]) == 0
    took = time.perf_counter() - t0
    out = capsys.readouterr().out
    assert all(s in out for s in SECTIONS), out
    for row in (
        "bf16 autocast",
        "transformers",
        "CRNN train step",
        "STIRER pretrain step (small)",
        "01_data",
        "06_evaluation",
        "total",
        "will be generated",
        "python -m stirer_lib.data.synth --out",
    ):
        assert row in out, row
    assert not data.exists() and not run.exists()  # timing data lives in a temporary folder
    print(f"doctor (smoke, 1 step, small batches) took {took:.0f} s")


def test_doctor_paper_names_each_missing_data_set_and_where_to_get_it(tmp_path, capsys):
    data = tmp_path / "nothing"
    assert doctor.main(["--profile", "paper", "--data", str(data), "--run-dir", str(tmp_path / "run"), *CHEAP]) == 0
    out = capsys.readouterr().out
    assert out.count("MISSING") == 6 and "github.com/JasonBoy1/TextZoom" in out and "data_lmdb_release" in out
    assert "released CRNN (crnn.max_steps=0)" in out and not data.exists()


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert doctor.main(["--profile", "cpu", "--set", "pretrain.max_steps=abc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "pretrain.max_steps" in err
    with pytest.raises(SystemExit) as exit_info:
        doctor.main(["--profile", "laptop"])
    assert exit_info.value.code == 2


def _measured(**kw) -> doctor.Measured:
    base = dict(
        pair_s=0.01,
        word_s=0.005,
        quality_s=0.05,
        pair_bytes=9e3,
        word_bytes=4e3,
        start_s=5.0,
        build_s=2.0,
        item_s=0.002,
        crnn_step_s=1.0,
        crnn_params=8_000_000,
        params=900_000,
        step_s={"pretrain": 0.4, "finetune": 0.4},
        save_s=0.2,
        eval_s=0.02,
        crnn_eval_s=0.004,
        full_eval_s=0.04,
        scaled={},
    )
    return doctor.Measured(**{**base, **kw})


def test_estimate_scales_the_measured_units_by_the_profile():
    prof = get_profile("cpu")
    rows = {r.stage: r for r in doctor.estimate(prof, _measured(), doctor.data_sizes(prof), True, 2)}
    assert list(rows) == [
        "data generation",
        "01_data",
        "02_crnn_baseline",
        "03_stirer_architecture",
        "04_pretraining",
        "05_finetuning",
        "06_evaluation",
    ]
    # 600 steps x 0.4 s + 2 evaluations of 3 x 100 images x 0.02 s + (6 saves + 2/3 best.pt) x 0.2 s + start
    assert (prof.pretrain.max_steps, prof.pretrain.eval_every, prof.pretrain.ckpt_every) == (600, 300, 100)
    assert rows["04_pretraining"].seconds == pytest.approx(240 + 12 + (6 + 2 / 3) * 0.2 + 5)
    # 1,500 CRNN steps x 1 s + (5 evaluations of 200 easy words + the gap's 900 words) x 0.004 s + start
    assert (prof.crnn.max_steps, prof.crnn.eval_every) == (1500, 300)
    assert rows["02_crnn_baseline"].seconds == pytest.approx(1500 + (5 * 200 + 900) * 0.004 + 5)
    assert doctor.evaluations(2000, 500) == 4 and doctor.evaluations(10, 0) == 1 and doctor.evaluations(10, -1) == 0
    assert doctor.evaluations(1200, 500) == 3
    paper = get_profile("paper")  # epochs over the published sizes when the real data is not there
    sizes = doctor.data_sizes(paper)
    assert doctor.stage_steps(paper, "finetune", sizes) == 500 * (17_367 // 48)
