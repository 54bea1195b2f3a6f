"""Figures of the data: sample grids, label statistics, the degradation pipeline, the bicubic baseline.

Used by notebook 01. Every function returns a matplotlib Figure (the notebook shows it);
`degradation_explorer` returns an ipywidgets box when interactive, else a static Figure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from ..scoring import bicubic_upsample
from ..text import CHARSET


def _rgb(x: torch.Tensor) -> np.ndarray:
    """[C>=3, H, W] in [0, 1] -> [H, W, 3] for imshow."""
    return x[:3].clamp(0, 1).permute(1, 2, 0).numpy()


def sample_grid(datasets: dict[str, object], n: int = 6, title: str = "HR / LR / mask") -> plt.Figure:
    """For each split (one row group) n samples: HR, LR (bicubic to HR size) and the HR mask."""
    fig, axes = plt.subplots(3 * len(datasets), n, figsize=(1.9 * n, 1.05 * 3 * len(datasets)), squeeze=False)
    for g, (split, ds) in enumerate(datasets.items()):
        for j in range(n):
            hr, lr, label = ds[j % len(ds)]
            up = bicubic_upsample(lr[None])[0]
            rows = [(_rgb(hr), None), (_rgb(up), None), (hr[3].numpy(), "gray")]
            for r, (img, cmap) in enumerate(rows):
                ax = axes[3 * g + r, j]
                ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest" if r == 1 else "bilinear")
                ax.set_xticks([]), ax.set_yticks([])
                if r == 0:
                    ax.set_title(label, fontsize=9)
                if j == 0:
                    ax.set_ylabel(f"{split}\n{('HR', 'LR', 'mask')[r]}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def label_stats(labels: Sequence[str], raw: Sequence[str] | None = None) -> dict[str, float]:
    """Numbers about a list of (filtered) labels and, optionally, their raw stored form."""
    lengths = np.array([len(s) for s in labels])
    out = {
        "n": len(labels),
        "mean length": float(lengths.mean()),
        "max length": int(lengths.max()),
        "share > 20 chars": float((lengths > 20).mean()),
        "share with digits": float(np.mean([any(c.isdigit() for c in s) for s in labels])),
    }
    if raw is not None:
        out["raw with upper case"] = float(np.mean([any(c.isupper() for c in s) for s in raw]))
        out["raw with punctuation"] = float(np.mean([any(not c.isalnum() for c in s) for s in raw]))
    return out


def label_statistics(labels_by_split: dict[str, Sequence[str]]) -> plt.Figure:
    """Word-length histograms per split and the character frequencies over all splits."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.2), gridspec_kw={"width_ratios": [1, 2]})
    top = max(max(len(s) for s in labels) for labels in labels_by_split.values())
    bins = np.arange(0.5, top + 1.5)
    for split, labels in labels_by_split.items():
        a.hist([len(s) for s in labels], bins=bins, histtype="step", density=True, label=split, lw=1.5)
    a.set_xlabel("label length (characters)"), a.set_ylabel("share of words"), a.legend(fontsize=9)
    a.set_title("word lengths per split")
    counts = Counter(c for labels in labels_by_split.values() for s in labels for c in s)
    total = sum(counts.values()) or 1
    b.bar(range(len(CHARSET)), [counts[c] / total for c in CHARSET])
    b.set_xticks(range(len(CHARSET)), list(CHARSET), fontsize=9)
    b.set_ylabel("share of characters"), b.set_title("character frequencies (all splits)")
    fig.tight_layout()
    return fig


def degradation_steps(steps: list[tuple[str, np.ndarray]], params: dict | None = None) -> plt.Figure:
    """One panel per step of the camera model (camera.capture), each shown at its own resolution.

    Four panels a row (at most), each about 300 px wide, so that the titles stay legible at 100 %."""
    cols = min(4, len(steps))
    rows = -(-len(steps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 1.35 * rows + (0.3 if params else 0)), squeeze=False)
    for ax in list(axes.flat)[len(steps) :]:
        fig.delaxes(ax)
    for ax, (name, img) in zip(axes.flat, steps):
        ax.set_xticks([]), ax.set_yticks([])
        ax.imshow(np.clip(img / 255.0, 0, 1), interpolation="nearest")
        ax.set_title(f"{name} ({img.shape[1]} x {img.shape[0]} px)", fontsize=9)
    if params:
        fig.suptitle(", ".join(f"{k}={_fmt(v)}" for k, v in params.items()), fontsize=10)
    fig.tight_layout()
    return fig


def _fmt(v) -> str:
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


def _degrade_once(scene: np.ndarray, blur: float, scale: float, noise: float, quality: int, seed: int = 0):
    from ..data.camera import CameraParams, capture

    p = CameraParams(blur=blur, scale=scale, noise=noise, quality=quality)
    return capture(scene, p, np.random.default_rng(seed))


def degradation_grid(scene: np.ndarray, settings: Sequence[dict] | None = None) -> plt.Figure:
    """The static fallback of the explorer: the LR (bicubic back to HR size) for a few settings."""
    settings = settings or [
        dict(blur=0.0, scale=2.0, noise=0.0, quality=100),
        dict(blur=1.0, scale=2.0, noise=0.0, quality=100),
        dict(blur=0.5, scale=3.5, noise=0.0, quality=100),
        dict(blur=0.5, scale=2.5, noise=8.0, quality=100),
        dict(blur=0.5, scale=2.5, noise=2.0, quality=25),
        dict(blur=1.2, scale=4.0, noise=5.0, quality=50),
    ]
    cols = 4
    rows = -(-(len(settings) + 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 1.45 * rows), squeeze=False)
    axes = list(axes.flat)
    for ax in axes[len(settings) + 1 :]:
        fig.delaxes(ax)
    for ax in axes:
        ax.set_xticks([]), ax.set_yticks([])
    axes[0].imshow(np.clip(scene / 255.0, 0, 1)), axes[0].set_title("scene (HR x 2)", fontsize=9)
    for ax, s in zip(axes[1:], settings):
        lr = _degrade_once(scene, **s)[-1][1]
        ax.imshow(np.asarray(Image.fromarray(lr.astype(np.uint8)).resize((128, 32), Image.BICUBIC)))
        ax.set_title(
            f"blur {s['blur']:.1f}, scale {s['scale']:.1f}\nnoise {s['noise']:.0f}, JPEG q {s['quality']}", fontsize=9
        )
    fig.tight_layout()
    return fig


def degradation_explorer(scene: np.ndarray, interactive: bool = True):
    """Sliders for blur, scale, noise and JPEG quality over the camera model; static grid otherwise."""
    if not interactive:
        return degradation_grid(scene)
    import ipywidgets as w

    out = w.Output()
    sliders = dict(
        blur=w.FloatSlider(value=0.6, min=0, max=2.5, step=0.1, description="blur sigma"),
        scale=w.FloatSlider(value=2.5, min=2, max=6, step=0.1, description="scale"),
        noise=w.FloatSlider(value=3, min=0, max=20, step=0.5, description="noise sigma"),
        quality=w.IntSlider(value=80, min=5, max=100, step=5, description="JPEG q"),
    )

    def draw(_=None) -> None:
        from IPython.display import display

        with out:
            out.clear_output(wait=True)
            steps = _degrade_once(scene, **{k: s.value for k, s in sliders.items()})
            fig = degradation_steps(steps[2:])
            display(fig)
            plt.close(fig)

    for s in sliders.values():
        s.observe(draw, names="value")
    draw()
    return w.VBox([w.HBox(list(sliders.values())[:2]), w.HBox(list(sliders.values())[2:]), out])


def bicubic_bars(stats: dict[str, dict[str, float]], reference: dict[str, tuple[float, float]]) -> plt.Figure:
    """Bicubic LR -> HR PSNR and SSIM per split: this data set next to real TextZoom."""
    splits = list(stats)
    x = np.arange(len(splits))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    units = {"psnr": ("PSNR (dB)", (0, 30), "%.1f"), "ssim": ("SSIM (0-1)", (0, 1), "%.2f")}
    for k, (ax, metric) in enumerate(zip(axes, ("psnr", "ssim"))):
        label, ylim, fmt = units[metric]
        b1 = ax.bar(x - 0.2, [stats[s][metric] for s in splits], 0.4, label="this data")
        b2 = ax.bar(x + 0.2, [reference[s][k] for s in splits], 0.4, label="real TextZoom")
        for bars in (b1, b2):
            ax.bar_label(bars, fmt=fmt, fontsize=8)
        ax.set_xticks(x, splits), ax.set_ylabel(label), ax.set_ylim(*ylim)
        ax.set_title(f"bicubic LR vs HR: {metric.upper()}", fontsize=10)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def batch_table(batch: dict) -> tuple[list[tuple], list[str]]:
    """Rows and headers of a Markdown table of a collated batch: each key, its shape (or value) and dtype."""
    rows = [
        (
            k,
            tuple(v.shape) if torch.is_tensor(v) else v,
            str(v.dtype).replace("torch.", "") if torch.is_tensor(v) else "",
        )
        for k, v in batch.items()
    ]
    return rows, ["batch key", "shape (or value)", "dtype"]


def label_table(datasets: dict[str, object]) -> tuple[list[tuple], list[str]]:
    """Rows and headers of notebook 01's label statistics per split (`label_stats` of each data set)."""
    rows = []
    for name, ds in datasets.items():
        st = label_stats(ds.labels, ds.raw_labels())
        rows.append(
            (
                name,
                f"{st['n']:,}",
                f"{st['mean length']:.1f}",
                st["max length"],
                f"{100 * st['share > 20 chars']:.1f} %",
                f"{100 * st['share with digits']:.0f} %",
                f"{100 * st['raw with upper case']:.0f} %",
                f"{100 * st['raw with punctuation']:.0f} %",
            )
        )
    headers = ["split", "words", "mean length", "max length", "> 20 chars", "with digits", "stored with upper case"]
    return rows, [*headers, "stored with punctuation"]


def camera_table(params: dict[str, dict]) -> tuple[list[tuple], list[str]]:
    """Rows and headers of the camera parameters drawn per severity (CameraParams.as_dict), two decimals."""
    rows = [
        (
            severity,
            "{:.2f}, {:.2f}".format(*p["shift"]),
            f"{p['contrast']:.2f}",
            f"{p['brightness']:.2f}",
            "{:.2f} / {:.2f} / {:.2f}".format(*p["gain"]),
            f"{p['blur']:.2f}",
            f"{p['scale']:.2f}",
            f"{p['noise']:.2f}",
            p["quality"],
        )
        for severity, p in params.items()
    ]
    headers = ["severity", "shift (HR px)", "contrast", "brightness", "gain R/G/B", "blur sigma (HR px)"]
    return rows, [*headers, "scale (HR px per sensor px)", "noise sigma (0-255)", "JPEG quality"]


def bicubic_table(stats: dict[str, dict], real: dict[str, tuple[float, float]]) -> tuple[list[tuple], list[str]]:
    """Rows and headers: bicubic LR -> HR PSNR / SSIM per split of this data beside real TextZoom's."""
    rows = [
        (s, f"{v['n']:,}", f"{v['psnr']:.2f}", f"{real[s][0]:.2f}", f"{v['ssim']:.4f}", f"{real[s][1]:.3f}")
        for s, v in stats.items()
    ]
    return rows, [
        "split",
        "pairs",
        "PSNR (dB), this data",
        "PSNR, real TextZoom",
        "SSIM, this data",
        "SSIM, real TextZoom",
    ]
