"""`python -m stirer_lib.bench model`: STIRER eval-forward and train-step images/second.

For each configuration (release, small), device (CPU, and CUDA when present) and batch size it
times (1) an eval forward with greedy generation under no_grad, and (2) one training step:
train-mode forward with teacher forcing, a loss with the same graph as training (MSE on every SR
image, CTC on every mini STR decoder, the T5 cross entropy), backward, AdamW step. Inputs are
random; the figures are medians over a few repetitions. Nothing is asserted: machines are noisy.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from .config import config_from_name
from .stirer import STIRER, build_stirer, count_parameters


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_batch(b: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """LR [b,4,16,64], HR [b,4,32,128], CTC targets and decoder labels of 10-character words."""
    g = torch.Generator().manual_seed(seed)
    chars = torch.randint(1, 37, (b, 10), generator=g)
    labels = torch.zeros(b, 31, dtype=torch.long)
    labels[:, :10], labels[:, 10] = chars, 37
    return {"lr": torch.rand(b, 4, 16, 64, generator=g).to(device), "hr": torch.rand(b, 4, 32, 128, generator=g).to(device),
            "ctc_targets": chars.flatten().int().to(device), "ctc_lengths": torch.full((b,), 10, dtype=torch.int32).to(device),
            "decoder_labels": labels.to(device)}


def proxy_loss(out, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A loss touching every output the real one uses (Eqs. 7-8 shape, not their weights)."""
    loss = out.ar_loss if out.ar_loss is not None else torch.zeros((), device=batch["lr"].device)
    for sr in ([out.sr] if out.sr is not None else []) + list(out.srs):
        loss = loss + F.mse_loss(sr, batch["hr"])
    b = batch["lr"].shape[0]
    for lo in out.ctc_logits:
        lp = lo.log_softmax(-1).transpose(0, 1)  # [T,B,C]
        loss = loss + F.ctc_loss(lp, batch["ctc_targets"], torch.full((b,), lp.shape[0], dtype=torch.int32),
                                 batch["ctc_lengths"], zero_infinity=True)
    return loss


def time_eval(model: STIRER, batch: dict, reps: int) -> float:
    """Median seconds of an eval forward (with greedy generation)."""
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(reps + 1):
            _sync(batch["lr"].device)
            t = time.perf_counter()
            model(batch["lr"])
            _sync(batch["lr"].device)
            if i:  # first run warms up
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_train(model: STIRER, batch: dict, reps: int) -> float:
    """Median seconds of one train step (forward with labels, proxy loss, backward, AdamW)."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(reps + 1):
        _sync(batch["lr"].device)
        t = time.perf_counter()
        out = model(batch["lr"], labels=batch["decoder_labels"])
        opt.zero_grad(set_to_none=True)
        proxy_loss(out, batch).backward()
        opt.step()
        _sync(batch["lr"].device)
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stirer_lib.bench model", description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="release,small", help="comma-separated config names")
    p.add_argument("--batch-sizes", default="1,16,64", help="comma-separated batch sizes")
    p.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu + cuda when present)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions after one warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    p.add_argument("--no-train", action="store_true", help="skip the train-step timing")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.devices == "auto" else args.devices.split(",")
    devices = [d for d in devices if d != "cuda" or torch.cuda.is_available()]
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
          + (f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA"))
    print(f"{'config':8} {'params':>11} {'device':6} {'batch':>5} {'eval img/s':>11} {'train img/s':>12}")
    for name in args.configs.split(","):
        for dev in devices:
            device = torch.device(dev)
            model = build_stirer(config_from_name(name)).to(device)
            for b in sizes:
                batch = random_batch(b, device)
                ev = b / time_eval(model, batch, args.reps)
                tr = float("nan") if args.no_train else b / time_train(model, batch, args.reps)
                print(f"{name:8} {count_parameters(model):>11,} {dev:6} {b:>5} {ev:>11.1f} {tr:>12.1f}", flush=True)
    return 0
