"""The course runner: execute the numbered notebooks in order with papermill.

`python -m stirer_lib.course --profile smoke|cpu|gpu|paper [--data ROOT] [--run-dir DIR] [--from N]`
writes each executed notebook and an HTML copy into RUN/notebooks/, stops at the first failure
naming the notebook and the cell, and ends with a summary: minutes per notebook and the final
results table (read from RUN/eval/results.json, written by notebook 06).

While it runs it prints one line per code cell (cell i of n, its seconds, the notebook's elapsed
time) and the training progress lines the notebooks print (`stirer_lib.viz.training.StepProgress`:
"pretrain: step 40/400 (10 %) ... ETA"). The kernel's own stderr (its start-up warnings, "KeyboardInterrupt
caught in kernel" at shutdown) goes to RUN/notebooks/NN_name.kernel.log, not to the terminal.
The HTML copies render formulas offline with the MathJax of the `jupyter-server-mathjax` package,
copied once into RUN/notebooks/mathjax/; RUN/index.html links the chapters, the results table and
the figures.
"""

from __future__ import annotations

import functools
import html
import os
import re
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic_write import atomic_write_text
from ..errors import DataError, SettingError
from ..evaluation import load_results, results_table
from ..rundir import RunLock
from . import reference
from .profiles import parse_overrides
from .session import ensure_heldout_data, ensure_ood_data, ensure_profile_data, prepare, repo_root

KERNEL = "python3"
MATHJAX_DIR = "mathjax"  # under RUN/notebooks/
# the configs jupyter-server-mathjax ships, then ours (MATHJAX_FONTS, written into the copy as config/local/)
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe,local/stirer-fonts"
# The package ships one font for the HTML-CSS output, STIX-Web (fonts/HTML-CSS/STIX-Web/woff), and neither the
# TeX web fonts nor the image fonts that MathJax 2 prefers: left at its defaults it falls back to whatever the
# browser has (a detached square root, a plain L for \mathcal{L}). So: no local fonts, the STIX-Web web font.
MATHJAX_FONTS = """MathJax.Hub.Config({
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/stirer-fonts.js");
"""
# lines of a notebook's stdout echoed to the terminal while it runs (StepProgress and CRNN progress lines)
PROGRESS_LINE = re.compile(r"^\S+: step \d+/\d+ ")


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
    weights: str | None = None  # a training notebook's weights: "loaded reference/cpu/pretrain.pt (...)", "trained ..."


# the training notebooks (by number) and the part whose weights each leaves in the run directory
TRAINED_BY = {2: "crnn", 4: "pretrain", 5: "finetune"}


def _weights_of(nb_name: str, run_dir: str | Path) -> str | None:
    """Which weights a training notebook left in RUN (the reference run's or trained), None for the others."""
    part = TRAINED_BY.get(int(nb_name[:2])) if nb_name[:2].isdigit() else None
    return reference.weights_used(run_dir, part) if part else None


def list_notebooks(notebooks_dir: Path, start: int = 1, only: list[int] | None = None) -> list[Path]:
    """The numbered notebooks NN_*.ipynb from number `start` on (or just the numbers `only`), in order."""
    books = sorted(p for p in notebooks_dir.glob("[0-9][0-9]_*.ipynb"))
    if not books:
        raise DataError(f"no numbered notebooks (NN_name.ipynb) in {notebooks_dir}")
    if only:
        missing = sorted(set(only) - {int(p.name[:2]) for p in books})
        if missing:
            raise SettingError(
                f"no notebook numbered {missing} in {notebooks_dir}; there are {[p.name for p in books]}"
            )
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


def mathjax_source() -> Path:
    """The MathJax 2 distribution shipped by the `jupyter-server-mathjax` package (MathJax.js and its folders).

    Found without importing the package: its __init__ imports jupyter_server, which the HTML copies do not need."""
    import importlib.util

    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or spec.origin is None:  # a dependency of the course (pyproject.toml, environment.yml)
        raise DataError(
            "the HTML copies need MathJax from the package jupyter-server-mathjax: pip install jupyter-server-mathjax"
        )
    return Path(spec.origin).parent / "static"


def install_mathjax(out_dir: Path) -> str:
    """Copy MathJax next to the HTML copies (once per run directory); return the URL the HTML uses."""
    dst = out_dir / MATHJAX_DIR
    if not (dst / "MathJax.js").exists():
        tmp = out_dir / f".{MATHJAX_DIR}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(mathjax_source(), tmp)
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
    fonts = dst / "config" / "local" / "stirer-fonts.js"  # written each time: a copy made before it existed
    if not fonts.exists() or fonts.read_text() != MATHJAX_FONTS:
        fonts.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(MATHJAX_FONTS, fonts)
    return f"{MATHJAX_DIR}/MathJax.js?config={MATHJAX_CONFIG}"


def _to_html(nb_path: Path) -> Path:
    """The HTML copy of an executed notebook, its formulas rendered by the local MathJax copy."""
    import nbformat
    from nbconvert import HTMLExporter

    url = install_mathjax(nb_path.parent)
    body, _ = HTMLExporter(mathjax_url=url).from_notebook_node(nbformat.read(nb_path, as_version=4))
    html_path = nb_path.with_suffix(".html")
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _fmt_time(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class _Echo:
    """stdout_file of papermill's client: echoes the progress lines of a notebook's output, drops the rest."""

    def __init__(self, out=None):
        self.out, self.pending = out, ""

    def write(self, text: str) -> None:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for ln in lines:
            ln = ln.rsplit("\r", 1)[-1]
            if PROGRESS_LINE.match(ln):
                print(f"      {ln}", file=self.out or sys.stdout, flush=True)

    def flush(self) -> None:
        pass


class _CellProgress:
    """nbclient hooks: one line per executed code cell, 'cell i/n  seconds  (elapsed)'."""

    def __init__(self, name: str, n_code: int, out=None):
        self.name, self.n, self.out = name, n_code, out
        self.i, self.t0, self.t_cell = 0, time.perf_counter(), 0.0

    def start(self, cell, cell_index: int, **_) -> None:
        if cell.cell_type == "code" and cell.source.strip():
            self.t_cell = time.perf_counter()

    def complete(self, cell, cell_index: int, **_) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        self.i += 1
        now = time.perf_counter()
        print(
            f"    {self.name} cell {self.i}/{self.n}  {now - self.t_cell:6.1f} s  ({_fmt_time(now - self.t0)} elapsed)",
            file=self.out or sys.stdout,
            flush=True,
        )


POLL_SLICE_S = 0.5  # the longest a kernel message that has arrived can wait unseen (see _polling_client)


@functools.cache
def _polling_client():
    """An async kernel client class (built once) whose channels wait for a message in polls of POLL_SLICE_S seconds.

    With one poll as long as the cell's timeout, a reply that arrives while a widget's comm messages are handled
    can go unseen until that timeout ends (jupyter/nbclient#312: an ipywidgets cell then hangs for the whole cell
    timeout, and finishes as if nothing happened; docs/EXPERIMENTS.md "A widget cell under papermill"). Short polls
    see it at the next one."""
    from queue import Empty

    from jupyter_client.asynchronous import AsyncKernelClient
    from jupyter_client.channels import AsyncZMQSocketChannel
    from traitlets import Type

    class PollingChannel(AsyncZMQSocketChannel):
        async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = POLL_SLICE_S if deadline is None else min(POLL_SLICE_S, max(0.0, deadline - time.monotonic()))
                try:
                    return await super().get_msg(timeout=left)
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

    class PollingKernelClient(AsyncKernelClient):
        shell_channel_class = Type(PollingChannel)
        iopub_channel_class = Type(PollingChannel)

    return PollingKernelClient


def _quiet_kernel_manager(log_path: Path):
    """A kernel manager class whose kernel writes its stdout / stderr (start-up warnings, shutdown noise) to a log,
    and whose client polls its channels in short slices (_polling_client)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class QuietKernelManager(AsyncKernelManager):
        @default("client_factory")
        def _polling_client_factory(self):
            return _polling_client()

        async def _async_launch_kernel(self, kernel_cmd, **kw):
            log = open(log_path, "ab")  # noqa: SIM115 - the kernel process holds it; closed when it ends
            kw["stdout"], kw["stderr"] = log, log
            try:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            finally:
                log.close()  # the child has its own descriptor

    return QuietKernelManager


OPTIONAL_PARAMETERS = ("use_reference", "resume")  # passed only to the notebooks whose parameters cell has them


def declared_parameters(nb) -> set[str]:
    """The names assigned in a notebook's cell tagged "parameters"."""
    import ast

    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            tree = ast.parse(cell.source)
            return {
                t.id
                for node in tree.body
                if isinstance(node, ast.Assign)
                for t in node.targets
                if isinstance(t, ast.Name)
            }
    return set()


def run_notebook(
    src: Path, out_dir: Path, parameters: dict[str, Any], cell_timeout: int, progress: bool = True
) -> Path:
    """Execute one notebook with papermill into out_dir (plus an HTML copy); raise NotebookFailed.

    progress: print one line per code cell and echo the notebook's training-progress lines."""
    import nbformat
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / src.name
    kernel_log = dst.with_suffix(".kernel.log")
    kernel_log.unlink(missing_ok=True)
    nb = nbformat.read(src, as_version=4)
    n_code = sum(c.cell_type == "code" and bool(c.source.strip()) for c in nb.cells)
    declared = declared_parameters(nb)
    parameters = {k: v for k, v in parameters.items() if k not in OPTIONAL_PARAMETERS or k in declared}
    hooks: dict[str, Any] = {}
    if progress:
        cells = _CellProgress(src.stem, n_code + (1 if parameters else 0))
        hooks = dict(on_cell_start=cells.start, on_cell_executed=cells.complete, stdout_file=_Echo())
    try:
        pm.execute_notebook(
            str(src),
            str(dst),
            parameters=parameters,
            kernel_name=KERNEL,
            language="python",
            cwd=str(src.parent),
            execution_timeout=cell_timeout,
            progress_bar=False,
            log_output=False,
            kernel_manager_class=_quiet_kernel_manager(kernel_log),
            **hooks,
        )
    except Exception as err:  # papermill's PapermillExecutionError, a timeout, a dead kernel
        cell = getattr(err, "cell_index", None)
        if cell is None and dst.exists():
            cell = _failed_cell(dst)
        ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
        if dst.exists():
            _to_html(dst)
        where = f" (kernel log: {kernel_log})" if kernel_log.exists() and kernel_log.stat().st_size else ""
        raise NotebookFailed(src.name, cell, f"{ename}: {evalue}".strip() + where, dst) from None
    _to_html(dst)
    return dst


def run_solutions(
    profile: str,
    data_root: str | None = None,
    run_dir: str | None = None,
    overrides: list[str] | None = None,
    only: list[int] | None = None,
    solutions_dir: Path | None = None,
    use_reference: bool = False,
) -> list[NotebookRun]:
    """Execute notebooks/solutions/NN_solutions.ipynb into RUN/solutions/ (after the chapters ran into RUN).

    The smoke tests run them so that no solution rots; a learner can run them too (`--solutions`).
    use_reference is passed to the solutions that declare it (as run_course does to the chapters)."""
    prof, _ = prepare(profile, overrides, data_root, run_dir)
    books = list_notebooks(solutions_dir or repo_root() / "notebooks" / "solutions", 1, only)
    os.environ.setdefault("STIRER_COURSE_ROOT", str(repo_root()))
    os.environ.setdefault("TQDM_DISABLE", "1")
    params = {
        "profile": profile,
        "overrides": parse_overrides(overrides),
        "data_root": prof.data.root,
        "run_dir": prof.run_dir,
        "seed": prof.seed,
        "interactive": False,
        "use_reference": bool(use_reference),
    }
    runs = []
    print(f"solutions: profile {prof.name}, run dir {prof.run_dir}, {len(books)} notebooks", flush=True)
    for nb in books:
        t0 = time.perf_counter()
        print(f"  running solutions/{nb.name} ...", flush=True)
        try:
            run_notebook(nb, Path(prof.run_dir) / "solutions", params, prof.course.cell_timeout_s)
        except NotebookFailed:
            runs.append(NotebookRun(nb.name, (time.perf_counter() - t0) / 60, False))
            raise
        runs.append(NotebookRun(nb.name, (time.perf_counter() - t0) / 60, True))
        print(f"  done solutions/{nb.name} in {runs[-1].minutes:.2f} min", flush=True)
    return runs


def course_command(
    profile: str,
    data_root: str | None = None,
    run_dir: str | None = None,
    overrides: list[str] | None = None,
    resume: bool = False,
) -> str:
    """The command line that runs this course (recorded as a reference run's provenance)."""
    return " ".join(
        [
            "python -m stirer_lib.course --profile",
            profile,
            *([f"--data {shlex.quote(str(data_root))}"] if data_root else []),
            *([f"--run-dir {shlex.quote(str(run_dir))}"] if run_dir else []),
            *[f"--set {shlex.quote(o)}" for o in overrides or []],
            *(["--resume"] if resume else []),
        ]
    )


def run_course(
    profile: str,
    data_root: str | None = None,
    run_dir: str | None = None,
    start: int = 1,
    overrides: list[str] | None = None,
    notebooks_dir: Path | None = None,
    prepare_data: bool = True,
    only: list[int] | None = None,
    use_reference: bool = False,
    resume: bool = False,
) -> list[NotebookRun]:
    """Run the notebooks from number `start` on (or those numbered `only`); print and return minutes per notebook.

    resume: the training notebooks continue their stage's RUN/STAGE/last.pt where there is one (a course
    stopped by Ctrl-C, a crash or a reboot goes on where it was; a finished stage is kept as it is).
    use_reference: the training notebooks load the repository's reference checkpoints instead of training. Both
    use_reference and resume are passed to every notebook whose parameters cell declares them, True or False: the
    notebooks default to the reference weights (use_reference = True, what "Run all" in JupyterLab does), so a
    course without --use-reference must say False to train.
    A whole course (from notebook 1, all of them, training) writes RUN/reference/ (stirer_lib.course.reference).

    The run directory is locked for the whole course: a second course into it is refused."""
    prof, user_root = prepare(profile, overrides, data_root, run_dir)
    notebooks = list_notebooks(notebooks_dir or repo_root() / "notebooks", start, only)
    os.environ.setdefault("STIRER_COURSE_ROOT", str(repo_root()))
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in the executed notebooks / the log
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    with RunLock(prof.run_dir, "course"):
        if prepare_data:  # fail fast (or generate the synthetic sets) before any notebook starts
            ensure_profile_data(prof, user_root)
            ensure_ood_data(prof)
            ensure_heldout_data(prof)
        params = {
            "profile": profile,
            "overrides": parse_overrides(overrides),
            "data_root": prof.data.root,
            "run_dir": prof.run_dir,
            "seed": prof.seed,
            "interactive": False,
            "use_reference": bool(use_reference),
            "resume": bool(resume),
        }
        runs = _run_all(notebooks, prof, params)
        if start == 1 and only is None and not use_reference:  # a whole course: its numbers and checkpoints
            command = course_command(profile, data_root, run_dir, overrides, resume)
            dst = reference.write(prof.run_dir, {r.name: r.minutes for r in runs}, command)
            print(
                f"this run's reference numbers and weights: {dst} (publish them into the repository with "
                f"python -m stirer_lib.course --publish-reference {prof.run_dir})"
            )
        return runs


def _run_all(notebooks: list[Path], prof, params: dict) -> list[NotebookRun]:
    out_dir = Path(prof.run_dir) / "notebooks"
    runs: list[NotebookRun] = []
    print(
        f"course: profile {prof.name}, data {prof.data.root}, run dir {prof.run_dir}, {len(notebooks)} notebooks",
        flush=True,
    )
    for nb in notebooks:
        t0 = time.perf_counter()
        print(f"  running {nb.name} ...", flush=True)
        try:
            run_notebook(nb, out_dir, params, prof.course.cell_timeout_s)
        except NotebookFailed:
            runs.append(NotebookRun(nb.name, (time.perf_counter() - t0) / 60, False))
            write_index(prof.run_dir, runs)
            print(summary(runs, prof.run_dir))
            raise
        runs.append(NotebookRun(nb.name, (time.perf_counter() - t0) / 60, True, _weights_of(nb.name, prof.run_dir)))
        write_index(prof.run_dir, runs)
        print(f"  done {nb.name} in {runs[-1].minutes:.2f} min", flush=True)  # its weights: once, in the summary
    text = summary(runs, prof.run_dir)
    atomic_write_text(text, Path(prof.run_dir) / "summary.txt")
    print(text)
    print(f"open {Path(prof.run_dir) / 'index.html'} in a browser: the chapters, the results and the figures")
    return runs


def _num(v: float | None, digits: int = 2, unit: str = "") -> str:
    return "-" if v is None or (isinstance(v, float) and v != v) else f"{v:.{digits}f}{unit}"


def results_rows(results: dict) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The results table of an evaluation (RUN/eval/results.json): the columns (each split with its n, the mean of
    splits) and the rows (accuracy of every step, the CRNN on SR / bicubic LR / HR, PSNR and SSIM of the SR image
    against bicubic's), each cell formatted (two decimals, SSIM four)."""
    splits = list(results["splits"])
    cols = [*(results["splits"][s] for s in splits), results["mean_of_splits"]]
    headers = [f"{s} (n = {results['splits'][s]['n']:,})" for s in splits] + ["mean of splits"]
    n_steps = max((len(c["steps"]) for c in cols), default=0)
    rows: list[tuple[str, list[str]]] = []
    for k in range(n_steps):
        name = "final decoder (T5)" if k == n_steps - 1 else f"mini decoder {k + 1} (CTC)"
        rows.append(
            (f"STIRER {name}: accuracy (%)", [_num(c["steps"][k]["acc"]) if k < len(c["steps"]) else "-" for c in cols])
        )
    for key, label in (
        ("crnn_acc", "CRNN on STIRER's SR"),
        ("crnn_acc_lr_bicubic", "CRNN on bicubic LR"),
        ("crnn_acc_hr", "CRNN on HR"),
    ):
        rows.append((f"{label}: accuracy (%)", [_num(c.get(key)) for c in cols]))
    for key, label, d in (("psnr", "PSNR (dB)", 2), ("ssim", "SSIM (0-1)", 4)):
        rows.append(
            (
                f"{label}: SR / bicubic",
                [
                    f"{_num(c['steps'][-1].get(key) if c['steps'] else None, d)} / {_num(c['bicubic'].get(key), d)}"
                    for c in cols
                ],
            )
        )
    return headers, rows


def results_html(results: dict) -> str:
    """results_rows as an HTML table."""
    esc = html.escape
    headers, rows = results_rows(results)
    head = "<tr><th></th>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"
    body = "".join(
        "<tr><th>" + esc(name) + "</th>" + "".join(f"<td>{esc(v)}</td>" for v in vals) + "</tr>" for name, vals in rows
    )
    return f'<table class="results">{head}{body}</table>'


EXTRA_TEST_SETS = {  # notebook 06's other test sets, RUN/eval/<folder>/results.json
    "ood": "Out of distribution: full-style words and fonts the lesson model never saw",
    "heldout": "Held-out camera: the lesson words captured by a camera training never used",
}
FIGURE_CAPTIONS = {
    "eval/scaling.png": "the scaling lesson (notebook 06): final-decoder accuracy and SR gain over bicubic against "
    "training images seen, this run beside the shipped reference runs",
}


def _figure_caption(run_dir: Path, rel: str) -> str:
    """A figure's caption: its path and what it shows (whose training log drew a stage's curves)."""
    if rel in FIGURE_CAPTIONS:
        return f"{rel}: {FIGURE_CAPTIONS[rel]}"
    stage = rel.split("/")[0]
    if rel.endswith("curves.png") and stage in ("pretrain", "finetune"):
        used = reference.weights_used(run_dir, stage) or ""
        whose = "the reference run's training log" if used.startswith("loaded") else "this run's training log"
        return f"{rel}: {'pretraining' if stage == 'pretrain' else 'fine-tuning'} curves, drawn from {whose}"
    return rel


def write_index(run_dir: str | Path, runs: list[NotebookRun] | None = None) -> Path:
    """RUN/index.html: links to the chapters' HTML copies (minutes, and the weights each training notebook used),
    the results table of notebook 06's evaluation (RUN/eval/results.json) with a link to the official-format
    printout (eval/results.txt), and every figure of the run (RUN/*/*.png: the training curves)."""
    run_dir = Path(run_dir)
    esc = html.escape
    minutes = {r.name: r for r in runs or []}
    items = []
    for page in sorted((run_dir / "notebooks").glob("[0-9][0-9]_*.html")):
        r = minutes.get(page.with_suffix(".ipynb").name)
        note = "" if r is None else f" ({r.minutes:.1f} min{'' if r.ok else ', FAILED'})"
        weights = (r.weights if r is not None else None) or _weights_of(page.name, run_dir)
        title = page.stem[3:].replace("_", " ")
        items.append(
            f'<li><a href="notebooks/{esc(page.name)}">{esc(page.stem[:2])} · {esc(title)}</a>{esc(note)}'
            + (f"<br><small>weights: {esc(weights)}</small>" if weights else "")
            + "</li>"
        )
    parts = [
        f"<h1>STIRER course: run {esc(run_dir.name)}</h1>",
        "<h2>Chapters</h2>",
        "<ul>" + "".join(items) + "</ul>" if items else "<p>no chapter has run yet</p>",
    ]
    parts.append("<h2>Results</h2>")
    res_json = run_dir / "eval" / "results.json"
    if res_json.exists():
        results = load_results(res_json)
        model = (results.get("meta") or {}).get("stirer")
        parts.append(
            "<p>Notebook 06's evaluation of "
            + (f"<code>{esc(reference.shown_path(model))}</code>" if model else "the trained model")
            + " on the test splits: word accuracy of every step, what the CRNN of notebook 02 reads, "
            "and the SR image against bicubic interpolation.</p>"
        )
        parts.append(results_html(results))
        links = [
            (rel, what)
            for rel, what in (
                ("eval/results.txt", "the official test.py printout"),
                ("eval/results.json", "every number, per image"),
                ("eval/ood/results.txt", "out of distribution (notebook 06)"),
                ("eval/heldout/results.txt", "held-out camera (notebook 06)"),
            )
            if (run_dir / rel).exists()
        ]
        if links:
            parts.append(
                "<p>" + " · ".join(f'<a href="{esc(rel)}">{esc(rel)}</a> ({esc(what)})' for rel, what in links) + "</p>"
            )
        for sub_dir, title in EXTRA_TEST_SETS.items():
            extra = run_dir / "eval" / sub_dir / "results.json"
            if extra.exists():
                parts.append(f"<h3>{esc(title)}</h3>")
                parts.append(results_html(load_results(extra)))
    else:
        parts.append("<p>no results yet: notebook 06 writes eval/results.json</p>")
    if (run_dir / "summary.txt").exists():
        parts.append('<p><a href="summary.txt">summary.txt</a>: minutes per notebook</p>')
    order = {"pretrain": 0, "finetune": 1}  # the stages in course order, then every other figure
    figures = sorted(
        (p for p in run_dir.glob("*/*.png") if p.parent.name != "notebooks"),
        key=lambda p: (order.get(p.parent.name, 2), p.as_posix()),
    )
    parts.append("<h2>Figures</h2>")
    for fig in figures:
        rel = fig.relative_to(run_dir).as_posix()
        parts.append(
            f'<figure><img src="{esc(rel)}" style="max-width:100%">'
            f"<figcaption>{esc(_figure_caption(run_dir, rel))}</figcaption></figure>"
        )
    if not figures:
        parts.append("<p>no figures yet (RUN/pretrain/curves.png, RUN/finetune/curves.png, ...)</p>")
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>STIRER course run</title>'
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table.results{border-collapse:collapse;font-size:14px}"
        "table.results th,table.results td{border:1px solid #ccc;padding:.25em .6em}"
        "table.results td{text-align:right;font-variant-numeric:tabular-nums}"
        "table.results th{text-align:left;background:#f6f6f6}</style></head><body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )
    out = run_dir / "index.html"
    atomic_write_text(page, out)
    return out


def summary(runs: list[NotebookRun], run_dir: str) -> str:
    """Minutes per notebook (and the weights each training notebook used), then the final results table if
    notebook 06 wrote one."""
    lines = ["", "notebook                              minutes  status"]
    lines += [f"{r.name:<37} {r.minutes:7.2f}  {'ok' if r.ok else 'FAILED'}" for r in runs]
    lines.append(f"{'total':<37} {sum(r.minutes for r in runs):7.2f}")
    lines += [f"  {r.name[:-6]}: {r.weights}" for r in runs if r.weights]
    res = Path(run_dir) / "eval" / "results.json"
    if res.exists():
        lines += ["", results_table({"STIRER (notebook 06)": load_results(res)})]
    return "\n".join(lines)
