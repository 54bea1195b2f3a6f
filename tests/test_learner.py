"""tools/learner_check.py, the course checked as a learner meets it: its scan of an executed notebook (smoke
banners, tracebacks, warnings, the run header), its check of RUN/index.html, and the defaults it relies on
(the notebooks open on the lesson). No notebook is executed here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("learner_check", REPO / "tools" / "learner_check.py")
lc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lc)

HEADER = {"output_type": "display_data", "data": {"text/markdown": "**Profile `cpu`**: the lesson. **Weights: none**."}}


def _nb(*outputs: dict) -> dict:
    return {
        "cells": [
            {"cell_type": "code", "source": "x", "outputs": [HEADER]},
            {"cell_type": "code", "source": "y", "outputs": list(outputs)},
        ]
    }


def test_a_clean_notebook_has_no_problem():
    ok = _nb(
        {"output_type": "stream", "name": "stdout", "text": "trained 1,600 steps\n"},
        {"output_type": "stream", "name": "stderr", "text": "easy:  50%|#####     | 3/6\n"},
        {"output_type": "execute_result", "data": {"text/plain": "<Figure>", "image/png": "..."}},
    )
    assert lc.scan_notebook(ok) == []


@pytest.mark.parametrize(
    "output, words",
    [
        (
            {"output_type": "error", "ename": "ValueError", "evalue": "broken", "traceback": []},
            ["error ValueError", "broken"],
        ),
        (
            {"output_type": "stream", "name": "stderr", "text": "x.py:3: UserWarning: something\n  warn()\n"},
            ["warning on stderr", "UserWarning: something"],
        ),
        (
            {"output_type": "stream", "name": "stdout", "text": "Traceback (most recent call last):\n  File ..."},
            ["traceback"],
        ),
        (
            {"output_type": "display_data", "data": {"text/markdown": "> **Smoke run: the numbers mean nothing.**"}},
            ["smoke-profile banner", "Smoke run"],
        ),
        (
            {"output_type": "execute_result", "data": {"text/plain": "'**What this run shows'"}},
            ["Python repr", "What this run"],
        ),
        (
            {"output_type": "execute_result", "data": {"text/plain": "{'lr': 0.001}"}},
            ["Python repr"],
        ),
    ],
)
def test_each_kind_of_problem_is_named_with_its_cell(output, words):
    found = lc.scan_notebook(_nb(output))
    assert len(found) == 1 and found[0].startswith("cell 1: ") and all(w in found[0] for w in words), found


def test_a_warning_word_on_stdout_is_not_a_warning():
    assert lc.scan_notebook(_nb({"output_type": "stream", "name": "stdout", "text": "Warning signs: none\n"})) == []


def test_the_first_output_must_name_profile_and_weights():
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [{"output_type": "display_data", "data": {"text/markdown": "| run | |\n|---|---|"}}],
            }
        ]
    }
    assert any("does not name the profile" in p for p in lc.scan_notebook(nb))
    assert any("no displayed output" in p for p in lc.scan_notebook({"cells": []}))


def test_index_needs_a_table_and_a_figure_where_expected():
    page = '<table class="results"><tr><th>x</th></tr></table><figure><img src="pretrain/curves.png"></figure>'
    assert lc.check_index(page, want_table=True, want_figure=True) == []
    assert lc.check_index("<p>no results yet</p>", want_table=True, want_figure=True) == [
        "index.html: no results table",
        "index.html: no figure",
    ]
    assert lc.check_index("<p>no results yet</p>", want_table=False, want_figure=False) == []


CHAPTERS = sorted((REPO / "notebooks").glob("0[1-5]_*.ipynb"))
SOLUTIONS = sorted((REPO / "notebooks" / "solutions").glob("0[1-5]_*.ipynb"))


@pytest.mark.parametrize("path", CHAPTERS + SOLUTIONS, ids=lambda p: p.name)
def test_notebooks_open_on_the_lesson_with_the_reference_weights(path):
    """Run unedited, a notebook uses the teaching profile, and the training notebooks load the reference weights."""
    params = lc.default_parameters(path)
    assert params["profile"] == "cpu", f"{path.name}: parameters cell opens on {params['profile']!r}"
    if path.name[:2] in ("02", "04", "05"):
        assert params.get("use_reference") is True, f"{path.name}: use_reference must default to True"
