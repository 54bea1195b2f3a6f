"""Yardsticks: what a dedicated model learns from the same data in the same minutes as the cpu course.

Issue 12 asked the cpu course (30 minutes on 2 cores, data generation and the CRNN included) for a
final decoder reading 60 % of the LR test words and SR images 1 dB above bicubic. Whether that can
fit is a question about the data and the budget, not only about STIRER, so two plain models, each
doing one of STIRER's two jobs alone, are trained here and timed (docs/EXPERIMENTS.md, "What 30
minutes on two cores can teach"):

- `reader`: the course's CRNN (notebook 02: width 0.5, hidden 128, Adam beta1 0.5) trained with CTC
  on the *bicubic-upsampled LR* images (not HR), reading the test splits' LR images. It is the
  course's CRNN loop (stirer_lib.training.crnn.train_crnn) given data sets whose HR image is the
  bicubic-upsampled LR one (`BicubicAsHR`); its checkpoint goes to RUN/crnn/crnn.pt (--run-dir).
- `sr`: a residual CNN (EDSR-style blocks, Lim et al. 2017; not part of STIRER) trained on the
  TextZoom-format pairs with L_GP's MSE term (20 x MSE), its output added to the bicubic upsampling,
  scored by the one evaluation of the library (PSNR / SSIM per split against bicubic). STIRER's
  trainer computes Eq. 9 over STIRER's outputs, so this model trains in experiments.loop.

    python -m experiments.yardsticks reader --data data/synth/cpu --steps 2100 --eval-every 300
    python -m experiments.yardsticks sr --data data/synth/cpu --width 64 --blocks 8 --steps 2500
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from stirer_lib.constants import SCALE
from stirer_lib.data import collate_eval, collate_train, pretrain_set, textzoom_train_set
from stirer_lib.errors import DataError, SettingError, run_cli
from stirer_lib.evaluation import evaluate_loaders, test_loaders
from stirer_lib.losses import MSE_WEIGHT
from stirer_lib.models.stirer import StirerOutput
from stirer_lib.scoring import bicubic_upsample
from stirer_lib.training.crnn import train_crnn
from stirer_lib.training.settings import CrnnSettings

from .loop import forever, train_steps


class ResidualSR(nn.Module):
    """head conv -> `blocks` x (conv, ReLU, conv, + skip) -> conv + PixelShuffle(2), added to bicubic.
    The last conv starts at zero, so the untrained model is bicubic interpolation."""

    def __init__(self, width: int = 64, blocks: int = 8, in_chans: int = 4):
        super().__init__()
        self.head = nn.Conv2d(in_chans, width, 3, 1, 1)
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, 1, 1))
            for _ in range(blocks)
        )
        self.tail = nn.Sequential(nn.Conv2d(width, in_chans * SCALE**2, 3, 1, 1), nn.PixelShuffle(SCALE))
        nn.init.zeros_(self.tail[0].weight)
        nn.init.zeros_(self.tail[0].bias)

    def forward(self, lr: torch.Tensor, generate: bool | None = None) -> StirerOutput:
        """lr [B,4,16,64] -> StirerOutput with only sr [B,4,32,128] (so the library's evaluation scores it)."""
        h = self.head(lr)
        for block in self.body:
            h = h + block(h)
        return StirerOutput(sr=self.tail(h) + bicubic_upsample(lr))


class BicubicAsHR(Dataset):
    """The items of a data set with the HR image replaced by the bicubic-upsampled LR image: train_crnn and
    its evaluation read "hr", so they train and score the CRNN on LR words (unreadable items stay None)."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if item is None:
            return None
        _, lr, label = item
        return bicubic_upsample(lr[None])[0], lr, label


def _mean(values: dict[str, float]) -> float:
    return sum(values.values()) / len(values)


def train_reader(
    root: str | Path,
    run_dir: str | Path,
    steps: int,
    eval_every: int,
    source: str = "pretrain",
    batch_size: int = 32,
    lr: float = 1e-3,
    beta1: float = 0.5,
    width: float = 0.5,
    hidden: int = 128,
    max_test: int | None = 100,
    seed: int = 0,
    progress: bool = False,
) -> list[dict]:
    """Train the CRNN on bicubic-upsampled LR words; one record {step, loss, acc (per split, %), mean, seconds}
    per evaluation."""
    torch.manual_seed(seed)
    settings = CrnnSettings(
        max_steps=steps,
        batch_size=batch_size,
        lr=lr,
        beta1=beta1,
        width=width,
        hidden=hidden,
        eval_every=eval_every,
        log_every=eval_every,
        grad_clip=5.0,
    )
    train_set = BicubicAsHR(textzoom_train_set(root) if source == "textzoom" else pretrain_set(root))
    tests = {
        s: DataLoader(BicubicAsHR(dl.dataset), batch_size=dl.batch_size, collate_fn=collate_eval)
        for s, dl in test_loaders(root, 64, max_test).items()
    }
    _, history = train_crnn(
        settings, run_dir, root, dataset=train_set, eval_loaders=tests, resume=False, progress=progress
    )
    out = []
    for rec in history:
        acc = {s: rec[f"acc_{s}"] for s in tests if f"acc_{s}" in rec}
        if acc:
            out.append(
                {
                    "step": rec["step"],
                    "loss": rec.get("loss"),
                    "acc": acc,
                    "mean": _mean(acc),
                    "seconds": rec["seconds"],
                }
            )
    return out


def train_sr(
    root: str | Path,
    steps: int,
    eval_every: int,
    width: int = 64,
    blocks: int = 8,
    batch_size: int = 8,
    lr: float = 1e-3,
    max_test: int | None = 100,
    seed: int = 0,
    progress: bool = False,
) -> Iterator[dict]:
    """Train ResidualSR on the TextZoom-format pairs; yield {step, loss, psnr / ssim / bicubic per split, gain}."""
    torch.manual_seed(seed)
    net = ResidualSR(width, blocks)
    ds = textzoom_train_set(root)
    loader = DataLoader(
        ds, batch_size=batch_size, shuffle=True, drop_last=len(ds) > batch_size, collate_fn=collate_train
    )
    tests = test_loaders(root, 64, max_test)

    def loss(batch: dict) -> torch.Tensor:
        return MSE_WEIGHT * F.mse_loss(net(batch["lr"]).sr, batch["hr"])

    def evaluate() -> dict:
        res = evaluate_loaders(net, tests, details=False, crnn_on=())
        m = res["mean_of_splits"]
        return {
            "splits": {s: (r["steps"][-1]["psnr"], r["bicubic"]["psnr"]) for s, r in res["splits"].items()},
            "psnr": m["psnr"],
            "ssim": m["ssim"],
            "bicubic": m["bicubic"],
            "gain_db": m["psnr"] - m["bicubic"]["psnr"],
            "gain_ssim": m["ssim"] - m["bicubic"]["ssim"],
        }

    return train_steps(net, forever(loader), loss, steps, lr, evaluate, eval_every, desc="sr", progress=progress)


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.yardsticks", description=__doc__.split("\n")[0])
    ap.add_argument("job", choices=("reader", "sr"), help="reader: a CRNN on LR words; sr: a residual CNN")
    ap.add_argument("--data", required=True, help="TextZoom-format ROOT (textzoom/, pretrain/), e.g. data/synth/cpu")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--max-test", type=int, default=100, help="test pairs per split")
    ap.add_argument(
        "--source",
        choices=("pretrain", "textzoom"),
        default="pretrain",
        help="reader: which training words (the pre-training set, as notebook 02's CRNN, or train1+2)",
    )
    ap.add_argument("--width", type=int, default=64, help="sr: channels")
    ap.add_argument("--blocks", type=int, default=8, help="sr: residual blocks")
    ap.add_argument(
        "--run-dir", default="runs/yardsticks", help="reader: the CRNN's checkpoint goes to RUN/crnn/crnn.pt"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (the evaluations still print)")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.eval_every < 1:
        ap.error("--steps and --eval-every must be at least 1")
    if not Path(a.data).is_dir():
        raise DataError(
            f"--data {a.data} is not a folder; give a TextZoom-format ROOT (make one with "
            "`python -m stirer_lib.data.synth --out DIR --profile cpu`)"
        )
    try:
        _run(a)
    except FloatingPointError as e:  # the learning rate: the user's setting
        raise SettingError(str(e)) from None
    return 0


def _reader_line(r: dict) -> str:
    """One evaluation of the reader yardstick, as printed."""
    accs = "  ".join(f"{s} {v:5.1f}" for s, v in r["acc"].items())
    ctc = "  -  " if r["loss"] is None else f"{r['loss']:.3f}"  # step 0: evaluated before any training
    return f"step {r['step']:>6}  ctc {ctc}  LR accuracy (%) {accs}  mean {r['mean']:5.1f}  {r['seconds']:.0f} s"


def _sr_line(r: dict) -> str:
    """One evaluation of the SR yardstick, as printed."""
    splits = "  ".join(f"{s} {p:.2f}/{b:.2f}" for s, (p, b) in r["splits"].items())
    return (
        f"step {r['step']:>6}  loss {r['loss']:.4f}  PSNR SR/bicubic {splits}  gain {r['gain_db']:+.2f} dB, "
        f"SSIM {r['ssim']:.4f} vs {r['bicubic']['ssim']:.4f} ({r['gain_ssim']:+.4f})  {r['seconds']:.0f} s"
    )


def _run(a: argparse.Namespace) -> None:
    """Train the job and print one line per evaluation."""
    common = {"max_test": a.max_test, "seed": a.seed, "progress": not a.no_progress}
    if a.job == "reader":
        records, line = train_reader(a.data, a.run_dir, a.steps, a.eval_every, a.source, **common), _reader_line
    else:
        records, line = train_sr(a.data, a.steps, a.eval_every, a.width, a.blocks, **common), _sr_line
    for r in records:
        tqdm.write(line(r))


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
