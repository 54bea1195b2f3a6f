"""Pictures of training: loss and accuracy curves (static or live), SR images and predictions per step."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import PercentFormatter

from ..atomic_write import atomic_write_bytes
from ..rundir import read_metrics

LOSS_KEYS = ("total", "l_sr", "l_rec")


def _legend_below(ax: plt.Axes, handles: list, labels: list) -> None:
    """A legend under the axes (outside them, so it never covers a curve); tight_layout makes room for it."""
    ax.legend(
        handles,
        labels,
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=min(3, max(1, len(labels))),
        frameon=False,
    )


def plot_curves(records: Sequence[dict], fig: plt.Figure | None = None, title: str = "") -> plt.Figure:
    """Left: Eq. 9's total, L_SR and L_Rec per logged step (log scale). Right: test accuracy and PSNR."""
    fig = fig or plt.figure(figsize=(11, 4.2))
    fig.clf()
    ax_loss, ax_acc = fig.subplots(1, 2)
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    for key in LOSS_KEYS:
        pts = [(r["step"], r[key]) for r in train if key in r]
        if pts:
            ax_loss.plot(
                *zip(*pts), label={"total": "L (Eq. 9)", "l_sr": "L_SR (Eq. 7)", "l_rec": "L_Rec (Eq. 8)"}[key]
            )
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss")
    if train:
        ax_loss.set_yscale("log")
        _legend_below(ax_loss, *ax_loss.get_legend_handles_labels())
    ax_loss.set_title("training losses")
    if evals:
        steps = [r["step"] for r in evals]
        accs = [[st["acc"] for st in r["mean_of_splits"]["steps"]] for r in evals]
        n_steps = len(accs[-1])
        for k in range(n_steps):
            name = "final decoder" if k == n_steps - 1 else f"mini decoder {k + 1}"
            ax_acc.plot(
                steps,
                [a[k] if len(a) > k and a[k] is not None else float("nan") for a in accs],
                marker="o",
                label=name,
                lw=2 if k == n_steps - 1 else 1,
            )
        ax_acc.set_ylabel("word accuracy (%)")
        ax_acc.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
        ax_acc.set_ylim(0, 100)
        ax_psnr = ax_acc.twinx()
        psnr = [r["mean_of_splits"]["psnr"] for r in evals]
        ax_psnr.plot(steps, [float("nan") if p is None else p for p in psnr], "k--", marker="s", label="PSNR SR")
        bic = evals[-1]["mean_of_splits"]["bicubic"]["psnr"]
        if bic is not None:
            ax_psnr.axhline(bic, color="gray", ls=":", label="PSNR bicubic")
        ax_psnr.set_ylabel("PSNR (dB)")
        # one legend for both y axes, below the plot: a legend inside twin axes covers the other axes' lines
        (h1, l1), (h2, l2) = ax_acc.get_legend_handles_labels(), ax_psnr.get_legend_handles_labels()
        _legend_below(ax_acc, h1 + h2, l1 + l2)
    else:
        ax_acc.text(0.5, 0.5, "no evaluation yet", ha="center", va="center", transform=ax_acc.transAxes)
    ax_acc.set_xlabel("step")
    ax_acc.set_title("test splits (mean of easy / medium / hard)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_curves(metrics_path: str | os.PathLike, out_png: str | os.PathLike, title: str = "") -> Path:
    """Draw the curves of metrics.jsonl into a PNG file."""
    fig = plot_curves(read_metrics(metrics_path), title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return atomic_write_bytes(buf.getvalue(), out_png)


class LiveCurves:
    """A trainer callback that redraws the curves in a notebook every `every` logged records.

    interactive=True updates one figure in place (IPython display handle); interactive=False
    draws nothing during training (the tqdm bar shows progress) and `final()` shows the result.
    """

    def __init__(self, interactive: bool = True, every: int = 1, title: str = ""):
        self.interactive, self.every, self.title = interactive, max(1, every), title
        self.records: list[dict] = []
        self._handle: Any = None
        self._fig: plt.Figure | None = None

    def __call__(self, record: dict) -> None:
        self.records.append(record)
        if self.interactive and record.get("kind") in ("train", "eval") and len(self.records) % self.every == 0:
            self._draw()

    def _draw(self) -> None:
        from IPython.display import display

        if self._fig is None:
            self._fig = plt.figure(figsize=(11, 4.2))
        plot_curves(self.records, self._fig, self.title)
        if self._handle is None:
            self._handle = display(self._fig, display_id=True)
        else:
            self._handle.update(self._fig)

    def final(self, records: Sequence[dict] | None = None) -> plt.Figure:
        """The finished curves (from `records`, e.g. the whole metrics.jsonl after a resume)."""
        if self._fig is not None:
            plt.close(self._fig)
        return plot_curves(list(records) if records is not None else self.records, title=self.title)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class StepProgress:
    """Training progress as text, for headless runs (the course runner echoes these lines to the terminal).

    A callback for both hooks of the trainer: `Callbacks(on_log=[p], on_step=[p.step])`; the trainer's
    "start" record gives the planned steps (else `total`). About every `every` of the run it prints
    "pretrain: step 40/400 (10 %), 0:32 elapsed, ETA 4:48". `train_crnn(..., on_step=p.step)` works too.
    enabled=False (an interactive notebook, where the tqdm bar shows progress) prints nothing.
    """

    def __init__(self, name: str, total: int | None = None, every: float = 0.1, enabled: bool = True):
        self.name, self.total, self.every, self.enabled = name, total, every, enabled
        self.first: int | None = None
        self.t0 = 0.0
        self.next_at = 0

    def __call__(self, record: dict) -> None:
        if record.get("kind") == "start" and record.get("total_steps"):
            self.total = int(record["total_steps"])

    def step(self, step: int, total: int | None = None) -> None:
        import time

        if total:
            self.total = int(total)
        if not self.enabled or not self.total:
            return
        now = time.perf_counter()
        if self.first is None:  # the first step of this session (a resumed run starts later)
            self.first, self.t0 = step - 1, now
            self.next_at = step
        if step < self.next_at and step < self.total:
            return
        done = max(step - self.first, 1)
        elapsed = now - self.t0
        eta = elapsed / done * (self.total - step)
        print(
            f"{self.name}: step {step}/{self.total} ({100 * step / self.total:.0f} %), {_clock(elapsed)} elapsed, "
            f"ETA {_clock(eta)}",
            flush=True,
        )
        stride = max(1, round(self.every * self.total))
        self.next_at = (step // stride + 1) * stride


def _rgb(img: torch.Tensor) -> torch.Tensor:
    return img[:3].detach().float().clamp(0, 1).permute(1, 2, 0).cpu()


def show_steps(
    lr: torch.Tensor,
    srs: Sequence[torch.Tensor | None],
    hr: torch.Tensor,
    preds: Sequence[Sequence[str]],
    labels: Sequence[str],
    n: int = 4,
    step_names: Sequence[str] | None = None,
) -> plt.Figure:
    """Per row one word: LR, the SR image of every step with that step's prediction, HR with the label.

    srs: the intermediate SR images then the final one ([B, 4, 32, 128] each, None if absent);
    preds: one list of strings per step (CTC heads, then the final decoder), as models.predictions.
    """
    n = min(n, lr.shape[0])
    names = list(step_names) if step_names else [f"step {k + 1}" for k in range(len(srs))]
    cols = 2 + len(srs)
    fig, axes = plt.subplots(n, cols, figsize=(2.4 * cols, 1.05 * n + 0.5), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(_rgb(lr[i]))
        axes[i, 0].set_title("LR" if i == 0 else "", fontsize=9)
        for k, sr in enumerate(srs):
            ax = axes[i, 1 + k]
            if sr is not None:
                ax.imshow(_rgb(sr[i]))
            pred = preds[k][i] if k < len(preds) else ""
            ok = pred == labels[i]
            shown = pred if pred else "(nothing)"
            ax.set_title(f"{names[k]}: {shown}" if i == 0 else shown, fontsize=9, color="green" if ok else "red")
        axes[i, -1].imshow(_rgb(hr[i]))
        axes[i, -1].set_title(f"HR: {labels[i]}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def gradient_maps_figure(images: dict[str, torch.Tensor]) -> plt.Figure:
    """What L_GP's gradient term looks at: each image (name -> [1,C,H,W], RGB first) beside its gradient magnitude."""
    from ..losses import gradient_map

    fig, axes = plt.subplots(len(images), 2, figsize=(9, 1.5 * len(images)), squeeze=False)
    for row, (name, img) in zip(axes, images.items()):
        row[0].imshow(img[0, :3].permute(1, 2, 0))
        row[1].imshow(gradient_map(img[:, :3]).mean(1)[0], cmap="magma")
        row[0].set_title(name, fontsize=9)
        row[1].set_title(f"gradient magnitude of {name}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig
