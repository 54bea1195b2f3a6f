"""The offline synthetic data set, the course's embedded default.

    python -m stirer_lib.data.synth --out data/synth/cpu --profile cpu --seed 0

writes, under OUT, a TextZoom-format set (textzoom/train1, train2, test/easy|medium|hard: LR/HR
pairs from the camera model of camera.py; train1 / train2 mix the three severities) and a
MJSynth / SynthText-format pre-training set (pretrain/synth: HR words only). The style
(style.py: 'full', TextZoom-like, or 'lesson', learnable on a CPU) sets the words, fonts and
backgrounds; the camera model is the same for both. Record i of a split depends only on
(seed, style, split, i), so the same seed gives the same bytes, and any number of
worker processes gives the same result. It prints the bicubic LR -> HR PSNR / SSIM of each test
split, to compare with real TextZoom (easy 22.35 / 0.788, medium 18.98 / 0.625, hard 19.39 / 0.659),
and the ceiling: the PSNR / SSIM of a perfect restoration, which cannot undo the capture's misalignment
and exposure change (it should stay >= 1 dB above the release model's real TextZoom PSNR).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from io import BytesIO
from multiprocessing import get_context
from pathlib import Path

import lmdb
import numpy as np
import torch
from PIL import Image

from ..atomic_write import pid_alive
from ..errors import DataError, run_cli
from .camera import CAMERAS, SEVERITIES, CameraParams, degrade, sample_params
from .lmdb_io import TEST_SPLITS, TRAIN_SPLITS, find_lmdbs, pretrain_dir, split_dir
from .quality import bicubic_baseline, ceiling_quality, mean_quality
from .render import render_scene, render_word_natural, to_hr
from .style import STYLES, SynthStyle, get_style
from .transforms import hr_tensor, lr_tensor
from .words import sample_label

FORMAT_VERSION = 4  # 2: styles (style.py); 3: camera re-tuned (less misalignment), ceiling in synth.json;
# 4: the training splits captured by the "wide" camera, test splits by "course" (or "heldout"), camera in synth.json
MARKER = "synth.json"  # written last: a ROOT without it is not a finished synthetic set
SPLIT_CODES = {"train1": 1, "train2": 2, "easy": 3, "medium": 4, "hard": 5, "pretrain": 6}
REAL_TEXTZOOM = {"easy": (22.35, 0.788), "medium": (18.98, 0.625), "hard": (19.39, 0.659)}
RELEASE_PSNR = {"easy": 25.15, "medium": 20.66, "hard": 21.12}  # the release model on real TextZoom
Record = dict[str, bytes]


def record_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one record: a function of (seed, split, index) only."""
    return np.random.default_rng([seed, SPLIT_CODES[split], index])


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = BytesIO()
    if fmt == "PNG":
        img.save(buf, format="PNG", compress_level=6)
    else:
        img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def _label(rng: np.random.Generator, style: SynthStyle) -> str:
    return sample_label(rng, style.p_code, style.p_punct, style.vocab_size, style.p_random, style.min_rank)


def make_pair(
    seed: int, split: str, index: int, style: str | SynthStyle | None = None, test_camera: str = "course"
) -> Record:
    """TextZoom record `index` (0-based) of a split: label, HR (128x32 PNG), LR (64x16 PNG)."""
    return capture_pair(seed, split, index, style, test_camera)[0]


def capture_pair(
    seed: int, split: str, index: int, style: str | SynthStyle | None = None, test_camera: str = "course"
) -> tuple[Record, CameraParams]:
    """make_pair's record and the camera parameters that captured its LR image.

    The training splits are captured by the "wide" camera, the test splits by `test_camera` (camera.py)."""
    style = get_style(style)
    rng = record_rng(seed, split, index)
    severity = split if split in SEVERITIES else SEVERITIES[int(rng.integers(len(SEVERITIES)))]
    label = _label(rng, style)
    scene = render_scene(label, rng, style=style)
    params = sample_params(severity, rng, test_camera if split in SEVERITIES else "wide")
    lr = degrade(scene, params, rng)
    return {
        "label": label.encode("utf-8"),
        "image_hr": _encode(to_hr(scene), "PNG"),
        "image_lr": _encode(lr, "PNG"),
    }, params


def make_word(seed: int, split: str, index: int, style: str | SynthStyle | None = None) -> Record:
    """MJ/ST-format record `index`: label and a 32 px high word image (JPEG)."""
    style = get_style(style)
    rng = record_rng(seed, split, index)
    label = _label(rng, style)
    return {"label": label.encode("utf-8"), "image": _encode(render_word_natural(label, rng, style=style), "JPEG")}


def _make(args: tuple[str, int, str, int, SynthStyle, str]) -> tuple[Record, CameraParams | None]:
    """One record of a write_lmdb job and its camera parameters (None for a pre-training word)."""
    kind, seed, split, index, style, test_camera = args
    if kind == "word":
        return make_word(seed, split, index, style), None
    return capture_pair(seed, split, index, style, test_camera)


def warm_caches() -> None:
    """Load the fonts, photographs and words once (cached per process)."""
    from .backgrounds import photos
    from .fonts import font_paths
    from .words import vocabulary

    font_paths(), photos(), vocabulary()


def write_lmdb(
    path: Path,
    kind: str,
    seed: int,
    split: str,
    n: int,
    workers: int = 1,
    keep: list | None = None,
    style: str | SynthStyle | None = None,
    test_camera: str = "course",
) -> None:
    """Write n records of a split as an LMDB at path (keys 1-based, num-samples last).

    keep, when given, receives (record, camera parameters) of each record, in order.
    """
    from tqdm.auto import tqdm

    path.mkdir(parents=True, exist_ok=True)
    per_record = 12_000 if kind == "pair" else 8_000
    env = lmdb.open(str(path), map_size=max(1 << 26, 4 * per_record * n), subdir=True, meminit=False)
    jobs = [(kind, seed, split, i, get_style(style), test_camera) for i in range(n)]
    warm_caches()  # forked workers inherit the font list, photographs and word list
    pool = get_context("fork").Pool(workers) if workers > 1 and n >= 64 else None
    try:
        it = pool.imap(_make, jobs, chunksize=16) if pool else map(_make, jobs)
        txn = env.begin(write=True)
        for i, (rec, params) in enumerate(tqdm(it, total=n, desc=f"{split:>8}", leave=False, mininterval=0.5), 1):
            for key, val in rec.items():
                txn.put(f"{key}-{i:09d}".encode(), val)
            if keep is not None:
                keep.append((rec, params))
            if i % 1000 == 0:
                txn.commit()
                txn = env.begin(write=True)
        txn.put(b"num-samples", str(n).encode())
        txn.commit()
    finally:
        if pool:
            pool.close()
            pool.join()
        env.sync()
        env.close()


def split_quality(pairs: list[tuple[Record, CameraParams]]) -> dict[str, dict[str, float]]:
    """Mean PSNR / SSIM of a split's (record, params): "bicubic" LR -> HR and the "ceiling" (quality.py)."""
    from .transforms import decode_image

    hr_images = [decode_image(r["image_hr"]) for r, _ in pairs]
    hr = torch.stack([hr_tensor(im) for im in hr_images])
    lr = torch.stack([lr_tensor(decode_image(r["image_lr"])) for r, _ in pairs])
    return {
        "bicubic": mean_quality(*bicubic_baseline(hr, lr)),
        "ceiling": mean_quality(*ceiling_quality(hr_images, [p for _, p in pairs])),
    }


def generate(
    out: str | os.PathLike,
    sizes: dict[str, int],
    seed: int = 0,
    workers: int = 1,
    verbose: bool = True,
    style: str | SynthStyle | None = None,
    test_camera: str = "course",
) -> dict:
    """Write the whole synthetic ROOT at `out` (which must not exist yet); returns its stats.

    test_camera: the camera of the test splits ("course", or "heldout" for a test-only set; camera.py)."""
    out, style = Path(out), get_style(style)
    if test_camera not in CAMERAS:
        raise ValueError(f"unknown camera {test_camera!r}; choose one of {CAMERAS}")
    if out.exists():
        raise FileExistsError(f"{out} exists; generate into a new folder (ensure_data does it safely)")
    missing = [k for k in (*TRAIN_SPLITS, *TEST_SPLITS, "pretrain") if k not in sizes]
    if missing:
        raise KeyError(f"sizes lacks {missing}; expected keys train1, train2, easy, medium, hard, pretrain")
    t0 = time.time()
    stats: dict[str, dict] = {"bicubic": {}, "ceiling": {}}
    for split in (*TRAIN_SPLITS, *TEST_SPLITS):
        keep: list | None = [] if split in TEST_SPLITS else None
        write_lmdb(split_dir(out, split), "pair", seed, split, int(sizes[split]), workers, keep, style, test_camera)
        if keep:
            for kind, q in split_quality(keep).items():
                stats[kind][split] = q
    write_lmdb(pretrain_dir(out) / "synth", "word", seed, "pretrain", int(sizes["pretrain"]), workers, None, style)
    info = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "style": style.as_dict(),
        "test_camera": test_camera,
        "sizes": {k: int(v) for k, v in sizes.items()},
        **stats,
        "seconds": round(time.time() - t0, 1),
    }
    (out / MARKER).write_text(json.dumps(info, indent=1))
    if verbose:
        print(quality_table(stats))
        print(f"wrote {out} in {info['seconds']} s")
    return info


def quality_table(stats: dict[str, dict]) -> str:
    """Per test split: bicubic and ceiling PSNR / SSIM, beside real TextZoom's bicubic and the release PSNR."""
    nan = float("nan")
    lines = [
        "split    n     bicubic PSNR  SSIM     ceiling PSNR  SSIM     "
        "(real TextZoom: bicubic PSNR / SSIM, release model PSNR)"
    ]
    for split, b in stats["bicubic"].items():
        c = stats["ceiling"][split]
        rp, rs = REAL_TEXTZOOM.get(split, (nan, nan))
        lines.append(
            f"{split:<8} {b['n']:<5} {b['psnr']:>12.2f}  {b['ssim']:.4f}   {c['psnr']:>12.2f}  "
            f"{c['ssim']:.4f}   ({rp:.2f} / {rs:.3f}, {RELEASE_PSNR.get(split, nan):.2f})"
        )
    return "\n".join(lines)


def read_marker(root: Path) -> dict | None:
    """The synth.json of a set this generator made, or None (no marker, or not readable)."""
    try:
        info = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def is_complete(
    root: Path, sizes: dict, seed: int, style: str | SynthStyle | None = None, test_camera: str = "course"
) -> bool:
    """True when root holds a finished synthetic set made with these sizes, seed, style and test camera."""
    info = read_marker(root)
    return info is not None and (
        info.get("format_version") == FORMAT_VERSION
        and info.get("seed") == seed
        and info.get("test_camera") == test_camera
        and info.get("style") == get_style(style).as_dict()
        and info.get("sizes") == {k: int(v) for k, v in sizes.items()}
    )


def missing_parts(root: Path) -> list[Path]:
    """The LMDB folders a data ROOT lacks (TextZoom splits and at least one pre-training LMDB)."""
    need = [split_dir(root, s) for s in (*TRAIN_SPLITS, *TEST_SPLITS)]
    out = [p for p in need if not (p / "data.mdb").is_file()]
    if not pretrain_dir(root).is_dir() or not find_lmdbs(pretrain_dir(root)):
        out.append(pretrain_dir(root))
    return out


def only_generated(root: Path) -> bool:
    """True when every entry of root is one the generator writes (so replacing root loses nothing else)."""
    info = read_marker(root)
    if info is None:
        return False
    ours = {MARKER, "textzoom", "pretrain"}
    if any(p.name not in ours for p in root.iterdir()):
        return False
    expected = {split_dir(root, s) for s in (*TRAIN_SPLITS, *TEST_SPLITS)} | {pretrain_dir(root) / "synth"}
    for top in (root / "textzoom", root / "pretrain"):
        for p in top.rglob("*") if top.is_dir() else []:
            if p.is_file() and (p.parent not in expected or p.name not in ("data.mdb", "lock.mdb")):
                return False
    return True


def remove_stale_generations(root: Path) -> list[Path]:
    """Delete ROOT.tmp-<pid> / ROOT.old-<pid> folders that an interrupted generator (a dead pid) left."""
    gone = []
    for p in root.parent.glob(f"{root.name}.tmp-*") if root.parent.is_dir() else []:
        pid = p.name.rsplit("-", 1)[-1]
        if p.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            gone.append(p)
    return gone


def make_command(root: Path, sizes: dict, seed: int, style: SynthStyle, test_camera: str = "course") -> str:
    """The command that writes a synthetic set with these settings."""
    extra = " ".join(f"--size {k}={v}" for k, v in sizes.items())
    cam = f" --test-camera {test_camera}" if test_camera != "course" else ""
    return f"python -m stirer_lib.data.synth --out {root} --seed {seed} --style {style.name}{cam} {extra}"


def ensure_data(
    root: str | os.PathLike,
    synthetic: bool,
    sizes: dict[str, int],
    seed: int = 0,
    workers: int | None = None,
    style: str | SynthStyle | None = None,
    replace_outdated: bool = True,
    test_camera: str = "course",
) -> Path:
    """Make sure data ROOT exists: generate it when synthetic and missing, else explain how to get it.

    Generation writes to ROOT.tmp-<pid> and renames it to ROOT when finished, so an interrupted
    run never leaves a half set that looks complete. A user's data is never deleted or rewritten:
    an existing ROOT is replaced only when it is a synthetic set this generator made (its marker
    synth.json) with other settings AND holds nothing else; otherwise a mismatch is reported (with
    the command that makes a matching set) and a complete data ROOT is used as it is.
    replace_outdated=False (a folder the user named with --data): never regenerated in place either.
    """
    root, style = Path(root), get_style(style)
    if not synthetic:
        missing = missing_parts(root)
        if missing:
            raise DataError(
                f"real data missing under {root}: "
                + ", ".join(str(p) for p in missing)
                + ". Get TextZoom (github.com/JasonBoy1/TextZoom) and the MJSynth / SynthText LMDBs "
                "(github.com/clovaai/deep-text-recognition-benchmark, data_lmdb_release/training/MJ and ST) "
                "and place them as data/README.md, section 'Real data', says; or use a synthetic profile "
                "(smoke, cpu, gpu)."
            )
        return root
    if is_complete(root, sizes, seed, style, test_camera):
        return root
    if root.exists() and not (replace_outdated and only_generated(root)):
        if root.is_dir() and not missing_parts(root):
            if read_marker(root) is not None:
                print(
                    f"note: {root} is a synthetic set made with other settings than this profile's (or holds "
                    f"other files too); using it as it is. A matching set: "
                    f"{make_command(root.with_name(root.name + '-new'), sizes, seed, style, test_camera)}",
                    flush=True,
                )
            return root  # a complete data ROOT of the user's: used as it is, never rewritten
        raise DataError(
            f"{root} exists but is not a complete data ROOT (missing: "
            f"{', '.join(str(p) for p in missing_parts(root)) or 'its LMDBs'}) and was not made by "
            f"the generator, so it is left alone. Pass another --data folder, or make a synthetic "
            f"set elsewhere: {make_command(root.with_name(root.name + '-synth'), sizes, seed, style, test_camera)}"
        )
    remove_stale_generations(root)
    tmp = root.parent / f"{root.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)  # our own leftover (this pid)
    root.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"generating synthetic data at {root} (style {style.name}, test camera {test_camera}, seed {seed}, sizes "
        f"{', '.join(f'{k} {v}' for k, v in sizes.items())}) ...",
        flush=True,
    )
    try:
        generate(tmp, sizes, seed, workers=workers or default_workers(), style=style, test_camera=test_camera)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if is_complete(root, sizes, seed, style, test_camera):  # another process finished the same set meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
        return root
    if root.exists():  # an outdated set the generator made, holding nothing else: replace it
        old = root.parent / f"{root.name}.old-{os.getpid()}"
        root.rename(old)
        tmp.rename(root)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(root)
    return root


def default_workers() -> int:
    """Two processes when the machine has at least two cores, else one."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def _main(argv: list[str] | None = None) -> int:
    """The command line (see the module docstring); a command line reads the course's profiles (docs/DESIGN.md 6a)."""
    from ..course.profiles import PROFILE_NAMES, add_profile_argument, default_profile, get_profile

    ap = argparse.ArgumentParser(prog="python -m stirer_lib.data.synth", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the data ROOT to write (must not exist)")
    add_profile_argument(ap)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--style", default=None, choices=tuple(STYLES), help="word / font / background variety (default: the profile's)"
    )
    ap.add_argument(
        "--test-camera",
        default="course",
        choices=CAMERAS,
        help="the camera of the test splits (camera.py): course, or heldout for a test-only set",
    )
    ap.add_argument("--workers", type=int, default=default_workers(), help="generator processes (same bytes)")
    ap.add_argument("--size", action="append", default=[], metavar="SPLIT=N", help="override one split's size")
    a = ap.parse_args(argv)
    prof = get_profile(a.profile or default_profile())
    if not prof.data.synthetic:
        raise DataError(
            f"profile {prof.name} uses real data (data.synthetic = false): nothing to generate; "
            f"choose a synthetic profile ({', '.join(n for n in PROFILE_NAMES if get_profile(n).data.synthetic)})"
        )
    sizes, style = dict(prof.data.sizes), a.style or prof.data.style
    for item in a.size:
        k, _, v = item.partition("=")
        if k not in sizes or not v.isdigit():
            raise DataError(f"--size {item!r}: expected SPLIT=N with SPLIT in {sorted(sizes)} and N a whole number")
        sizes[k] = int(v)
    if a.workers < 1:
        raise DataError(f"--workers {a.workers}: give at least 1")
    out = Path(a.out)
    if out.exists():
        raise DataError(f"{out} exists; choose a new folder (the generator never writes into an existing one)")
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        generate(tmp, sizes, a.seed, workers=a.workers, style=style, test_camera=a.test_camera)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    tmp.rename(out)
    print(f"done: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
