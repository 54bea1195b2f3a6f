"""Figures for the notebooks, one module per topic (data, architecture, ctc, training, evaluation)."""
