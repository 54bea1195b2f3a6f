"""Yardsticks: what a dedicated model learns from the same data in the same minutes as the cpu course.

Issue 12 asked the cpu course (30 minutes on 2 cores, data generation and the CRNN included) for a
final decoder reading 60 % of the LR test words and SR images 1 dB above bicubic. Whether that can
fit is a question about the data and the budget, not only about STIRER, so two plain models, each
doing one of STIRER's two jobs alone, are trained here and timed (README, "What 30 minutes on two cores can teach"):

- `reader`: the course's CRNN (notebook 02: width 0.5, hidden 128, Adam beta1 0.5) trained with CTC
  on the *bicubic-upsampled LR* images (not HR), reading the test splits' LR images. It costs about
  half of a STIRER step per image, and reads without any SR.
- `sr`: a residual CNN (EDSR-style blocks, Lim et al. 2017; not part of STIRER) trained on the
  TextZoom-format pairs with L_GP's MSE term (20 x MSE), its output added to the bicubic upsampling,
  scored by the one evaluation of the library (PSNR / SSIM per split against bicubic).

    python -m stirer_lib.training.yardsticks reader --data data/synth/cpu --steps 2100 --eval-every 300
    python -m stirer_lib.training.yardsticks sr --data data/synth/cpu --width 64 --blocks 8 --steps 2500
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..constants import HR_HEIGHT, SCALE
from ..data import collate_train, pretrain_set, textzoom_train_set
from ..errors import DataError, run_cli
from ..evaluation import evaluate_loaders, test_loaders
from ..losses import MSE_WEIGHT
from ..models.crnn import CRNN
from ..models.stirer import StirerOutput
from ..scoring import bicubic_upsample
from ..text import NUM_CTC_CLASSES
from .crnn import ctc_loss


class ResidualSR(nn.Module):
    """head conv -> `blocks` x (conv, ReLU, conv, + skip) -> conv + PixelShuffle(2), added to bicubic.
    The last conv starts at zero, so the untrained model is bicubic interpolation."""

    def __init__(self, width: int = 64, blocks: int = 8, in_chans: int = 4):
        super().__init__()
        self.head = nn.Conv2d(in_chans, width, 3, 1, 1)
        self.body = nn.ModuleList(nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(inplace=True),
                                                nn.Conv2d(width, width, 3, 1, 1)) for _ in range(blocks))
        self.tail = nn.Sequential(nn.Conv2d(width, in_chans * SCALE ** 2, 3, 1, 1), nn.PixelShuffle(SCALE))
        nn.init.zeros_(self.tail[0].weight)
        nn.init.zeros_(self.tail[0].bias)

    def forward(self, lr: torch.Tensor, generate: bool | None = None) -> StirerOutput:
        """lr [B,4,16,64] -> StirerOutput with only sr [B,4,32,128] (so the library's evaluation scores it)."""
        h = self.head(lr)
        for block in self.body:
            h = h + block(h)
        return StirerOutput(sr=self.tail(h) + bicubic_upsample(lr))


def _batches(loader: DataLoader, steps: int, desc: str, progress: bool) -> Iterator[tuple[int, dict]]:
    """(step, batch) for steps 1..steps over an endless loader, with a progress bar."""
    with tqdm(total=steps, desc=desc, disable=not progress, leave=False) as bar:
        step = 0
        while True:
            for batch in loader:
                step += 1
                bar.update(1)
                yield step, batch


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values)


def train_reader(root: str | Path, steps: int, eval_every: int, source: str = "pretrain", batch_size: int = 32,
                 lr: float = 1e-3, beta1: float = 0.5, width: float = 0.5, hidden: int = 128,
                 max_test: int | None = 100, seed: int = 0, progress: bool = False) -> Iterator[dict]:
    """Train the CRNN on bicubic-upsampled LR words; yield {step, loss, acc (per split, %), mean, seconds}."""
    torch.manual_seed(seed)
    crnn = CRNN(HR_HEIGHT, 1, NUM_CTC_CLASSES, hidden, width)
    opt = torch.optim.Adam(crnn.parameters(), lr=lr, betas=(beta1, 0.999))
    ds = textzoom_train_set(root) if source == "textzoom" else pretrain_set(root)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) > batch_size,
                        collate_fn=collate_train)
    tests = test_loaders(root, 64, max_test)
    t0, run_loss = time.time(), []
    for step, batch in _batches(loader, steps, "reader", progress):
        loss = ctc_loss(crnn(bicubic_upsample(batch["lr"])), batch["ctc_targets"], batch["ctc_lengths"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(crnn.parameters(), 5.0)
        opt.step()
        run_loss.append(loss.item())
        if step % eval_every == 0 or step == steps:
            res = evaluate_loaders(None, tests, crnn, ssim_on=False, details=False, crnn_on=("lr_bicubic",))
            crnn.train()
            acc = {s: r["crnn_acc_lr_bicubic"] for s, r in res["splits"].items()}
            yield {"step": step, "loss": sum(run_loss) / len(run_loss), "acc": acc, "mean": _mean(acc),
                   "seconds": time.time() - t0}
            run_loss = []
        if step >= steps:
            return


def train_sr(root: str | Path, steps: int, eval_every: int, width: int = 64, blocks: int = 8, batch_size: int = 8,
             lr: float = 1e-3, max_test: int | None = 100, seed: int = 0, progress: bool = False) -> Iterator[dict]:
    """Train ResidualSR on the TextZoom-format pairs; yield {step, loss, psnr / ssim / bicubic per split, gain}."""
    torch.manual_seed(seed)
    net = ResidualSR(width, blocks)
    opt = torch.optim.AdamW(net.parameters(), lr=lr)
    ds = textzoom_train_set(root)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) > batch_size,
                        collate_fn=collate_train)
    tests = test_loaders(root, 64, max_test)
    t0, run_loss = time.time(), []
    for step, batch in _batches(loader, steps, "sr", progress):
        loss = MSE_WEIGHT * F.mse_loss(net(batch["lr"]).sr, batch["hr"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        run_loss.append(loss.item())
        if step % eval_every == 0 or step == steps:
            res = evaluate_loaders(net, tests, details=False, crnn_on=())
            net.train()
            m = res["mean_of_splits"]
            yield {"step": step, "loss": sum(run_loss) / len(run_loss), "seconds": time.time() - t0,
                   "splits": {s: (r["steps"][-1]["psnr"], r["bicubic"]["psnr"]) for s, r in res["splits"].items()},
                   "psnr": m["psnr"], "ssim": m["ssim"], "bicubic": m["bicubic"],
                   "gain_db": m["psnr"] - m["bicubic"]["psnr"], "gain_ssim": m["ssim"] - m["bicubic"]["ssim"]}
            run_loss = []
        if step >= steps:
            return


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stirer_lib.training.yardsticks",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("job", choices=("reader", "sr"), help="reader: a CRNN on LR words; sr: a residual CNN")
    ap.add_argument("--data", required=True, help="TextZoom-format ROOT (textzoom/, pretrain/), e.g. data/synth/cpu")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--max-test", type=int, default=100, help="test pairs per split")
    ap.add_argument("--source", choices=("pretrain", "textzoom"), default="pretrain",
                    help="reader: which training words (the pre-training set, as notebook 02's CRNN, or train1+2)")
    ap.add_argument("--width", type=int, default=64, help="sr: channels")
    ap.add_argument("--blocks", type=int, default=8, help="sr: residual blocks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (the evaluations still print)")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.eval_every < 1:
        ap.error("--steps and --eval-every must be at least 1")
    if not Path(a.data).is_dir():
        raise DataError(f"--data {a.data} is not a folder; give a TextZoom-format ROOT (make one with "
                        "`python -m stirer_lib.data.synth --out DIR --profile cpu`)")
    if a.job == "reader":
        for r in train_reader(a.data, a.steps, a.eval_every, a.source, max_test=a.max_test, seed=a.seed,
                              progress=not a.no_progress):
            accs = "  ".join(f"{s} {v:5.1f}" for s, v in r["acc"].items())
            tqdm.write(f"step {r['step']:>6}  ctc {r['loss']:.3f}  LR accuracy (%) {accs}  mean {r['mean']:5.1f}  "
                       f"{r['seconds']:.0f} s")
    else:
        for r in train_sr(a.data, a.steps, a.eval_every, a.width, a.blocks, max_test=a.max_test, seed=a.seed,
                          progress=not a.no_progress):
            splits = "  ".join(f"{s} {p:.2f}/{b:.2f}" for s, (p, b) in r["splits"].items())
            tqdm.write(f"step {r['step']:>6}  loss {r['loss']:.4f}  PSNR SR/bicubic {splits}  "
                       f"gain {r['gain_db']:+.2f} dB, SSIM {r['ssim']:.4f} vs {r['bicubic']['ssim']:.4f} "
                       f"({r['gain_ssim']:+.4f})  {r['seconds']:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
