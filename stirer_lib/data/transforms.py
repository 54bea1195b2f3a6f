"""Image decoding and the resize + mask transform of the STIRER input (docs/DESIGN.md section 3).

Every image becomes RGB + a binary mask channel: 4 x 32 x 128 for HR, 4 x 16 x 64 for LR.
The mask marks pixels whose gray level is at most the mean gray level of the resized image
(text is usually darker than its background; the official TextZoom / STIRER transform).
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import torch
from PIL import Image

from ..constants import HR_WH, LR_WH


def decode_image(buf: bytes) -> Image.Image:
    """Image bytes of any PIL-readable format -> RGB PIL image (alpha dropped, gray expanded)."""
    with Image.open(BytesIO(buf)) as im:
        return im.convert("RGB")


def binary_mask(img: Image.Image) -> np.ndarray:
    """[H, W] float32 mask: 1 where the gray level (PIL 'L') is <= its mean over the image."""
    gray = np.asarray(img.convert("L"), dtype=np.uint8)
    return (gray <= gray.mean()).astype(np.float32)


def to_tensor_with_mask(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> FloatTensor [4, H, W]: RGB in [0, 1] then the binary mask."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # [H, W, 3]
    out = np.concatenate([rgb.transpose(2, 0, 1), binary_mask(img)[None]], axis=0)
    return torch.from_numpy(np.ascontiguousarray(out))


def resize_with_mask(img: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """PIL bicubic resize to size=(W, H), then RGB + mask -> FloatTensor [4, H, W]."""
    return to_tensor_with_mask(img.convert("RGB").resize(size, Image.BICUBIC))


def hr_tensor(img: Image.Image) -> torch.Tensor:
    """HR image -> [4, 32, 128]."""
    return resize_with_mask(img, HR_WH)


def lr_tensor(img: Image.Image) -> torch.Tensor:
    """LR image -> [4, 16, 64]."""
    return resize_with_mask(img, LR_WH)


def tensor_to_pil(x: torch.Tensor) -> Image.Image:
    """[C>=3, H, W] in [0, 1] -> RGB PIL image (mask channel ignored)."""
    arr = (x[:3].clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr)
