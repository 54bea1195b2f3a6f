"""The course runner: execute the numbered notebooks in order with papermill.

`python -m stirer_lib.course --profile smoke|cpu|gpu|paper [--data ROOT] [--run-dir DIR] [--from N]`
writes each executed notebook and an HTML copy into RUN/notebooks/, stops at the first failure
naming the notebook and the cell, and ends with a summary: minutes per notebook and the final
results table (read from RUN/eval/results.json, written by notebook 06).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoint import atomic_write_text
from ..errors import DataError, SettingError
from ..evaluation import load_results, results_table
from ..runlock import RunLock
from .profiles import parse_overrides
from .session import ensure_profile_data, prepare, repo_root

KERNEL = "python3"


class NotebookFailed(RuntimeError):
    """A notebook raised: which one, which cell, what error, and where its executed copy is."""

    def __init__(self, notebook: str, cell: int | None, error: str, executed: Path):
        self.notebook, self.cell, self.error, self.executed = notebook, cell, error, executed
        where = f"cell {cell}" if cell is not None else "an unknown cell"
        super().__init__(f"notebook {notebook} failed in {where}: {error}\n  executed copy: {executed}")


@dataclass
class NotebookRun:
    name: str
    minutes: float
    ok: bool


def list_notebooks(notebooks_dir: Path, start: int = 1, only: list[int] | None = None) -> list[Path]:
    """The numbered notebooks NN_*.ipynb from number `start` on (or just the numbers `only`), in order."""
    books = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise DataError(f"no numbered notebooks (NN_name.ipynb) in {notebooks_dir}")
    if only:
        missing = sorted(set(only) - {int(p.name[:2]) for p in books})
        if missing:
            raise SettingError(f"no notebook numbered {missing} in {notebooks_dir}; "
                             f"there are {[p.name for p in books]}")
        return [p for p in books if int(p.name[:2]) in only]
    return [p for p in books if int(p.name[:2]) >= start]


def _failed_cell(nb_path: Path) -> int | None:
    """Index (0-based, among all cells) of the first cell whose output is an error."""
    import nbformat
    nb = nbformat.read(nb_path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i
    return None


def _to_html(nb_path: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter().from_notebook_node(nbformat.read(nb_path, as_version=4))
    html = nb_path.with_suffix(".html")
    html.write_text(body, encoding="utf-8")
    return html


def run_notebook(src: Path, out_dir: Path, parameters: dict[str, Any], cell_timeout: int) -> Path:
    """Execute one notebook with papermill into out_dir (plus an HTML copy); raise NotebookFailed."""
    import papermill as pm
    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / src.name
    try:
        pm.execute_notebook(str(src), str(dst), parameters=parameters, kernel_name=KERNEL, language="python",
                            cwd=str(src.parent), execution_timeout=cell_timeout, progress_bar=False,
                            log_output=False)
    except Exception as err:  # papermill's PapermillExecutionError, a timeout, a dead kernel
        cell = getattr(err, "cell_index", None)
        if cell is None and dst.exists():
            cell = _failed_cell(dst)
        ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
        if dst.exists():
            _to_html(dst)
        raise NotebookFailed(src.name, cell, f"{ename}: {evalue}".strip(), dst) from None
    _to_html(dst)
    return dst


def run_course(profile: str, data_root: str | None = None, run_dir: str | None = None, start: int = 1,
               overrides: list[str] | None = None, notebooks_dir: Path | None = None,
               prepare_data: bool = True, only: list[int] | None = None) -> list[NotebookRun]:
    """Run the notebooks from number `start` on (or those numbered `only`); print and return minutes per notebook.

    The run directory is locked for the whole course: a second course into it is refused."""
    prof, user_root = prepare(profile, overrides, data_root, run_dir)
    notebooks = list_notebooks(notebooks_dir or repo_root() / "notebooks", start, only)
    os.environ.setdefault("STIRER_COURSE_ROOT", str(repo_root()))
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in the executed notebooks / the log
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    with RunLock(prof.run_dir, "course"):
        if prepare_data:  # fail fast (or generate the synthetic set) before any notebook starts
            ensure_profile_data(prof, user_root)
        params = {"profile": profile, "overrides": parse_overrides(overrides), "data_root": prof.data.root,
                  "run_dir": prof.run_dir, "seed": prof.seed, "interactive": False}
        return _run_all(notebooks, prof, params)


def _run_all(notebooks: list[Path], prof, params: dict) -> list[NotebookRun]:
    out_dir = Path(prof.run_dir) / "notebooks"
    runs: list[NotebookRun] = []
    print(f"course: profile {prof.name}, data {prof.data.root}, run dir {prof.run_dir}, {len(notebooks)} notebooks",
          flush=True)
    for nb in notebooks:
        t0 = time.perf_counter()
        print(f"  running {nb.name} ...", flush=True)
        try:
            run_notebook(nb, out_dir, params, prof.course.cell_timeout_s)
        except NotebookFailed:
            runs.append(NotebookRun(nb.name, (time.perf_counter() - t0) / 60, False))
            print(summary(runs, prof.run_dir))
            raise
        runs.append(NotebookRun(nb.name, (time.perf_counter() - t0) / 60, True))
        print(f"  done {nb.name} in {runs[-1].minutes:.2f} min", flush=True)
    text = summary(runs, prof.run_dir)
    atomic_write_text(text, Path(prof.run_dir) / "summary.txt")
    print(text)
    return runs


def summary(runs: list[NotebookRun], run_dir: str) -> str:
    """Minutes per notebook, then the final results table if notebook 06 wrote one."""
    lines = ["", "notebook                              minutes  status"]
    lines += [f"{r.name:<37} {r.minutes:7.2f}  {'ok' if r.ok else 'FAILED'}" for r in runs]
    lines.append(f"{'total':<37} {sum(r.minutes for r in runs):7.2f}")
    res = Path(run_dir) / "eval" / "results.json"
    if res.exists():
        lines += ["", results_table({"STIRER (notebook 06)": load_results(res)})]
    return "\n".join(lines)
