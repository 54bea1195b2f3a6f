"""Ctrl-C and SIGTERM as a request to stop after the current training step (and save)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C / SIGTERM stopped the run after a whole step; last.pt holds that step."""


class StopFlag:
    """Turns SIGINT / SIGTERM into a request to stop after the current step (a second Ctrl-C is immediate)."""

    def __init__(self):
        self.requested = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
