"""Image-quality metrics of the TextZoom evaluation: PSNR and SSIM per image (docs/DESIGN.md section 4).

Both use the first three channels (RGB) of [B, C, H, W] images in [0, 1]; the mask channel of
STIRER's 4-channel images is ignored. They are computed per image, as the official evaluation
calls its metrics one image at a time (its batch PSNR would pool the squared error instead).

    PSNR = 20 log10(255 / sqrt(MSE(255 a, 255 b)))                       (inf for identical images)
    SSIM = mean over the map of (2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))

with local statistics from an 11 x 11 Gaussian window (sigma 1.5), zero-padded, per channel,
C1 = 0.01^2, C2 = 0.03^2 (Wang et al. 2004, as implemented by TextZoom). scikit-image reflects
and crops the borders instead; `ssim_skimage` gives its value for comparison.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def _rgb_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two [B, C>=3, H, W] batches and return their RGB channels as float32."""
    if a.shape != b.shape:
        raise ValueError(f"images to compare must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.dim() != 4 or a.shape[1] < 3:
        raise ValueError(
            f"expected images [B, C, H, W] with C >= 3 (RGB first) in [0, 1], got {tuple(a.shape)}; "
            "add a batch dimension with x[None] for a single image"
        )
    return a[:, :3].float(), b[:, :3].to(a.device).float()


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image on channels 0-2 of [B, C, H, W] images in [0, 1] -> [B] (inf where identical)."""
    a, b = _rgb_pair(a, b)
    mse = ((a - b) * 255).pow(2).flatten(1).mean(1)  # [B]
    return 20 * torch.log10(255 / mse.sqrt())


def gaussian_1d(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 1-D Gaussian window [size]."""
    x = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-x.pow(2) / (2 * sigma**2))
    return (g / g.sum()).float()


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """Normalised 2-D Gaussian window [size, size] (outer product of the 1-D window)."""
    g = gaussian_1d(size, sigma)
    return torch.outer(g, g)


def gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> same shape: 11 x 11 Gaussian per channel, zero padding ('same' size).

    The window is separable, so a column pass then a row pass (each zero-padded) equals the 2-D
    zero-padded convolution of TextZoom's SSIM, at a fraction of the cost."""
    n, c, h, w = x.shape
    g = gaussian_1d().to(x.device, x.dtype)
    y = F.conv2d(x.reshape(n * c, 1, h, w), g.view(1, 1, -1, 1), padding=(SSIM_WINDOW // 2, 0))
    y = F.conv2d(y, g.view(1, 1, 1, -1), padding=(0, SSIM_WINDOW // 2))
    return y.view(n, c, h, w)


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TextZoom's SSIM map [B, 3, H, W]: Gaussian local statistics with zero padding, per channel."""
    a, b = _rgb_pair(a, b)
    stats = gaussian_blur(torch.cat([a, b, a * a, b * b, a * b], 1))  # [B, 15, H, W], one pass
    mu_a, mu_b, e_aa, e_bb, e_ab = stats.chunk(5, dim=1)
    var_a, var_b, cov = e_aa - mu_a.pow(2), e_bb - mu_b.pow(2), e_ab - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a.pow(2) + mu_b.pow(2) + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return num / den


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TextZoom's SSIM per image (mean of the whole zero-padded map, borders included) -> [B] in [-1, 1]."""
    return ssim_map(a, b).flatten(1).mean(1)


def ssim_skimage(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """scikit-image's SSIM per image (Gaussian sigma 1.5, population covariance, borders cropped) -> [B]."""
    from skimage.metrics import structural_similarity

    a, b = _rgb_pair(a, b)
    an, bn = a.detach().cpu().double().numpy(), b.detach().cpu().double().numpy()
    vals = [
        structural_similarity(
            x, y, gaussian_weights=True, sigma=SSIM_SIGMA, use_sample_covariance=False, data_range=1.0, channel_axis=0
        )
        for x, y in zip(an, bn)
    ]
    return torch.tensor(vals, dtype=torch.float64)


def finite_mean(values: list[float]) -> float:
    """Mean of a list of numbers (inf stays inf, as the official mean of per-image PSNRs); nan if empty."""
    return math.fsum(values) / len(values) if values else math.nan


def edge_mask(hr: torch.Tensor, share: float = 0.2) -> torch.Tensor:
    """[B, 1, H, W] bool: the `share` of each HR image's pixels with the largest gradient magnitude (central
    differences of the gray image), the stroke edges; fewer where fewer pixels change at all (a flat image has none)."""
    gray = hr[:, :3].float().mean(1, keepdim=True)
    gx = F.pad(gray[..., :, 2:] - gray[..., :, :-2], (1, 1, 0, 0))
    gy = F.pad(gray[..., 2:, :] - gray[..., :-2, :], (0, 0, 1, 1))
    mag = (gx**2 + gy**2).flatten(1)
    top = mag.topk(max(1, round(share * mag.shape[1])), dim=1).indices
    mask = torch.zeros_like(mag, dtype=torch.bool).scatter_(1, top, True) & (mag > 0)
    return mask.view_as(gray)


def error_reduction(sr: torch.Tensor, bicubic: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """[B, 1, H, W]: how much closer to HR the SR image is than bicubic, per pixel (|bicubic - HR| - |SR - HR|,
    mean over RGB, 0-1 scale): positive where SR helps, negative where it hurts."""
    sr, hr = _rgb_pair(sr, hr)
    bic = bicubic[:, :3].float().to(sr.device)
    return ((bic - hr).abs() - (sr - hr).abs()).mean(1, keepdim=True)


def edge_gain(sr: torch.Tensor, bicubic: torch.Tensor, hr: torch.Tensor, share: float = 0.2) -> dict[str, float]:
    """Where SR's gain over bicubic concentrates: the mean error reduction on the stroke edges (`edge_mask`) and on
    the other pixels, and the share of the whole reduction that falls on the edges."""
    gain, edges = error_reduction(sr, bicubic, hr), edge_mask(hr, share).to(sr.device)
    total = gain.sum().item()
    return {
        "edges": gain[edges].mean().item(),
        "elsewhere": gain[~edges].mean().item(),
        "edge_share_of_gain": gain[edges].sum().item() / total if total else float("nan"),
        "edge_share_of_pixels": edges.float().mean().item(),
    }
