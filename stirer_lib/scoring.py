"""Scoring a batch, in one place: bicubic upsampling, CRNN reading, per-image accuracy / PSNR / SSIM.

The full evaluation (stirer_lib.evaluation), the trainer's periodic evaluation, notebook 02's
CRNN gap and the figures all call these functions, so a number means the same everywhere:
- the bicubic baseline is torch's bicubic (align_corners=False) of the 16 x 64 LR to 32 x 128,
  clamped to [0, 1] (docs/DESIGN.md section 4);
- the CRNN reads an image as the official evaluation feeds it (no clamping, gray inside the
  CRNN), greedy CTC, then the label filter;
- a word is correct when the filtered prediction equals the filtered label;
- PSNR / SSIM are stirer_lib.metrics's, per image; a mean keeps inf (identical images), as the
  official mean of per-image PSNRs does (metrics.finite_mean).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .constants import SCALE
from .metrics import psnr, ssim, ssim_skimage
from .text import ctc_greedy_decode, decode_ids, filter_label


def bicubic_upsample(lr: torch.Tensor, scale: int = SCALE) -> torch.Tensor:
    """[B,C,16,64] -> [B,C,32,128] (x scale): torch bicubic (align_corners=False), clamped to [0, 1]."""
    size = (lr.shape[-2] * scale, lr.shape[-1] * scale)
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


@torch.no_grad()
def crnn_read(crnn: nn.Module, images: torch.Tensor) -> list[str]:
    """A CRNN's greedy CTC reading of [B,C,32,128] images, filtered to 0-9a-z."""
    return [filter_label(s) for s in ctc_greedy_decode(crnn(images), time_major=True)]


def correct(preds: list[str] | None, labels: list[str]) -> list[bool]:
    """Exact match after the label filter, per word ([] when there are no predictions)."""
    return [] if preds is None else [filter_label(p) == filter_label(t) for p, t in zip(preds, labels)]


def percent(flags: list[bool]) -> float | None:
    """Share of True in percent; None for an empty list."""
    return 100.0 * sum(flags) / len(flags) if flags else None


def step_outputs(out) -> list[tuple[list[str] | None, torch.Tensor | None]]:
    """(readings, SR image) per step of a StirerOutput: each mini decoder's (CTC, intermediate SR),
    then (STR decoder, final SR). Parts removed by an ablation give None."""
    steps: list[tuple[list[str] | None, torch.Tensor | None]] = []
    for i in range(max(len(out.ctc_logits), len(out.srs))):
        preds = ctc_greedy_decode(out.ctc_logits[i].detach()) if i < len(out.ctc_logits) else None
        steps.append((preds, out.srs[i] if i < len(out.srs) else None))
    if out.text_ids is not None or out.sr is not None:
        steps.append((decode_ids(out.text_ids) if out.text_ids is not None else None, out.sr))
    return steps


@dataclass
class BatchScores:
    """Per-image scores of one batch: per step (readings, PSNR, SSIM), the bicubic baseline, the CRNN."""

    labels: list[str]
    step_preds: list[list[str] | None] = field(default_factory=list)
    step_psnr: list[list[float]] = field(default_factory=list)
    step_ssim: list[list[float]] = field(default_factory=list)
    step_ssim_skimage: list[list[float]] = field(default_factory=list)
    bicubic_psnr: list[float] = field(default_factory=list)
    bicubic_ssim: list[float] = field(default_factory=list)
    crnn: dict[str, list[str]] = field(default_factory=dict)  # "sr", "lr_bicubic", "hr"


@torch.no_grad()
def score_batch(
    labels: list[str],
    hr: torch.Tensor,
    lr: torch.Tensor,
    steps: list[tuple[list[str] | None, torch.Tensor | None]] = (),
    crnn: nn.Module | None = None,
    ssim_on: bool = True,
    with_skimage: bool = False,
    crnn_on: tuple[str, ...] = ("sr", "lr_bicubic", "hr"),
) -> BatchScores:
    """Score one batch: the model's steps (may be empty: a CRNN-only evaluation), bicubic, the CRNN."""
    labels = [filter_label(t) for t in labels]
    s = BatchScores(labels=labels)
    for preds, sr in steps:
        s.step_preds.append([filter_label(p) for p in preds] if preds is not None else None)
        s.step_psnr.append(psnr(sr, hr).tolist() if sr is not None else [])
        s.step_ssim.append(ssim(sr, hr).tolist() if sr is not None and ssim_on else [])
        s.step_ssim_skimage.append(ssim_skimage(sr, hr).tolist() if sr is not None and with_skimage else [])
    bic = bicubic_upsample(lr)
    s.bicubic_psnr = psnr(bic, hr).tolist()
    s.bicubic_ssim = ssim(bic, hr).tolist() if ssim_on else []
    if crnn is not None:
        final_sr = steps[-1][1] if steps else None
        images = {"sr": final_sr, "lr_bicubic": bic, "hr": hr}
        s.crnn = {k: crnn_read(crnn, images[k]) for k in crnn_on if images[k] is not None}
    return s
