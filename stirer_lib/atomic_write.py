"""Atomic file writes: a file is either its previous version or the complete new one, never half written.

`atomic_write_bytes(data, path)` / `atomic_write_text(text, path)` write a temporary file beside the
target (`.NAME.tmp-<pid>`), fsync it and rename it over the target. A failure (disk full, permission)
raises SaveError and leaves the previous file intact; Ctrl-C during the write is held until the file
is complete (`hold_sigint`). A temporary left by a writer that died is removed by the next write;
`pid_alive` tells a dead writer from a running one (the synthetic-data generator uses it for its
temporary folders too). Checkpoints are written by stirer_lib.checkpoint.atomic_save on top of this.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import SaveError


@contextlib.contextmanager
def hold_sigint() -> Iterator[None]:
    """Hold Ctrl-C until the block is done, then deliver it to the handler that was in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[tuple[int, Any]] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: received.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if received:
            if callable(old):
                old(*received[0])
            elif old == signal.SIG_DFL:
                raise KeyboardInterrupt


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporary files of interrupted writes of `path` whose writer process is gone."""
    gone = []
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write bytes to path via a fsynced temporary file and a rename; SaveError says why it failed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with hold_sigint():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            why = err.strerror or str(err)
            code = f" ({errno.errorcode.get(err.errno, err.errno)})" if err.errno else ""
            fix = {
                errno.ENOSPC: "free some disk space or choose a run directory on another disk",
                errno.EACCES: "check the folder's permissions or choose another run directory",
                errno.EROFS: "the file system is read-only: choose another run directory",
            }.get(err.errno, "check the disk and the folder")
            kept = f"the previous {path.name} is intact" if path.exists() else "nothing was written"
            raise SaveError(f"could not save {path}: {why}{code}; {kept}; {fix}") from None
    return path


def atomic_write_text(text: str, path: str | os.PathLike) -> Path:
    """Write a text file (results, logs, tables, HTML) atomically, UTF-8."""
    return atomic_write_bytes(text.encode("utf-8"), path)
