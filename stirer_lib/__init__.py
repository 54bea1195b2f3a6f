"""stirer_lib: the library of the STIRER course (Zhao et al., ACM MM 2023)."""

__version__ = "0.1.0"
