"""A run directory and its files: the lock, what may be resumed or overwritten, and the metrics log.

A training stage writes into its run directory (RUN/pretrain, RUN/finetune):
- `.lock`: one run at a time. `RunLock(dir)` takes an exclusive flock on it and writes the holder's
  process id into it; a second run into the same directory (a training stage, or the course into
  RUN) is refused with a RunDirError naming the holder. The kernel drops a flock when its process
  dies, so a lock left by a dead run is taken over, with a notice. Under torchrun only rank 0 takes it.
- `last.pt`: the resumable checkpoint (stirer_lib.training.trainer), a dict {"model": state_dict
  (official key layout), "config": asdict(StirerConfig), "step", "epoch", "batch_in_epoch",
  "optimizer", "scheduler", "scaler", "rng" (one entry per rank: stirer_lib.training.rng_state),
  "stage", "profile", "total_steps", "finished", "best"}; every entry loads weights-only
  (stirer_lib.checkpoint.read). The data order needs no state: it is a function of (seed, epoch).
- `best.pt`: the weights the stage's `best_by` picked, with their evaluation.
- `metrics.jsonl`: one JSON object per line, kind "start", "train" or "eval" (`read_metrics`).
- `curves.png`: drawn from metrics.jsonl by the course (stirer_lib.viz.training).

A directory that holds results (last.pt, best.pt, or evaluations in metrics.jsonl) is never
silently overwritten: a new run there needs --overwrite, a continued one --resume. --resume with
nothing to resume says so and stops (`check_run_dir`; the caller holds the lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from .atomic_write import atomic_write_text
from .checkpoint import read
from .errors import RunDirError

LOCK_NAME = ".lock"
OURS = ("last.pt", "best.pt", "metrics.jsonl", "curves.png")


class RunExistsError(RunDirError):
    """The run directory already holds a run that this call would overwrite."""


# ----------------------------------------------------------------------------- the lock


class RunLock:
    """Exclusive lock of a run directory (a context manager; `acquire` / `release` also work)."""

    def __init__(self, run_dir: str | os.PathLike, what: str = "run"):
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise RunDirError; prints a notice when a dead run's lock is taken over."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(
                f"{self.dir} is in use by another run (process {holder}); wait for it to finish, "
                f"stop it, or choose another run directory"
            ) from None
        previous = os.read(fd, 200).decode(errors="replace").strip()
        if previous:
            print(
                f"note: taking over the lock of {self.dir} left by a run that ended without releasing it "
                f"(process {previous})",
                flush=True,
            )
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} on {socket.gethostname()} ({self.what})".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the lock file and drop the lock (a no-op when not held)."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ----------------------------------------------------------------------------- new, resumed or refused


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> dict | None:
    """The checkpoint to resume from (or None for a new run); refuses to clobber a run unless overwrite."""
    last = run_dir / "last.pt"
    if overwrite:
        for name in OURS:
            (run_dir / name).unlink(missing_ok=True)
        return None
    if not last.exists():
        results = [n for n in ("best.pt",) if (run_dir / n).exists()]
        metrics = run_dir / "metrics.jsonl"
        if metrics.exists() and any(r.get("kind") in ("train", "eval") for r in read_metrics(metrics)):
            results.append("metrics.jsonl")
        if results:
            raise RunExistsError(
                f"{run_dir} holds results ({', '.join(results)}) of a run without last.pt, so it "
                f"cannot be resumed; pass --overwrite to start over there (notebooks: "
                f"resume = False), or choose another run directory"
            )
        if resume:
            raise RunExistsError(
                f"nothing to resume in {run_dir}: it has no last.pt; drop --resume to start a new "
                f"run (notebooks: resume = False)"
            )
        metrics.unlink(missing_ok=True)  # only a start record: a run that never stepped
        return None
    state = read(last, "checkpoint to resume")
    if resume:
        return state
    what = (
        "a finished run"
        if state.get("finished")
        else f"an unfinished run (step {state.get('step')} of {state.get('total_steps')})"
    )
    hint = "" if state.get("finished") else "pass --resume (notebook: resume = True) to continue it, or "
    raise RunExistsError(
        f"{run_dir} already holds {what}; {hint}pass --overwrite to start over (notebooks: "
        f"resume = False does), or choose another run directory"
    )


# ----------------------------------------------------------------------------- the metrics log


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """The records of a metrics.jsonl file (one JSON object per line; a line cut by a crash is skipped)."""
    out = []
    for ln in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(ln))
        except ValueError:
            continue
    return out


def append_jsonl(path: Path, record: dict) -> None:
    """One JSON object per line (the writer holds the run directory's lock)."""
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop records after `step` (written after the checkpoint a resumed run starts from), atomically."""
    if path.exists():
        keep = [r for r in read_metrics(path) if r.get("step", 0) <= step]
        atomic_write_text("".join(json.dumps(r) + "\n" for r in keep), path)
