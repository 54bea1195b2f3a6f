"""User errors: what a user got wrong (a path, a file, a setting), told in one line.

Every command-line tool catches `UserError` and prints `error: <message>` with exit code 2 and no
traceback (`run_cli`); anything else is a bug and keeps its traceback. The subclasses also derive
from the built-in exception a caller would expect (FileNotFoundError, ValueError, ...).
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input from the user: the message says what was wrong and how to fix it."""


class DataError(UserError, FileNotFoundError, ValueError):
    """A data set is missing, empty or not in the expected format."""


class CheckpointError(UserError, ValueError):
    """A file is not a checkpoint, not a safe one, or does not fit the model."""


class SettingError(UserError, KeyError, ValueError):
    """A profile setting (--set key=value) is unknown or has a value of the wrong type."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class RunDirError(UserError, FileExistsError):
    """The run directory is in use, holds another run, or has nothing to resume."""


class SaveError(UserError, OSError):
    """A file could not be written (disk full, permission); the previous file is intact."""


def run_cli(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run a command-line main: UserError -> one line on stderr and exit code 2; Ctrl-C -> 130."""
    try:
        return int(main(argv) or 0)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"interrupted{': ' + str(err) if str(err) else ''}", file=sys.stderr)
        return 130


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """A checkpoint path that does not exist."""
