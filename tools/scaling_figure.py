"""The README's scaling figure: the shipped reference runs' evaluations against the training images they saw.

    .venv/bin/python tools/scaling_figure.py [--out docs/img/scaling.png]

Draws `stirer_lib.viz.scaling` (notebook 06's "scaling lesson") from the metrics logs of each reference run in
reference/ (cpu, cpu-long, cpu-open; each periodic evaluation a point), with the release's budget marked, and
prints the sentences the notebook prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stirer_lib.course.profiles import get_profile  # noqa: E402
from stirer_lib.course.reference import reference_curves  # noqa: E402
from stirer_lib.viz.scaling import scaling_figure, scaling_sentences  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "scaling.png"))
    args = ap.parse_args()
    curves = reference_curves(get_profile("cpu").data.style)  # the lesson's test words, unless a curve says others
    if not curves:
        print("no reference run with metrics logs under reference/: nothing to draw", file=sys.stderr)
        return 2
    fig = scaling_figure(curves)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90, bbox_inches="tight")
    print(f"wrote {args.out}")
    print(scaling_sentences(curves))
    return 0


if __name__ == "__main__":
    sys.exit(main())
