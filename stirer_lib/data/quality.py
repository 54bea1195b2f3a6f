"""Image quality of a data split: bicubic LR -> HR PSNR / SSIM and the ceiling (docs/DESIGN.md section 4).

The generator uses it to report how hard each synthetic split is, notebook 01 to show the
bicubic baseline. The ceiling is what a perfect restoration would score: it cannot know the
capture's misalignment and exposure change, so it is the HR image after only those.
The metrics are the evaluation's (stirer_lib.metrics: TextZoom's PSNR and SSIM).
"""

from __future__ import annotations

import os

import torch

from ..metrics import psnr, ssim
from ..scoring import bicubic_upsample


def bicubic_baseline(hr: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (PSNR [B], SSIM [B]) of the bicubic-upsampled LR (the STISR baseline) against the HR."""
    up = bicubic_upsample(lr)
    return psnr(up, hr), ssim(up, hr)


def bicubic_per_split(
    root: str | os.PathLike,
    splits: tuple[str, ...] = ("easy", "medium", "hard"),
    batch_size: int = 64,
    max_images: int | None = None,
) -> dict[str, dict[str, float]]:
    """Mean bicubic PSNR / SSIM of each TextZoom test split of a data ROOT (evaluation loader)."""
    from torch.utils.data import DataLoader, Subset

    from .collate import collate_eval
    from .lmdb_sets import textzoom_split

    out = {}
    for split in splits:
        ds = textzoom_split(root, split, train=False)
        if max_images is not None:
            ds = Subset(ds, range(min(max_images, len(ds))))
        ps, ss = [], []
        for batch in DataLoader(ds, batch_size=batch_size, collate_fn=collate_eval):
            p, s = bicubic_baseline(batch["hr"], batch["lr"])
            ps.append(p), ss.append(s)
        p, s = torch.cat(ps), torch.cat(ss)
        finite = torch.isfinite(p)  # identical images give PSNR = inf
        out[split] = {"psnr": float(p[finite].mean()), "ssim": float(s.mean()), "n": len(ds)}
    return out


def mean_quality(p: torch.Tensor, s: torch.Tensor) -> dict[str, float]:
    """Mean of per-image PSNR (finite ones: identical images give inf) and SSIM, with the count."""
    finite = torch.isfinite(p)
    return {
        "psnr": float(p[finite].mean()) if finite.any() else float("inf"),
        "ssim": float(s.mean()),
        "n": int(p.numel()),
    }


def ceiling_quality(hr: list, params: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (PSNR, SSIM) of a perfect restoration: each HR after only its misalignment and exposure."""
    from .camera import misalign_only
    from .transforms import hr_tensor

    ref = torch.stack([hr_tensor(im) for im in hr])
    out = torch.stack([hr_tensor(misalign_only(im, p)) for im, p in zip(hr, params, strict=True)])
    return psnr(out, ref), ssim(out, ref)
