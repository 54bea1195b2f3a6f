"""Render one word as a scene-text crop: font, colours, background, slight rotation / perspective.

A crop is drawn at twice the HR resolution (the 'scene', 256 x 64 for TextZoom pairs) so that the
camera model (camera.py) can blur and sample it; the HR image is the scene reduced by 2. Like
TextZoom's crops the word roughly fills its box and short words are stretched, within limits.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .backgrounds import background, luminance, random_colour
from .fonts import load_font, select_fonts
from .style import SynthStyle, get_style

SCENE_SCALE = 2  # scene pixels per HR pixel
MAX_STRETCH, MIN_STRETCH = 2.2, 0.6  # horizontal / vertical scaling of the glyphs we allow
MIN_CONTRAST = 70.0  # luma difference between text and background (0-255)


def perspective_coeffs(src: list[tuple[float, float]], dst: list[tuple[float, float]]) -> list[float]:
    """The 8 coefficients PIL's PERSPECTIVE transform needs to map dst corners onto src corners."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    return np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float)).tolist()


def text_mask(
    text: str,
    rng: np.random.Generator,
    max_angle: float = 4.0,
    max_persp: float = 0.06,
    fonts: str = "all",
    p_slant: float = 0.0,
    p_thin: float = 0.0,
) -> Image.Image:
    """The word's coverage (mode 'L', tight box) in a random font, slightly rotated / in perspective; with
    probability p_slant sheared like an italic, with p_thin its strokes eroded (fonts the list does not hold)."""
    fonts = select_fonts(fonts)
    font = load_font(str(fonts[int(rng.integers(len(fonts)))]))
    x0, y0, x1, y1 = font.getbbox(text)
    pad = 12
    im = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    ImageDraw.Draw(im).text((pad - x0, pad - y0), text, fill=255, font=font)
    if rng.random() < 0.2:  # bold-ish stroke
        im = im.filter(ImageFilter.MaxFilter(3))
    elif p_thin and rng.random() < p_thin:  # thin strokes
        im = im.filter(ImageFilter.MinFilter(3))
    if p_slant and rng.random() < p_slant:  # x' = x + s (h - y): the top leans right (s > 0) or left
        s = float(rng.uniform(-0.15, 0.35))
        w, h = im.size
        grow = int(np.ceil(abs(s) * h))
        im = im.transform((w + grow, h), Image.AFFINE, (1, s, -grow if s > 0 else 0, 0, 1, 0), Image.BICUBIC)
    w, h = im.size
    j = lambda s: float(rng.uniform(-max_persp, max_persp) * s)  # noqa: E731
    dst = [(0, 0), (w, 0), (w, h), (0, h)]
    src = [(j(w), j(h)), (w + j(w), j(h)), (w + j(w), h + j(h)), (j(w), h + j(h))]
    im = im.transform((w, h), Image.PERSPECTIVE, perspective_coeffs(src, dst), Image.BICUBIC)
    im = im.rotate(float(rng.uniform(-max_angle, max_angle)), resample=Image.BICUBIC, expand=True)
    box = im.getbbox()
    return im.crop(box) if box else im


def fit_box(mask_size: tuple[int, int], canvas: tuple[int, int], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the word inside the canvas: fills it like a TextZoom crop, limited stretch."""
    cw, ch = canvas
    a = mask_size[0] / max(mask_size[1], 1)
    h = ch * rng.uniform(0.55, 0.85)
    w = cw * rng.uniform(0.78, 0.96)
    stretch = (w / h) / a
    if stretch > MAX_STRETCH:
        w = h * a * MAX_STRETCH
    elif stretch < MIN_STRETCH:
        h = w / (a * MIN_STRETCH)
        if h > ch * 0.9:
            h = ch * 0.9
    w, h = int(round(max(w, 4))), int(round(max(h, 4)))
    x = int(round((cw - w) / 2 + rng.uniform(-0.5, 0.5) * (cw - w) * 0.5))
    y = int(round((ch - h) / 2 + rng.uniform(-0.5, 0.5) * (ch - h) * 0.5))
    return x, y, w, h


def text_colour(bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour at least MIN_CONTRAST luma away from the background's mean."""
    lum = luminance(bg)
    for _ in range(20):
        c = random_colour(rng)
        if abs(luminance(c) - lum) >= MIN_CONTRAST:
            return c
    return np.zeros(3) if lum > 127 else np.full(3, 255.0)


def compose(mask: Image.Image, canvas: tuple[int, int], rng: np.random.Generator, p_photo: float = 0.4) -> np.ndarray:
    """Paint the word over a background (a photo crop with probability p_photo): float [H, W, 3] in 0-255."""
    x, y, w, h = fit_box(mask.size, canvas, rng)
    alpha_img = Image.new("L", canvas, 0)
    alpha_img.paste(mask.resize((w, h), Image.BICUBIC), (x, y))
    bg = background(canvas, rng, p_photo)
    colour = text_colour(bg, rng)
    out = bg
    if rng.random() < 0.1:  # drop shadow
        shadow = np.asarray(alpha_img.filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)[..., None] / 255.0
        shadow = np.roll(shadow, (2, 2), axis=(0, 1))
        out = out * (1 - 0.6 * shadow)
    alpha = np.asarray(alpha_img, dtype=np.float64)[..., None] / 255.0
    out = out * (1 - alpha) + colour * alpha
    if rng.random() < 0.3:  # uneven light across the crop
        ramp = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(0.9, 1.1), canvas[0])[None, :, None]
        out = out * ramp
    return np.clip(out, 0, 255)


def styled_mask(text: str, rng: np.random.Generator, style: SynthStyle) -> Image.Image:
    """text_mask with the fonts and geometric jitter of a style."""
    return text_mask(text, rng, style.max_angle, style.max_persp, style.fonts, style.p_slant, style.p_thin)


def render_scene(
    text: str, rng: np.random.Generator, hr_size: tuple[int, int] = (128, 32), style: str | SynthStyle | None = None
) -> np.ndarray:
    """The scene [2H, 2W, 3] (float 0-255) of a TextZoom-style crop of `text` (style: see style.py)."""
    style = get_style(style)
    canvas = (hr_size[0] * SCENE_SCALE, hr_size[1] * SCENE_SCALE)
    return compose(styled_mask(text, rng, style), canvas, rng, style.p_photo)


def render_word_natural(
    text: str, rng: np.random.Generator, height: int = 32, style: str | SynthStyle | None = None
) -> Image.Image:
    """An MJSynth-style crop: height px high, width from the word's shape (16-256 px wide)."""
    style = get_style(style)
    mask = styled_mask(text, rng, style)
    aspect = mask.size[0] / mask.size[1] * rng.uniform(1.05, 1.3) / rng.uniform(0.6, 0.85)
    h = height * SCENE_SCALE
    w = int(np.clip(round(h * aspect), h // 2, 256 * SCENE_SCALE))
    scene = compose(mask, (w, h), rng, style.p_photo)
    return to_hr(scene)


def to_hr(scene: np.ndarray) -> Image.Image:
    """Scene -> HR image: reduce by SCENE_SCALE with a box filter (uint8 RGB)."""
    img = Image.fromarray(np.round(scene).astype(np.uint8))
    return img.reduce(SCENE_SCALE)
