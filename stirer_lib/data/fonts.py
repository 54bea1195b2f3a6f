"""Fonts for the synthetic data: matplotlib's bundled TrueType fonts plus any system fonts.

A font is used only if it draws distinct, non-empty glyphs for letters and digits (this drops
symbol, math-extension and fallback 'last resort' fonts). The list is sorted by file name, so a
seed picks the same font on the same machine; other machines may have other system fonts.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
PROBE = "aegAQR0368"
# symbol / math-extension / fallback fonts draw other glyphs for ASCII letters
EXCLUDE = re.compile(r"cmex|cmsy|symbol|wingding|dingbat|emoji|lastresort|stixsiz|stixnonuni|display", re.I)
RENDER_SIZE = 48  # px; glyphs are rendered large and resized down
# the 'plain' font set of the lesson style (stirer_lib.data.style): matplotlib ships all six
PLAIN_FONTS = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
)


def _candidates() -> list[Path]:
    import matplotlib

    paths = set(glob.glob(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "*.ttf")))
    for d in SYSTEM_FONT_DIRS:
        for ext in ("ttf", "otf", "TTF", "OTF"):
            paths.update(glob.glob(os.path.join(os.path.expanduser(d), "**", f"*.{ext}"), recursive=True))
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":", "file"], capture_output=True, text=True, timeout=10).stdout
            paths.update(
                line.split(":")[0].strip()
                for line in out.splitlines()
                if line.strip().lower().endswith((".ttf:", ".otf:", ".ttf", ".otf"))
            )
        except (OSError, subprocess.SubprocessError):
            pass
    return sorted({Path(p).resolve() for p in paths if p}, key=lambda p: (p.name, str(p)))


def _usable(path: Path) -> bool:
    """True when the font draws distinct non-empty glyphs for the probe characters."""
    try:
        font = ImageFont.truetype(str(path), 32)
    except OSError:
        return False
    glyphs = []
    for ch in PROBE:
        im = Image.new("L", (48, 48), 0)
        ImageDraw.Draw(im).text((8, 4), ch, fill=255, font=font)
        arr = np.asarray(im) > 127
        if arr.sum() < 8:
            return False
        glyphs.append(arr.tobytes())
    return len(set(glyphs)) == len(PROBE)


@lru_cache(maxsize=1)
def font_paths() -> tuple[Path, ...]:
    """Usable font files, deterministic order (unique by file name)."""
    seen, out = set(), []
    for p in _candidates():
        if p.name not in seen and not EXCLUDE.search(p.name) and _usable(p):
            seen.add(p.name)
            out.append(p)
    if not out:
        raise RuntimeError(
            "no usable TrueType font found (matplotlib's bundled fonts are missing?); reinstall matplotlib"
        )
    return tuple(out)


@lru_cache(maxsize=256)
def load_font(path: str, size: int = RENDER_SIZE) -> ImageFont.FreeTypeFont:
    """A cached FreeType font object."""
    return ImageFont.truetype(path, size)


@lru_cache(maxsize=4)
def select_fonts(kind: str = "all") -> tuple[Path, ...]:
    """The fonts of a style: "all" usable fonts, or the PLAIN_FONTS among them."""
    fonts = font_paths()
    if kind == "all":
        return fonts
    if kind != "plain":
        raise ValueError(f"unknown font set {kind!r}; choose 'all' or 'plain'")
    plain = tuple(p for p in fonts if p.name in PLAIN_FONTS)
    if not plain:
        raise RuntimeError(
            f"none of the plain fonts {PLAIN_FONTS} was found (they ship with matplotlib); "
            "reinstall matplotlib or use the 'full' synthetic style"
        )
    return plain
