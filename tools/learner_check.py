"""The course as a learner meets it: every notebook run with its DEFAULT parameters, as JupyterLab's "Run all" does.

    .venv/bin/python tools/learner_check.py [--notebooks 1 2 ...] [--solutions | --solutions-only]
                                            [--timeout-min N] [--run-dir DIR]

Each chapter (and, with --solutions, its worked solutions after the chapters) is executed by papermill with no
parameter but `run_dir` (a temporary folder unless --run-dir is given, so runs/<profile>/ is left alone), in
order, each within a time limit (--timeout-min, per notebook). The data of the notebooks' default profile is
made first (when missing) and timed apart, as the course runner does. Then every executed notebook is scanned:

- no smoke-profile banner (the defaults must open on the lesson, not on the tests' profile);
- its first output names the profile and the weights (stirer_lib.viz.notes.run_header);
- no error output, no traceback, no warning on stderr (a stream with "Warning" in it);
- no Python repr of a string, dict or list as a cell's value (Markdown echoed as '**...', a settings dict).

Last, RUN/index.html is written as the course runner writes it (stirer_lib.course.runner.write_index) and
checked: a results table when notebook 06 ran, at least one figure when notebook 04 or 05 loaded the reference
weights. Prints minutes per notebook and every problem; exit 1 when there is one.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

# what a notebook run with its defaults must not show
SMOKE_MARKERS = ("Smoke run", "Profile `smoke`", "A smoke run trains")
WARNING = re.compile(r"Warning\b")
REPR = re.compile(r"""\s*(['"]|\{'|\{"|\[')""")  # a cell's last value echoed as a str / dict / list repr
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")


def _text(out: dict) -> str:
    """The text of one output: a stream's text, else its markdown or plain-text data."""
    if out.get("output_type") == "stream":
        text = out.get("text", "")
    else:
        data = out.get("data", {})
        text = data.get("text/markdown") or data.get("text/plain") or ""
    return "".join(text) if isinstance(text, list) else text


def scan_notebook(nb: dict) -> list[str]:
    """The problems of an executed notebook (a dict as nbformat / json reads it): smoke banners, errors,
    tracebacks, warnings on stderr, and a first output that does not name the profile and the weights."""
    problems: list[str] = []
    first_display = None
    for i, cell in enumerate(nb.get("cells", [])):
        for out in cell.get("outputs", []) or []:
            kind = out.get("output_type")
            if kind == "error":
                problems.append(f"cell {i}: error {out.get('ename')}: {str(out.get('evalue', ''))[:120]}")
                continue
            text = _text(out)
            if first_display is None and kind in ("display_data", "execute_result") and text:
                first_display = text
            if TRACEBACK.search(text):
                problems.append(f"cell {i}: a traceback in the output: {text.strip()[:120]!r}")
            if kind == "stream" and out.get("name") == "stderr" and WARNING.search(text):
                line = next((ln for ln in text.splitlines() if WARNING.search(ln)), text)
                problems.append(f"cell {i}: a warning on stderr: {line.strip()[:160]!r}")
            plain = "".join(out.get("data", {}).get("text/plain", "")) if kind == "execute_result" else ""
            if REPR.match(plain):
                problems.append(f"cell {i}: a Python repr as output (end the line with ';'): {plain.strip()[:80]!r}")
            for marker in SMOKE_MARKERS:
                if marker in text:
                    problems.append(f"cell {i}: a smoke-profile banner ({marker!r})")
                    break
    if first_display is None:
        problems.append("no displayed output: the notebook does not open with its run header")
    elif "**Profile `" not in first_display or "Weights" not in first_display:
        problems.append(f"the first output does not name the profile and the weights: {first_display.strip()[:120]!r}")
    return problems


def check_index(page: str, want_table: bool, want_figure: bool) -> list[str]:
    """The problems of RUN/index.html: a missing results table or figure where one is expected."""
    problems = []
    if want_table and '<table class="results">' not in page:
        problems.append("index.html: no results table")
    if want_figure and "<img " not in page:
        problems.append("index.html: no figure")
    return problems


def default_parameters(path: Path) -> dict[str, Any]:
    """The values assigned in a notebook's cell tagged "parameters" (literals only)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            out = {}
            for node in ast.parse("".join(cell["source"])).body:
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    with contextlib.suppress(ValueError):
                        out[node.targets[0].id] = ast.literal_eval(node.value)
            return out
    return {}


# the child: the course runner's run_notebook (papermill with its kernel client, whose short polls keep a widget
# cell from hanging until its timeout, and the HTML copy RUN/index.html links), only run_dir set
CHILD = (
    "import sys; from pathlib import Path; from stirer_lib.course.runner import NotebookFailed, run_notebook\n"
    "try:\n"
    "    a = sys.argv\n"
    "    run_notebook(Path(a[1]), Path(a[2]), {'run_dir': a[3]}, int(a[4]), progress=False)\n"
    "except NotebookFailed as err:\n"
    "    sys.exit(str(err))\n"
)


def execute(src: Path, dst: Path, run_dir: Path, timeout_s: float) -> tuple[float, str | None]:
    """Run one notebook into dst's folder in a child process (its own process group), only run_dir set;
    returns (minutes, None or why it failed)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", CHILD, str(src), str(dst.parent), str(run_dir), str(int(timeout_s))]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, cwd=REPO
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # papermill and the kernel it started, nothing else
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        return (time.perf_counter() - t0) / 60, f"over the time limit of {timeout_s / 60:.0f} minutes"
    minutes = (time.perf_counter() - t0) / 60
    if proc.returncode != 0:
        tail = [ln for ln in out.strip().splitlines() if ln.strip()][-3:]
        return minutes, "the notebook failed: " + " | ".join(tail)
    return minutes, None


def prepare_data(profile: str) -> float:
    """Make the profile's data (and its out-of-distribution set) when missing, as the course runner does; minutes."""
    sys.path.insert(0, str(REPO))
    from stirer_lib.course.session import ensure_ood_data, ensure_profile_data, prepare

    t0 = time.perf_counter()
    prof, user_root = prepare(profile)
    ensure_profile_data(prof, user_root)
    ensure_ood_data(prof)
    return (time.perf_counter() - t0) / 60


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--notebooks",
        type=int,
        nargs="+",
        default=[1, 2, 3, 4, 5, 6],
        metavar="N",
        help="chapter numbers, run in this order (default: all six)",
    )
    ap.add_argument(
        "--solutions", action="store_true", help="also run the worked solutions of these chapters, after them"
    )
    ap.add_argument(
        "--solutions-only",
        action="store_true",
        help="run only the worked solutions (on a --run-dir whose chapters ran, or on the reference weights)",
    )
    ap.add_argument("--timeout-min", type=float, default=10.0, help="time limit per notebook, minutes (default 10)")
    ap.add_argument("--run-dir", default=None, help="the run directory (default: a new temporary folder)")
    args = ap.parse_args(argv)

    books = REPO / "notebooks"
    chapters = [next(iter(sorted(books.glob(f"{n:02d}_*.ipynb"))), None) for n in args.notebooks]
    if None in chapters:
        ap.error(f"no chapter numbered {[n for n, c in zip(args.notebooks, chapters) if c is None]} in {books}")
    todo = [] if args.solutions_only else [(c, "notebooks") for c in chapters]
    if args.solutions or args.solutions_only:
        todo += [(books / "solutions" / f"{n:02d}_solutions.ipynb", "solutions") for n in args.notebooks]
    run_dir = Path(args.run_dir).resolve() if args.run_dir else Path(tempfile.mkdtemp(prefix="learner-check-"))
    profiles = {default_parameters(src).get("profile") for src, _ in todo}
    print(
        f"learner check: {len(todo)} notebooks with their default parameters (profile {', '.join(map(str, profiles))}),"
        f" run dir {run_dir}, at most {args.timeout_min:g} minutes each",
        flush=True,
    )
    for profile in sorted(p for p in profiles if p):
        print(f"  data of the {profile} profile: {prepare_data(profile):.1f} minutes (made when missing)", flush=True)

    rows, problems = [], []
    for src, sub in todo:
        dst = run_dir / sub / src.name
        print(f"  running {sub}/{src.name} ...", flush=True)
        minutes, failed = execute(src, dst, run_dir, args.timeout_min * 60)
        found = [failed] if failed else []
        if dst.exists():
            found += scan_notebook(json.loads(dst.read_text(encoding="utf-8")))
        rows.append((f"{sub}/{src.name}", minutes, found))
        problems += [f"{sub}/{src.name}: {p}" for p in found]
        print(f"    {minutes:.2f} min, {'ok' if not found else f'{len(found)} problem(s)'}", flush=True)

    sys.path.insert(0, str(REPO))
    from stirer_lib.course import reference
    from stirer_lib.course.runner import NotebookRun, write_index

    index = write_index(
        run_dir, [NotebookRun(name.split("/")[-1], m, not f) for name, m, f in rows if name.startswith("notebooks/")]
    )
    loaded = [s for s in ("pretrain", "finetune") if (reference.weights_used(run_dir, s) or "").startswith("loaded")]
    if not args.solutions_only:
        problems += check_index(
            index.read_text(encoding="utf-8"), want_table=6 in args.notebooks, want_figure=bool(loaded)
        )

    print(f"\n{'notebook':<42} {'minutes':>8}  problems")
    for name, minutes, found in rows:
        print(f"{name:<42} {minutes:8.2f}  {len(found) or '-'}")
    print(f"{'total':<42} {sum(m for _, m, _ in rows):8.2f}")
    print(f"index: {index}")
    if problems:
        print("\nPROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    print("no problem: every notebook opens on the lesson and runs clean with its defaults")
    return 0


if __name__ == "__main__":
    sys.exit(main())
