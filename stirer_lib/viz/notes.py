"""What the notebooks show as text: the run header, the smoke-run warning, small tables.

Notebooks display these as Markdown (rendered in JupyterLab and in the HTML copies) instead of
printing dicts or dataclass reprs. Every function returns the Markdown string and, with
`show=True` (the default), displays it.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

SMOKE_NOTE = ("**Smoke run: the numbers in this notebook mean nothing.** The `smoke` profile trains for a few "
              "steps on a few dozen generated images, only to check that every cell runs. Run the course with "
              "`--profile cpu` (about half an hour on 2 cores) or `gpu` to see STIRER learn.")


def _show(md: str, show: bool) -> str:
    if show:
        from IPython.display import Markdown, display
        display(Markdown(md))
    return md


def _cell(v: Any) -> str:
    if isinstance(v, float):
        v = f"{v:.4g}"
    elif v is None:
        v = "-"
    elif isinstance(v, (dict, list, tuple)) and not v:
        v = "none"
    elif isinstance(v, dict):
        v = ", ".join(f"{k} {_cell(x)}" for k, x in v.items())
    elif isinstance(v, (list, tuple)):
        v = ", ".join(_cell(x) for x in v)
    return str(v).replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], show: bool = True) -> str:
    """A Markdown table (floats with 4 significant digits, None as '-')."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return _show("\n".join(lines), show)


def settings(obj: Any, title: str = "setting", keys: Sequence[str] | None = None, show: bool = True) -> str:
    """The fields of a settings dataclass (or a dict) as a two-column table."""
    items = dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else dict(obj)
    if keys is not None:
        items = {k: items[k] for k in keys if k in items}
    return table(items.items(), [title, "value"], show=show)


def run_header(prof: Any, show: bool = True, **extra: Any) -> str:
    """The first output of every notebook: profile, data, run directory, device (and `extra` rows);
    in the smoke profile, a warning that its numbers mean nothing."""
    rows = [("profile", prof.name), ("data", f"`{prof.data.root}`"), ("run directory", f"`{prof.run_dir}`"),
            ("device", getattr(prof, "device", "cpu")), *extra.items()]
    md = table(rows, ["run", ""], show=False)
    if prof.name == "smoke":
        md = f"> {SMOKE_NOTE}\n\n{md}"
    return _show(md, show)


def say(text: str, show: bool = True) -> str:
    """A sentence computed by the notebook (a number of this run, an empty case said in words)."""
    return _show(text, show)
