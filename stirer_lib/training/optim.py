"""AdamW with the SR head in its own parameter group, and the released step schedule.

Parameters whose names contain "upsample" or "conv_after_body" (the STISR decoder's head and
every mini STISR decoder's head) learn at lr_sr, all others at lr (DESIGN.md section 2):
pretraining 1e-4 / 5e-4, fine-tuning 5e-5 / 1e-3.
Schedule: the released pretraining halves the learning rate after epoch 4 of 8, i.e. after half
of the run. We apply that rule to both stages in steps: x0.5 from step total_steps // 2 on.
"""
from __future__ import annotations

import torch
from torch import nn

SR_HEAD_KEYS = ("upsample", "conv_after_body")


def is_sr_head(name: str) -> bool:
    """True for the parameters that get the SR learning rate."""
    return any(k in name for k in SR_HEAD_KEYS)


def param_groups(model: nn.Module, lr: float, lr_sr: float) -> list[dict]:
    """[{body params, lr}, {SR-head params, lr_sr}] (trainable parameters only, names kept)."""
    body, head = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head if is_sr_head(name) else body).append(p)
    if not body:
        raise ValueError("the model has no trainable parameters outside the SR head")
    groups = [{"params": body, "lr": lr, "name": "body"}]
    if head:
        groups.append({"params": head, "lr": lr_sr, "name": "sr_head"})
    return groups


def build_optimizer(model: nn.Module, lr: float, lr_sr: float, weight_decay: float = 0.01,
                    betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW over the two groups."""
    return torch.optim.AdamW(param_groups(model, lr, lr_sr), betas=betas, weight_decay=weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, total_steps: int,
                    gamma: float = 0.5) -> torch.optim.lr_scheduler.MultiStepLR:
    """Halve every group's learning rate once, after half of the planned steps (stepped per step)."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[max(1, total_steps // 2)], gamma=gamma)
