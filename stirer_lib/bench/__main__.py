"""The command line `python -m stirer_lib.bench model|compare|data [options]`: parses and dispatches.

Machines are shared and noisy: `compare` reports ratios against a baseline measured in the same
run, interleaved; nothing here asserts a time. Usage errors print one line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import sys

USAGE = """usage: python -m stirer_lib.bench {model,compare,data} [options]

  model    images/second of STIRER's eval forward and train step (this tree)
  compare  this tree against a baseline (--against COMMIT or DIR), interleaved in two processes:
           speed-ups of eval / train steps and of the CRNN; --scaling for images/second tables
  data     samples/second of the data loaders and of the synthetic generator

Add --help after a topic for its options, e.g. python -m stirer_lib.bench compare --help"""


class UsageError(Exception):
    """A bad command line: reported as one line on stderr, exit status 2."""


def _one_line_errors(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make parser.error raise UsageError instead of printing the usage block and exiting."""

    def error(message: str):
        raise UsageError(f"{parser.prog}: error: {message}")

    parser.error = error
    return parser


def _dispatch(topic: str, rest: list[str]) -> int:
    """Parse the topic's options and run it."""
    if topic == "model":
        from . import model

        return model.run(_one_line_errors(model.build_parser()).parse_args(rest))
    if topic == "compare":
        from . import compare

        args = _one_line_errors(compare.build_parser()).parse_args(rest)
        try:
            return compare.compare(args)
        except compare.BenchError as e:
            print(f"python -m stirer_lib.bench compare: {e}", file=sys.stderr)
            return 1
    from . import data

    return data.run(_one_line_errors(data.build_parser()).parse_args(rest))


def main(argv: list[str] | None = None) -> int:
    """Entry point: --help prints the topics (exit 0); a bad topic or option is one stderr line, exit 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    try:
        if not argv or argv[0] not in ("model", "compare", "data"):
            got = f"unknown topic {argv[0]!r}" if argv else "no topic given"
            raise UsageError(f"python -m stirer_lib.bench: error: {got}; choose model, compare or data (--help)")
        return _dispatch(argv[0], argv[1:]) or 0
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
