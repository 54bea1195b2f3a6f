"""A stage's run directory: what may be resumed or overwritten, and the metrics log (JSON lines).

A directory that holds results (last.pt, best.pt, or evaluations in metrics.jsonl) is never
silently overwritten: a new run there needs --overwrite, a continued one --resume. --resume with
nothing to resume says so and stops. The caller holds the directory's lock (stirer_lib.runlock).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint import atomic_write_text, read
from ..errors import RunDirError

OURS = ("last.pt", "best.pt", "metrics.jsonl", "curves.png")


class RunExistsError(RunDirError):
    """The run directory already holds a run that this call would overwrite."""


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for ln in path.read_text().splitlines():
        try:
            out.append(json.loads(ln))
        except ValueError:
            continue  # a line cut by a crash
    return out


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict | None:
    """The checkpoint to resume from (or None for a new run); refuses to clobber a run unless overwrite."""
    last = run_dir / "last.pt"
    if overwrite:
        for name in OURS:
            (run_dir / name).unlink(missing_ok=True)
        return None
    if not last.exists():
        results = [n for n in ("best.pt",) if (run_dir / n).exists()]
        if any(r.get("kind") in ("train", "eval") for r in _records(run_dir / "metrics.jsonl")):
            results.append("metrics.jsonl")
        if results:
            raise RunExistsError(f"{run_dir} holds results ({', '.join(results)}) of a run without last.pt, so it "
                                 f"cannot be resumed; pass --overwrite to start over there (notebooks: "
                                 f"resume = False), or choose another run directory")
        if resume:
            raise RunExistsError(f"nothing to resume in {run_dir}: it has no last.pt; drop --resume to start a new "
                                 f"run (notebooks: resume = False)")
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)  # only a start record: a run that never stepped
        return None
    state = read(last, "checkpoint to resume")
    if resume:
        return state
    what = ("a finished run" if state.get("finished")
            else f"an unfinished run (step {state.get('step')} of {state.get('total_steps')})")
    hint = "" if state.get("finished") else "pass --resume (notebook: resume = True) to continue it, or "
    raise RunExistsError(f"{run_dir} already holds {what}; {hint}pass --overwrite to start over (notebooks: "
                         f"resume = False does), or choose another run directory")


def append_jsonl(path: Path, record: dict) -> None:
    """One JSON object per line (the writer holds the run directory's lock)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop records after `step` (written after the checkpoint a resumed run starts from), atomically."""
    keep = [r for r in _records(path) if r.get("step", 0) <= step]
    if path.exists():
        atomic_write_text("".join(json.dumps(r) + "\n" for r in keep), path)
