"""The course layer: profiles, the papermill runner's failure report, and the whole smoke series."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stirer_lib.checkpoint import read
from stirer_lib.course import get_profile, reference
from stirer_lib.course.runner import (
    NotebookFailed,
    course_command,
    list_notebooks,
    run_course,
    run_solutions,
    write_index,
)
from stirer_lib.errors import SettingError
from stirer_lib.evaluation import results_table
from stirer_lib.rundir import read_metrics

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    "01_data",
    "02_crnn_baseline",
    "03_stirer_architecture",
    "04_pretraining",
    "05_finetuning",
    "06_evaluation",
]


def test_profiles_and_overrides():
    smoke, cpu = get_profile("smoke"), get_profile("cpu")
    assert smoke.run_dir == "runs/smoke" and cpu.data.root == "data/synth/cpu"
    assert smoke.pretrain.max_steps < cpu.pretrain.max_steps
    p = get_profile(
        "smoke",
        [
            "pretrain.max_steps=3",
            "data.root=/tmp/x",
            "pretrain.amp=bf16",
            "data.sizes.easy=5",
            "model.t5_init=t5",
            "pretrain.lr_str=none",
            "finetune.lr=2e-4",
        ],
    )
    assert p.pretrain.max_steps == 3 and p.data.root == "/tmp/x" and p.pretrain.amp == "bf16"
    assert p.data.sizes["easy"] == 5 and p.model.changes == {"t5_init": "t5"} and p.pretrain.lr_str is None
    assert p.finetune.lr == 2e-4 and isinstance(p.finetune.lr, float)
    assert get_profile("paper").data.synthetic is False
    assert get_profile("smoke").pretrain.max_steps == 8  # another profile's overrides do not leak
    with pytest.raises(SettingError, match="unknown profile"):
        get_profile("laptop")


@pytest.mark.parametrize(
    "item, words",
    [
        ("pretrain.max_steps=abc", ["pretrain.max_steps", "'abc'", "int"]),
        ("pretrain.amp=flase", ["pretrain.amp", "'flase'", "bf16"]),
        ("pretrain.eval_every=yes", ["pretrain.eval_every", "'yes'", "int"]),
        ("course.interactive=maybe", ["course.interactive", "true or false"]),
        ("pretrain.lr=fast", ["pretrain.lr", "'fast'", "float"]),
        ("pretrain.max_steps=2.5", ["pretrain.max_steps", "'2.5'", "int"]),
        ("pretrain.nope=1", ["unknown setting", "pretrain.nope", "known here"]),
        ("pretrian.lr=1", ["unknown setting", "pretrian"]),
        ("data.sizes.nope=3", ["unknown setting", "data.sizes.nope"]),
        ("data.sizes.easy=x", ["data.sizes.easy", "int"]),
        ("pretrain.max_steps", ["not KEY=VALUE"]),
        ("pretrain.best_by=newest", ["best_by", "newest", "acc_final"]),
    ],
)
def test_bad_set_values_are_one_clear_line_and_exit_2(item, words, tmp_path, capsys):
    with pytest.raises(SettingError) as err:
        get_profile("smoke", [item])
    assert all(w in str(err.value) for w in words), str(err.value)
    from stirer_lib.train import main as train_main

    assert train_main(["--stage", "pretrain", "--run-dir", str(tmp_path / "r"), "--set", item]) == 2
    e = capsys.readouterr().err
    assert e.startswith("error: ") and len(e.strip().splitlines()) == 1 and "Traceback" not in e
    assert not (tmp_path / "r").exists()


def test_profile_model_fields_and_styles_reach_the_builders():
    from stirer_lib.course.build import build_model
    from stirer_lib.data.style import get_style

    cfg = build_model(get_profile("cpu")).config
    assert cfg.name == "small" and cfg.drop_path_rate == 0.0 and cfg.t5_dropout == 0.0
    cfg = build_model(get_profile("cpu", {"model.embed_dim": 16})).config
    assert cfg.embed_dim == 16 and cfg.drop_path_rate == 0.0 and not cfg.use_bigru  # merged with the profile's
    for name in ("smoke", "cpu", "gpu"):  # every synthetic profile names a known style
        get_style(get_profile(name).data.style)
    assert get_profile("cpu").data.style == "lesson" and get_profile("gpu").data.style == "full"


def test_dependencies_agree_between_pyproject_and_environment():
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = (REPO / "environment.yml").read_text()
    conda_names = {"lmdb": "python-lmdb"}
    for dep in deps:
        name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", dep).groups()
        assert f"{conda_names.get(name, name)}{spec}" in env, f"{dep} not in environment.yml with the same range"


def _notebook(cells: list[str]) -> dict:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.cells[0].metadata["tags"] = ["parameters"]
    return nb


def test_reference_provenance_names_the_data_run_dir_and_overrides():
    """The command recorded beside a reference run is the one that ran, copy-pastable into a shell."""
    assert course_command("cpu") == "python -m stirer_lib.course --profile cpu"
    cmd = course_command("cpu", "/tmp/my data", "runs/x", ["pretrain.max_steps=10", "data.sizes={'easy': 1}"])
    assert cmd == (
        "python -m stirer_lib.course --profile cpu --data '/tmp/my data' --run-dir runs/x "
        "--set pretrain.max_steps=10 --set 'data.sizes={'\"'\"'easy'\"'\"': 1}'"
    )


def test_runner_reports_failing_notebook_and_cell(tmp_path):
    import nbformat

    books = tmp_path / "notebooks"
    books.mkdir()
    nbformat.write(_notebook(["profile = 'smoke'", "x = 1"]), books / "01_ok.ipynb")
    nbformat.write(
        _notebook(["profile = 'smoke'", "y = 2", "raise ValueError('broken on purpose')"]), books / "02_bad.ipynb"
    )
    nbformat.write(_notebook(["profile = 'smoke'"]), books / "03_never.ipynb")
    run_dir = tmp_path / "run"
    with pytest.raises(NotebookFailed) as info:
        run_course(
            "smoke", data_root=str(tmp_path / "data"), run_dir=str(run_dir), notebooks_dir=books, prepare_data=False
        )
    err = info.value
    assert err.notebook == "02_bad.ipynb" and "broken on purpose" in err.error
    assert err.cell == 3  # papermill inserts the injected-parameters cell after the tagged one
    assert (run_dir / "notebooks" / "01_ok.html").exists()
    assert (run_dir / "notebooks" / "02_bad.ipynb").exists()
    assert not (run_dir / "notebooks" / "03_never.ipynb").exists()
    assert [p.name for p in list_notebooks(books, start=2)] == ["02_bad.ipynb", "03_never.ipynb"]
    assert [p.name for p in list_notebooks(books, only=[3, 1])] == ["01_ok.ipynb", "03_never.ipynb"]
    with pytest.raises(ValueError, match=r"no notebook numbered \[7\]"):
        list_notebooks(books, only=[1, 7])


def test_kernel_client_polls_in_short_slices(monkeypatch):
    """The runner's kernel client waits for a reply in polls of POLL_SLICE_S seconds (a reply that one long poll
    missed is seen at the next; jupyter/nbclient#312), and still honours the caller's timeout."""
    import asyncio
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    from stirer_lib.course import runner

    waits = []

    async def fake_get_msg(self, timeout=None):  # a reply that shows on the fourth poll
        waits.append(timeout)
        if len(waits) < 4:
            await asyncio.sleep(timeout)  # a poll that sees nothing lasts its timeout
            raise Empty
        return {"msg_id": "reply"}

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", fake_get_msg)
    monkeypatch.setattr(runner, "POLL_SLICE_S", 0.01)
    km = runner._quiet_kernel_manager(Path("unused.log"))()
    client = km.client()
    channel = object.__new__(client.shell_channel_class)  # no socket: get_msg of the base class is the fake above
    assert client.iopub_channel_class is client.shell_channel_class
    assert asyncio.run(channel.get_msg(timeout=None)) == {"msg_id": "reply"}
    assert waits == [0.01] * 4  # no timeout: polled until the reply, never one unbounded poll
    waits.clear()
    with pytest.raises(Empty):  # a timeout shorter than four slices: Empty when it has passed
        asyncio.run(channel.get_msg(timeout=0.025))
    assert 2 <= len(waits) <= 3 and all(w <= 0.01 for w in waits)


def test_one_results_table_for_one_or_more_evaluations():
    step = {"acc": 50.0, "psnr": 20.0, "ssim": 0.7}
    agg = {
        "steps": [step, step],
        "acc": 50.0,
        "psnr": 20.0,
        "ssim": 0.7,
        "crnn_acc": 25.0,
        "crnn_acc_lr_bicubic": 10.0,
        "bicubic": {"psnr": 19.0, "ssim": 0.6},
    }
    res = {
        "splits": {s: {"n": 2, "steps": [step, step], "crnn_acc": 25.0} for s in ("easy", "medium", "hard")},
        "mean_of_splits": agg,
        "over_all": agg,
    }
    table = results_table({"run": res})
    assert "bicubic LR" in table and "50.00" in table and "19.00" in table and "final decoder" in table
    res["splits"]["easy"]["steps"] = [step, {"acc": None, "psnr": 20.0, "ssim": 0.7}]  # w/o STR decoder
    assert "n/a" in results_table({"run": res, "again": res})


SOLUTIONS = [f"solutions/{n[:2]}_solutions" for n in NOTEBOOKS]


def test_notebooks_are_committed_clean():
    for name in NOTEBOOKS + SOLUTIONS:
        path = REPO / "notebooks" / f"{name}.ipynb"
        assert path.exists(), f"missing notebook {path}"
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any(c.get("outputs") or c.get("execution_count") for c in code), f"{name} has outputs"
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{name}: want exactly one cell tagged 'parameters'"


def test_chapters_tell_the_story_and_call_the_library():
    """Every chapter has at least as many lines of prose as of code; the weights a notebook loads are picked by one
    library call (course/lesson.py), not by branches in the notebook; figures come from viz functions."""
    for name in NOTEBOOKS:
        nb = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
        lines = {
            kind: sum(1 for c in nb["cells"] if c["cell_type"] == kind for line in c["source"] if line.strip())
            for kind in ("markdown", "code")
        }
        prose, code_lines = lines["markdown"], lines["code"]
        assert prose >= code_lines, f"{name}: {prose} lines of prose, {code_lines} of code"
        code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        for wiring in ("reference.install(", "train_stage(", "train_crnn(", "best_or_last(", "plt.subplots("):
            assert wiring not in code, f"{name} does in a cell what a library function should: {wiring}"


def test_every_chapter_ends_with_summary_next_and_links_its_solutions():
    for name in NOTEBOOKS:
        nb = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
        md = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
        assert "## Summary" in md[-1] and ("## Next" in md[-1] or "## What to try next" in md[-1]), name
        assert any(f"solutions/{name[:2]}_solutions.ipynb" in m for m in md), f"{name} does not link its solutions"


def test_index_links_chapters_results_and_figures(tmp_path):
    """RUN/index.html: the chapters, a results table built from eval/results.json (formatted numbers, the official
    printout linked, not pasted) and the run's figures."""
    from stirer_lib.evaluation import save_results

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_data.html").write_text("<html></html>")
    (tmp_path / "pretrain").mkdir()
    (tmp_path / "pretrain" / "curves.png").write_bytes(b"png")
    step = {"acc": 23.22222222222222, "psnr": 20.0, "ssim": 0.7}
    agg = {
        "n": 6,
        "steps": [step, step],
        "acc": 23.22222222222222,
        "psnr": 20.0,
        "ssim": 0.7,
        "crnn_acc": 25.0,
        "crnn_acc_lr_bicubic": 10.0,
        "crnn_acc_hr": 80.0,
        "bicubic": {"psnr": 19.0, "ssim": 0.6},
    }
    split = {
        "n": 2,
        "skipped": {},
        "steps": [step, step],
        "crnn_acc": 25.0,
        "crnn_acc_lr_bicubic": 10.0,
        "crnn_acc_hr": 80.0,
        "bicubic": {"psnr": 19.0, "ssim": 0.6},
    }
    res = {"splits": {s: dict(split) for s in ("easy", "medium", "hard")}, "mean_of_splits": agg, "over_all": agg}
    save_results({**res, "meta": {}}, tmp_path / "eval" / "results.json")
    save_results({**res, "meta": {}}, tmp_path / "eval" / "heldout" / "results.json")
    (tmp_path / "eval" / "scaling.png").write_bytes(b"png")
    page = write_index(tmp_path).read_text()
    assert "<h3>Held-out camera" in page and page.count('<table class="results">') == 2  # no ood results: no table
    assert "eval/scaling.png: the scaling lesson" in page
    assert 'href="notebooks/01_data.html"' in page and 'src="pretrain/curves.png"' in page
    assert '<table class="results">' in page and "<td>23.22</td>" in page and "23.2222" not in page
    assert "<td>20.00 / 19.00</td>" in page and "<td>0.7000 / 0.6000</td>" in page and "CRNN on HR" in page
    assert 'href="eval/results.txt"' in page and "Final Acc" not in page  # linked, not pasted


def test_mathjax_is_local(tmp_path):
    import nbformat

    from stirer_lib.course.runner import _to_html

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("$$x^2$$")]
    nbformat.write(nb, tmp_path / "a.ipynb")
    page = _to_html(tmp_path / "a.ipynb").read_text()
    assert (tmp_path / "mathjax" / "MathJax.js").exists() and 'src="mathjax/MathJax.js?config=' in page
    assert not re.search(r"https?://[^\"']*mathjax", page, re.I), "MathJax must not come from a CDN"


def test_step_progress_prints_about_every_tenth():
    import io
    from contextlib import redirect_stdout

    from stirer_lib.course.runner import PROGRESS_LINE
    from stirer_lib.viz.training import StepProgress

    p, buf = StepProgress("pretrain"), io.StringIO()
    p({"kind": "start", "total_steps": 50})
    with redirect_stdout(buf):
        for step in range(1, 51):
            p.step(step)
    lines = buf.getvalue().splitlines()
    assert 9 <= len(lines) <= 12 and all(PROGRESS_LINE.match(ln) and "ETA" in ln for ln in lines), lines
    assert lines[-1].startswith("pretrain: step 50/50 (100 %)")


# what an executed smoke notebook must not show: warnings, tracebacks, printed dicts or dataclass reprs, module dumps
DIRTY = [
    re.compile(p, re.M)
    for p in (
        r"UserWarning",
        r"Traceback",
        r"^\s*\{'",
        r"\{'[^']*': ",
        r"\w+Settings\(",
        r"^\s*\(\w+\): \w+\(",
        r"KeyboardInterrupt",
    )
]


def _dirty_outputs(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: error {out.get('ename')}")
                continue
            text = (
                out.get("text", "")
                if out.get("output_type") == "stream"
                else "".join(out.get("data", {}).get("text/plain", ""))
                if "text/plain" in out.get("data", {}) and "image/png" not in out.get("data", {})
                else ""
            )
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                found.append(f"cell {i}: a widget (a tqdm bar?) in a headless run")
            for pat in DIRTY:
                if pat.search(text):
                    found.append(f"cell {i}: {pat.pattern!r} in {text[:120]!r}")
    return found


def test_parameters_cells_declare_the_runner_parameters():
    import papermill as pm

    for name in NOTEBOOKS:
        declared = pm.inspect_notebook(str(REPO / "notebooks" / f"{name}.ipynb"))
        missing = {"profile", "overrides", "data_root", "run_dir", "seed", "interactive"} - set(declared)
        assert not missing, f"{name}: parameters cell does not declare {missing} (one assignment per line)"


@pytest.mark.course
def test_whole_smoke_series(tmp_path, monkeypatch):
    """Every notebook, in order, under papermill, in the smoke profile (the course's CI run); then the same run,
    published as a reference, loaded by the training notebooks with use_reference instead of training."""
    run_dir = tmp_path / "run"
    runs = run_course("smoke", run_dir=str(run_dir))
    assert [r.name for r in runs] == [f"{n}.ipynb" for n in NOTEBOOKS] and all(r.ok for r in runs)
    results = json.loads((run_dir / "eval" / "results.json").read_text())
    assert set(results["splits"]) == {"easy", "medium", "hard"}
    assert (run_dir / "finetune" / "last.pt").exists() and (run_dir / "crnn" / "crnn.pt").exists()
    assert "total" in (run_dir / "summary.txt").read_text()
    import nbformat

    for name in NOTEBOOKS:  # figures reach the executed notebooks (inline backend, not Agg)
        nb = nbformat.read(run_dir / "notebooks" / f"{name}.ipynb", as_version=4)
        images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert images, f"executed {name} shows no figure"
        assert not _dirty_outputs(nb), f"executed {name}: {_dirty_outputs(nb)}"
        page = (run_dir / "notebooks" / f"{name}.html").read_text()
        assert "mathjax/MathJax.js" in page and not re.search(r"https?://[^\"']*mathjax", page, re.I)
        first = next(o for c in nb.cells for o in c.get("outputs", []) if "text/markdown" in o.get("data", {}))
        assert "Smoke run" in "".join(first["data"]["text/markdown"]), f"{name} does not open with the smoke note"
    index = (run_dir / "index.html").read_text()
    assert all(f"notebooks/{n}.html" in index for n in NOTEBOOKS) and "curves.png" in index
    # every worked solution runs (tiny sizes in smoke) so that none rots
    sol = run_solutions("smoke", run_dir=str(run_dir))
    assert [r.name for r in sol] == [f"{s[10:]}.ipynb" for s in SOLUTIONS] and all(r.ok for r in sol)
    for s in SOLUTIONS:
        nb = nbformat.read(run_dir / "solutions" / f"{s[10:]}.ipynb", as_version=4)
        assert not _dirty_outputs(nb), f"executed {s}: {_dirty_outputs(nb)}"
    # a whole course wrote RUN/reference/; published into a stand-in checkout, the course runs from it without training
    ref = json.loads((run_dir / "reference" / "results.json").read_text())
    assert set(ref["minutes"]) == {f"{n}.ipynb" for n in NOTEBOOKS} and ref["eval"]["splits"] and ref["ood"]["splits"]
    monkeypatch.setenv("STIRER_COURSE_ROOT", str(tmp_path / "checkout"))
    reference.publish(run_dir, "smoke")
    quick = tmp_path / "quick"
    runs = run_course(
        "smoke",
        data_root=str(REPO / "data" / "synth" / "smoke"),
        run_dir=str(quick),
        only=[2, 4, 5, 6],
        notebooks_dir=REPO / "notebooks",
        use_reference=True,
    )
    assert all(r.ok for r in runs) and not (quick / "reference").exists()  # not a whole course: no reference of its own
    for stage in ("pretrain", "finetune"):
        assert read(quick / stage / "best.pt")["reference"] and not (quick / stage / "last.pt").exists()
    assert read(quick / "crnn" / "crnn.pt")["step"] == ref_step(run_dir)
    for name in ("02_crnn_baseline", "04_pretraining", "05_finetuning", "06_evaluation"):
        nb = nbformat.read(quick / "notebooks" / f"{name}.ipynb", as_version=4)
        assert not _dirty_outputs(nb), f"executed {name} with use_reference: {_dirty_outputs(nb)}"
    # what the prose promises holds in both modes: each training curve (02, 04, 05) starts at step 0, before training
    for run in (run_dir, quick):
        assert read(run / "crnn" / "crnn.pt")["history"][0]["step"] == 0, f"{run}: the CRNN's curve has no step 0"
        for stage in ("pretrain", "finetune"):
            evals = [r for r in read_metrics(run / stage / "metrics.jsonl") if r["kind"] == "eval"]
            assert evals[0]["step"] == 0, f"{run / stage}: its curve has no step-0 evaluation"
    nb = nbformat.read(quick / "notebooks" / "02_crnn_baseline.ipynb", as_version=4)
    shown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for c in nb.cells for o in c.get("outputs", []))
    assert "Last logged step" in shown and "No training log" not in shown  # "the curve below": the reference's own


def ref_step(run_dir) -> int:
    """The step of a run's CRNN checkpoint."""
    return read(Path(run_dir) / "crnn" / "crnn.pt")["step"]


def test_notebooks_are_valid_and_committed_without_outputs():
    """Every chapter and solution notebook validates against nbformat (cell ids included) and carries no outputs."""
    import nbformat

    paths = sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "notebooks" / "solutions").glob("*.ipynb"))
    assert len(paths) >= 12
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert all("id" in c for c in nb.cells), f"{path.name}: a cell without an id"
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not dirty, f"{path.name}: committed with outputs in cells {dirty}"
