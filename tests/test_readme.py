"""The README quotes the shipped reference runs' numbers as their results files hold them (one source for each)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _results(profile: str) -> dict:
    path = REPO / "reference" / profile / "results.json"
    if not path.exists():
        pytest.skip(f"no {path.relative_to(REPO)} in this checkout")
    return json.loads(path.read_text())


def _paragraph(start: str) -> str:
    """The README paragraph that begins with `start`."""
    i = README.index(start)
    return README[i : README.find("\n\n", i)]


def _quoted(m: dict) -> list[str]:
    """What a README paragraph quotes of a run: final decoder, CRNN on SR / bicubic LR / HR, SR and bicubic PSNR."""
    return [
        f"{m['acc']:.1f} %",
        f"{m['crnn_acc']:.1f} %",
        f"{m['crnn_acc_lr_bicubic']:.1f} %",
        f"{m['crnn_acc_hr']:.1f} %",
        f"{m['psnr']:.2f}",
        f"{m['bicubic']['psnr']:.2f}",
    ]


@pytest.mark.parametrize(
    "profile, start",
    [("cpu", "Over the 900 test words of the cpu reference run"), ("cpu-long", "**Trained longer**")],
)
def test_readme_quotes_the_reference_results(profile, start):
    results = _results(profile)
    text = _paragraph(start)
    missing = [s for s in _quoted(results["eval"]["mean_of_splits"]) if s not in text]
    assert not missing, f"README's {profile} paragraph lacks {missing} (reference/{profile}/results.json)"


def test_readme_quotes_the_long_runs_hours_and_held_out_gain():
    results = _results("cpu-long")
    text = _paragraph("**Trained longer**")
    hours = sum(results["training_hours"].values())
    held = results["heldout"]["mean_of_splits"]
    assert f"{hours:.1f} hours" in text
    assert f"{held['psnr'] - held['bicubic']['psnr']:+.2f} dB" in text


def test_readme_says_what_the_half_hours_fine_tuning_buys():
    """The cpu paragraph quotes the reference fine-tuning's first and last evaluations (its log, step 0 included)."""
    log = REPO / "reference" / "cpu" / "finetune_metrics.jsonl"
    if not log.exists():
        pytest.skip("no reference/cpu/finetune_metrics.jsonl in this checkout")
    evals = [r for r in map(json.loads, log.read_text().splitlines()) if r.get("kind") == "eval"]
    first, last = evals[0], evals[-1]
    assert first["step"] == 0, "the shipped fine-tuning log has no step-0 evaluation: retrain the cpu reference run"
    m0, m1 = first["mean_of_splits"], last["mean_of_splits"]
    gain = lambda m: m["psnr"] - m["bicubic"]["psnr"]  # noqa: E731
    text = _paragraph("Over the 900 test words of the cpu reference run")
    quoted = [f"{m0['acc']:.1f} %", f"{m1['acc']:.1f} %", f"{m1['acc'] - m0['acc']:+.1f} points"]
    quoted += [f"{gain(m0):+.2f} dB", f"{gain(m1):+.2f} dB"]
    missing = [s for s in quoted if s not in text]
    assert not missing, f"README's cpu paragraph lacks {missing} (reference/cpu/finetune_metrics.jsonl)"


def test_readme_quotes_the_open_world_runs_evaluations():
    """The open-world paragraph quotes reference/cpu-open/evaluations.json (full-style test set): the final decoder,
    the CRNN on SR / bicubic LR / HR, the SR gain, the best mini decoder and the words never seen in training; and
    the lesson models' reading of the same style, from their results files."""
    path = REPO / "reference" / "cpu-open" / "evaluations.json"
    if not path.exists():
        pytest.skip(f"no {path.relative_to(REPO)} in this checkout")
    full = json.loads(path.read_text())["full"]
    m, text = full["mean_of_splits"], _paragraph("**The open world**")
    for v in (m["acc"], m["crnn_acc"], m["crnn_acc_lr_bicubic"], m["crnn_acc_hr"], max(s["acc"] for s in m["steps"])):
        assert f"{v:.2f} %" in text
    assert f"{m['psnr'] - m['bicubic']['psnr']:+.2f} dB" in text
    assert f"{full['seen_unseen']['mean_of_splits']['unseen']['acc']:.2f} %" in text
    on_lesson = json.loads(path.read_text())["lesson"]["mean_of_splits"]
    assert f"{on_lesson['acc']:.2f} %" in text
    assert f"({on_lesson['psnr'] - on_lesson['bicubic']['psnr']:+.2f} dB)" in text
    lesson = sorted(_results(p)["ood"]["mean_of_splits"]["acc"] for p in ("cpu", "cpu-long"))
    assert f"the lesson models: {lesson[0]:.0f}-{lesson[1]:.0f} %" in text
