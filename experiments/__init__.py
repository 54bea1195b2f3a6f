"""The maintainers' experiments behind the course's recipe; not part of the installed library.

pyproject.toml packages stirer_lib only, and stirer_lib never imports this package
(tests/test_imports.py). Run them from the repository root; their results are in docs/EXPERIMENTS.md:

    python -m experiments.probe --help        # a fresh STR decoder on the frozen features of a trained STIRER
    python -m experiments.yardsticks --help   # what a plain reader / a plain SR CNN learn in the same minutes
"""
