"""Headless evaluation: `python -m stirer_lib.evaluate --stirer CKPT [--crnn CKPT] --data ROOT [--json OUT]`.

Loads our checkpoints (RUN/finetune/best.pt) and the official release (STIRER_Final_Release.pth)
alike, strictly; evaluates on ROOT's TextZoom test splits; prints the official test.py printout
and writes results JSON + .txt. With the release, crnn.pth and real TextZoom this prints
"Final Acc 73.91 Final PSNR 22.31 SSIM 0.7650" (README, section 'Reproducing the paper').
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .data import TEST_SPLITS
from .errors import DataError, run_cli
from .evaluation import evaluate, format_official, save_results
from .models import load_crnn, load_stirer


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m stirer_lib.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--stirer", required=True, help="STIRER checkpoint: ours ({'model','config',...}) or the release")
    p.add_argument("--crnn", default=None, help="CRNN checkpoint (crnn.pytorch's crnn.pth or RUN/crnn/crnn.pt)")
    p.add_argument("--data", required=True, help="the textzoom folder (holding test/) or the data ROOT")
    p.add_argument("--json", default=None, help="write results here (and the printout beside it as .txt)")
    p.add_argument("--device", default=None, choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-images", type=int, default=None, help="only the first N images of each split")
    p.add_argument("--splits", default=",".join(TEST_SPLITS), help="comma-separated subset of easy,medium,hard")
    p.add_argument("--inference-only", action="store_true", help="the checkpoint has no mini decoders")
    p.add_argument("--skimage", action="store_true", help="also compute scikit-image's SSIM")
    p.add_argument("--bf16", action="store_true", help="STIRER's forward under bfloat16 autocast (faster on CPUs with "
                   "AVX512-BF16 / AMX and on GPUs; changes the numbers slightly: README, \"Measured\")")
    p.add_argument("--no-progress", action="store_true")
    return p


def _main(argv: list[str] | None = None) -> int:
    """Parse arguments, evaluate, print and save; user errors end in one line and exit code 2 (run_cli)."""
    args = build_parser().parse_args(argv)
    for flag, path in (("--stirer", args.stirer), ("--crnn", args.crnn), ("--data", args.data)):
        if path is not None and not Path(path).exists():
            raise DataError(f"{flag} {path} does not exist")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda but CUDA is not available; use --device cpu")
    if args.batch_size < 1 or (args.max_images is not None and args.max_images < 1):
        raise DataError("--batch-size and --max-images must be at least 1")
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    bad = [s for s in splits if s not in TEST_SPLITS]
    if bad or not splits:
        raise DataError(f"--splits {args.splits!r}: choose from {','.join(TEST_SPLITS)}")
    model = load_stirer(args.stirer, inference_only=args.inference_only)
    crnn = load_crnn(args.crnn) if args.crnn else None
    results = evaluate(model, args.data, crnn=crnn, device=args.device, batch_size=args.batch_size,
                       max_images=args.max_images, progress=not args.no_progress, splits=splits,
                       with_skimage=args.skimage, bf16=args.bf16)
    results["meta"]["stirer"] = str(args.stirer)
    results["meta"]["crnn_path"] = args.crnn
    print(format_official(results), end="")
    if args.json:
        js, txt = save_results(results, args.json)
        print(f"wrote {js} and {txt}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
