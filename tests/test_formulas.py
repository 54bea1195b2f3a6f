"""The HTML copies render formulas offline in MathJax's STIX-Web web font (issue 21, item 5).

The fonts' files are checked everywhere; the rendering itself (tools/check_formulas.sh: headless Chromium,
a screenshot, no fallback glyphs) only where a Chromium is installed, as CI has none."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def test_mathjax_copy_has_the_font_it_is_told_to_use(tmp_path):
    from stirer_lib.course.runner import MATHJAX_CONFIG, install_mathjax

    url = install_mathjax(tmp_path)
    mj = tmp_path / "mathjax"
    for name in MATHJAX_CONFIG.split(","):
        assert (mj / "config" / f"{name}.js").exists(), name
    local = (mj / "config" / "local" / "stirer-fonts.js").read_text()
    font = re.search(r'webFont: "([^"]+)"', local).group(1)
    assert "availableFonts: []" in local and "imageFont: null" in local and url.endswith(MATHJAX_CONFIG)
    assert (mj / "jax" / "output" / "HTML-CSS" / "fonts" / font / "fontdata.js").exists()
    woff = [w.name for w in (mj / "fonts" / "HTML-CSS" / font / "woff").glob("*.woff")]
    assert any(w.startswith("STIXMathJax_Main-") for w in woff), f"no {font} woff fonts in the copy"


@pytest.mark.skipif(
    not any(shutil.which(b) for b in BROWSERS),
    reason="no Chromium here (apt-get install -y chromium); the fonts' files are checked above",
)
def test_formulas_render_without_fallback_glyphs(tmp_path):
    env = {**os.environ, "PY": sys.executable, "SHOT": str(tmp_path / "formulas.png")}
    r = subprocess.run(
        ["bash", str(ROOT / "tools" / "check_formulas.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "formulas.png").stat().st_size > 0
