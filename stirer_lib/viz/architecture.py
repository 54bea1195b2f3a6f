"""Pictures of STIRER's architecture for notebook 03: windows and their shift, the Bi-GRU
directions, the column patches of the ViTs, and what each decoder produces."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, Rectangle

from ..models.swin import shift_attention_mask, shift_regions
from ..scoring import bicubic_upsample


def _show(image: torch.Tensor) -> np.ndarray:
    """[C,H,W] (RGB + mask, or gray) -> [H,W,3] array in [0,1] for imshow."""
    img = image.detach().float().cpu()
    img = img[:3] if img.shape[0] >= 3 else img[:1].expand(3, -1, -1)
    return img.clamp(0, 1).permute(1, 2, 0).numpy()


def plot_windows(
    image: torch.Tensor | None = None,
    size: tuple[int, int] = (16, 64),
    ws: tuple[int, int] = (16, 2),
    shift: tuple[int, int] = (8, 1),
    fig: plt.Figure | None = None,
) -> plt.Figure:
    """Top: the 32 windows of 16 x 2 on the LR map (W-MSA). Middle: after the roll by (8, 1) (SW-MSA),
    each colour a region of the original map. Bottom: the -100 mask of the last window."""
    h, w = size
    fig = fig or plt.figure(figsize=(11, 6.5))
    axes = fig.subplots(3, 1, gridspec_kw={"height_ratios": [1, 1, 1.6]})
    base = _show(image) if image is not None else np.full((h, w, 3), 0.9)
    axes[0].imshow(base, extent=(0, w, h, 0), interpolation="nearest")
    for x in range(0, w, ws[1]):
        axes[0].add_patch(Rectangle((x, 0), ws[1], ws[0], fill=False, lw=0.8, ec="tab:red"))
    axes[0].set_title(f"regular windows: {w // ws[1]} windows of {ws[0]} x {ws[1]} = {ws[0] * ws[1]} tokens each")
    regions = shift_regions(size, ws, shift).numpy()
    axes[1].imshow(regions, cmap="tab10", vmin=0, vmax=9, extent=(0, w, h, 0), interpolation="nearest")
    for x in range(0, w, ws[1]):
        axes[1].add_patch(Rectangle((x, 0), ws[1], ws[0], fill=False, lw=0.8, ec="k"))
    axes[1].set_title(
        f"shifted windows: the map rolled by ({-shift[0]}, {-shift[1]}); colours = regions "
        "that were not neighbours before the roll"
    )
    for ax in axes[:2]:
        ax.set_xticks(range(0, w + 1, 8))
        ax.set_yticks([0, h // 2, h])
    mask = shift_attention_mask(size, ws, shift)[-1]
    axes[2].imshow(mask.numpy(), cmap="gray", interpolation="nearest")
    axes[2].set_title("attention mask of the last (wrapped) window: black = -100 (masked), white = 0")
    axes[2].set_xlabel("key token (row-major in the 16 x 2 window)")
    axes[2].set_ylabel("query token")
    fig.tight_layout()
    return fig


def plot_bigru_directions(image: torch.Tensor, fig: plt.Figure | None = None) -> plt.Figure:
    """The recurrent residual block: gru1 reads every column top to bottom and back (along the
    height), gru2 every row left to right and back (along the width)."""
    img = _show(image)
    h, w = img.shape[:2]
    fig = fig or plt.figure(figsize=(11, 3.2))
    axes = fig.subplots(1, 2)
    for ax, title in zip(
        axes, ("gru1: along the height (one sequence per column)", "gru2: along the width (one sequence per row)")
    ):
        ax.imshow(img, extent=(0, w, h, 0), interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    for x in range(1, w, 6):
        axes[0].add_patch(FancyArrowPatch((x, 0.5), (x, h - 0.5), arrowstyle="<->", mutation_scale=8, color="tab:red"))
    for y in range(1, h, 3):
        axes[1].add_patch(FancyArrowPatch((0.5, y), (w - 0.5, y), arrowstyle="<->", mutation_scale=8, color="tab:blue"))
    fig.tight_layout()
    return fig


def plot_column_patches(
    image: torch.Tensor, patch: tuple[int, int] = (16, 2), fig: plt.Figure | None = None
) -> plt.Figure:
    """The ViTs' tokens: 32 patches of 16 x 2 (full height), read left to right like characters."""
    img = _show(image)
    h, w = img.shape[:2]
    fig = fig or plt.figure(figsize=(11, 2.2))
    ax = fig.subplots()
    ax.imshow(img, extent=(0, w, h, 0), interpolation="nearest")
    for i, x in enumerate(range(0, w, patch[1])):
        ax.add_patch(Rectangle((x, 0), patch[1], patch[0], fill=False, lw=0.6, ec="yellow"))
        if i % 4 == 0:
            ax.text(x + patch[1] / 2, -0.8, str(i), ha="center", fontsize=7)
    ax.set_title(
        f"{w // patch[1]} column patches of {patch[0]} x {patch[1]}: one token (and one CTC frame) each",
        fontsize=10,
        pad=12,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def plot_decoder_outputs(
    lr: torch.Tensor,
    out,
    preds: list[list[str]],
    index: int = 0,
    hr: torch.Tensor | None = None,
    label: str | None = None,
    fig: plt.Figure | None = None,
) -> plt.Figure:
    """One image through the model: LR, each mini STISR decoder's I_SR^i with its mini STR decoder's
    reading, the final SR with the STR decoder's reading (and HR when given)."""
    panels = [("LR input (bicubic x2 for display)", bicubic_upsample(lr[index : index + 1, :3])[0])]
    for i, sr in enumerate(out.srs):
        panels.append((f"block {i + 1}: I_SR^{i + 1}, CTC reads '{preds[i][index]}'", sr[index]))
    if out.sr is not None:
        text = f", T5 reads '{preds[-1][index]}'" if out.text_ids is not None else ""
        panels.append((f"STISR decoder: I_SR{text}", out.sr[index]))
    if hr is not None:
        panels.append((f"HR (label '{label}')" if label else "HR", hr[index]))
    fig = fig or plt.figure(figsize=(6, 1.2 * len(panels)))
    axes = np.atleast_1d(fig.subplots(len(panels), 1))
    for ax, (title, img) in zip(axes, panels):
        ax.imshow(_show(img), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    return fig
