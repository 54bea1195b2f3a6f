"""What the paper's two-stage recipe costs, from a measured training speed (images per second).

Workload (docs/DESIGN.md section 1): pretraining reads MJSynth (about 8.9 M words) + SynthText (about
5.5 M in the common LMDB release) for 8 epochs; fine-tuning reads TextZoom train1 + train2
(17,367 pairs) for the number of epochs of the `paper` profile. Time = images / throughput.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MJSYNTH_WORDS = 8_900_000  # approximate size of the MJSynth training LMDB
SYNTHTEXT_WORDS = 5_500_000  # approximate size of the SynthText LMDB (clovaai release)
TEXTZOOM_TRAIN_PAIRS = 17_367
PRETRAIN_EPOCHS = 8


def images_per_second(metrics_path: str | os.PathLike, batch_size: int, skip: int = 1) -> float:
    """Training throughput logged in a metrics.jsonl (train records' time_s), ignoring the first `skip` records."""
    recs = [json.loads(ln) for ln in Path(metrics_path).read_text().splitlines() if ln.strip()]
    train = [r for r in recs if r.get("kind") == "train"]
    if len(train) <= skip:
        raise ValueError(f"{metrics_path} has too few training records to measure a speed")
    a, b = train[skip - 1] if skip else {"step": 0, "time_s": 0.0}, train[-1]
    if b["time_s"] <= a["time_s"]:
        raise ValueError(f"{metrics_path}: the time log restarted (a resumed run); measure on an uninterrupted one")
    return (b["step"] - a["step"]) * batch_size / (b["time_s"] - a["time_s"])


def recipe_hours(images_per_s: float, finetune_epochs: int, processes: int = 1) -> dict[str, float]:
    """Hours of the pretraining and fine-tuning stages at this throughput per process."""
    pre = (MJSYNTH_WORDS + SYNTHTEXT_WORDS) * PRETRAIN_EPOCHS
    ft = TEXTZOOM_TRAIN_PAIRS * finetune_epochs
    rate = images_per_s * processes
    return {
        "pretrain_images": pre,
        "finetune_images": ft,
        "pretrain_h": pre / rate / 3600,
        "finetune_h": ft / rate / 3600,
    }
