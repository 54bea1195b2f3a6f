"""Figures and tables of the evaluation (notebook 06): our numbers next to the paper's.

- `examples_figure`: LR / SR after each step / HR with the prediction of each step, like the
  paper's Figures 4 and 5.
- `accuracy_vs_macs`: the accuracy-vs-FLOPs chart of Figure 3 with our models placed on it.
- `comparison_table`, `ablation_table`: text tables vs the paper's Table 1 / Table 3 and the
  official release log.
- `image_browser`: an ipywidgets browser over the test images (a static grid headless).

Reference numbers, all from docs/DESIGN.md section 2 (which records the paper and the official README):
the paper's Table 1 (TextZoom, accuracy of the unified model, PSNR / SSIM), Table 3 (ablations),
Table 5 (efficiency, "FLOPs" = multiply-adds), and the release log of the official README.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..data import collate_eval
from ..scoring import bicubic_upsample, crnn_read, step_outputs
from ..text import filter_label

# paper Table 1 (easy, medium, hard, over all 4373 images in %, PSNR dB, SSIM)
PAPER_TABLE1 = {
    "STIRER (S+L), paper": (87.9, 74.2, 59.6, 74.8, 22.46, 0.7706),
    "STIRER (S only), paper": (77.2, 60.0, 44.7, 61.7, 21.98, 0.7332),
    "CRNN on LR (bicubic), paper": (37.5, 21.4, 21.1, 27.3, 20.35, 0.6961),
}
# the official README's log of STIRER_Final_Release.pth: last step per split, means of the split means
RELEASE_LOG = {
    "easy": (87.89, 25.15, 0.8741),
    "medium": (74.20, 20.66, 0.6858),
    "hard": (59.64, 21.12, 0.7350),
    "mean_of_splits": (73.91, 22.31, 0.7650),
    "crnn_on_sr": (52.56, 31.61, 27.48, 38.10),
}
# paper Table 3 (ablations): accuracy over all images (%), PSNR (dB); None = not applicable
PAPER_TABLE3 = {
    "full": (74.8, 22.46),
    "no_pstst": (67.5, 21.76),
    "no_mini_decoders": (74.1, 22.34),
    "no_stl": (72.7, 22.13),
    "no_bigru": (70.6, 22.00),
    "no_stisr_decoder": (73.1, None),
    "no_str_decoder": (None, 22.14),
}


@dataclass
class Point:
    """One method on the accuracy-vs-FLOPs chart."""

    name: str
    gmacs: float  # multiply-adds per 16 x 64 image, in G (the paper's "FLOPs")
    acc: float  # TextZoom accuracy over all images, %
    source: str


# Figure 3 points we can document: STIRER from Table 1 (74.8 %) and Table 5 (0.74 G); the CRNN on
# bicubic LR from Table 1 (27.3 %) at the CRNN's multiply-adds counted on the official code
# (0.898 G, fixtures/official_reference_numbers.json). Other published methods' points of Figure 3
# can be appended here with their table reference.
FIGURE3_POINTS = [
    Point("STIRER (paper)", 0.74, 74.8, "paper Table 1 + Table 5"),
    Point("CRNN on bicubic LR (paper)", 0.898, 27.3, "paper Table 1; MACs counted on crnn.pytorch"),
]


def _rgb(x: torch.Tensor) -> np.ndarray:
    """[C>=3, H, W] in [0, 1] -> [H, W, 3] for imshow."""
    return x[:3].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def collect_examples(
    model: torch.nn.Module,
    dataset,
    indices: Sequence[int],
    device: str | torch.device = "cpu",
    crnn: torch.nn.Module | None = None,
) -> dict:
    """Run the model on some test items -> {"labels", "lr", "hr", "steps": [(name, srs, preds)], "crnn"}."""
    batch = collate_eval([dataset[i] for i in indices])
    model = model.to(device).eval()
    out = model(batch["lr"].to(device), generate=True)
    steps = step_outputs(out)
    names = [f"step {i} (block {i + 1})" for i in range(len(steps) - 1)] + [f"step {len(steps) - 1} (final)"]
    return {
        "labels": batch["labels"],
        "lr": batch["lr"],
        "hr": batch["hr"],
        "steps": [
            (n, sr.cpu() if sr is not None else None, [filter_label(p) for p in preds] if preds else None)
            for n, (preds, sr) in zip(names, steps)
        ],
        "crnn": crnn_read(crnn.to(device).eval(), out.sr) if crnn is not None and out.sr is not None else None,
    }


def examples_figure(ex: dict, max_items: int = 6) -> plt.Figure:
    """Rows: LR (bicubic), the SR of every step with its prediction, HR with the label (Figs 4-5)."""
    n = min(max_items, len(ex["labels"]))
    rows = [("LR (bicubic)", bicubic_upsample(ex["lr"]), None)] + list(ex["steps"]) + [("HR", ex["hr"], None)]
    fig, axes = plt.subplots(len(rows), n, figsize=(2.3 * n + 1.2, 1.1 * len(rows) + 0.4), squeeze=False)
    for j in range(n):
        label = ex["labels"][j]
        for r, (name, imgs, preds) in enumerate(rows):
            ax = axes[r, j]
            ax.set_xticks([]), ax.set_yticks([])
            if imgs is None:
                ax.text(0.5, 0.5, "(no image)", ha="center", va="center", fontsize=9)
            else:
                ax.imshow(_rgb(imgs[j]), interpolation="nearest")
            if preds is not None:
                ok = preds[j] == label
                ax.set_title(preds[j] or "(nothing)", fontsize=9, color="green" if ok else "red", pad=2)
            elif name == "HR":
                crnn = f" / CRNN(SR): {ex['crnn'][j] or '(nothing)'}" if ex.get("crnn") else ""
                ax.set_title(f"{label}{crnn}", fontsize=9, pad=2)
            if j == 0:
                ax.set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle("LR / SR after each step / HR (green: correct reading)", fontsize=10)
    fig.tight_layout()
    return fig


def word_figure(ex: dict, indices: Sequence[int] = (0,), panel_px: int = 440) -> plt.Figure:
    """Test words large enough to judge the SR: per word, LR (bicubic), the SR of every step and HR in two columns.

    Every panel is `panel_px` pixels wide (at the figure's 100 dpi), titled with its step's reading
    (green: correct); the HR panel names the label and what the CRNN reads in the final SR image."""
    blocks = []
    for i in indices:
        label = ex["labels"][i]
        panels = [("LR (bicubic)", bicubic_upsample(ex["lr"][i : i + 1])[0], None, label)]
        panels += [
            (name, None if imgs is None else imgs[i], preds[i] if preds else None, label)
            for name, imgs, preds in ex["steps"]
        ]
        crnn = f"; CRNN on the final SR: {ex['crnn'][i] or '(nothing)'}" if ex.get("crnn") else ""
        panels.append((f"HR: {label}{crnn}", ex["hr"][i], None, label))
        blocks.append(panels)
    cols, w = 2, panel_px / 100
    per_word = -(-max(len(b) for b in blocks) // cols)
    rows = per_word * len(blocks)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * w, rows * (w / 4 + 0.5) + 0.2), squeeze=False)
    used = set()
    for k, panels in enumerate(blocks):
        for j, (name, img, pred, label) in enumerate(panels):
            ax = axes[k * per_word + j // cols, j % cols]
            used.add(id(ax))
            ax.set_xticks([]), ax.set_yticks([])
            if img is None:
                ax.text(0.5, 0.5, "(no image)", ha="center", va="center", fontsize=10)
            else:
                ax.imshow(_rgb(img), interpolation="nearest")
            if pred is None:
                ax.set_title(name, fontsize=10)
            else:
                ax.set_title(f"{name}: {pred or '(nothing)'}", fontsize=10, color="green" if pred == label else "red")
    for ax in list(axes.flat):
        if id(ax) not in used:
            fig.delaxes(ax)
    fig.tight_layout()
    return fig


def accuracy_vs_macs(
    ours: Sequence[Point],
    reference: Sequence[Point] = FIGURE3_POINTS,
    ours_data: str = "the course's synthetic test splits",
) -> plt.Figure:
    """Figure 3 in two panels that share the cost axis: the paper's points (TextZoom accuracy) and ours (accuracy on
    `ours_data`): one axis per data set, since accuracies on different data are not comparable."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    panels = ((reference, "o", "tab:blue", "the paper: TextZoom"), (ours, "*", "tab:red", f"this course: {ours_data}"))
    for ax, (pts, marker, color, data) in zip(axes, panels):
        for p in pts:
            ax.scatter(p.gmacs, p.acc, marker=marker, s=120 if marker == "*" else 50, color=color)
            ax.annotate(p.name, (p.gmacs, p.acc), textcoords="offset points", xytext=(5, 4), fontsize=9)
        ax.set_xlabel("multiply-adds per 16 x 64 image (GMACs; the paper's 'FLOPs')")
        ax.set_ylabel("word accuracy over all images (%)")
        ax.set_title(data, fontsize=10, color=color)
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 100)
        ax.margins(x=0.3)
    fig.suptitle("Accuracy vs cost (paper Figure 3): the cost axis is shared, the accuracies are on different data")
    fig.tight_layout()
    return fig


def step_bars(results: dict) -> plt.Figure:
    """Accuracy per step and split (how the reading improves from block to block), on a 0-100 % axis."""
    splits = results["splits"]
    n_steps = len(next(iter(splits.values()))["steps"])
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.8 / max(n_steps, 1)
    for i in range(n_steps):
        vals = [(s["steps"][i]["acc"] or 0.0) for s in splits.values()]
        name = "final decoder" if i == n_steps - 1 else f"block {i + 1} (CTC)"
        bars = ax.bar(np.arange(len(splits)) + i * width, vals, width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(np.arange(len(splits)) + width * (n_steps - 1) / 2, list(splits))
    ax.set_ylabel("word accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=9, loc="upper right", ncol=2)
    ax.set_title("Word accuracy per step and split", fontsize=10)
    fig.tight_layout()
    return fig


def _f(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def comparison_table(results: dict, name: str = "ours") -> str:
    """Text table: our per-split accuracy, both conventions, PSNR / SSIM, next to Table 1 and the release log."""
    s, m, a = results["splits"], results["mean_of_splits"], results["over_all"]
    acc = lambda k: s[k]["steps"][-1]["acc"] if k in s else None
    head = f"{'':34}{'easy':>7}{'medium':>8}{'hard':>7}{'mean':>8}{'all':>8}{'PSNR':>8}{'SSIM':>8}"
    lines = [head, "-" * len(head)]
    lines.append(
        f"{name + ' (mean of splits | over all)':34}{_f(acc('easy')):>7}{_f(acc('medium')):>8}"
        f"{_f(acc('hard')):>7}{_f(m['acc']):>8}{_f(a['acc']):>8}"
        f"{_f(m['psnr']) + '|' + _f(a['psnr']):>14}{_f(m['ssim'], 4) + '|' + _f(a['ssim'], 4):>14}"
    )
    lines.append(
        f"{name + ': CRNN on our SR':34}{_f(s.get('easy', {}).get('crnn_acc')):>7}"
        f"{_f(s.get('medium', {}).get('crnn_acc')):>8}{_f(s.get('hard', {}).get('crnn_acc')):>7}"
        f"{_f(m['crnn_acc']):>8}{_f(a['crnn_acc']):>8}"
    )
    lines.append(
        f"{name + ': CRNN on bicubic LR / HR':34}{'':>7}{'':>8}{'':>7}"
        f"{'':>8}{_f(a['crnn_acc_lr_bicubic']) + '/' + _f(a['crnn_acc_hr']):>14}"
        f"{_f(a['bicubic']['psnr']):>8}{_f(a['bicubic']['ssim'], 4):>8}   (bicubic LR)"
    )
    e, md, h, mean = (RELEASE_LOG[k] for k in ("easy", "medium", "hard", "mean_of_splits"))
    lines.append(
        f"{'release log (official README)':34}{e[0]:>7.2f}{md[0]:>8.2f}{h[0]:>7.2f}{mean[0]:>8.2f}"
        f"{'':>8}{mean[1]:>8.2f}{mean[2]:>8.4f}   (mean of splits)"
    )
    c = RELEASE_LOG["crnn_on_sr"]
    lines.append(f"{'release log: CRNN on SR':34}{c[0]:>7.2f}{c[1]:>8.2f}{c[2]:>7.2f}{'':>8}{c[3]:>8.2f}")
    for row, (pe, pm, ph, pall, pp, ps) in PAPER_TABLE1.items():
        lines.append(f"{row:34}{pe:>7.1f}{pm:>8.1f}{ph:>7.1f}{'':>8}{pall:>8.1f}{pp:>8.2f}{ps:>8.4f}   (over all)")
    return "\n".join(lines)


def ablation_results(run_dir: str | os.PathLike) -> dict[str, dict]:
    """{name: results} from RUN/ablations/<name>/eval/results.json (empty when none exist)."""
    out = {}
    for p in sorted(Path(run_dir).glob("ablations/*/eval/results.json")):
        out[p.parts[-3]] = json.loads(p.read_text())
    return out


def ablation_table(ablations: dict[str, dict]) -> str:
    """Our ablations (accuracy / PSNR over all images) next to the paper's Table 3."""
    lines = [f"{'variant':20}{'acc (ours)':>11}{'PSNR (ours)':>12}{'acc (paper)':>12}{'PSNR (paper)':>13}"]
    for name in list(PAPER_TABLE3) + sorted(set(ablations) - set(PAPER_TABLE3)):
        r = ablations.get(name, {}).get("over_all", {})
        pa, pp = PAPER_TABLE3.get(name, (None, None))
        lines.append(f"{name:20}{_f(r.get('acc')):>11}{_f(r.get('psnr')):>12}{_f(pa, 1):>12}{_f(pp):>13}")
    return "\n".join(lines)


def image_browser(
    dataset,
    model: torch.nn.Module,
    interactive: bool = True,
    device: str | torch.device = "cpu",
    crnn: torch.nn.Module | None = None,
    static_items: int = 2,
):
    """A slider over the test set: one word at a time, LR / SR of each step / HR, each panel >= 400 px wide.

    Headless (interactive=False): one Figure of the first `static_items` words."""
    if not interactive:
        ex = collect_examples(model, dataset, range(min(static_items, len(dataset))), device, crnn)
        return word_figure(ex, range(len(ex["labels"])))
    import ipywidgets as w
    from IPython.display import display

    out = w.Output()
    slider = w.IntSlider(0, 0, max(0, len(dataset) - 1), description="image")

    def show(change=None) -> None:
        with out:
            out.clear_output(wait=True)
            fig = word_figure(collect_examples(model, dataset, [slider.value], device, crnn), [0])
            display(fig)
            plt.close(fig)

    slider.observe(show, names="value")
    show()
    return w.VBox([slider, out])


def ood_rows(runs: dict[str, dict]) -> tuple[list[list[str]], list[str]]:
    """Rows and headers of a Markdown table comparing evaluations (e.g. in distribution vs out of distribution):
    per run, the final decoder's and the best mini decoder's accuracy, PSNR / SSIM of the SR image against
    bicubic's, and the CRNN on SR / bicubic LR / HR (mean of splits)."""
    headers = [
        "test set",
        "final decoder (%)",
        "best mini decoder (%)",
        "PSNR SR / bicubic (dB)",
        "SSIM SR / bicubic",
        "CRNN on SR / bicubic LR / HR (%)",
    ]
    rows = []
    for name, res in runs.items():
        m = res["mean_of_splits"]
        minis = [s["acc"] for s in m["steps"][:-1] if s.get("acc") is not None]
        rows.append(
            [
                name,
                _f(m["acc"]),
                _f(max(minis)) if minis else "-",
                f"{_f(m['psnr'])} / {_f(m['bicubic']['psnr'])}",
                f"{_f(m['ssim'], 4)} / {_f(m['bicubic']['ssim'], 4)}",
                f"{_f(m['crnn_acc'], 1)} / {_f(m['crnn_acc_lr_bicubic'], 1)} / {_f(m['crnn_acc_hr'], 1)}",
            ]
        )
    return rows, headers


def own_images_figure(readings: Sequence[Any]) -> plt.Figure:
    """LR (bicubic x2) beside SR with the reading, one row per word read by `stirer_lib.read.read_images`."""
    fig, axes = plt.subplots(len(readings), 2, figsize=(9, 1.7 * len(readings)), squeeze=False)
    for row, r in zip(axes, readings):
        row[0].imshow(bicubic_upsample(r.lr[None])[0, :3].permute(1, 2, 0).numpy())
        row[0].set_title("LR 16 x 64 (bicubic x2)", fontsize=10)
        row[1].imshow(r.sr[:3].clamp(0, 1).permute(1, 2, 0).numpy())
        row[1].set_title(f"SR 32 x 128: reads '{r.text or '(nothing)'}'", fontsize=10)
        for ax in row:
            ax.axis("off")
    fig.tight_layout()
    return fig


def difference_maps(ex: dict, indices: Sequence[int] = (0, 1, 2)) -> plt.Figure:
    """Per test word (from `collect_examples`): LR (bicubic x2), SR, HR and where SR is closer to HR than bicubic
    (|bicubic - HR| - |SR - HR|: red where SR helps, blue where it hurts)."""
    from ..metrics import error_reduction

    sr = ex["steps"][-1][1]
    bic = bicubic_upsample(ex["lr"])
    gain = error_reduction(sr, bic, ex["hr"])
    lim = max(float(gain.abs().max()), 1e-6)
    fig, axes = plt.subplots(len(indices), 4, figsize=(12, 1.25 * len(indices) + 0.5), squeeze=False)
    for row, i in zip(axes, indices):
        for ax, (title, img) in zip(
            row, (("LR (bicubic x2)", bic[i]), ("SR", sr[i]), ("HR: " + ex["labels"][i], ex["hr"][i]))
        ):
            ax.imshow(_rgb(img), interpolation="nearest")
            ax.set_title(title, fontsize=9)
        im = row[3].imshow(gain[i, 0].numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        row[3].set_title("|bicubic - HR| - |SR - HR|", fontsize=9)
        for ax in row:
            ax.axis("off")
    fig.colorbar(im, ax=axes[:, 3].tolist(), fraction=0.05, label="SR closer to HR (red) / farther (blue)")
    return fig


def disagreements(results: dict, split: str, n: int = 6) -> list[int]:
    """Test words of a split where the final decoder and a mini decoder disagree and one of them reads the label
    (from an evaluation's per-image step predictions): the final decoder's wins first, then its losses."""
    r = results["splits"][split]
    labels = [p["label"] for p in r["predictions"]]
    steps = [s for s in r.get("step_predictions") or [] if s is not None]
    if len(steps) < 2:
        return []
    right = [[filter_label(s[i] or "") == t for i, t in enumerate(labels)] for s in steps]
    final, minis = right[-1], right[:-1]
    wins = [i for i in range(len(labels)) if final[i] and not all(m[i] for m in minis)]
    losses = [i for i in range(len(labels)) if not final[i] and any(m[i] for m in minis)]
    return (wins[: n - n // 2] + losses)[:n] if wins else losses[:n]


def char_confusions(results: dict, top: int = 10) -> list[tuple[str, str, int]]:
    """The final decoder's most frequent character substitutions over every split (label character, read
    character, count): position by position in a misread word of the label's length, else from the equal-length
    replacements of its alignment (difflib)."""
    from collections import Counter
    from difflib import SequenceMatcher

    counts: Counter = Counter()
    for r in results["splits"].values():
        for p in r.get("predictions", []):
            label, pred = p["label"], filter_label(p["pred"] or "")
            if pred == label:
                continue
            if len(pred) == len(label):  # same length: position by position
                counts.update((a, b) for a, b in zip(label, pred) if a != b)
                continue
            for op, i1, i2, j1, j2 in SequenceMatcher(None, label, pred, autojunk=False).get_opcodes():
                if op == "replace" and i2 - i1 == j2 - j1:
                    counts.update(zip(label[i1:i2], pred[j1:j2]))
    return [(a, b, k) for (a, b), k in counts.most_common(top)]


def failure_gallery(dataset, results: dict, split: str, indices: Sequence[int]) -> plt.Figure:
    """The LR image (bicubic x2) of each test word with the reading of every step (a wrong one marked x)."""
    r = results["splits"][split]
    steps = [s for s in r.get("step_predictions") or [] if s is not None]
    fig, axes = plt.subplots(len(indices), 1, figsize=(6, 1.3 * len(indices) + 0.3), squeeze=False)
    for ax, i in zip(axes[:, 0], indices):
        batch = collate_eval([dataset[i]])
        ax.imshow(_rgb(bicubic_upsample(batch["lr"])[0]), interpolation="nearest")
        label = r["predictions"][i]["label"]
        reads = [
            f"{'final' if k == len(steps) - 1 else f'mini {k + 1}'}: {s[i] or '(nothing)'}"
            + ("" if filter_label(s[i] or "") == label else " x")
            for k, s in enumerate(steps)
        ]
        ax.set_title(f"label {label} | " + " | ".join(reads), fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def cross_attention_figure(
    lr: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor, labels: Sequence[str]
) -> plt.Figure:
    """Per word: the LR image (bicubic x2) and, under it on the same width, the STR decoder's attention over the 32
    image columns for each letter it generated (`models.decoders.cross_attention`), up to its end token."""
    from ..text import decode_ids

    n = len(labels)
    fig, axes = plt.subplots(2 * n, 1, figsize=(6, 3.2 * n), gridspec_kw={"height_ratios": [1, 2.2] * n}, squeeze=False)
    reads = decode_ids(ids[:, 1:])
    for k in range(n):
        ax_img, ax_att = axes[2 * k, 0], axes[2 * k + 1, 0]
        ax_img.imshow(_rgb(bicubic_upsample(lr[k : k + 1])[0]), extent=(0, 32, 1, 0), aspect="auto")
        ok = reads[k] == labels[k]
        ax_img.set_title(
            f"label {labels[k]}, read {reads[k] or '(nothing)'}", fontsize=9, color="green" if ok else "red"
        )
        ax_img.axis("off")
        letters = len(reads[k]) + 1  # the letters, then the end token
        att = weights[k, :letters].cpu().numpy()
        ax_att.imshow(att, aspect="auto", cmap="magma", extent=(0, 32, letters, 0), interpolation="nearest")
        ax_att.set_yticks([i + 0.5 for i in range(letters)], [*reads[k], "end"], fontsize=8, family="monospace")
        ax_att.set_xlabel("image column token (16 x 2 patch), left to right", fontsize=8)
    fig.tight_layout()
    return fig


def attention_moves_right(ids: torch.Tensor, weights: torch.Tensor) -> float | None:
    """Share of consecutive generated letters whose attention peak (the column the decoder looks at most) does not
    move left: 1.0 when the decoder reads strictly left to right. None without two letters to compare."""
    from ..text import decode_ids

    steps = 0
    forward = 0
    for k, word in enumerate(decode_ids(ids[:, 1:])):
        peaks = weights[k, : len(word)].argmax(-1).tolist()
        steps += max(len(peaks) - 1, 0)
        forward += sum(b >= a for a, b in zip(peaks, peaks[1:]))
    return forward / steps if steps else None
