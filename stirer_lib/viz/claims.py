"""What a run shows of the paper's claims, and what it does not (notebook 06's box), formatted from its results.

The paper's headline (Table 1 and the release log, docs/DESIGN.md section 2): one model restores a blurry
word better than interpolation *and* reads it better than a recogniser reading the restored image, its final
decoder best of all its steps. `paper_claims` checks each part where the paper states it, on each split and in the
mean of splits (as the official test.py prints), on each test set a notebook evaluated, and `claims_box` writes the
Markdown a notebook displays: "holds", "holds on k of n" or "fails", with the numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

# the release log (official README) on TextZoom, mean of splits, and bicubic in the paper's Table 1
RELEASE = {
    "final": 73.91,
    "crnn_sr": 38.10,
    "crnn_lr": 27.3,
    "psnr": 22.31,
    "bicubic_psnr": 20.35,
    "ssim": 0.7650,
    "bicubic_ssim": 0.6961,
}


@dataclass
class Claim:
    """One claim of the paper on one test set: the paper's numbers, this run's (the mean, then each split), and
    where it holds. `verdict` is "holds" (every split and the mean), "holds on k of n" or "fails"."""

    claim: str
    paper: str
    here: str
    verdict: str
    test_set: str = "the course's test splits"

    @property
    def shown(self) -> bool:
        """True when the claim holds on every split and in the mean."""
        return self.verdict == "holds"


def _gain(m: dict, key: str) -> float | None:
    """SR minus bicubic of psnr or ssim in a split's or an average's results (the final step's SR image; None when
    not measured)."""
    sr = m.get(key, m["steps"][-1].get(key) if m.get("steps") else None)
    if sr is None or m["bicubic"].get(key) is None:
        return None
    return sr - m["bicubic"][key]


def _final(m: dict) -> float | None:
    return m.get("acc", m["steps"][-1].get("acc") if m.get("steps") else None)


def _best_mini(m: dict) -> float | None:
    minis = [s["acc"] for s in m.get("steps", [])[:-1] if s.get("acc") is not None]
    return max(minis) if minis else None


# each claim: its words, the paper's numbers, and (this side, the other side, format) of one split's or the mean's
# results; a claim holds where this side is larger
_CLAIMS = (
    (
        "the final decoder reads best of all steps",
        "78.4 / 82.1 / 80.1 -> 87.9 % (easy)",
        lambda m: (_final(m), _best_mini(m)),
        "{:.1f} vs best mini {:.1f} %",
    ),
    (
        "STIRER's own reader beats a CRNN reading its SR images",
        f"{RELEASE['final']:.1f} vs {RELEASE['crnn_sr']:.1f} %",
        lambda m: (_final(m), m.get("crnn_acc")),
        "{:.1f} vs {:.1f} %",
    ),
    (
        "the CRNN reads STIRER's SR images better than bicubic LR",
        f"{RELEASE['crnn_sr']:.1f} vs {RELEASE['crnn_lr']:.1f} %",
        lambda m: (m.get("crnn_acc"), m.get("crnn_acc_lr_bicubic")),
        "{:.1f} vs {:.1f} %",
    ),
    (
        "SR beats bicubic interpolation (PSNR)",
        f"{RELEASE['psnr']:.2f} vs {RELEASE['bicubic_psnr']:.2f} dB "
        f"({RELEASE['psnr'] - RELEASE['bicubic_psnr']:+.2f} dB)",
        lambda m: (_gain(m, "psnr"), 0.0),
        "{:+.2f} dB",
    ),
    (
        "SR beats bicubic interpolation in SSIM",
        f"{RELEASE['ssim'] - RELEASE['bicubic_ssim']:+.4f}",
        lambda m: (_gain(m, "ssim"), 0.0),
        "{:+.4f}",
    ),
)


def _check(words: str, paper: str, sides, fmt: str, results: dict, test_set: str) -> Claim | None:
    """One claim on one evaluation: held in the mean and on how many splits; None when it was not measured."""
    parts = {"mean": results["mean_of_splits"], **results["splits"]}
    pairs = {name: sides(m) for name, m in parts.items()}
    if any(a is None or b is None for a, b in pairs.values()):
        return None
    held = {name: a > b for name, (a, b) in pairs.items()}
    k, n = sum(held.values()), len(held)
    verdict = "holds" if k == n else "fails" if k == 0 else f"holds on {k} of {n}"
    shown = lambda name: fmt.format(*pairs[name][: fmt.count("{")])  # noqa: E731
    here = f"mean {shown('mean')}; " + ", ".join(f"{s} {shown(s)}" for s in results["splits"])
    return Claim(words, paper, here, verdict, test_set)


def paper_claims(results: dict, heldout: dict | None = None, ood: dict | None = None) -> list[Claim]:
    """The paper's claims checked where the paper states them (each split and the mean of splits) on each test set
    given: the course's test splits, and when given the held-out camera and the out-of-distribution sets. A claim
    whose numbers were not measured (no CRNN, no SR) is left out."""
    sets = [(results, "the course's test splits")]
    sets += [(r, name) for r, name in ((heldout, "held-out camera"), (ood, "out of distribution")) if r is not None]
    out = []
    for res, name in sets:
        for words, paper, sides, fmt in _CLAIMS:
            claim = _check(words, paper, sides, fmt, res, name)
            if claim is not None:
                out.append(claim)
    return out


def claims_box(claims: list[Claim], run: str = "this run") -> str:
    """Markdown: each claim on each test set with this run's numbers (the mean, then each split) and where it holds,
    then one sentence on what the run does not show everywhere."""
    lines = [
        f"**What {run} shows, and what it does not**",
        "",
        "| the paper's claim | test set | paper (release, TextZoom) | " + run + " | |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {c.claim} | {c.test_set} | {c.paper} | {c.here} | {c.verdict if c.shown else f'**{c.verdict}**'} |"
        for c in claims
    ]
    missing = [c for c in claims if not c.shown]
    lines.append("")
    who = run[0].upper() + run[1:]
    if missing:
        lines.append(
            f"{who} does not show everywhere: "
            + "; ".join(f"{c.claim} on the {c.test_set} ({c.verdict}; {c.here})" for c in missing)
            + ". Notebook 06's scaling lesson shows how these numbers move with the training images a model "
            "has seen."
        )
    else:
        lines.append(
            f"{who} shows every claim above on every split and in the mean, on the course's synthetic data "
            f"(not TextZoom: the numbers are not comparable with the paper's, the ordering is)."
        )
    return "\n".join(lines)
