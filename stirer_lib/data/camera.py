"""A camera-like degradation that turns a rendered scene into a TextZoom-style LR image.

TextZoom's LR images were taken by the same camera at a shorter focal length than the HR ones:
the word covers fewer sensor pixels, the optics blur it, the sensor adds noise, the camera
compresses, exposure differs and the two shots are not perfectly aligned. `capture` follows
those steps in order; three severities stand for TextZoom's easy / medium / hard splits (tuned
so the bicubic LR -> HR PSNR / SSIM land near the real splits, see synth.py). `misalign_only` applies
only the misalignment and exposure change to an HR image: no restoration can know them, so its
PSNR against the HR image is the ceiling of what a model can reach on the pair.

Three cameras (`CAMERAS`): "course" captures the test splits (Gaussian optics, box sensor sampling,
Gaussian noise, JPEG); "wide" captures the training splits: on half of its captures it also varies the
optics (defocus disk), the sensor's resampling filter, the noise and JPEG ranges and the misalignment,
so that a model learns restoration rather than one camera; "heldout" makes a test-only set with what
neither ever uses (motion blur, Lanczos / Hamming sampling, signal-dependent shot noise, WebP, a small
rotation): notebook 06 evaluates on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from PIL import Image
from scipy import ndimage

from .degradation import jpeg, motion_kernel
from .render import SCENE_SCALE

SEVERITIES = ("easy", "medium", "hard")
CAMERAS = ("course", "wide", "heldout")
SAMPLING = {
    "box": Image.BOX,
    "bilinear": Image.BILINEAR,
    "bicubic": Image.BICUBIC,
    "lanczos": Image.LANCZOS,
    "hamming": Image.HAMMING,
}


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
    kernel: str = "gaussian"  # optics: "gaussian" (sigma blur), "disk" (defocus, radius 1.5 x blur) or "motion"
    motion: tuple[float, float] = (0.0, 0.0)  # motion blur (length in HR pixels, angle in degrees), kernel "motion"
    rotation: float = 0.0  # misalignment: rotation in degrees (besides the shift)
    sampling: str = "box"  # the sensor's resampling filter (SAMPLING)
    shot_noise: float = 0.0  # signal-dependent noise: sigma = shot_noise * sqrt(x / 255) (0-255 scale)
    codec: str = "jpeg"  # "jpeg" or "webp"

    def as_dict(self) -> dict:
        return asdict(self)


# (low, high) uniform ranges per severity. Misalignment and exposure are kept small enough that a
# perfect restoration (misalign_only) stays >= 1 dB above the release model's real TextZoom PSNR;
# blur, sampling scale, noise and JPEG bring the bicubic PSNR / SSIM to the real splits' (synth.py).
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "easy": {
        "shift": (0.0, 0.5),
        "contrast": (0.85, 1.05),
        "brightness": (-10, 10),
        "gain": (0.95, 1.05),
        "blur": (0.5, 1.2),
        "scale": (2.3, 3.0),
        "noise": (0.5, 2.0),
        "quality": (75, 95),
    },
    "medium": {
        "shift": (0.2, 0.8),
        "contrast": (0.75, 1.0),
        "brightness": (-15, 15),
        "gain": (0.9, 1.1),
        "blur": (1.1, 1.7),
        "scale": (2.8, 3.8),
        "noise": (5.0, 10.0),
        "quality": (35, 70),
    },
    "hard": {
        "shift": (0.2, 0.8),
        "contrast": (0.75, 1.0),
        "brightness": (-15, 15),
        "gain": (0.9, 1.1),
        "blur": (0.8, 1.3),
        "scale": (3.0, 4.0),
        "noise": (0.5, 2.5),
        "quality": (55, 85),
    },
}


def sample_params(severity: str, rng: np.random.Generator, camera: str = "course") -> CameraParams:
    """Random capture parameters of one severity ('easy', 'medium', 'hard') and camera (CAMERAS)."""
    if severity not in RANGES:
        raise ValueError(f"unknown severity {severity!r}; choose one of {SEVERITIES}")
    if camera not in CAMERAS:
        raise ValueError(f"unknown camera {camera!r}; choose one of {CAMERAS}")
    r = RANGES[severity]
    u = lambda k: float(rng.uniform(*r[k]))  # noqa: E731
    mag, ang = u("shift"), float(rng.uniform(0, 2 * np.pi))
    p = CameraParams(
        shift=(float(mag * np.cos(ang)), float(mag * np.sin(ang))),
        contrast=u("contrast"),
        brightness=u("brightness"),
        gain=(u("gain"), u("gain"), u("gain")),
        blur=u("blur"),
        scale=u("scale"),
        noise=u("noise"),
        quality=int(round(u("quality"))),
    )
    if camera == "wide" and rng.random() < 0.5:
        return widen(p, rng)
    if camera == "heldout":
        return held_out(p, rng)
    return p


def widen(p: CameraParams, rng: np.random.Generator) -> CameraParams:
    """The training camera's other captures: defocus or Gaussian optics, another sensor filter, wider
    noise, JPEG and misalignment ranges (never motion blur, Lanczos / Hamming, shot noise, WebP, rotation)."""
    k = float(rng.uniform(1.0, 1.5))
    return replace(
        p,
        shift=(p.shift[0] * k, p.shift[1] * k),
        kernel=str(rng.choice(["gaussian", "disk"])),
        blur=p.blur * float(rng.uniform(0.7, 1.4)),
        sampling=str(rng.choice(["box", "bilinear", "bicubic"])),
        noise=p.noise * float(rng.uniform(0.3, 2.0)),
        quality=int(np.clip(p.quality + rng.uniform(-25, 10), 20, 98)),
    )


def held_out(p: CameraParams, rng: np.random.Generator) -> CameraParams:
    """The held-out camera: motion blur over a milder Gaussian, Lanczos or Hamming sampling, shot noise
    instead of Gaussian noise, WebP instead of JPEG, a rotation besides the shift."""
    return replace(
        p,
        kernel="motion",
        motion=(float(rng.uniform(1.0, 2.5)), float(rng.uniform(0, 180))),
        blur=0.6 * p.blur,
        rotation=float(rng.uniform(-0.6, 0.6)),
        sampling=str(rng.choice(["lanczos", "hamming"])),
        noise=0.0,
        shot_noise=float(rng.uniform(1.0, 3.0)) * max(p.noise, 1.0),
        codec="webp",
        quality=int(np.clip(p.quality + rng.uniform(-10, 10), 30, 95)),
    )


def misalign(x: np.ndarray, p: CameraParams, scale: float = 1.0) -> np.ndarray:
    """Rotate a float [H, W, 3] image by p.rotation degrees and shift it by p.shift HR pixels (scale: image
    pixels per HR pixel)."""
    if p.rotation:
        x = ndimage.rotate(x, p.rotation, axes=(1, 0), reshape=False, order=1, mode="nearest")
    return ndimage.shift(x, (p.shift[1] * scale, p.shift[0] * scale, 0), order=1, mode="nearest")


def disk_kernel(radius: float) -> np.ndarray:
    """A normalised defocus (pill-box) kernel of the given radius in pixels."""
    r = max(radius, 0.5)
    n = int(np.ceil(r))
    yy, xx = np.mgrid[-n : n + 1, -n : n + 1]
    k = np.clip(r + 0.5 - np.hypot(yy, xx), 0, 1)
    return k / k.sum()


def optics(x: np.ndarray, p: CameraParams, s: float) -> np.ndarray:
    """The lens blur of p (s: image pixels per HR pixel), per channel."""
    if p.blur > 0 and p.kernel in ("gaussian", "motion"):
        x = ndimage.gaussian_filter(x, sigma=(p.blur * s, p.blur * s, 0), mode="nearest")
    kern = None
    if p.kernel == "disk" and p.blur > 0:
        kern = disk_kernel(1.5 * p.blur * s)
    elif p.kernel == "motion" and p.motion[0] > 0:
        kern = motion_kernel(int(round(p.motion[0] * s)) | 1, p.motion[1], 0.0)
    if kern is not None:
        x = np.stack([ndimage.convolve(x[..., c], kern, mode="nearest") for c in range(x.shape[-1])], -1)
    return x


def encode(img: Image.Image, p: CameraParams) -> Image.Image:
    """The camera's compression round trip (JPEG or WebP at p.quality)."""
    if p.codec == "jpeg":
        return jpeg(img, p.quality)
    from io import BytesIO

    buf = BytesIO()
    img.save(buf, format="WEBP", quality=int(p.quality))
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def expose(x: np.ndarray, p: CameraParams) -> np.ndarray:
    """The exposure / white-balance change: (x - mean) * contrast + mean + brightness, times gain."""
    mean = x.mean()
    x = (x - mean) * p.contrast + mean + p.brightness
    return np.clip(x * np.asarray(p.gain)[None, None], 0, 255)


def misalign_only(hr: Image.Image | np.ndarray, p: CameraParams) -> Image.Image:
    """The HR image after only the capture's misalignment and exposure (uint8 RGB PIL, same size)."""
    x = expose(misalign(np.asarray(hr, dtype=np.float64), p), p)
    return Image.fromarray(np.round(x).astype(np.uint8))


def capture(
    scene: np.ndarray, p: CameraParams, rng: np.random.Generator, lr_size: tuple[int, int] = (64, 16)
) -> list[tuple[str, np.ndarray]]:
    """The capture step by step: [(name, float image 0-255)], the last one the LR at lr_size."""
    s = SCENE_SCALE
    steps = [("scene", scene)]
    x = misalign(scene, p, s)
    steps.append(("misaligned", x))
    x = expose(x, p)
    steps.append(("exposure", x))
    x = optics(x, p, s)
    steps.append(("optics blur", x))
    h, w = scene.shape[:2]
    sensor = (max(4, int(round(w / s / p.scale))), max(2, int(round(h / s / p.scale))))
    x = np.asarray(Image.fromarray(np.round(x).astype(np.uint8)).resize(sensor, SAMPLING[p.sampling]), dtype=np.float64)
    steps.append(("sensor sampling", x))
    x = np.clip(x + rng.normal(0.0, p.noise, x.shape), 0, 255)
    if p.shot_noise > 0:
        x = np.clip(x + rng.normal(0.0, 1.0, x.shape) * p.shot_noise * np.sqrt(x / 255.0), 0, 255)
    steps.append(("sensor noise", x))
    img = encode(Image.fromarray(np.round(x).astype(np.uint8)), p)
    steps.append(("JPEG" if p.codec == "jpeg" else "WebP", np.asarray(img, dtype=np.float64)))
    steps.append(("LR 64x16", np.asarray(img.resize(lr_size, Image.BICUBIC), dtype=np.float64)))
    return steps


def degrade(
    scene: np.ndarray, p: CameraParams, rng: np.random.Generator, lr_size: tuple[int, int] = (64, 16)
) -> Image.Image:
    """The LR image (uint8 RGB PIL, lr_size) of a scene."""
    return Image.fromarray(np.round(capture(scene, p, rng, lr_size)[-1][1]).astype(np.uint8))
