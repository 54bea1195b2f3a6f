"""Pictures of a CTC alignment: what CRNN predicts per column, and how CTC turns it into a word.

CRNN scores 33 frames (columns of its feature map, each about 4 px of the 128 px image) over 37
classes. Greedy CTC decoding takes the best class per frame (the best path), merges repeated
symbols and drops blanks: "--hh-e-ll-ll-oo-" -> "-h-e-l-l-o-" -> "hello" (Graves et al. 2006).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

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


def plot_ctc_alignment(crnn: torch.nn.Module, image: torch.Tensor, label: str | None = None,
                       fig: plt.Figure | None = None) -> plt.Figure:
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
    fig = fig or plt.figure(figsize=(10, 6.5))
    ax_img, ax_map = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1, 3]})
    width = image.shape[-1]
    ax_img.imshow(_gray(image.cpu()).numpy(), cmap="gray", vmin=0, vmax=1, extent=(0, width, 32, 0))
    step = width / t_steps  # frame t covers about [t * step, (t + 1) * step)
    for t, s in enumerate(symbols):
        ax_img.axvline(t * step, color="tab:blue", lw=0.3, alpha=0.5)
        ax_img.text((t + 0.5) * step, -2, s, ha="center", va="bottom", fontsize=8, family="monospace",
                    color="0.6" if s == BLANK else "tab:red")
    ax_img.set_yticks([])
    ax_img.set_xlabel("x (pixels); one column of symbols per CTC frame")
    title = f"best path {path}\nmerge repeats {merged}  ->  drop blanks '{text}'"
    if label is not None:
        title += f"   (label '{label}', {'correct' if text == label else 'wrong'})"
    ax_img.set_title(title, family="monospace", fontsize=9, pad=14)
    im = ax_map.imshow(probs.T.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="upper")
    best = scores.argmax(-1)
    ax_map.scatter(range(t_steps), best.numpy(), s=6, c="white")
    ax_map.set_yticks(range(len(SYMBOLS)), list(SYMBOLS), fontsize=6, family="monospace")
    ax_map.set_xlabel(f"frame t (0..{t_steps - 1})")
    ax_map.set_ylabel("class ('-' = blank)")
    fig.colorbar(im, ax=ax_map, label="p(class | frame)", fraction=0.03)
    fig.tight_layout()
    return fig
