"""Train STIRER: `python -m stirer_lib.train --stage pretrain|finetune --profile P --run-dir DIR`.

One process:      python -m stirer_lib.train --stage pretrain --profile gpu --run-dir runs/gpu/pretrain
Many GPUs:        torchrun --nproc_per_node 4 -m stirer_lib.train --stage pretrain --profile paper \
                      --run-dir runs/paper/pretrain
Continue a run:   add --resume (same profile and --set values); start over: --overwrite.
--max-steps N stops after global step N without changing the schedule, which the profile plans
(`pretrain.max_steps` or `pretrain.epochs`): a run cut at 4 and resumed to 8 equals one run to 8.
Fine-tuning starts from DIR/../pretrain/best.pt (else last.pt) unless --init CKPT (or --init none).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .course.profiles import PROFILE_NAMES, get_profile
from .course.session import resolve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m stirer_lib.train", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--stage", required=True, choices=("pretrain", "finetune"))
    ap.add_argument("--profile", default="smoke", choices=PROFILE_NAMES)
    ap.add_argument("--run-dir", required=True, help="this stage's directory (last.pt, best.pt, metrics.jsonl)")
    ap.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    ap.add_argument("--overwrite", action="store_true", help="delete the run in DIR and start over")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this global step (schedule unchanged)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="profile override, e.g. --set pretrain.lr=2e-4 (repeatable)")
    ap.add_argument("--data", default=None, help="data ROOT (default: the profile's)")
    ap.add_argument("--init", default=None, help="initial weights (a checkpoint or state_dict), or 'none'")
    ap.add_argument("--seed", type=int, default=None, help="seed of the run (default: the profile's data.seed)")
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    a = ap.parse_args(argv)
    if a.max_steps is not None and a.max_steps <= 0:
        ap.error("--max-steps must be positive")
    if a.resume and a.overwrite:
        ap.error("--resume and --overwrite exclude each other")
    return a


def prepare_profile(a: argparse.Namespace) -> dict:
    """The profile with overrides, absolute paths, and the data generated when synthetic and missing."""
    from .training.distributed import launched_by_torchrun
    prof = get_profile(a.profile, a.set)
    if a.data:
        prof["data"]["root"] = a.data
    if a.seed is not None:
        prof["data"]["seed"] = a.seed
    prof["data"]["root"] = str(resolve(prof["data"]["root"]))
    run_dir = Path(a.run_dir).expanduser().resolve()
    prof["run_dir"] = str(run_dir.parent)
    if not launched_by_torchrun():  # under torchrun the data must exist already (no concurrent generation)
        from .data.synth import ensure_profile_data
        ensure_profile_data(prof)
    return prof


def main(argv: list[str] | None = None) -> int:
    from .training.trainer import NonFiniteLossError, ResumeMismatchError, RunExistsError, train_stage
    a = parse_args(argv)
    prof = prepare_profile(a)
    try:
        summary = train_stage(prof, a.stage, run_dir=Path(a.run_dir).expanduser().resolve(), resume=a.resume,
                              overwrite=a.overwrite, max_steps=a.max_steps, init=a.init, progress=not a.no_progress)
    except (NonFiniteLossError, ResumeMismatchError, RunExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    best = summary["best"]
    msg = f"{a.stage}: step {summary['step']} ({'finished' if summary['finished'] else 'stopped'}) in {summary['run_dir']}"
    if best:
        msg += f"; best at step {best['step']}: acc {best['mean']['acc_final']:.2f}%, PSNR {best['mean']['psnr']:.2f} dB"
    print(msg, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
