"""Train the CRNN baseline with CTC on the synthetic HR words, and measure how well it reads.

The CRNN is the judge of every super-resolution result (docs/DESIGN.md section 4): the course trains
its own on the HR images of the pre-training set (MJ/ST-format LMDBs under ROOT/pretrain), or
loads crnn.pytorch's released `crnn.pth`. The checkpoint RUN/crnn/crnn.pt is
{"model": state_dict in crnn.pytorch's layout, "config": None or {"width", "nh", "nc"}, "step": n, "history": [...],
"optimizer": Adam state} and is written atomically, so an interrupted run resumes from it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..checkpoint import atomic_save, load_strict, read, state_dict_of
from ..constants import HR_HEIGHT
from ..data import collate_train, pretrain_set
from ..evaluation import evaluate_loaders, test_loaders
from ..losses import ctc_loss
from ..models.crnn import CRNN, crnn_config
from ..scoring import crnn_read
from ..text import NUM_CTC_CLASSES
from .settings import CrnnSettings

__all__ = [
    "crnn_read",
    "gap_readings",
    "accuracy_gap",
    "gap_table",
    "save_crnn",
    "train_crnn",
    "train_loader",
    "eval_loader",
]


def eval_loader(root: str | os.PathLike, split: str, batch_size: int, max_images: int | None = None) -> DataLoader:
    """Loader of collate_eval batches over the TextZoom test split of a data ROOT (in record order)."""
    return test_loaders(root, batch_size, max_images, splits=(split,))[split]


def gap_readings(results: dict, split: str, source: str) -> dict:
    """{"accuracy" (%), "n", "preds", "labels", "correct"} of the CRNN on one split's "hr" or "lr_bicubic"."""
    r = results["splits"][split]
    preds = r[f"crnn_preds_{source}"]
    labels = [p["label"] for p in r["predictions"]]
    correct = [p == t for p, t in zip(preds, labels)]
    return {"accuracy": r[f"crnn_acc_{source}"], "n": r["n"], "preds": preds, "labels": labels, "correct": correct}


def accuracy_gap(
    crnn: CRNN, root: str | os.PathLike, batch_size: int = 64, max_images: int | None = None
) -> dict[str, dict[str, dict]]:
    """CRNN accuracy (%) per test split on HR and on bicubic-upsampled LR: {split: {"hr": ..., "lr_bicubic": ...}}.

    The evaluation of stirer_lib.evaluation without a STIRER (model None)."""
    res = evaluate_loaders(None, test_loaders(root, batch_size, max_images), crnn, crnn_on=("lr_bicubic", "hr"))
    return {s: {src: gap_readings(res, s, src) for src in ("hr", "lr_bicubic")} for s in res["splits"]}


def gap_table(gap: dict[str, dict[str, dict]]) -> str:
    """Text table of accuracy_gap: per split and over all images, HR vs bicubic LR (percent)."""
    lines = [f"{'split':<8}{'n':>6}{'HR (%)':>9}{'LR bicubic (%)':>16}{'gap':>8}"]
    tot = {"n": 0, "hr": 0, "lr_bicubic": 0}
    for split, r in gap.items():
        hr, lr = r["hr"]["accuracy"], r["lr_bicubic"]["accuracy"]
        lines.append(f"{split:<8}{r['hr']['n']:>6}{hr:>9.2f}{lr:>16.2f}{hr - lr:>8.2f}")
        tot["n"] += r["hr"]["n"]
        tot["hr"] += sum(r["hr"]["correct"])
        tot["lr_bicubic"] += sum(r["lr_bicubic"]["correct"])
    if tot["n"]:
        hr, lr = 100 * tot["hr"] / tot["n"], 100 * tot["lr_bicubic"] / tot["n"]
        lines.append(f"{'all':<8}{tot['n']:>6}{hr:>9.2f}{lr:>16.2f}{hr - lr:>8.2f}")
    return "\n".join(lines)


def save_crnn(
    path: str | os.PathLike, crnn: CRNN, step: int, history: list[dict], optimizer: torch.optim.Optimizer | None = None
) -> Path:
    """Write {"model", "config", "step", "history", "optimizer"} atomically (stirer_lib.checkpoint); config is
    None for crnn.pytorch's layout, else the width / hidden size (stirer_lib.models.crnn.crnn_config)."""
    return atomic_save(
        {
            "model": {k: v.detach().cpu() for k, v in crnn.state_dict().items()},
            "config": crnn_config(crnn),
            "step": int(step),
            "history": list(history),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
        },
        path,
    )


def _batches(loader: DataLoader):
    """Endless iterator over the loader (a new shuffle each pass)."""
    while True:
        yield from loader


def train_loader(
    root: str | os.PathLike, batch_size: int, num_workers: int = 0, dataset: Dataset | None = None
) -> DataLoader:
    """Shuffled loader of collate_train batches over every LMDB under ROOT/pretrain (HR images used)."""
    ds = dataset if dataset is not None else pretrain_set(root)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=True,
        drop_last=len(ds) > batch_size,
        num_workers=num_workers,
        collate_fn=collate_train,
        persistent_workers=num_workers > 0,
    )


def _hr_accuracy(crnn: CRNN, loader: DataLoader, device: torch.device) -> float | None:
    """The CRNN's word accuracy (%) on a test loader's HR images (stirer_lib.evaluation)."""
    res = evaluate_loaders(None, {"split": loader}, crnn, device=device, ssim_on=False, details=False, crnn_on=("hr",))
    return res["over_all"]["crnn_acc_hr"]


def train_crnn(
    settings: CrnnSettings,
    run_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    crnn: CRNN | None = None,
    dataset: Dataset | None = None,
    eval_loaders: dict[str, DataLoader] | None = None,
    resume: bool = True,
    progress: bool = True,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> tuple[CRNN, list[dict]]:
    """Train CRNN(32, 1, 37, hidden, width) with CTC on the HR words of ROOT/pretrain; returns (eval model, history).

    on_step(step, max_steps) after every step (e.g. viz.training.StepProgress(...).step for headless runs).

    Saves RUN/crnn/crnn.pt every eval and at the end; with resume=True a checkpoint there is continued
    (or returned as is when it already has max_steps). eval_loaders: name -> loader of collate_eval
    batches, read on HR every eval_every steps (accuracy in %).
    """
    from tqdm.auto import tqdm

    cfg = settings
    path = Path(run_dir) / "crnn" / "crnn.pt"
    device = torch.device(device)
    crnn = (CRNN(HR_HEIGHT, 1, NUM_CTC_CLASSES, cfg.hidden, cfg.width) if crnn is None else crnn).to(device)
    opt = torch.optim.Adam(crnn.parameters(), lr=float(cfg.lr), betas=(float(cfg.beta1), 0.999))
    step, history = 0, []
    if resume and path.exists():
        ckpt = read(path, "CRNN checkpoint")
        load_strict(crnn, state_dict_of(ckpt, str(path)), f"CRNN checkpoint {path}")
        step, history = int(ckpt["step"]), list(ckpt.get("history", []))
        if ckpt.get("optimizer"):
            opt.load_state_dict(ckpt["optimizer"])
        print(f"resuming CRNN from {path} at step {step} / {cfg.max_steps}")
    if step >= cfg.max_steps:
        return crnn.eval(), history
    if step == 0 and eval_loaders:  # the untrained CRNN's reading: every curve starts at step 0
        history.append(
            {
                "step": 0,
                "seconds": 0.0,
                **{f"acc_{name}": _hr_accuracy(crnn, dl, device) for name, dl in eval_loaders.items()},
            }
        )
    loader = train_loader(data_root, cfg.batch_size, num_workers, dataset)
    crnn.train()
    bar = tqdm(total=cfg.max_steps, initial=step, desc="CRNN", disable=not progress)
    run_loss, run_n, t0 = 0.0, 0, time.time()
    for batch in _batches(loader):
        scores = crnn(batch["hr"].to(device))  # [T, B, 37]
        loss = ctc_loss(scores.transpose(0, 1), batch["ctc_targets"].to(device), batch["ctc_lengths"])
        if not torch.isfinite(loss):
            raise FloatingPointError(f"CTC loss became {loss.item()} at step {step}; lower crnn.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(crnn.parameters(), float(cfg.grad_clip))
        opt.step()
        step, run_loss, run_n = step + 1, run_loss + loss.item(), run_n + 1
        bar.update(1)
        if on_step is not None:
            on_step(step, cfg.max_steps)
        evaluate = (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.max_steps
        if step % max(cfg.log_every, 1) == 0 or evaluate:
            rec = {"step": step, "loss": run_loss / run_n, "seconds": round(time.time() - t0, 1)}
            run_loss, run_n = 0.0, 0
            if evaluate:
                for name, dl in (eval_loaders or {}).items():
                    rec[f"acc_{name}"] = _hr_accuracy(crnn, dl, device)
                crnn.train()
            history.append(rec)
            bar.set_postfix({k: round(v, 3) for k, v in rec.items() if k not in ("step", "seconds") and v is not None})
        if evaluate:
            save_crnn(path, crnn, step, history, opt)
        if step >= cfg.max_steps:
            break
    bar.close()
    return crnn.eval(), history
