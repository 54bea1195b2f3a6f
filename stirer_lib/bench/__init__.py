"""Throughput benchmarks that print figures: `python -m stirer_lib.bench model|compare|data` (__main__.py).

model.py times STIRER's eval forward and train step in this tree; compare.py times this tree against
a baseline commit, each side in its own worker.py process; data.py times the data loaders and the
synthetic generator; worker.py holds the timed steps both model.py and the workers run.
"""
