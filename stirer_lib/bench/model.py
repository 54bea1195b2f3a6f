"""`python -m stirer_lib.bench model`: STIRER eval-forward and train-step images/second of this tree.

For each configuration (release, small), device (CPU, and CUDA when present) and batch size it
times the steps of stirer_lib.bench.worker.Case: (1) an eval forward with greedy generation under
no_grad, and (2) one training step: train-mode forward with teacher forcing, Eq. 9
(losses.stirer_loss), backward, the trainer's AdamW step. Inputs are random; the figures are medians
over a few repetitions after one warm-up. Nothing is asserted: machines are noisy.

`--json PATH` also writes every row (images per second and, on CUDA, the peak memory each timing allocated,
torch.cuda.max_memory_allocated) with the torch / CUDA versions and the device name.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from ..models import count_parameters
from .worker import Case


def time_case(spec: str, device: torch.device, reps: int, bf16: bool = False) -> tuple[float, float | None, int]:
    """(median seconds of `reps` steps after one warm-up, peak CUDA MiB or None on a CPU, parameters) of a case."""
    case = Case(spec, device, bf16, None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    case.timed()  # warm-up
    seconds = statistics.median(case.timed() for _ in range(reps))
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return seconds, peak, count_parameters(case.model)


def build_parser() -> argparse.ArgumentParser:
    """Options of `python -m stirer_lib.bench model`."""
    p = argparse.ArgumentParser(prog="python -m stirer_lib.bench model", description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="release,small", help="comma-separated config names")
    p.add_argument("--batch-sizes", default="1,16,64", help="comma-separated batch sizes")
    p.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu + cuda when present)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions after one warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    p.add_argument("--no-train", action="store_true", help="skip the train-step timing")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="also time the eval forward under bfloat16 autocast "
        "(`python -m stirer_lib.evaluation --bf16`; it changes the numbers slightly)",
    )
    p.add_argument("--json", default=None, metavar="PATH", help="also write the figures (and CUDA peak memory) here")
    return p


def environment() -> dict:
    """torch / CUDA versions and the GPU's name, for a JSON of figures."""
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
    }


def bench_row(name: str, device: torch.device, b: int, args: argparse.Namespace) -> dict:
    """Images per second (and CUDA peak MiB) of one config, device and batch size."""
    ev, ev_mem, params = time_case(f"eval:{name}:{b}", device, args.reps)
    row = {
        "config": name,
        "params": params,
        "device": device.type,
        "batch": b,
        "eval_img_s": b / ev,
        "eval_peak_mib": ev_mem,
        "train_img_s": None,
        "train_peak_mib": None,
    }
    if not args.no_train:
        tr, row["train_peak_mib"], _ = time_case(f"train:{name}:{b}", device, args.reps)
        row["train_img_s"] = b / tr
    if args.bf16:
        ev16, row["eval_bf16_peak_mib"], _ = time_case(f"eval:{name}:{b}", device, args.reps, bf16=True)
        row["eval_bf16_img_s"] = b / ev16
    return row


def format_row(r: dict, bf16: bool) -> str:
    """One printed line of `bench model` (NaN where a timing was skipped; peak MiB on CUDA)."""
    tr = float("nan") if r["train_img_s"] is None else r["train_img_s"]
    line = f"{r['config']:8} {r['params']:>11,} {r['device']:6} {r['batch']:>5} {r['eval_img_s']:>11.1f} {tr:>12.1f}"
    if bf16:
        line += f" {r['eval_bf16_img_s']:>16.1f} {r['eval_bf16_img_s'] / r['eval_img_s']:>10.2f}x"
    peaks = [r.get(k) for k in ("eval_peak_mib", "train_peak_mib", "eval_bf16_peak_mib") if r.get(k) is not None]
    return line + (f"  peak {max(peaks):,.0f} MiB" if peaks else "")


def run(args: argparse.Namespace) -> int:
    """Print eval / train images per second for every config, device and batch size."""
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.devices == "auto" else args.devices.split(",")
    devices = [d for d in devices if d != "cuda" or torch.cuda.is_available()]
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(
        f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
        + (f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA")
    )
    print(
        f"{'config':8} {'params':>11} {'device':6} {'batch':>5} {'eval img/s':>11} {'train img/s':>12}"
        + (f" {'eval bf16 img/s':>16} {'bf16 / fp32':>11}" if args.bf16 else "")
    )
    rows = []
    for name in args.configs.split(","):
        for dev in devices:
            for b in sizes:
                rows.append(bench_row(name, torch.device(dev), b, args))
                print(format_row(rows[-1], args.bf16), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps({**environment(), "bf16": args.bf16, "reps": args.reps, "rows": rows}, indent=1) + "\n"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse argv (argparse's own error handling) and run."""
    return run(build_parser().parse_args(argv))
