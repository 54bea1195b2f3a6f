"""Image degradations with pillow / numpy / scipy, and the official on-the-fly LR pipeline.

The official pre-training makes an LR image from each MJSynth / SynthText HR crop with
`rand_augment_transform` (timm internals + imgaug; docs/DESIGN.md section 8): with probability 0.8,
two distinct ops out of {Gaussian blur, motion blur, Poisson noise}, each applied with probability
0.5 at magnitude 5; then the training collation shrinks the image by a random factor 1-4
(1-3 when its short side is <= 28 px, none when <= 10 px) with PIL bicubic, and the transform
resizes it to 64 x 16. `official_lr` re-implements that chain; the primitives below are also used
by the camera model of the synthetic generator (camera.py) and by notebook 01.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

QUALITY_OPS = ("gaussian_blur", "motion_blur", "poisson_noise")
OFFICIAL_P_DEGRADE = 0.8  # probability that the quality ops run at all
OFFICIAL_P_OP = 0.5  # probability of each chosen op (timm AugmentOp default)


def _level(level: float, img: Image.Image, max_dim_factor: float, min_level: int = 1) -> int:
    """The official op strength: the magnitude, capped by a fraction of the image's long side."""
    return int(round(min(level, max(min_level, max_dim_factor * max(img.size)))))


def gaussian_blur(img: Image.Image, radius: float) -> Image.Image:
    """PIL Gaussian blur with the given radius (sigma, px)."""
    return img.filter(ImageFilter.GaussianBlur(radius)) if radius > 0 else img


def motion_kernel(k: int, angle_deg: float, direction: float) -> np.ndarray:
    """[k, k] line kernel through the centre at angle_deg; direction in [-1, 1] weights one end."""
    k = max(int(k), 1)
    kern = np.zeros((k, k), np.float64)
    c = (k - 1) / 2.0
    a = np.deg2rad(angle_deg)
    for t in np.linspace(-1.0, 1.0, 4 * k):
        x, y = c + t * c * np.cos(a), c + t * c * np.sin(a)
        kern[int(round(y)), int(round(x))] += 1.0 + direction * t
    kern = np.clip(kern, 0, None)
    return kern / kern.sum() if kern.sum() > 0 else np.full((k, k), 1.0 / (k * k))


def motion_blur(img: Image.Image, k: int, angle_deg: float, direction: float = 0.0) -> Image.Image:
    """Blur along a line of k px (the imgaug MotionBlur model), per channel, reflected borders."""
    if k <= 1:
        return img
    arr = np.asarray(img, dtype=np.float64)
    kern = motion_kernel(k, angle_deg, direction)
    out = np.stack([ndimage.convolve(arr[..., c], kern, mode="reflect") for c in range(arr.shape[-1])], -1)
    return Image.fromarray(np.clip(np.round(out), 0, 255).astype(np.uint8))


def poisson_noise(img: Image.Image, lam: float, rng: np.random.Generator) -> Image.Image:
    """imgaug's AdditivePoissonNoise: add Poisson(lam) with a random sign per pixel (all channels alike)."""
    arr = np.asarray(img, dtype=np.float64)
    noise = rng.poisson(lam, size=arr.shape[:2]) * rng.choice(np.array([-1.0, 1.0]), size=arr.shape[:2])
    return Image.fromarray(np.clip(np.round(arr + noise[..., None]), 0, 255).astype(np.uint8))


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    """JPEG round trip at the given quality (1-95); quality >= 100 returns the image unchanged."""
    if quality >= 100:
        return img
    buf = BytesIO()
    img.save(buf, format="JPEG", quality=int(quality), subsampling=0)  # 4:4:4, as cameras at high quality
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def bicubic_shrink(img: Image.Image, factor: float) -> Image.Image:
    """Resize by 1/factor with PIL bicubic (sizes floored as the official code, at least 1 px)."""
    if factor <= 1:
        return img
    w, h = img.size
    return img.resize((max(1, int(w // factor)), max(1, int(h // factor))), Image.BICUBIC)


def random_shrink_factor(img: Image.Image, rng: np.random.Generator) -> int:
    """The official training shrink: 1 if short side <= 10, 1-3 if <= 28, else 1-4 (uniform)."""
    short = min(img.size)
    if short <= 10:
        return 1
    return int(rng.choice([1, 2, 3] if short <= 28 else [1, 2, 3, 4]))


def official_quality_ops(img: Image.Image, rng: np.random.Generator, magnitude: float = 5.0) -> Image.Image:
    """Two distinct ops of {Gaussian blur, motion blur, Poisson noise}, each with probability 0.5."""
    chosen = rng.choice(len(QUALITY_OPS), size=2, replace=False)
    for i in chosen:
        if rng.random() >= OFFICIAL_P_OP:
            continue
        name = QUALITY_OPS[int(i)]
        if name == "gaussian_blur":
            img = gaussian_blur(img, _level(4 * magnitude / 10, img, 0.02))
        elif name == "motion_blur":
            k = _level(20 * magnitude / 10, img, 0.08, 3) | 1
            img = motion_blur(img, k, float(rng.uniform(0, 360)), float(rng.uniform(-1, 1)))
        else:
            img = poisson_noise(img, _level(40 * magnitude / 10, img, 0.2) | 1, rng)
    return img


def official_lr(hr: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The official on-the-fly LR of a pre-training image, before the final resize to 64 x 16."""
    img = hr.convert("RGB")
    if rng.random() < OFFICIAL_P_DEGRADE:
        img = official_quality_ops(img, rng)
    return bicubic_shrink(img, random_shrink_factor(img, rng))
