"""course/lesson.py: the sentences and tables the notebooks print, from the numbers (the smoke series runs the rest)."""

from __future__ import annotations

import pytest

from stirer_lib.course import lesson
from stirer_lib.course.profiles import get_profile


def _mean(acc, psnr, bic=20.0, crnn=30.0, crnn_lr=10.0):
    return {
        "mean_of_splits": {
            "acc": acc,
            "psnr": psnr,
            "ssim": 0.7,
            "bicubic": {"psnr": bic, "ssim": 0.69},
            "steps": [{"acc": acc, "psnr": psnr, "ssim": 0.7}],
            "crnn_acc": crnn,
            "crnn_acc_lr_bicubic": crnn_lr,
            "crnn_acc_hr": 80.0,
        }
    }


def test_ignored_overrides_are_named_only_with_reference_weights():
    over = {"finetune.lr": 1e-3, "model.embed_dim": 48, "eval.batch_size": 8}
    said = lesson.ignored_overrides(over, "finetune", use_reference=True)
    assert "`finetune.lr`" in said and "`model.embed_dim`" in said and "eval.batch_size" not in said
    assert lesson.ignored_overrides(over, "finetune", use_reference=False) is None
    assert lesson.ignored_overrides({"eval.batch_size": 8}, "pretrain", use_reference=True) is None


def test_stage_settings_name_the_model_by_what_it_is():
    rows = dict(lesson.stage_settings(get_profile("cpu"), "pretrain"))
    assert rows["model"] == "STIRER small, C' = 32, no Bi-GRU" and rows["max_steps"] == 600


def test_gap_words_and_rows_come_from_the_numbers():
    gap = {
        s: {"hr": {"accuracy": hr, "n": 3}, "lr_bicubic": {"accuracy": lr, "n": 3}}
        for s, hr, lr in [("easy", 90.0, 30.0), ("medium", 80.0, 80.0), ("hard", 70.0, 10.0)]
    }
    said = lesson.gap_words(gap, get_profile("smoke"), "this CRNN")
    assert "90.0 / 80.0 / 70.0 % of the HR words" in said and "a gap on 2 of 3 splits" in said
    none = {s: {"hr": {"accuracy": 0.0}, "lr_bicubic": {"accuracy": 0.0}} for s in gap}
    assert "reads no HR test word yet" in lesson.gap_words(none, get_profile("smoke"), "this CRNN")
    ref = {"crnn": {"easy": {"hr": {"accuracy": 91.0}}}}
    assert lesson.gap_beside_reference(gap, ref)[0][1] == "90.00 % (reference run: 91.00 %)"


def test_before_after_and_moved_words():
    before, after = _mean(40.0, 20.5), _mean(46.0, 21.0)
    rows = lesson.before_after_rows(before, after, None, with_crnn=True)
    assert rows[0] == ("final decoder", "40.00 %", "46.00 %") and len(rows) == 5
    assert len(lesson.before_after_rows(before, after, None, with_crnn=False)) == 3
    said = lesson.moved_words(before, after)
    assert "+6.00 points" in said and "+0.50 dB" in said and "+1.00 dB against bicubic" in said
    assert lesson.moved_words(_mean(None, 20.0), after) is None


def test_shift_words_and_step_rows():
    said = lesson.shift_words(_mean(50.0, 21.0), _mean(10.0, 20.2), "the new words")
    assert "+1.00 dB against bicubic on the course's test words and +0.20 dB on the new words" in said
    res = {
        "splits": {
            "easy": {"steps": [{"acc": 1.0, "psnr": 20.0, "ssim": 0.5}, {"acc": None, "psnr": 21.0, "ssim": 0.6}]}
        }
    }
    assert lesson.step_rows(res) == [
        ("easy", 0, "1.00", "20.00", "0.5000"),
        ("easy", "1 (final)", "n/a", "21.00", "0.6000"),
    ]


def test_a_bad_crnn_source_is_refused():
    with pytest.raises(ValueError, match="crnn_source"):
        lesson.released_crnn(get_profile("smoke"), "maybe")


@pytest.mark.parametrize(
    "profile, init_from, words",
    [
        ("cpu", "/a/machine/reference/cpu-open/pretrain.pt", ["cpu-open reference run's", "full style", "kept"]),
        ("cpu", "/work/runs/x/pretrain/best.pt", ["Neither stage", "this run's own, lesson style"]),
        ("cpu-long", "/a/reference/cpu-long/pretrain.pt", ["Neither stage", "cpu-long reference run's, lesson"]),
        ("gpu", "none", ["this run's own) trained on the full style"]),
    ],
)
def test_notebook_06_says_what_the_model_saw_of_the_full_style(tmp_path, profile, init_from, words):
    import json

    prof = get_profile(profile)
    prof.run_dir = str(tmp_path)
    (tmp_path / "finetune").mkdir()
    start = {"kind": "start", "step": 0, "init_from": init_from}
    (tmp_path / "finetune" / "metrics.jsonl").write_text(json.dumps(start) + "\n")
    said = lesson.ood_history(prof)
    assert all(w in said for w in words), said


def test_a_gallery_says_why_it_reads_what_it_reads(tmp_path):
    import json

    prof = get_profile("cpu")
    prof.run_dir = str(tmp_path)
    (tmp_path / "pretrain").mkdir()
    log = tmp_path / "pretrain" / "metrics.jsonl"
    assert lesson.gallery_words(prof, "pretrain") is None  # no log: nothing to say
    early = {"kind": "eval", "step": 600, "mean_of_splits": {"acc": 8.0, "steps": [{"acc": 0.0}] * 3 + [{"acc": 8.0}]}}
    log.write_text(json.dumps(early) + "\n")
    said = lesson.gallery_words(prof, "pretrain")
    assert "step 600" in said and "8.0 %" in said and "0.0 / 0.0 / 0.0 %" in said and "expect" in said
    late = {**early, "step": 1800, "mean_of_splits": {"acc": 78.7, "steps": [{"acc": 58.3}] * 3 + [{"acc": 78.7}]}}
    log.write_text(json.dumps(late) + "\n")
    assert "degraded" in lesson.gallery_words(prof, "pretrain", "The fine-tuned weights'")
