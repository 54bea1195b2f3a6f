"""Pictures of a CTC alignment: what CRNN predicts per column, and how CTC turns it into a word.

CRNN scores 33 frames (columns of its feature map, each about 4 px of the 128 px image) over 37
classes. Greedy CTC decoding takes the best class per frame (the best path), merges repeated
symbols and drops blanks: "--hh-e-ll-ll-oo-" -> "-h-e-l-l-o-" -> "hello" (Graves et al. 2006).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from ..scoring import bicubic_upsample
from ..text import CHARSET

BLANK = "-"
SYMBOLS = BLANK + CHARSET  # class id -> symbol, '-' is the CTC blank (class 0)


def frame_symbols(scores: torch.Tensor) -> list[str]:
    """Best class per frame of scores [T,37] as symbols ('-' = blank)."""
    return [SYMBOLS[i] for i in scores.argmax(-1).tolist()]


def collapse_steps(symbols: list[str]) -> tuple[str, str, str]:
    """The two CTC collapsing steps: (best path, repeats merged, blanks dropped)."""
    path = "".join(symbols)
    merged = "".join(s for i, s in enumerate(symbols) if i == 0 or s != symbols[i - 1])
    return path, merged, merged.replace(BLANK, "")


def _gray(image: torch.Tensor) -> torch.Tensor:
    """[C,H,W] (C = 1, 3 or 4) -> [H,W] gray for display."""
    if image.shape[0] == 1:
        return image[0]
    return 0.299 * image[0] + 0.587 * image[1] + 0.114 * image[2]


def plot_ctc_alignment(
    crnn: torch.nn.Module, image: torch.Tensor, label: str | None = None, fig: plt.Figure | None = None
) -> plt.Figure:
    """Image with the per-frame best symbols on top, and the frame x class probability heat map below.

    image: [C,32,128] in [0,1]. The white dots on the heat map mark the best path.
    """
    crnn.eval()
    with torch.no_grad():
        scores = crnn(image.unsqueeze(0).to(next(crnn.parameters()).device))[:, 0].cpu()  # [T, 37]
    probs = scores.softmax(-1)  # [T, 37]
    t_steps = probs.shape[0]
    symbols = frame_symbols(scores)
    path, merged, text = collapse_steps(symbols)
    fig = fig or plt.figure(figsize=(10, 8.5))  # tall enough for 37 legible class labels
    ax_img, ax_map = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 3]})
    width = image.shape[-1]
    ax_img.imshow(_gray(image.cpu()).numpy(), cmap="gray", vmin=0, vmax=1, extent=(0, width, 32, 0))
    step = width / t_steps  # frame t covers about [t * step, (t + 1) * step)
    for t, s in enumerate(symbols):
        ax_img.axvline(t * step, color="tab:blue", lw=0.3, alpha=0.5)
        ax_img.text(
            (t + 0.5) * step,
            -2,
            s,
            ha="center",
            va="bottom",
            fontsize=8,
            family="monospace",
            color="0.6" if s == BLANK else "tab:red",
        )
    ax_img.set_yticks([])
    ax_img.set_xlabel("x (pixels); one column of symbols per CTC frame")
    title = f"best path {path}\nmerge repeats {merged}  ->  drop blanks '{text}'"
    if label is not None:
        title += f"   (label '{label}', {'correct' if text == label else 'wrong'})"
    ax_img.set_title(title, family="monospace", fontsize=9, pad=14)
    im = ax_map.imshow(probs.T.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="upper")
    best = scores.argmax(-1)
    ax_map.scatter(range(t_steps), best.numpy(), s=6, c="white")
    ax_map.set_yticks(range(len(SYMBOLS)), list(SYMBOLS), fontsize=8, family="monospace")
    ax_map.set_xlabel(f"frame t (0..{t_steps - 1})")
    ax_map.set_ylabel("class ('-' = blank)")
    fig.colorbar(im, ax=ax_map, label="p(class | frame)", fraction=0.03)
    fig.tight_layout()
    return fig


def plot_crnn_history(history: list[dict], fig: plt.Figure | None = None) -> plt.Figure:
    """CTC loss per logged step, and the HR accuracies (keys acc_<name>) where they were measured."""
    fig = fig or plt.figure(figsize=(9, 3.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    logged = [h for h in history if h.get("loss") is not None]  # the step-0 evaluation has no loss yet
    ax_loss.plot([h["step"] for h in logged], [h["loss"] for h in logged])
    ax_loss.set(xlabel="step", ylabel="CTC loss", yscale="log", title="training loss")
    names = sorted({k for h in history for k in h if k.startswith("acc_")})
    for name in names:
        pts = [(h["step"], h[name]) for h in history if h.get(name) is not None]
        ax_acc.plot(*zip(*pts), marker="o", label=name[4:])
    ax_acc.set(xlabel="step", ylabel="word accuracy (%)", ylim=(0, 100), title="HR accuracy during training")
    if names:
        ax_acc.legend()
    fig.tight_layout()
    return fig


def plot_accuracy_gap(gap: dict[str, dict[str, dict]], fig: plt.Figure | None = None) -> plt.Figure:
    """Bars per test split: CRNN accuracy on HR vs bicubic-upsampled LR (the gap STIRER must close)."""
    fig = fig or plt.figure(figsize=(6, 3.2))
    ax = fig.subplots()
    splits = list(gap)
    for k, (src, name) in enumerate((("hr", "HR 32x128"), ("lr_bicubic", "LR 16x64, bicubic x2"))):
        vals = [gap[s][src]["accuracy"] for s in splits]
        bars = ax.bar([i + 0.4 * k - 0.2 for i in range(len(splits))], vals, width=0.4, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(range(len(splits)), splits)
    # headroom above 100 % for the legend, so that it never covers a bar or its label
    ax.set(ylabel="CRNN word accuracy (%)", ylim=(0, 125), title="what CRNN reads: HR vs. upsampled LR")
    ax.set_yticks(range(0, 101, 20))
    ax.legend(fontsize=9, loc="upper center", ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def misread_indices(hr: dict, lr: dict, n: int = 6) -> list[int]:
    """Images CRNN reads right on HR and wrong on bicubic LR (then any LR misreads), at most n."""
    first = [i for i, (a, b) in enumerate(zip(hr["correct"], lr["correct"])) if a and not b]
    rest = [i for i, b in enumerate(lr["correct"]) if not b and i not in first]
    return (first + rest)[:n]


def plot_misreads(dataset, hr: dict, lr: dict, n: int = 6, fig: plt.Figure | None = None) -> plt.Figure:
    """HR image and bicubic-upsampled LR image side by side for misread words, with both readings.

    dataset: the TextZoom test split in the order the evaluation read it; hr, lr: {"preds", "correct"} of
    the CRNN reading HR and bicubic LR (stirer_lib.training.crnn.gap_readings).
    """
    idx = misread_indices(hr, lr, n) if any(hr["correct"]) else []
    fig = fig or plt.figure(figsize=(8, 1.2 * max(len(idx), 1) + 0.4))
    if not idx:
        why = (
            "CRNN reads no HR word of this split yet"
            if not any(hr["correct"])
            else "every word CRNN reads on HR it also reads on bicubic LR"
        )
        fig.text(0.5, 0.5, f"no misreads to show: {why}", ha="center", fontsize=10)
        return fig
    axes = fig.subplots(len(idx), 2, squeeze=False)
    for row, i in enumerate(idx):
        hr_img, lr_img, label = dataset[i]
        up = bicubic_upsample(lr_img.unsqueeze(0))[0]
        for ax, img, res, name in ((axes[row, 0], hr_img, hr, "HR"), (axes[row, 1], up, lr, "LR bicubic")):
            ax.imshow(img[:3].permute(1, 2, 0).numpy())
            ok = res["correct"][i]
            ax.set_title(
                f"{name}: {res['preds'][i] or '(nothing)'} (label {label})",
                fontsize=9,
                color="tab:green" if ok else "tab:red",
            )
            ax.axis("off")
    fig.tight_layout()
    return fig
