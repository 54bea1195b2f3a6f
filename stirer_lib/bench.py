"""`python -m stirer_lib.bench data|model [args]`: throughput benchmarks that print figures.

Machines are shared and noisy: each benchmark reports ratios against a baseline measured in
the same run; nothing here asserts a time.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("data", "model"):
        print("usage: python -m stirer_lib.bench data|model [options]  (add --help after the topic)")
        return 2
    topic, rest = argv[0], argv[1:]
    if topic == "data":
        from .data.bench import main as run
    else:
        from .models.bench import main as run
    return run(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
