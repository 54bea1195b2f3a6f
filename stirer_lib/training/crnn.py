"""Train the CRNN baseline with CTC on the synthetic HR words, and measure how well it reads.

The CRNN is the judge of every super-resolution result (DESIGN.md section 4): the course trains
its own on the HR images of the pre-training set (MJ/ST-format LMDBs under ROOT/pretrain), or
loads crnn.pytorch's released `crnn.pth`. The checkpoint RUN/crnn/crnn.pt is
{"model": state_dict in crnn.pytorch's layout, "config": None, "step": n, "history": [...],
"optimizer": Adam state} and is written atomically, so an interrupted run resumes from it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from ..models.crnn import CRNN, load_crnn
from ..text import ctc_greedy_decode, filter_label

HR_SIZE = (32, 128)  # what CRNN reads (H, W)


def ctc_loss(scores: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean CTC loss (Graves et al. 2006) of raw CRNN scores [T,B,37] vs concatenated targets; blank = 0."""
    log_probs = scores.log_softmax(2)  # [T, B, 37]
    t, b = log_probs.shape[:2]
    input_lengths = torch.full((b,), t, dtype=torch.long)
    return F.ctc_loss(log_probs, targets.long(), input_lengths, lengths.long(), blank=0,
                      reduction="mean", zero_infinity=True)


def upsample_lr(lr: torch.Tensor) -> torch.Tensor:
    """Bicubic x2 of LR [B,C,16,64] to [B,C,32,128]: torch F.interpolate(align_corners=False), clamped to [0,1]."""
    return F.interpolate(lr, size=HR_SIZE, mode="bicubic", align_corners=False).clamp(0, 1)


def crnn_read(crnn: CRNN, images: torch.Tensor) -> list[str]:
    """Greedy CTC reading of images [B,C,32,128] in [0,1] (C = 1, 3 or 4)."""
    with torch.no_grad():
        return ctc_greedy_decode(crnn(images), time_major=True)


def crnn_accuracy(crnn: CRNN, loader: DataLoader, source: str = "hr", max_images: int | None = None,
                  device: str | torch.device | None = None) -> dict:
    """Word accuracy of `crnn` on a loader of collate_eval batches.

    source: "hr" reads the 32 x 128 HR image; "lr_bicubic" reads the 16 x 64 LR image upsampled by
    `upsample_lr` (torch bicubic, align_corners=False, clamped). Accuracy is exact match after
    filter_label on both sides. Returns {"accuracy", "n", "correct", "preds", "labels", "source"}.
    """
    if source not in ("hr", "lr_bicubic"):
        raise ValueError(f"source must be 'hr' or 'lr_bicubic', not {source!r}")
    device = torch.device(device) if device else next(crnn.parameters()).device
    was_training = crnn.training
    crnn.eval()
    preds: list[str] = []
    labels: list[str] = []
    for batch in loader:
        images = batch["hr"] if source == "hr" else upsample_lr(batch["lr"])
        preds += [filter_label(p) for p in crnn_read(crnn, images.to(device))]
        labels += [filter_label(s) for s in batch["labels"]]
        if max_images is not None and len(labels) >= max_images:
            preds, labels = preds[:max_images], labels[:max_images]
            break
    crnn.train(was_training)
    correct = [p == g for p, g in zip(preds, labels)]
    n = len(labels)
    return {"accuracy": sum(correct) / n if n else float("nan"), "n": n, "correct": correct,
            "preds": preds, "labels": labels, "source": source}


def eval_loader(root: str | os.PathLike, split: str, batch_size: int, max_images: int | None = None) -> DataLoader:
    """Loader of collate_eval batches over the TextZoom test split ROOT/textzoom/test/<split> (in order)."""
    from ..data import TextZoomDataset, collate_eval, split_dir
    ds: Dataset = TextZoomDataset(split_dir(root, split))
    if max_images is not None and max_images < len(ds):
        ds = Subset(ds, range(max_images))
    return DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate_eval)


def accuracy_gap(crnn: CRNN, root: str | os.PathLike, batch_size: int = 64,
                 max_images: int | None = None) -> dict[str, dict[str, dict]]:
    """CRNN accuracy per test split on HR and on bicubic-upsampled LR: {split: {"hr": ..., "lr_bicubic": ...}}."""
    from ..data import TEST_SPLITS
    out = {}
    for split in TEST_SPLITS:
        loader = eval_loader(root, split, batch_size, max_images)
        out[split] = {src: crnn_accuracy(crnn, loader, src) for src in ("hr", "lr_bicubic")}
    return out


def gap_table(gap: dict[str, dict[str, dict]]) -> str:
    """Text table of accuracy_gap: per split and over all images, HR vs bicubic LR (percent)."""
    lines = [f"{'split':<8}{'n':>6}{'HR':>9}{'LR bicubic':>12}{'gap':>8}"]
    tot = {"n": 0, "hr": 0, "lr_bicubic": 0}
    for split, r in gap.items():
        n = r["hr"]["n"]
        hr, lr = 100 * r["hr"]["accuracy"], 100 * r["lr_bicubic"]["accuracy"]
        lines.append(f"{split:<8}{n:>6}{hr:>9.2f}{lr:>12.2f}{hr - lr:>8.2f}")
        tot["n"] += n
        tot["hr"] += sum(r["hr"]["correct"])
        tot["lr_bicubic"] += sum(r["lr_bicubic"]["correct"])
    if tot["n"]:
        hr, lr = 100 * tot["hr"] / tot["n"], 100 * tot["lr_bicubic"] / tot["n"]
        lines.append(f"{'all':<8}{tot['n']:>6}{hr:>9.2f}{lr:>12.2f}{hr - lr:>8.2f}")
    return "\n".join(lines)


def save_crnn(path: str | os.PathLike, crnn: CRNN, step: int, history: list[dict],
              optimizer: torch.optim.Optimizer | None = None) -> Path:
    """Write {"model", "config": None, "step", "history", "optimizer"} atomically (tmp file + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {"model": {k: v.detach().cpu() for k, v in crnn.state_dict().items()}, "config": None,
            "step": int(step), "history": list(history),
            "optimizer": optimizer.state_dict() if optimizer is not None else None}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)
    return path


def _batches(loader: DataLoader):
    """Endless iterator over the loader (a new shuffle each pass)."""
    while True:
        yield from loader


def train_loader(root: str | os.PathLike, batch_size: int, num_workers: int = 0,
                 dataset: Dataset | None = None) -> DataLoader:
    """Shuffled loader of collate_train batches over every LMDB under ROOT/pretrain (HR images used)."""
    from ..data import collate_train, pretrain_set
    ds = dataset if dataset is not None else pretrain_set(root)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) > batch_size,
                      num_workers=num_workers, collate_fn=collate_train,
                      persistent_workers=num_workers > 0)


def train_crnn(prof: dict, crnn: CRNN | None = None, dataset: Dataset | None = None,
               eval_loaders: dict[str, DataLoader] | None = None, resume: bool = True,
               progress: bool = True) -> tuple[CRNN, list[dict]]:
    """Train CRNN(32, 1, 37, 256) with CTC on the HR words of ROOT/pretrain; returns (eval model, history).

    Settings come from prof["crnn"]: max_steps, batch_size, lr (Adam), eval_every (0 = only at the end),
    plus optional grad_clip and log_every. Saves RUN/crnn/crnn.pt every eval and at the end; with
    resume=True a checkpoint there is continued (or returned as is when it already has max_steps).
    eval_loaders: name -> loader of collate_eval batches, read on HR every eval_every steps.
    """
    from tqdm.auto import tqdm
    cfg = prof["crnn"]
    max_steps, eval_every = int(cfg["max_steps"]), int(cfg.get("eval_every") or 0)
    log_every = int(cfg.get("log_every", 10))
    path = Path(prof["run_dir"]) / "crnn" / "crnn.pt"
    device = torch.device(prof.get("device", "cpu"))
    crnn = (CRNN(32, 1, 37, 256) if crnn is None else crnn).to(device)
    opt = torch.optim.Adam(crnn.parameters(), lr=float(cfg["lr"]), betas=(0.9, 0.999))
    step, history = 0, []
    if resume and path.exists():
        ckpt = torch.load(path, map_location=device, weights_only=False)
        crnn.load_state_dict(load_crnn(ckpt).state_dict())
        step, history = int(ckpt["step"]), list(ckpt.get("history", []))
        if ckpt.get("optimizer"):
            opt.load_state_dict(ckpt["optimizer"])
        print(f"resuming CRNN from {path} at step {step} / {max_steps}")
    if step >= max_steps:
        return crnn.eval(), history
    loader = train_loader(prof["data"]["root"], int(cfg["batch_size"]), int(prof["data"].get("num_workers", 0)),
                          dataset)
    crnn.train()
    bar = tqdm(total=max_steps, initial=step, desc="CRNN", disable=not progress)
    run_loss, run_n, t0 = 0.0, 0, time.time()
    for batch in _batches(loader):
        scores = crnn(batch["hr"].to(device))  # [T, B, 37]
        loss = ctc_loss(scores, batch["ctc_targets"].to(device), batch["ctc_lengths"].to(device))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"CTC loss became {loss.item()} at step {step}; lower crnn.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.get("grad_clip"):
            torch.nn.utils.clip_grad_norm_(crnn.parameters(), float(cfg["grad_clip"]))
        opt.step()
        step, run_loss, run_n = step + 1, run_loss + loss.item(), run_n + 1
        bar.update(1)
        evaluate = (eval_every and step % eval_every == 0) or step == max_steps
        if step % log_every == 0 or evaluate:
            rec = {"step": step, "loss": run_loss / run_n, "seconds": round(time.time() - t0, 1)}
            run_loss, run_n = 0.0, 0
            if evaluate:
                for name, dl in (eval_loaders or {}).items():
                    rec[f"acc_{name}"] = crnn_accuracy(crnn, dl, "hr")["accuracy"]
                crnn.train()
            history.append(rec)
            bar.set_postfix({k: round(v, 3) for k, v in rec.items() if k not in ("step", "seconds")})
        if evaluate:
            save_crnn(path, crnn, step, history, opt)
        if step >= max_steps:
            break
    bar.close()
    return crnn.eval(), history
