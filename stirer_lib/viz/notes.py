"""What the notebooks show as text: the run header, the smoke-run warning, small tables.

Notebooks display these as Markdown (rendered in JupyterLab and in the HTML copies) instead of
printing dicts or dataclass reprs. Every function returns the Markdown string and, with
`show=True` (the default), displays it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

SMOKE_NOTE = (
    "**Smoke run: the numbers in this notebook mean nothing.** The `smoke` profile trains for a few "
    "steps on a few dozen generated images, only to check that every cell runs (the tests run it). To see "
    'STIRER learn, set `profile = "cpu"` in the parameters cell (the notebooks\' default) or run the course '
    "with `--profile cpu`."
)

# the header of every notebook names its profile (stirer_lib/course/profiles.py holds them all)
SWITCH = "To switch, set `profile` in the parameters cell (notebook 01 lists the profiles)."


class Shown(str):
    """Markdown already displayed: the text itself for the caller, nothing more when it is a cell's last value
    (Jupyter would otherwise echo it again as a Python string)."""

    def _ipython_display_(self) -> None:
        pass


def _show(md: str, show: bool) -> str:
    if show:
        from IPython.display import Markdown, display

        display(Markdown(md))
        return Shown(md)
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


def run_header(prof: Any, show: bool = True, weights: str | None = None, **extra: Any) -> str:
    """The first output of every notebook: which profile (and how to switch), which weights (`weights`: a
    sentence, e.g. stirer_lib.course.reference.weights_note, saying which parameter trains your own), then a
    table of data, run directory, device (and `extra` rows); in the smoke profile it opens with a warning that
    its numbers mean nothing."""
    rows = [
        ("profile", prof.name),
        ("data", f"`{prof.data.root}`"),
        ("run directory", f"`{prof.run_dir}`"),
        ("device", getattr(prof, "device", "cpu")),
        *extra.items(),
    ]
    words = prof.description
    lines = [f"**Profile `{prof.name}`**" + (f": {words}." if words else ".") + f" {SWITCH}"]
    if weights:
        lines.append(weights)
    md = "\n\n".join(lines) + "\n\n" + table(rows, ["run", ""], show=False)
    if prof.name == "smoke":
        md = f"> {SMOKE_NOTE}\n\n{md}"
    return _show(md, show)


def say(text: str, show: bool = True) -> str:
    """A sentence computed by the notebook (a number of this run, an empty case said in words)."""
    return _show(text, show)


def rate(v: float) -> str:
    """A rate or a duration with the digits that mean something: 1,000 and 12.5, "-" when not measured."""
    if v != v:  # NaN: not measured
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"
