"""What a run shows of the paper's claims, and what it does not (notebook 06's box), formatted from its results.

The paper's headline (Table 1 and the release log, docs/DESIGN.md section 2): one model restores a blurry
word better than interpolation *and* reads it better than a recogniser reading the restored image, its final
decoder best of all its steps. `paper_claims` checks each part on an evaluation (mean of splits, as the
official test.py prints) and `claims_box` writes the Markdown a notebook displays.
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
    """One claim of the paper, the numbers of this run behind it, and whether the run shows it."""

    claim: str
    paper: str
    here: str
    shown: bool


def _gain(m: dict, key: str) -> float | None:
    """SR minus bicubic of psnr or ssim in a split's or an average's results (the final step's SR image; None when
    not measured)."""
    sr = m.get(key, m["steps"][-1].get(key) if m.get("steps") else None)
    if sr is None or m["bicubic"].get(key) is None:
        return None
    return sr - m["bicubic"][key]


def paper_claims(results: dict, heldout: dict | None = None, ood: dict | None = None) -> list[Claim]:
    """The paper's claims checked on one evaluation (and, when given, its held-out camera / out-of-distribution
    evaluations); a claim whose numbers were not measured (no CRNN, no SR) is left out."""
    m = results["mean_of_splits"]
    final = m.get("acc")
    minis = [s["acc"] for s in m["steps"][:-1] if s.get("acc") is not None]
    out: list[Claim] = []
    if final is not None and minis:
        out.append(
            Claim(
                "the final decoder reads best of all steps",
                "78.4 / 82.1 / 80.1 -> 87.9 % (easy)",
                f"mini decoders {' / '.join(f'{a:.1f}' for a in minis)} -> final {final:.1f} %",
                final > max(minis),
            )
        )
    if final is not None and m.get("crnn_acc") is not None:
        out.append(
            Claim(
                "STIRER's own reader beats a CRNN reading its SR images",
                f"{RELEASE['final']:.1f} vs {RELEASE['crnn_sr']:.1f} %",
                f"{final:.1f} vs {m['crnn_acc']:.1f} %",
                final > m["crnn_acc"],
            )
        )
    if m.get("crnn_acc") is not None and m.get("crnn_acc_lr_bicubic") is not None:
        out.append(
            Claim(
                "the CRNN reads STIRER's SR images better than bicubic LR",
                f"{RELEASE['crnn_sr']:.1f} vs {RELEASE['crnn_lr']:.1f} %",
                f"{m['crnn_acc']:.1f} vs {m['crnn_acc_lr_bicubic']:.1f} %",
                m["crnn_acc"] > m["crnn_acc_lr_bicubic"],
            )
        )
    psnr_gain, ssim_gain = _gain(m, "psnr"), _gain(m, "ssim")
    if psnr_gain is not None:
        per_split = {k: _gain(r, "psnr") for k, r in results["splits"].items()}
        worst = min(per_split, key=lambda k: per_split[k])
        out.append(
            Claim(
                "SR beats bicubic interpolation on every split (PSNR)",
                f"{RELEASE['psnr']:.2f} vs {RELEASE['bicubic_psnr']:.2f} dB "
                f"({RELEASE['psnr'] - RELEASE['bicubic_psnr']:+.2f} dB)",
                f"{psnr_gain:+.2f} dB in the mean; lowest {worst} {per_split[worst]:+.2f} dB",
                all(g > 0 for g in per_split.values()),
            )
        )
    if ssim_gain is not None:
        out.append(
            Claim(
                "SR beats bicubic interpolation in SSIM",
                f"{RELEASE['ssim'] - RELEASE['bicubic_ssim']:+.4f}",
                f"{ssim_gain:+.4f}",
                ssim_gain > 0,
            )
        )
    for _name, res, words in (
        ("heldout", heldout, "a camera it never saw (held-out test set)"),
        ("ood", ood, "words and fonts it never saw (out-of-distribution set)"),
    ):
        g = None if res is None else _gain(res["mean_of_splits"], "psnr")
        if g is not None:
            out.append(
                Claim(f"SR still beats bicubic on {words}", "(not measured in the paper)", f"{g:+.2f} dB", g > 0)
            )
    return out


def claims_box(claims: list[Claim], run: str = "this run") -> str:
    """Markdown: a table of the claims with "shown" / "not shown", then one sentence on what the run does not show."""
    lines = [
        f"**What {run} shows, and what it does not**",
        "",
        "| the paper's claim | paper (release, TextZoom) | " + run + " | |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.claim} | {c.paper} | {c.here} | {'shown' if c.shown else '**not shown**'} |" for c in claims]
    missing = [c for c in claims if not c.shown]
    lines.append("")
    if missing:
        lines.append(
            f"{run[0].upper() + run[1:]} does not show: "
            + "; ".join(f"{c.claim} ({c.here})" for c in missing)
            + ". Notebook 06's scaling lesson shows how these numbers move with the training images a model "
            "has seen."
        )
    else:
        lines.append(
            f"{run[0].upper() + run[1:]} shows every claim above, on the course's synthetic data "
            f"(not TextZoom: the numbers are not comparable with the paper's, the ordering is)."
        )
    return "\n".join(lines)
