"""One run per run directory: a lock held while a run (train, course, probe) writes there.

`RunLock(dir)` takes an exclusive flock on DIR/.lock and writes the holder's process id into it.
A second run into the same directory is refused with a RunDirError naming the directory and the
holder's pid. The kernel drops a flock when its process dies, so a lock file left by a dead run is
taken over, with a notice. Under torchrun only rank 0 takes it.
"""
from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from .errors import RunDirError

LOCK_NAME = ".lock"


class RunLock:
    """Exclusive lock of a run directory (a context manager; `acquire` / `release` also work)."""

    def __init__(self, run_dir: str | os.PathLike, what: str = "run"):
        self.dir = Path(run_dir)
        self.path = self.dir / LOCK_NAME
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise RunDirError; prints a notice when a dead run's lock is taken over."""
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunDirError(f"{self.dir} is in use by another run (process {holder}); wait for it to finish, "
                              f"stop it, or choose another run directory") from None
        previous = os.read(fd, 200).decode(errors="replace").strip()
        if previous:
            print(f"note: taking over the lock of {self.dir} left by a run that ended without releasing it "
                  f"(process {previous})", flush=True)
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

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
