"""Image quality of a data split: bicubic LR -> HR PSNR / SSIM (DESIGN.md section 4).

Used by the generator to report how hard each synthetic split is. It uses stirer_lib.metrics
(the evaluation's TextZoom PSNR / SSIM) when present, else the same definitions below.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[B] PSNR of the first 3 channels in [0, 1]: 20 log10(255 / RMSE of x255 values)."""
    mse = ((a[:, :3] * 255 - b[:, :3] * 255) ** 2).flatten(1).mean(1)
    return 20 * torch.log10(255.0 / torch.sqrt(mse))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return torch.outer(g, g)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[B] TextZoom SSIM of the first 3 channels: 11x11 Gaussian (sigma 1.5), zero padding, mean map."""
    a, b = a[:, :3].double(), b[:, :3].double()
    win = _gaussian_window().expand(3, 1, 11, 11).contiguous()
    conv = lambda x: F.conv2d(x, win, padding=5, groups=3)  # noqa: E731
    mu_a, mu_b = conv(a), conv(b)
    var_a = conv(a * a) - mu_a ** 2
    var_b = conv(b * b) - mu_b ** 2
    cov = conv(a * b) - mu_a * mu_b
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).float()


def bicubic_up(lr: torch.Tensor, size: tuple[int, int] = (32, 128)) -> torch.Tensor:
    """[B, C, 16, 64] -> [B, C, 32, 128] bicubic (clamped to [0, 1]), the STISR baseline."""
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False).clamp(0, 1)


def bicubic_baseline(hr: torch.Tensor, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image (PSNR, SSIM) of the bicubic-upsampled LR against the HR."""
    try:
        from .. import metrics
        p_fn, s_fn = metrics.psnr, metrics.ssim
    except (ImportError, AttributeError):
        p_fn, s_fn = psnr, ssim
    up = bicubic_up(lr)
    return p_fn(up, hr), s_fn(up, hr)


def bicubic_per_split(root, splits: tuple[str, ...] = ("easy", "medium", "hard"), batch_size: int = 64,
                      max_images: int | None = None) -> dict[str, dict[str, float]]:
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
        out[split] = {"psnr": float(torch.cat(ps).mean()), "ssim": float(torch.cat(ss).mean()), "n": len(ds)}
    return out
