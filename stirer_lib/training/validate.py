"""The trainer's periodic evaluation: word accuracy per step and PSNR of the final SR image.

A small private evaluation so that training does not depend on the full evaluation module
(stirer_lib.evaluation, notebook 06, which adds SSIM, the CRNN and the official print-out).
Accuracy: exact match of filtered strings; PSNR: DESIGN.md section 4 (RGB channels, per image,
then averaged over the split).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..text import filter_label


def psnr_per_image(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """20 log10(255 / RMSE of x255 values) on channels 0-2 of [B, C, H, W] images in [0, 1] -> [B]."""
    mse = ((a[:, :3].float().clamp(0, 1) - b[:, :3].float().clamp(0, 1)) * 255).pow(2).flatten(1).mean(1)
    return 20 * torch.log10(255 / mse.sqrt())


def _step_predictions(out) -> list[list[str]]:
    from ..models import predictions
    return predictions(out)


@torch.no_grad()
def evaluate_splits(model: nn.Module, loaders: dict[str, DataLoader], device: torch.device) -> dict:
    """{"splits": {name: {"n", "acc" (per step, %), "psnr" (final SR, dB), "psnr_bicubic"}}, "mean": {...}}.

    "acc" lists one accuracy per step (each mini STR decoder, then the final decoder); "acc_final"
    is the last. "mean" averages the split means (as the official test.py prints).
    """
    was_training = model.training
    model.eval()
    splits = {}
    for name, loader in loaders.items():
        correct: list[int] = []
        psnr_sum = bic_sum = 0.0
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
                psnr_sum += psnr_per_image(out.sr, hr).clamp(max=100).sum().item()
            bic = nn.functional.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False)
            bic_sum += psnr_per_image(bic, hr).clamp(max=100).sum().item()
            n += len(truth)
        if n == 0:
            raise ValueError(f"evaluation split {name!r} is empty")
        acc = [100.0 * c / n for c in correct]
        splits[name] = {"n": n, "acc": acc, "acc_final": acc[-1] if acc else math.nan,
                        "psnr": psnr_sum / n if getattr(out, "sr", None) is not None else math.nan,
                        "psnr_bicubic": bic_sum / n}
    if was_training:
        model.train()
    keys = ("acc_final", "psnr", "psnr_bicubic")
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
