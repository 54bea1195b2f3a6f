"""The scaling lesson (notebook 06, README): reading and restoring against the training images a model has seen.

Every periodic evaluation of a run's metrics logs (pretraining, then fine-tuning) is one point: x = training
images seen so far (steps x batch x processes, fine-tuning counted after the pretraining it started from), y =
the final decoder's accuracy and the SR image's PSNR gain over bicubic (mean of the test splits the trainer
evaluated). The release's budget is marked for scale: different data (MJSynth + SynthText, then TextZoom),
labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt

from ..rundir import read_metrics

# the release's training budget: 8 epochs over MJSynth + SynthText (8.9 M + 5.5 M word crops in the
# deep-text-recognition-benchmark LMDBs), then 500 epochs over TextZoom's 17,367 training pairs (DESIGN.md 1)
RELEASE_IMAGES = 8 * 14.4e6 + 500 * 17_367
RELEASE_FINAL_ACC = 73.91  # release log, mean of splits
RELEASE_SR_GAIN = 22.31 - 20.35  # release PSNR (mean of splits) minus bicubic (paper Table 1)


@dataclass
class Curve:
    """One run's evaluations: images seen, final-decoder accuracy (%), SR gain over bicubic (dB)."""

    name: str
    images: list[int] = field(default_factory=list)
    acc: list[float | None] = field(default_factory=list)
    gain: list[float | None] = field(default_factory=list)
    finetune_from: int | None = None  # images seen when fine-tuning started

    def last(self) -> tuple[int, float | None, float | None] | None:
        """(images, accuracy, gain) of the last evaluation, or None."""
        return (self.images[-1], self.acc[-1], self.gain[-1]) if self.images else None


def stage_points(
    path: str | Path, offset: int = 0, until: int | None = None, style: str | None = None
) -> tuple[list[tuple[int, float | None, float | None]], int]:
    """The (images, accuracy, gain) of each evaluation in one stage's metrics log (up to step `until` when given),
    and the images seen at its end. With `style`, the evaluations of a segment whose start record names another
    data style (its test words are other words) are left out; its images still count."""
    points, per_step, last_step, other = [], 0, 0, False
    for r in read_metrics(path) if Path(path).exists() else []:
        if until is not None and int(r.get("step", 0)) > until:
            continue
        if r.get("kind") == "start":
            per_step = int(r.get("batch_size", 0)) * int(r.get("world", 1))
            other = bool(style and r.get("data_style") and r["data_style"] != style)
        elif r.get("kind") in ("train", "eval"):
            last_step = max(last_step, int(r["step"]))
        if r.get("kind") == "eval" and not other:
            m = r["mean_of_splits"]
            gain = None if m.get("psnr") is None else m["psnr"] - m["bicubic"]["psnr"]
            points.append((offset + int(r["step"]) * per_step, m.get("acc"), gain))
    return points, offset + last_step * per_step


def run_curve(
    name: str,
    pretrain_log: str | Path | None,
    finetune_log: str | Path | None,
    finetune_offset: int | None = None,
    pretrain_until: int | None = None,
    pretrain_offset: int = 0,
    style: str | None = None,
) -> Curve:
    """A run's curve from its stages' logs; fine-tuning starts after the pretraining's images (or finetune_offset,
    the images of the pretraining it was initialised from when that was another run's), or after its step
    `pretrain_until` when it started from the stage 1's weights at that step; pretrain_offset: the images seen
    before the pretraining (a stage 1 that continued another run's); style: stage_points'."""
    curve = Curve(name)
    pre, pre_images = (
        stage_points(pretrain_log, pretrain_offset, pretrain_until, style) if pretrain_log else ([], pretrain_offset)
    )
    start = pre_images if finetune_offset is None else finetune_offset
    fine, _ = stage_points(finetune_log, start, style=style) if finetune_log else ([], start)
    if fine:
        curve.finetune_from = start
    for images, acc, gain in (*pre, *fine):
        curve.images.append(images)
        curve.acc.append(acc)
        curve.gain.append(gain)
    return curve


def scaling_figure(curves: list[Curve], release: bool = True) -> plt.Figure:
    """Final-decoder accuracy and SR gain over bicubic against training images seen (log x), one line per run."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    panels = (
        (axes[0], "acc", "final decoder accuracy (%)", RELEASE_FINAL_ACC),
        (axes[1], "gain", "SR PSNR - bicubic PSNR (dB)", RELEASE_SR_GAIN),
    )
    for ax, key, label, release_y in panels:
        for c in curves:
            pts = [(x, y) for x, y in zip(c.images, getattr(c, key)) if y is not None and x > 0]
            if not pts:
                continue
            (line,) = ax.plot(*zip(*pts), marker="o", ms=3, label=c.name)
            if c.finetune_from:
                ax.axvline(c.finetune_from, color=line.get_color(), ls=":", lw=1)
        if release:
            ax.plot(
                [RELEASE_IMAGES],
                [release_y],
                marker="*",
                ms=14,
                color="black",
                ls="none",
                label="release (TextZoom: other data)",
            )
        ax.set_xscale("log")
        ax.set_xlabel("training images seen (log; dotted: fine-tuning starts)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].axhline(0, color="grey", lw=0.8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def scaling_sentences(curves: list[Curve]) -> str:
    """What more training bought, in words formatted from the curves' last evaluations (and the release's)."""
    ends = [(c.name, c.last()) for c in curves if c.last() is not None]
    if not ends:
        return "No run has a periodic evaluation to place on the curve yet."

    def fmt(v: float | None, unit: str, sign: bool = False) -> str:
        return "not measured" if v is None else (f"{v:+.2f}{unit}" if sign else f"{v:.1f}{unit}")

    said = [
        f"{name} saw {images:,} training images: its final decoder reads {fmt(acc, ' %')} and its SR image is "
        f"{fmt(gain, ' dB', True)} against bicubic"
        for name, (images, acc, gain) in ends
    ]
    most = max(ends, key=lambda e: e[1][0])
    said.append(
        f"the release saw about {RELEASE_IMAGES / most[1][0]:,.0f} times the images of {most[0]} and reads "
        f"{RELEASE_FINAL_ACC:.1f} % at {RELEASE_SR_GAIN:+.2f} dB on TextZoom"
    )
    return "; ".join(said) + "."
