"""The training loop of the experiments that the library's two loops cannot run without being bent.

stirer_lib.training.trainer runs STIRER's stages (Eq. 9 over STIRER's outputs, its parameter
groups, run directories, resumable checkpoints) and stirer_lib.training.crnn.train_crnn runs the CRNN
with CTC (the reader yardstick uses it). The probe (a decoder trained on precomputed features with
L_CE alone) and the SR yardstick (a model that is not STIRER, trained with 20 x MSE alone) fit
neither, so they share this one, built from the trainer's parts: AdamW from training.optim (one
group, a constant rate) and Ctrl-C / SIGTERM as a request to stop after the current step
(training.stop). There are no checkpoints: an experiment is rerun, not resumed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from stirer_lib.training.optim import build_optimizer
from stirer_lib.training.stop import StopFlag


def forever(batches: Iterable) -> Iterator:
    """An endless iterator over a loader (a new shuffle each pass)."""
    while True:
        yield from batches


def train_steps(
    model: nn.Module,
    batches: Iterator,
    loss_fn: Callable[[Any], torch.Tensor],
    steps: int,
    lr: float,
    evaluate: Callable[[], dict],
    eval_every: int,
    weight_decay: float = 0.01,
    desc: str = "train",
    progress: bool = False,
) -> Iterator[dict]:
    """Train `model` for `steps` steps of loss_fn(next(batches)) with AdamW at the constant rate lr.

    Yields {"step", "loss" (the mean since the previous record), "seconds", **evaluate()} every
    eval_every steps, at the last step, and at the step a Ctrl-C / SIGTERM stopped the run.
    A non-finite loss raises FloatingPointError naming the step and the rate.
    """
    opt = build_optimizer(model, lr, lr, weight_decay)
    model.train()
    t0, losses = time.time(), []
    with StopFlag() as stop, tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        for step in range(1, steps + 1):
            loss = loss_fn(next(batches))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{desc}: non-finite loss at step {step}; lower --lr (now {lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update(1)
            last = step == steps or stop.requested
            if step % eval_every == 0 or last:
                record = {"step": step, "loss": sum(losses) / len(losses), **evaluate()}
                model.train()
                yield {**record, "seconds": time.time() - t0}
                losses = []
            if last:
                if stop.requested:
                    tqdm.write(f"{desc}: stopped at step {step} of {steps} (Ctrl-C / SIGTERM)")
                return
