"""Backgrounds for the synthetic words: flat colours, gradients and crops of real photographs.

The photographs are scikit-image's bundled sample images (skimage.data), so nothing is
downloaded. A crop is blurred and pulled towards a flat colour so the word stays legible.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

PHOTOS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "brick",
    "grass",
    "gravel",
    "moon",
    "page",
    "text",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "clock",
    "colorwheel",
)


@lru_cache(maxsize=1)
def photos() -> tuple[np.ndarray, ...]:
    """The bundled photographs as uint8 RGB arrays (those that load offline), fixed order."""
    import skimage.data

    out = []
    for name in PHOTOS:
        try:
            arr = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a photo missing from this scikit-image version: skip it
            continue
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, -1)
        out.append(np.ascontiguousarray(arr[..., :3].astype(np.uint8)))
    return tuple(out)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    """A random RGB colour (float, 0-255)."""
    return rng.uniform(0, 255, size=3)


def luminance(rgb: np.ndarray) -> float:
    """ITU-R 601 luma of an RGB colour or the mean of an image."""
    rgb = np.asarray(rgb, dtype=np.float64).reshape(-1, 3).mean(0)
    return float(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])


def photo_crop(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of a bundled photograph resized to size=(W, H), float [H, W, 3]."""
    pics = photos()
    if not pics:
        return np.full((size[1], size[0], 3), 128.0)
    pic = pics[int(rng.integers(len(pics)))]
    h, w = pic.shape[:2]
    ch = int(rng.integers(max(8, h // 12), max(9, h // 3)))
    cw = min(w, int(ch * size[0] / size[1] * rng.uniform(0.5, 1.5)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = Image.fromarray(pic[y : y + ch, x : x + cw]).resize(size, Image.BILINEAR)
    return np.asarray(crop, dtype=np.float64)


def background(size: tuple[int, int], rng: np.random.Generator, p_photo: float = 0.4) -> np.ndarray:
    """A background float [H, W, 3] in 0-255: a photo crop with probability p_photo, else flat or
    gradient (35 : 25; with the default p_photo: flat 35 %, gradient 25 %, photo 40 %)."""
    w, h = size
    base = random_colour(rng)
    kind = rng.random()
    if kind < (1 - p_photo) * 35 / 60:
        img = np.broadcast_to(base, (h, w, 3)).copy()
        return img + rng.normal(0, rng.uniform(0, 6), size=(h, w, 1))  # paper / paint texture
    if kind < 1 - p_photo:
        other = np.clip(base + rng.normal(0, 60, size=3), 0, 255)
        t = np.linspace(0, 1, w if rng.random() < 0.7 else h)
        ramp = t[None, :, None] if len(t) == w else t[:, None, None]
        return base * (1 - ramp) + other * ramp + np.zeros((h, w, 3))
    crop = photo_crop(size, rng)
    crop = np.asarray(
        Image.fromarray(crop.astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 3))), dtype=np.float64
    )
    keep = rng.uniform(0.25, 0.7)  # how much of the photo shows through
    return keep * crop + (1 - keep) * base
