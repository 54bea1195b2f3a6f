"""The trainer's periodic evaluation: word accuracy per step and PSNR of the final SR image.

A light evaluation for use during training (the data flow is training -> evaluation, so this
does not call stirer_lib.evaluation, which adds SSIM, per-step PSNR, the official print-out and
notebook 06's schema). Accuracy: exact match of filtered strings; PSNR: stirer_lib.metrics.psnr
(RGB channels, per image) averaged over the split.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..metrics import psnr
from ..text import filter_label


def psnr_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """stirer_lib.metrics.psnr on images clamped to [0, 1], capped at 100 dB (identical images) -> [B]."""
    return psnr(a.float().clamp(0, 1), b.float().clamp(0, 1)).clamp(max=100)


def _step_predictions(out) -> list[list[str]]:
    from ..models import predictions
    return predictions(out)


def _crnn_correct(crnn: nn.Module | None, images: torch.Tensor | None, truth: list[str]) -> int:
    if crnn is None or images is None:
        return 0
    from ..text import ctc_greedy_decode
    preds = ctc_greedy_decode(crnn(images.clamp(0, 1)), time_major=True)
    return sum(filter_label(p) == t for p, t in zip(preds, truth))


@torch.no_grad()
def evaluate_splits(model: nn.Module, loaders: dict[str, DataLoader], device: torch.device,
                    crnn: nn.Module | None = None) -> dict:
    """{"splits": {name: {"n", "acc" (per step, %), "psnr" (final SR, dB), "psnr_bicubic"}}, "mean": {...}}.

    "acc" lists one accuracy per step (each mini STR decoder, then the final decoder); "acc_final"
    is the last. "mean" averages the split means (as the official test.py prints). With a CRNN
    (in eval mode, on `device`) also "crnn_sr" and "crnn_bicubic": its accuracy (%) reading the
    final SR image and the bicubic-upsampled LR image.
    """
    was_training = model.training
    model.eval()
    splits = {}
    for name, loader in loaders.items():
        correct: list[int] = []
        psnr_sum = bic_sum = 0.0
        crnn_sr = crnn_bic = 0
        n = 0
        for batch in loader:
            lr, hr = batch["lr"].to(device), batch["hr"].to(device)
            out = model(lr)
            steps = _step_predictions(out)
            truth = [filter_label(s) for s in batch["labels"]]
            if not correct:
                correct = [0] * len(steps)
            for k, preds in enumerate(steps):
                correct[k] += sum(filter_label(p) == t for p, t in zip(preds, truth))
            if out.sr is not None:
                psnr_sum += psnr_per_image(out.sr, hr).sum().item()
            bic = nn.functional.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)
            bic_sum += psnr_per_image(bic, hr).sum().item()
            crnn_sr += _crnn_correct(crnn, out.sr, truth)
            crnn_bic += _crnn_correct(crnn, bic, truth)
            n += len(truth)
        if n == 0:
            raise ValueError(f"evaluation split {name!r} is empty")
        acc = [100.0 * c / n for c in correct]
        splits[name] = {"n": n, "acc": acc, "acc_final": acc[-1] if acc else math.nan,
                        "psnr": psnr_sum / n if getattr(out, "sr", None) is not None else math.nan,
                        "psnr_bicubic": bic_sum / n}
        if crnn is not None:
            splits[name].update(crnn_sr=100.0 * crnn_sr / n if out.sr is not None else math.nan,
                                crnn_bicubic=100.0 * crnn_bic / n)
    if was_training:
        model.train()
    keys = ("acc_final", "psnr", "psnr_bicubic") + (("crnn_sr", "crnn_bicubic") if crnn is not None else ())
    mean = {k: sum(s[k] for s in splits.values()) / len(splits) for k in keys}
    mean["acc"] = [sum(s["acc"][k] for s in splits.values()) / len(splits) for k in range(len(next(iter(splits.values()))["acc"]))]
    return {"splits": splits, "mean": mean}


def is_better(new: dict, best: dict | None) -> bool:
    """Higher mean final-step accuracy wins; PSNR breaks ties."""
    if best is None:
        return True
    a, b = new["mean"], best["mean"]
    key = lambda m: (m["acc_final"] if not math.isnan(m["acc_final"]) else -1.0,
                     m["psnr"] if not math.isnan(m["psnr"]) else -1.0)
    return key(a) > key(b)


def results_table(results: dict[str, dict]) -> str:
    """Text table comparing evaluations {name: evaluate_splits(...)}: final-step accuracy per split and mean,
    PSNR of the SR image, and (when measured) the CRNN's accuracy on SR and on bicubic LR."""
    first = next(iter(results.values()))
    splits = list(first["splits"])
    head = f"{'model':<22}" + "".join(f"{s:>9}" for s in splits) + f"{'mean':>9}{'PSNR':>8}"
    has_crnn = "crnn_sr" in first["mean"]
    head += f"{'CRNN(SR)':>10}" if has_crnn else ""
    lines = [head]
    for name, r in results.items():
        row = f"{name:<22}" + "".join(f"{r['splits'][s]['acc_final']:>9.2f}" for s in splits)
        row += f"{r['mean']['acc_final']:>9.2f}{r['mean']['psnr']:>8.2f}"
        row += f"{r['mean'].get('crnn_sr', math.nan):>10.2f}" if has_crnn else ""
        lines.append(row)
    row = f"{'bicubic LR':<22}" + "".join(f"{'':>9}" for _ in splits) + f"{'':>9}{first['mean']['psnr_bicubic']:>8.2f}"
    row += f"{first['mean']['crnn_bicubic']:>10.2f}" if has_crnn else ""
    lines.append(row)
    steps = len(first["mean"]["acc"])
    lines.append("")
    lines.append("mean accuracy per step (" + ", ".join([f"mini decoder {k + 1}" for k in range(steps - 1)] + ["final decoder"]) + "):")
    for name, r in results.items():
        lines.append(f"  {name:<20}" + "  ".join(f"{a:6.2f}" for a in r["mean"]["acc"]))
    return "\n".join(lines)
