#!/usr/bin/env bash
# Do the HTML copies of the notebooks render their formulas with MathJax's own fonts, offline?
#
#   tools/check_formulas.sh [PAGE.html] [SHOT.png]
#
# Opens PAGE.html (an HTML copy written by the course runner, e.g. runs/cpu/notebooks/04_pretraining.html;
# without one: a page of the course's formulas, L (Eq. 9), SSIM, a square root, made by the runner's own
# `_to_html` in a temporary folder) in headless Chromium, saves a screenshot (SHOT.png, default
# /tmp/check_formulas.png: look at it) and reads the rendered page: every formula must be set in the
# STIX-Web web font that jupyter-server-mathjax ships (STIXMathJax_*), none in the browser's fallback
# (STIXGeneral / Times: a detached square root, a plain L for \mathcal{L}).
# Exit 0: rendered with the web font; 1: no formula rendered, or fallback glyphs; 77: no Chromium here
# (Debian: apt-get install -y chromium). Not part of `make test` (CI has no browser); tests/test_formulas.py
# runs it when a Chromium is installed and checks the fonts' files without one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SHOT=${2:-${SHOT:-/tmp/check_formulas.png}}
BROWSER=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then BROWSER=$b; break; fi
done
if [ -z "$BROWSER" ]; then
    echo "check_formulas: no Chromium found (apt-get install -y chromium); nothing checked" >&2
    exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
if [ $# -ge 1 ]; then
    PAGE=$(realpath "$1")
else
    "$PY" - "$TMP" <<'EOF'
import sys
from pathlib import Path
import nbformat
from stirer_lib.course.runner import _to_html
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_markdown_cell(r"""The course's formulas, as notebooks 04 and 06 write them:
$$\mathcal{L} = \alpha\, \mathcal{L}_{SR} + (1 - \alpha)\, \mathcal{L}_{Rec} \qquad (9)$$
$$\mathrm{SSIM}(x, y) = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}$$
$$\mathrm{PSNR} = 10 \log_{10} \frac{1}{\mathrm{MSE}}, \qquad \mathrm{RMSE} = \sqrt{\frac{1}{N} \sum_i (x_i - y_i)^2}$$
inline: $\mathcal{L}_{SR}$ and $\lambda \in [0, 1]$.""")]
out = Path(sys.argv[1]) / "formulas.ipynb"
nbformat.write(nb, out)
_to_html(out)
EOF
    PAGE="$TMP/formulas.html"
fi
[ -f "$PAGE" ] || { echo "check_formulas: $PAGE: no such file" >&2; exit 1; }
FLAGS=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
       --disable-sync --no-first-run --virtual-time-budget=20000)
"$BROWSER" "${FLAGS[@]}" --user-data-dir="$TMP/profile1" --window-size=1200,1600 --screenshot="$SHOT" \
    "file://$PAGE" >"$TMP/browser.log" 2>&1 || { cat "$TMP/browser.log" >&2; exit 1; }
"$BROWSER" "${FLAGS[@]}" --user-data-dir="$TMP/profile2" --dump-dom "file://$PAGE" >"$TMP/page.dom" 2>>"$TMP/browser.log"
formulas=$(grep -o 'class="MathJax"' "$TMP/page.dom" | wc -l || true)
webfont=$(grep -o 'font-family: STIXMathJax_' "$TMP/page.dom" | wc -l || true)
fallback=$(grep -o 'font-family: STIXGeneral' "$TMP/page.dom" | wc -l || true)
echo "check_formulas: $PAGE: $formulas formulas rendered; glyph runs in the STIX-Web web font: $webfont," \
     "in the browser's fallback fonts: $fallback; screenshot: $SHOT"
if [ "$formulas" -eq 0 ] || [ "$webfont" -eq 0 ] || [ "$fallback" -gt 0 ]; then
    echo "check_formulas: FAILED (no formula rendered, or fallback glyphs)" >&2
    exit 1
fi
echo "check_formulas: ok"
