"""The field around STIRER (notebook 06, "Next to the paper"): published TextZoom results of the STISR methods a
reader will compare with, each with the recogniser that read its SR images and where the number comes from.

STISR papers report how well a *fixed* recogniser (CRNN, MORAN, ASTER) reads their SR images; STIRER's headline
is its *own* reader. `checked` says how each row was verified for this course: "read" (the source was read and
the row copied from it), "secondary" (a survey README quoting the paper), "paper" (the paper's table as recalled,
not re-read here: its weighted average agrees with the three splits; check the table before citing it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldRow:
    """One method read by one recogniser on TextZoom test easy / medium / hard and the average over all 4,373."""

    method: str
    reader: str
    easy: float
    medium: float
    hard: float
    average: float
    source: str
    checked: str


FIELD: tuple[FieldRow, ...] = (
    FieldRow(
        "bicubic", "CRNN", 36.4, 21.1, 21.1, 26.8, "TSRN paper (Wang et al., ECCV 2020, arXiv 2005.03341)", "paper"
    ),
    FieldRow("bicubic", "ASTER", 64.7, 42.4, 31.2, 47.2, "TSRN paper (ECCV 2020)", "paper"),
    FieldRow("TSRN", "CRNN", 52.5, 38.2, 31.4, 41.4, "TSRN paper (ECCV 2020)", "paper"),
    FieldRow(
        "TSRN",
        "ASTER",
        75.1,
        56.3,
        40.1,
        58.3,
        "github.com/yfaqh/Awesome-Scene-Text-Image-Super-Resolution (quoting the paper)",
        "secondary",
    ),
    FieldRow("TATT", "CRNN", 62.6, 53.4, 39.8, 52.6, "TATT paper (Ma et al., CVPR 2022, arXiv 2203.09388)", "paper"),
    FieldRow("TATT", "ASTER", 78.9, 63.4, 45.4, 63.6, "TATT paper (CVPR 2022)", "paper"),
    FieldRow(
        "C3-STISR",
        "CRNN",
        65.2,
        53.6,
        39.8,
        53.7,
        "C3-STISR paper (Zhao et al., IJCAI 2022, arXiv 2204.14044)",
        "paper",
    ),
    FieldRow("C3-STISR", "ASTER", 79.1, 63.3, 46.8, 64.1, "C3-STISR paper (IJCAI 2022)", "paper"),
    FieldRow("LEMMA", "CRNN", 64.98, 59.89, 43.48, 56.73, "github.com/csguoh/LEMMA README (re-trained model)", "read"),
    FieldRow("LEMMA", "ASTER", 81.53, 67.40, 48.85, 66.93, "github.com/csguoh/LEMMA README (re-trained model)", "read"),
    FieldRow(
        "PEAN", "CRNN", 68.9, 60.2, 45.9, 59.0, "PEAN paper (Zhao et al., ACM MM 2024, arXiv 2311.17955)", "paper"
    ),
    FieldRow("PEAN", "ASTER", 84.5, 71.4, 52.9, 70.6, "PEAN paper (ACM MM 2024)", "paper"),
    FieldRow("STIRER", "CRNN on its SR", 52.56, 31.61, 27.48, 38.10, "github.com/zhaominyiz/STIRER test log", "read"),
    FieldRow(
        "STIRER",
        "its own reader",
        87.89,
        74.20,
        59.64,
        74.8,
        "github.com/zhaominyiz/STIRER test log; paper Table 1",
        "read",
    ),
)


def field_rows(reader: str | None = None) -> tuple[list[list[str]], list[str]]:
    """Rows and headers of a Markdown table of FIELD (only one recogniser's rows when `reader` is given;
    STIRER's rows are always kept): grouped by recogniser (CRNN, then ASTER, then STIRER's own reader), each group
    sorted by average accuracy."""
    order = {"CRNN": 0, "CRNN on its SR": 0, "ASTER": 1}
    rows = [r for r in FIELD if reader is None or r.reader == reader or r.method == "STIRER"]
    rows = sorted(rows, key=lambda r: (order.get(r.reader, 2), r.average))
    headers = ["method", "read by", "easy", "medium", "hard", "average (%)", "source", "checked"]
    return [
        [
            r.method,
            r.reader,
            f"{r.easy:.1f}",
            f"{r.medium:.1f}",
            f"{r.hard:.1f}",
            f"{r.average:.1f}",
            r.source,
            r.checked,
        ]
        for r in rows
    ], headers


def stirer_sr_rank(reader: str = "CRNN") -> str:
    """Where STIRER's SR images rank among the field's SR methods when `reader` reads them, in words."""
    methods = sorted((r for r in FIELD if r.reader == reader and r.method != "bicubic"), key=lambda r: -r.average)
    own = next(r for r in FIELD if r.method == "STIRER" and r.reader.startswith("CRNN"))
    above = [r for r in methods if r.average > own.average]
    below = [r for r in methods if r.average <= own.average]
    bic = next(r for r in FIELD if r.method == "bicubic" and r.reader == reader)
    reader_own = next(r for r in FIELD if r.reader == "its own reader")
    return (
        f"read by {reader}, STIRER's SR images ({own.average:.1f} %) rank below "
        f"{', '.join(f'{r.method} ({r.average:.1f} %)' for r in above) or 'no method'}"
        + (f" and above {', '.join(f'{r.method} ({r.average:.1f} %)' for r in below)}" if below else "")
        + f", and above bicubic ({bic.average:.1f} %); STIRER's own reader ({reader_own.average:.1f} %) "
        f"reads more than any of them"
    )
