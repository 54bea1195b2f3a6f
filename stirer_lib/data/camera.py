"""A camera-like degradation that turns a rendered scene into a TextZoom-style LR image.

TextZoom's LR images were taken by the same camera at a shorter focal length than the HR ones:
the word covers fewer sensor pixels, the optics blur it, the sensor adds noise, the camera
compresses, exposure differs and the two shots are not perfectly aligned. `capture` follows
those steps in order; three severities stand for TextZoom's easy / medium / hard splits (tuned
so the bicubic LR -> HR PSNR / SSIM land near the real splits, see synth.py). `misalign_only` applies
only the misalignment and exposure change to an HR image: no restoration can know them, so its
PSNR against the HR image is the ceiling of what a model can reach on the pair.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from .degradation import jpeg
from .render import SCENE_SCALE

SEVERITIES = ("easy", "medium", "hard")


@dataclass
class CameraParams:
    """One capture; lengths in HR pixels (the HR image is 128 x 32)."""
    shift: tuple[float, float] = (0.0, 0.0)  # LR/HR misalignment (dx, dy)
    contrast: float = 1.0  # exposure: (x - mean) * contrast + mean + brightness
    brightness: float = 0.0
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)  # white balance
    blur: float = 0.0  # optics: Gaussian sigma
    scale: float = 2.0  # HR pixels per sensor pixel (2 = the LR image is sampled at 64 x 16)
    noise: float = 0.0  # sensor noise sigma (0-255)
    quality: int = 100  # JPEG quality (100 = none)

    def as_dict(self) -> dict:
        return asdict(self)


# (low, high) uniform ranges per severity. Misalignment and exposure are kept small enough that a
# perfect restoration (misalign_only) stays >= 1 dB above the release model's real TextZoom PSNR;
# blur, sampling scale, noise and JPEG bring the bicubic PSNR / SSIM to the real splits' (synth.py).
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "easy": {"shift": (0.0, 0.5), "contrast": (0.85, 1.05), "brightness": (-10, 10), "gain": (0.95, 1.05),
             "blur": (0.5, 1.2), "scale": (2.3, 3.0), "noise": (0.5, 2.0), "quality": (75, 95)},
    "medium": {"shift": (0.2, 0.8), "contrast": (0.75, 1.0), "brightness": (-15, 15), "gain": (0.9, 1.1),
               "blur": (1.1, 1.7), "scale": (2.8, 3.8), "noise": (5.0, 10.0), "quality": (35, 70)},
    "hard": {"shift": (0.2, 0.8), "contrast": (0.75, 1.0), "brightness": (-15, 15), "gain": (0.9, 1.1),
             "blur": (0.8, 1.3), "scale": (3.0, 4.0), "noise": (0.5, 2.5), "quality": (55, 85)},
}


def sample_params(severity: str, rng: np.random.Generator) -> CameraParams:
    """Random capture parameters of one severity ('easy', 'medium', 'hard')."""
    if severity not in RANGES:
        raise ValueError(f"unknown severity {severity!r}; choose one of {SEVERITIES}")
    r = RANGES[severity]
    u = lambda k: float(rng.uniform(*r[k]))  # noqa: E731
    mag, ang = u("shift"), float(rng.uniform(0, 2 * np.pi))
    return CameraParams(shift=(float(mag * np.cos(ang)), float(mag * np.sin(ang))), contrast=u("contrast"),
                        brightness=u("brightness"), gain=(u("gain"), u("gain"), u("gain")), blur=u("blur"),
                        scale=u("scale"), noise=u("noise"), quality=int(round(u("quality"))))


def misalign(x: np.ndarray, p: CameraParams, scale: float = 1.0) -> np.ndarray:
    """Shift a float [H, W, 3] image by p.shift HR pixels (scale: image pixels per HR pixel)."""
    return ndimage.shift(x, (p.shift[1] * scale, p.shift[0] * scale, 0), order=1, mode="nearest")


def expose(x: np.ndarray, p: CameraParams) -> np.ndarray:
    """The exposure / white-balance change: (x - mean) * contrast + mean + brightness, times gain."""
    mean = x.mean()
    x = (x - mean) * p.contrast + mean + p.brightness
    return np.clip(x * np.asarray(p.gain)[None, None], 0, 255)


def misalign_only(hr: Image.Image | np.ndarray, p: CameraParams) -> Image.Image:
    """The HR image after only the capture's misalignment and exposure (uint8 RGB PIL, same size)."""
    x = expose(misalign(np.asarray(hr, dtype=np.float64), p), p)
    return Image.fromarray(np.round(x).astype(np.uint8))


def capture(scene: np.ndarray, p: CameraParams, rng: np.random.Generator,
            lr_size: tuple[int, int] = (64, 16)) -> list[tuple[str, np.ndarray]]:
    """The capture step by step: [(name, float image 0-255)], the last one the LR at lr_size."""
    s = SCENE_SCALE
    steps = [("scene", scene)]
    x = misalign(scene, p, s)
    steps.append(("misaligned", x))
    x = expose(x, p)
    steps.append(("exposure", x))
    if p.blur > 0:
        x = ndimage.gaussian_filter(x, sigma=(p.blur * s, p.blur * s, 0), mode="nearest")
    steps.append(("optics blur", x))
    h, w = scene.shape[:2]
    sensor = (max(4, int(round(w / s / p.scale))), max(2, int(round(h / s / p.scale))))
    x = np.asarray(Image.fromarray(np.round(x).astype(np.uint8)).resize(sensor, Image.BOX), dtype=np.float64)
    steps.append(("sensor sampling", x))
    x = np.clip(x + rng.normal(0.0, p.noise, x.shape), 0, 255)
    steps.append(("sensor noise", x))
    img = jpeg(Image.fromarray(np.round(x).astype(np.uint8)), p.quality)
    steps.append(("JPEG", np.asarray(img, dtype=np.float64)))
    steps.append(("LR 64x16", np.asarray(img.resize(lr_size, Image.BICUBIC), dtype=np.float64)))
    return steps


def degrade(scene: np.ndarray, p: CameraParams, rng: np.random.Generator,
            lr_size: tuple[int, int] = (64, 16)) -> Image.Image:
    """The LR image (uint8 RGB PIL, lr_size) of a scene."""
    return Image.fromarray(np.round(capture(scene, p, rng, lr_size)[-1][1]).astype(np.uint8))
