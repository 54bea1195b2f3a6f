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
import json
import os
import sys
from pathlib import Path

from .course.build import settled, stage_config, train_stage
from .course.profiles import Profile, add_profile_argument, default_profile
from .course.session import ensure_profile_data, prepare
from .errors import run_cli
from .training.distributed import launched_by_torchrun


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (argparse errors exit 2 with one usage line)."""
    ap = argparse.ArgumentParser(
        prog="python -m stirer_lib.train",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    ap.add_argument("--stage", required=True, choices=("pretrain", "finetune"))
    add_profile_argument(ap)
    ap.add_argument("--run-dir", required=True, help="this stage's directory (last.pt, best.pt, metrics.jsonl)")
    ap.add_argument("--resume", action="store_true", help="continue from DIR/last.pt")
    ap.add_argument("--overwrite", action="store_true", help="delete the run in DIR and start over")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this global step (schedule unchanged)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="profile override, e.g. --set pretrain.lr=2e-4 (repeatable)",
    )
    ap.add_argument("--data", default=None, help="data ROOT (default: the profile's)")
    ap.add_argument("--init", default=None, help="initial weights (a checkpoint or state_dict), or 'none'")
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help="the run's seed (model init, data order; default: the "
        "profile's seed). The data's seed is data.seed (--set data.seed=N)",
    )
    ap.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    ap.add_argument(
        "--print-config",
        action="store_true",
        help="print the settled profile as JSON (the stage's start weights, model, schedule; the data) and exit",
    )
    a = ap.parse_args(argv)
    if a.max_steps is not None and a.max_steps <= 0:
        ap.error("--max-steps must be positive")
    if a.resume and a.overwrite:
        ap.error("--resume and --overwrite exclude each other")
    return a


def prepare_profile(a: argparse.Namespace) -> Profile:
    """The profile with overrides and absolute paths; the data generated when synthetic and missing."""
    run_dir = Path(a.run_dir).expanduser().resolve()
    prof, user_root = prepare(a.profile or default_profile(), a.set, a.data, str(run_dir.parent), a.seed)
    stage_config(prof, a.stage, a.init)  # a model setting that cannot apply to the start weights: refused here
    if not launched_by_torchrun():  # under torchrun the data must exist already (no concurrent generation)
        ensure_profile_data(prof, user_root)
    return prof


def _main(argv: list[str] | None = None) -> int:
    """Train one stage; user errors end in one line and exit code 2 (run_cli)."""
    a = parse_args(argv)
    if a.print_config:
        run_dir = Path(a.run_dir).expanduser().resolve()
        prof, _ = prepare(a.profile or default_profile(), a.set, a.data, str(run_dir.parent), a.seed)
        print(json.dumps(settled(prof, a.init, (a.stage,)), indent=1))
        return 0
    prof = prepare_profile(a)
    summary = train_stage(
        prof,
        a.stage,
        run_dir=Path(a.run_dir).expanduser().resolve(),
        resume=a.resume,
        overwrite=a.overwrite,
        stop_at=a.max_steps,
        init=a.init,
        progress=not a.no_progress,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    best = summary["best"]
    state = "finished" if summary["finished"] else "stopped"
    msg = f"{a.stage}: step {summary['step']} ({state}) in {summary['run_dir']}"
    if best:
        m = best["mean_of_splits"]
        acc = "n/a" if m["acc"] is None else f"{m['acc']:.2f}%"
        psnr = "n/a" if m["psnr"] is None else f"{m['psnr']:.2f} dB"
        msg += f"; best at step {best['step']}: acc {acc}, PSNR {psnr}"
    print(msg, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
