"""`python -m stirer_lib.bench data`: samples per second of the data loaders and of the generator.

Prints figures only (machines are shared and noisy; nothing here asserts a time):
- training loaders: TextZoom pairs (train1 + train2, random LR shrink) and MJ/ST words with the
  LR synthesised on the fly, through collate_train;
- the evaluation loader (test easy + medium + hard, collate_eval);
- the synthetic generator (TextZoom pairs and MJ/ST words, one process).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.data import ConcatDataset, DataLoader

from ..course.profiles import add_profile_argument
from ..data import TEST_SPLITS, collate_eval, collate_train, pretrain_set, textzoom_split, textzoom_train_set


def loader_rate(ds, collate, batch_size: int, workers: int, min_samples: int) -> float:
    """Samples per second of a DataLoader over ds (repeating epochs until min_samples)."""
    loader = DataLoader(
        ds, batch_size=batch_size, shuffle=True, num_workers=workers, collate_fn=collate, persistent_workers=workers > 0
    )
    seen, t0 = 0, None
    while seen < min_samples:
        for batch in loader:
            if t0 is None:  # the first batch pays for starting the workers: not counted
                t0 = time.perf_counter()
                continue
            seen += batch["hr"].shape[0]
            if seen >= min_samples:
                break
    return seen / (time.perf_counter() - t0)


def generator_rate(kind: str, n: int) -> float:
    """Records per second of the generator in this process."""
    from ..data.synth import make_pair, make_word

    fn = make_pair if kind == "pair" else make_word
    fn(0, "train1" if kind == "pair" else "pretrain", 10**6)  # warm the caches (fonts, photos, words)
    t0 = time.perf_counter()
    for i in range(n):
        fn(0, "train1" if kind == "pair" else "pretrain", i)
    return n / (time.perf_counter() - t0)


def build_parser() -> argparse.ArgumentParser:
    """Options of `python -m stirer_lib.bench data`."""
    ap = argparse.ArgumentParser(prog="python -m stirer_lib.bench data", description=__doc__.split("\n\n")[0])
    add_profile_argument(ap)  # whose data ROOT is used (generated if missing)
    ap.add_argument("--root", default=None, help="a data ROOT instead of the profile's")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--samples", type=int, default=512, help="samples timed per loader")
    ap.add_argument("--generate", type=int, default=100, help="records timed per generator kind")
    return ap


def profile_data_root(profile: str | None) -> str:
    """The data ROOT of a course profile (generated if missing; None: the default profile)."""
    from ..course import session
    from ..course.profiles import default_profile

    return session.start(profile or default_profile(), data_root=None, ensure_data=True).data.root


def run(a: argparse.Namespace) -> int:
    """Print the loaders' and the generator's rates (the data ROOT: --root, else the profile's)."""
    torch.set_num_threads(1)
    root = a.root if a.root is not None else profile_data_root(a.profile)
    print(f"data ROOT {root}; batch {a.batch_size}, {a.workers} workers, {a.samples} samples per loader")
    rows = [
        ("train: TextZoom pairs", textzoom_train_set(root), collate_train),
        ("train: MJ/ST, LR on the fly", pretrain_set(root), collate_train),
        ("eval: TextZoom test", ConcatDataset([textzoom_split(root, s) for s in TEST_SPLITS]), collate_eval),
    ]
    for name, ds, collate in rows:
        rate = loader_rate(ds, collate, a.batch_size, a.workers, a.samples)
        print(f"{name:<32} {rate:9.1f} samples/s")
    if a.generate:
        print(f"{'generator: TextZoom pairs':<32} {generator_rate('pair', a.generate):9.1f} records/s")
        print(f"{'generator: MJ/ST words':<32} {generator_rate('word', a.generate):9.1f} records/s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse argv (argparse's own error handling) and run."""
    return run(build_parser().parse_args(argv))
