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
