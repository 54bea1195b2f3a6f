"""The facts the notebooks' prose states match their source: each "N steps of B words / pairs" a chapter names is a
profile's schedule (its CRNN, pretraining or fine-tuning) or the budget of its worked solution's exercises."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from stirer_lib.course.profiles import PROFILE_NAMES, get_profile

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("0*.ipynb"))
STEPS_OF = re.compile(r"([\d,]+) steps of (\d+) (?:words|pairs)")


def _cells(path: Path, kind: str) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def _profile_budgets() -> set[tuple[int, int]]:
    """(steps, batch) of every profile's CRNN, pretraining and fine-tuning."""
    out = set()
    for name in PROFILE_NAMES:
        prof = get_profile(name)
        for part in (prof.crnn, prof.pretrain, prof.finetune):
            if part.max_steps:
                out.add((int(part.max_steps), int(part.batch_size)))
    return out


def _solution_steps(chapter: Path) -> set[int]:
    """The values of the `..._steps = N` parameters of a chapter's worked solutions (the exercises' budgets)."""
    path = REPO / "notebooks" / "solutions" / f"{chapter.name[:2]}_solutions.ipynb"
    if not path.exists():
        return set()
    params = next(iter(_cells(path, "code")), "")
    return {
        int(ast.literal_eval(node.value))
        for node in ast.parse(params).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.endswith("steps")
        and isinstance(node.value, ast.Constant)
    }


def test_the_fact_pattern_finds_what_the_chapters_state():
    stated = [m for ch in CHAPTERS for md in _cells(ch, "markdown") for m in STEPS_OF.findall(md)]
    assert len(stated) >= 3, stated  # if the wording changes, this test must learn it, not pass silently


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_steps_and_batch_a_chapter_states_is_a_profile_or_exercise_budget(chapter):
    budgets = _profile_budgets()
    batches = {b for _, b in budgets}
    exercises = {(n, b) for n in _solution_steps(chapter) for b in batches}
    wrong = [
        f"{steps} steps of {batch}"
        for md in _cells(chapter, "markdown")
        for steps, batch in STEPS_OF.findall(md)
        if (int(steps.replace(",", "")), int(batch)) not in budgets | exercises
    ]
    assert not wrong, (
        f"{chapter.name} states {wrong}: no profile (course/profiles.py) and none of its solution's *_steps "
        f"parameters ({sorted(_solution_steps(chapter))}) has that budget; make the prose say what runs"
    )
