"""A stage's run directory: refuse to clobber a run unless asked, and the metrics log (JSON lines)."""
from __future__ import annotations

import json
from pathlib import Path

from . import checkpoint as ckpt


class RunExistsError(FileExistsError):
    """The run directory already holds a run that this call would overwrite."""


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict | None:
    """The checkpoint to resume from (or None); refuses to clobber a run unless overwrite."""
    last = run_dir / "last.pt"
    if overwrite:
        for name in ("last.pt", "best.pt", "metrics.jsonl", "curves.png"):
            (run_dir / name).unlink(missing_ok=True)
        return None
    if not last.exists():
        if (run_dir / "metrics.jsonl").exists():
            (run_dir / "metrics.jsonl").unlink()  # a run that never reached its first checkpoint
        return None
    state = ckpt.load(last)
    if resume:
        return state
    what = "a finished run" if state.get("finished") else f"an unfinished run (step {state['step']} of {state.get('total_steps')})"
    hint = "" if state.get("finished") else "pass --resume (notebook: resume = True) to continue it, or "
    raise RunExistsError(f"{run_dir} already holds {what}; {hint}pass --overwrite to start over (notebooks: "
                         f"resume = False does), or choose another run directory")


def append_jsonl(path: Path, record: dict) -> None:
    """One JSON object per line."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop records after `step` (written after the checkpoint a resumed run starts from)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= step]
    path.write_text("".join(ln + "\n" for ln in keep))
