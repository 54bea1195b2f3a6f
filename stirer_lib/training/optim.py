"""AdamW with the SR head in its own parameter group, and the learning-rate schedules.

Parameters whose names contain "upsample" or "conv_after_body" (the STISR decoder's head and
every mini STISR decoder's head) learn at lr_sr, all others at lr (docs/DESIGN.md section 2):
pretraining 1e-4 / 5e-4, fine-tuning 5e-5 / 1e-3.
Optionally (not in the release) the STR decoder (its ViT and T5: `vit.*`, `decoder.*`) gets its
own rate lr_str: the cpu profile trains the feature encoder fast and the T5 slower, which a
short run needs (docs/EXPERIMENTS.md, "The T5 in a short run").
Schedules (build_scheduler), stepped once per training step:
  "step" (the release): the released pretraining halves the rates after epoch 4 of 8, i.e. after half
         of the run; both stages apply that rule in steps, x0.5 from step total_steps // 2 on.
  "cosine" (not in the release): a linear warm-up, then a cosine decay to 0 at the last step.
  "constant" (not in the release): the same warm-up, then the rates held.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models.stirer import STR_PREFIXES, is_feature_encoder_key  # STR decoder: STIRER's top-level vit.*, decoder.*
from .settings import FREEZE, SCHEDULES

SR_HEAD_KEYS = ("upsample", "conv_after_body")


def is_sr_head(name: str) -> bool:
    """True for the parameters that get the SR learning rate."""
    return any(k in name for k in SR_HEAD_KEYS)


def is_str_decoder(name: str) -> bool:
    """True for the STR decoder's parameters (ViT + T5 of Eqs. 5-6)."""
    return name.startswith(STR_PREFIXES)


def param_groups(model: nn.Module, lr: float, lr_sr: float, lr_str: float | None = None) -> list[dict]:
    """[{body, lr}, {SR head, lr_sr}] and, when lr_str is given, {STR decoder, lr_str} (trainable
    parameters only; groups that would be empty are left out)."""
    body, head, str_dec = [], [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            if is_sr_head(name):
                head.append(p)
            elif lr_str is not None and is_str_decoder(name):
                str_dec.append(p)
            else:
                body.append(p)
    if not body:
        raise ValueError("the model has no trainable parameters outside the SR head and the STR decoder")
    groups = [{"params": body, "lr": lr, "name": "body"}]
    if head:
        groups.append({"params": head, "lr": lr_sr, "name": "sr_head"})
    if str_dec:
        groups.append({"params": str_dec, "lr": lr_str, "name": "str_decoder"})
    return groups


def freeze(model: nn.Module, part: str) -> int:
    """Stop the gradients of `part` ("encoder": the feature encoder's own weights; "none": nothing); returns how
    many parameters were frozen. Call before build_optimizer, which takes the trainable parameters only."""
    if part not in FREEZE:
        raise ValueError(f"freeze is {part!r}; choose one of {FREEZE}")
    frozen = 0
    for name, p in model.named_parameters():
        if part == "encoder" and is_feature_encoder_key(name):
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def group_lr(optimizer: torch.optim.Optimizer, name: str) -> float | None:
    """The current learning rate of the parameter group called name (None when there is none)."""
    return next((g["lr"] for g in optimizer.param_groups if g.get("name") == name), None)


def build_optimizer(
    model: nn.Module,
    lr: float,
    lr_sr: float,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    lr_str: float | None = None,
) -> torch.optim.AdamW:
    """AdamW over the parameter groups, with torch's fused kernel where the parameters' device has one
    (one kernel per step instead of ~10 per tensor; the same update within float rounding), else foreach."""
    try:
        return torch.optim.AdamW(
            param_groups(model, lr, lr_sr, lr_str), betas=betas, weight_decay=weight_decay, fused=True
        )
    except (RuntimeError, ValueError):  # no fused AdamW for this device / dtype / torch version (fresh groups:
        return torch.optim.AdamW(
            param_groups(model, lr, lr_sr, lr_str),
            betas=betas,  # the failed try filled them)
            weight_decay=weight_decay,
            foreach=True,
        )


def build_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, gamma: float = 0.5, kind: str = "step", warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule, stepped per step.

    "step" (the release): halve every group's rate once, after half of the planned steps.
    "cosine" (not in the release; the cpu profile's fine-tuning): a linear warm-up over warmup_steps, then a
    cosine from each group's rate down to 0 at total_steps (a short run ends with small steps).
    "constant" (not in the release; the cpu profile's pretraining): the warm-up, then each group's rate.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if kind == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[max(1, total_steps // 2)], gamma=gamma)
    if kind not in ("cosine", "constant"):
        raise ValueError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")
    warm = max(0, min(int(warmup_steps), total_steps - 1))

    def factor(step: int) -> float:
        """The multiplier of the groups' rates at this step."""
        if step < warm:
            return (step + 1) / (warm + 1)
        if kind == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
