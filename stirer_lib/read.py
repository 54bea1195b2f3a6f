"""Read any word image with STIRER: `python -m stirer_lib.read --stirer CKPT IMAGE_OR_DIR...`.

Each image (PNG, JPEG, BMP, GIF, TIFF, WebP; any size and mode) is decoded, converted to RGB and
given the data pipeline's own resize + mask (stirer_lib.data.transforms.lr_tensor: PIL bicubic to
64 x 16, then the binary mask channel), so a crop is read exactly as a TextZoom LR image is.
Before `.convert("RGB")`, three things a plain `convert` gets wrong for a user's file are fixed:
the EXIF orientation of a photo is applied, transparent pixels are laid on white (as a viewer
shows them), and 16-bit / 32-bit gray is scaled to 8 bits (PIL would clip it to white).

Command line (one line per image on stdout; a skipped file is one line on stderr):

    python -m stirer_lib.read --stirer ckpt/STIRER_Final_Release.pth crops/ word.jpg \\
        --crnn ckpt/crnn.pth --out sr_images/ --json readings.json --verbose --full-model

    crops/a.png: coffee  steps: cofee | coffee | coffee | coffee  CRNN(SR): coffee
    skipped crops/notes.png: not an image (cannot identify image file)

Exit code 0 when at least one image was read; 2 when none was, or on a bad argument (a missing
or unusable checkpoint: one line, no traceback). The release loads as the 4.03 M inference-only
model (no mini decoders); --full-model keeps the mini decoders and so the per-step readings.
--out DIR writes, per image, a PNG of the bicubic LR over the SR image (x4, nearest) with the
reading; it never replaces an existing file unless --overwrite. --json F: all results (atomic).

Library:

    from stirer_lib.models import load_stirer
    from stirer_lib.read import read_images
    model = load_stirer("ckpt/STIRER_Final_Release.pth", inference_only=True)
    for r in read_images(model, ["word.png", pil_image], batch_size=64):
        print(r.source, r.text, r.steps, r.error)   # r.sr [4,32,128], r.lr [4,16,64]; r.sr_image() -> PIL
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps
from torch import nn

from .atomic_write import atomic_write_text
from .data.transforms import lr_tensor, tensor_to_pil
from .errors import CheckpointError
from .models import load_crnn, load_stirer, predictions
from .scoring import bicubic_upsample, crnn_read

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LOAD_ERRORS = (CheckpointError,)  # a file that is not a (safe, fitting) checkpoint: stirer_lib.checkpoint
VIEW_SCALE = 4  # --out images: nearest-neighbour enlargement
VIEW_GAP = 2  # gray rows between the LR and the SR image (before enlargement)
VIEW_CAPTION = 24  # caption band height in output pixels
PROGRESS_MIN = 16  # show a progress bar from this many images on


@dataclass
class ReadResult:
    """One image's reading. text: the final decoder's; steps: each step's (mini CTC decoders, then the final).

    sr [4,32,128] and lr [4,16,64] are CPU float tensors (RGB + mask; sr unclamped) or None;
    crnn_text: a CRNN's reading of the SR image; error: why the image was skipped (then no text).
    """

    source: str
    text: str | None = None
    steps: list[str] = field(default_factory=list)
    crnn_text: str | None = None
    sr: torch.Tensor | None = None
    lr: torch.Tensor | None = None
    error: str | None = None
    size: tuple[int, int] | None = None  # the original (width, height)
    mode: str | None = None  # the original PIL mode
    out: str | None = None  # where --out wrote its picture

    @property
    def ok(self) -> bool:
        """True when the image was read."""
        return self.error is None

    def sr_image(self) -> Image.Image | None:
        """The SR image as an RGB PIL image (32 x 128), or None."""
        return None if self.sr is None else tensor_to_pil(self.sr)

    def lr_image(self) -> Image.Image | None:
        """The LR input as an RGB PIL image (16 x 64), or None."""
        return None if self.lr is None else tensor_to_pil(self.lr)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (no tensors)."""
        return {
            "source": self.source,
            "text": self.text,
            "steps": self.steps,
            "crnn_text": self.crnn_text,
            "error": self.error,
            "size": list(self.size) if self.size else None,
            "mode": self.mode,
            "out": self.out,
        }


@dataclass
class _Item:
    """One input after expansion: a label, what to decode (path, PIL image or bytes), or an error."""

    source: str
    obj: Any = None
    error: str | None = None


# ---------------------------------------------------------------- inputs


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    """Image files of a folder by extension, sorted; hidden files left out."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".") and p.is_file())


def _expand_dir(folder: Path, recursive: bool) -> list[_Item]:
    """A folder's images as items, or one error item naming the folder."""
    try:
        files = _image_files(folder, recursive)
    except OSError as err:
        return [_Item(str(folder), error=f"cannot list the folder ({err.strerror or err})")]
    if files:
        return [_Item(str(p), p) for p in files]
    hint = "" if recursive else "; subfolders are not searched (--recursive)"
    return [_Item(str(folder), error=f"folder without image files ({', '.join(IMAGE_EXTS)}){hint}")]


def expand_sources(sources: Iterable[Any], recursive: bool = False) -> list[_Item]:
    """Paths (files or folders), PIL images and bytes -> items in order; folders become their sorted images."""
    items: list[_Item] = []
    for i, src in enumerate(sources):
        if isinstance(src, Image.Image):
            items.append(_Item(getattr(src, "filename", "") or f"<image {i}>", src))
        elif isinstance(src, (bytes, bytearray)):
            items.append(_Item(f"<bytes {i}>", bytes(src)))
        elif isinstance(src, (str, os.PathLike)):
            path = Path(src)
            if path.is_dir():
                items += _expand_dir(path, recursive)
            elif path.exists():
                items.append(_Item(str(path), path))
            else:
                items.append(_Item(str(path), error="no such file or folder"))
        else:
            raise TypeError(f"read_images takes paths, PIL images or bytes, got {type(src).__name__}")
    return items


def _scale_wide_gray(im: Image.Image) -> Image.Image:
    """16-bit / 32-bit integer or float gray -> 8-bit 'L' (PIL's own convert clips these to white)."""
    a = np.asarray(im, dtype=np.float64)
    if im.mode == "F":
        a = a * 255.0 if a.size and a.max() <= 1.0 else a
    elif im.mode.startswith("I;16") or (a.size and a.max() > 255):
        a = a / 257.0
    return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8), "L")


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL image -> RGB as a viewer shows it: EXIF orientation, transparency on white, wide gray scaled."""
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        im = _scale_wide_gray(im)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return im.convert("RGB")


def _decode(obj: Any) -> tuple[Image.Image, tuple[int, int], str]:
    """Path / bytes / PIL image -> (RGB image, original size, original mode); raises on a bad file."""
    if isinstance(obj, Image.Image):
        return _checked_rgb(obj)
    if isinstance(obj, Path) and obj.stat().st_size == 0:
        raise _Skip("empty file (0 bytes)")
    with Image.open(io.BytesIO(obj) if isinstance(obj, bytes) else obj) as im:
        im.load()
        return _checked_rgb(im)


def _checked_rgb(im: Image.Image) -> tuple[Image.Image, tuple[int, int], str]:
    """(to_rgb(im), its size, its mode); a 0 x 0 image is skipped."""
    if im.width == 0 or im.height == 0:
        raise _Skip(f"empty image ({im.width} x {im.height})")
    return to_rgb(im), im.size, im.mode


class _Skip(Exception):
    """A file that cannot be read, with the reason to print."""


def _load_lr(item: _Item) -> tuple[torch.Tensor | None, ReadResult]:
    """(LR tensor [4,16,64] or None, a result holding the source, size, mode or the error)."""
    res = ReadResult(item.source, error=item.error)
    if item.error is not None:
        return None, res
    try:
        rgb, res.size, res.mode = _decode(item.obj)
    except _Skip as err:
        res.error = str(err)
        return None, res
    except Image.DecompressionBombError as err:
        res.error = f"image too large ({err})"
        return None, res
    except Image.UnidentifiedImageError:
        res.error = "not an image (cannot identify image file)"
        return None, res
    except Exception as err:  # noqa: BLE001 - PIL's decoders raise many types on a damaged file
        res.error = f"damaged or unsupported image ({type(err).__name__}: {_first_line(err)})"
        return None, res
    return lr_tensor(rgb), res


# ---------------------------------------------------------------- model


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _run_model(model: nn.Module, lr: torch.Tensor, crnn: nn.Module | None) -> dict[str, Any]:
    """One batch through STIRER (and the CRNN on its SR image): per-step strings, final text, SR, CRNN text."""
    device = _model_device(model)
    with torch.no_grad():
        out = model(lr.to(device))
        steps = predictions(out)
        crnn_text = None
        if crnn is not None and out.sr is not None:
            crnn_text = crnn_read(crnn, out.sr.to(_model_device(crnn)))
    n = lr.shape[0]
    per_image = [[s[i] for s in steps] for i in range(n)]
    return {
        "steps": per_image,
        "text": [p[-1] if out.text_ids is not None else None for p in per_image],
        "sr": None if out.sr is None else out.sr.float().cpu(),
        "crnn": crnn_text,
    }


def iter_read(
    model: nn.Module,
    sources: Iterable[Any],
    crnn: nn.Module | None = None,
    batch_size: int = 64,
    recursive: bool = False,
    keep_images: bool = True,
) -> Iterator[list[ReadResult]]:
    """Like read_images, one list of results per batch of (at most batch_size) inputs, in input order."""
    yield from _iter_items(model, expand_sources(sources, recursive), crnn, batch_size, keep_images)


def _iter_items(
    model: nn.Module, items: Sequence[_Item], crnn: nn.Module | None, batch_size: int, keep_images: bool
) -> Iterator[list[ReadResult]]:
    """Batches of results for expanded items, the models in eval mode meanwhile (STIRER's mode restored)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    was_training = model.training
    model.eval()
    if crnn is not None:
        crnn.eval()
    try:
        for start in range(0, len(items), batch_size):
            yield _read_batch(model, items[start : start + batch_size], crnn, keep_images)
    finally:
        model.train(was_training)


def _read_batch(
    model: nn.Module, items: Sequence[_Item], crnn: nn.Module | None, keep_images: bool
) -> list[ReadResult]:
    """Decode a batch of items, run the readable ones through the model, fill in their results."""
    loaded = [_load_lr(it) for it in items]
    good = [(lr, res) for lr, res in loaded if lr is not None]
    if good:
        lr = torch.stack([t for t, _ in good])
        out = _run_model(model, lr, crnn)
        for i, (t, res) in enumerate(good):
            res.steps, res.text = out["steps"][i], out["text"][i]
            res.crnn_text = out["crnn"][i] if out["crnn"] is not None else None
            if keep_images:
                res.lr, res.sr = t, (out["sr"][i] if out["sr"] is not None else None)
    return [res for _, res in loaded]


def read_images(
    model: nn.Module | str | os.PathLike,
    paths_or_pil: Any,
    crnn: nn.Module | None = None,
    batch_size: int = 64,
    recursive: bool = False,
    keep_images: bool = True,
) -> list[ReadResult]:
    """Read word images (paths, folders, PIL images or bytes; one or a list) -> one ReadResult each, in order.

    model: a STIRER (on its device) or a checkpoint path (loaded inference-only on the CPU). Bad
    files give a result with `error` set instead of raising; a folder without images gives one.
    """
    if isinstance(model, (str, os.PathLike)):
        model = load_stirer(model, inference_only=True)
    if isinstance(paths_or_pil, (str, os.PathLike, Image.Image, bytes, bytearray)):
        paths_or_pil = [paths_or_pil]
    return [r for batch in iter_read(model, paths_or_pil, crnn, batch_size, recursive, keep_images) for r in batch]


# ---------------------------------------------------------------- outputs


def _caption_font(size: int) -> ImageFont.ImageFont:
    """PIL's default font at a size (older Pillow: its fixed bitmap font)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def comparison_image(lr: torch.Tensor, sr: torch.Tensor, caption: str = "") -> Image.Image:
    """The bicubic-upsampled LR above the SR image (both 32 x 128), enlarged x4 (nearest), caption below."""
    up = tensor_to_pil(bicubic_upsample(lr[None].float())[0])
    top = Image.new("RGB", (up.width, up.height * 2 + VIEW_GAP), (128, 128, 128))
    top.paste(up, (0, 0))
    top.paste(tensor_to_pil(sr.float()), (0, up.height + VIEW_GAP))
    big = top.resize((top.width * VIEW_SCALE, top.height * VIEW_SCALE), Image.NEAREST)
    canvas = Image.new("RGB", (big.width, big.height + VIEW_CAPTION), (255, 255, 255))
    canvas.paste(big, (0, 0))
    ImageDraw.Draw(canvas).text((4, big.height + 4), caption, fill=(0, 0, 0), font=_caption_font(VIEW_CAPTION - 8))
    return canvas


def view_size() -> tuple[int, int]:
    """(width, height) of a comparison_image."""
    return 128 * VIEW_SCALE, (32 * 2 + VIEW_GAP) * VIEW_SCALE + VIEW_CAPTION


def plan_out_names(items: Sequence[_Item], out_dir: Path) -> dict[str, Path]:
    """source -> out_dir/<stem>_sr.png, names made unique within the run (-2, -3, ...)."""
    names: dict[str, Path] = {}
    used: set[str] = set()
    for k, it in enumerate(items):
        if it.error is not None or it.source in names:
            continue
        stem = Path(it.source).stem if isinstance(it.obj, Path) else f"image{k:04d}"
        name, n = f"{stem}_sr.png", 1
        while name in used:
            n += 1
            name = f"{stem}_sr-{n}.png"
        used.add(name)
        names[it.source] = out_dir / name
    return names


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON to path atomically (stirer_lib.checkpoint.atomic_write_text)."""
    atomic_write_text(json.dumps(obj, indent=1), path)


def format_result(res: ReadResult, verbose: bool = False) -> str:
    """One printed line: 'FILE: TEXT' (+ each step with verbose, + the CRNN's reading of SR)."""
    text = res.text if res.text is not None else "(no STR decoder)"
    line = f"{res.source}: {text if text else '(nothing read)'}"
    if verbose and len(res.steps) > 1:
        line += "  steps: " + " | ".join(s or "-" for s in res.steps)
    if res.crnn_text is not None:
        line += f"  CRNN(SR): {res.crnn_text or '-'}"
    return line


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(prog="python -m stirer_lib.read", description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files and folders of images")
    p.add_argument("--stirer", required=True, help="STIRER checkpoint: ours ({'model','config',...}) or the release")
    p.add_argument("--crnn", default=None, help="also read each SR image with this CRNN (crnn.pth or RUN/crnn/crnn.pt)")
    p.add_argument("--out", default=None, help="folder for one PNG per image: bicubic LR over SR, x4")
    p.add_argument("--overwrite", action="store_true", help="let --out replace files of the same name")
    p.add_argument("--json", default=None, help="write all results to this JSON file")
    p.add_argument("--verbose", action="store_true", help="print each step's reading (needs --full-model)")
    p.add_argument("--full-model", action="store_true", help="keep the mini decoders (per-step readings)")
    p.add_argument("--recursive", action="store_true", help="also read the images in subfolders")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None, choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _first_line(err: BaseException) -> str:
    """An exception's message cut to its first line."""
    lines = [s for s in str(err).splitlines() if s.strip()]
    more = f" (+{len(lines) - 1} lines with --verbose)" if len(lines) > 1 else ""
    return (lines[0] if lines else type(err).__name__) + more


def _check_args(args: argparse.Namespace) -> str | None:
    """The first problem with the arguments (before any loading), or None."""
    for flag, path in (("--stirer", args.stirer), ("--crnn", args.crnn)):
        if path is not None and not Path(path).is_file():
            return f"{flag} {path}: no such file"
    if args.batch_size < 1:
        return f"--batch-size must be at least 1, got {args.batch_size}"
    if args.device == "cuda" and not torch.cuda.is_available():
        return "--device cuda but CUDA is not available; use --device cpu"
    if args.json and Path(args.json).is_dir():
        return f"--json {args.json} is a folder; give a file name"
    if args.out:
        out = Path(args.out).resolve()
        if out.exists() and not out.is_dir():
            return f"--out {args.out} is a file; give a folder"
        if any(Path(p).is_dir() and Path(p).resolve() == out for p in args.inputs):
            return f"--out {args.out} is an input folder; give another folder"
    return None


def _load_models(args: argparse.Namespace, device: str) -> tuple[nn.Module | None, nn.Module | None, str | None]:
    """(STIRER (inference-only unless --full-model), the optional CRNN, None) on the device, or a one-line error."""
    flag = "--stirer"
    try:
        model = load_stirer(args.stirer, inference_only=not args.full_model, map_location=device)
        flag = "--crnn"
        crnn = load_crnn(args.crnn, map_location="cpu").to(device) if args.crnn else None
    except LOAD_ERRORS as err:
        if args.verbose:
            print(str(err), file=sys.stderr)
        hint = " (a file without mini decoders: drop --full-model)" if flag == "--stirer" and args.full_model else ""
        return None, None, f"{flag} {getattr(args, flag[2:])}: not a usable checkpoint ({_first_line(err)}){hint}"
    return model, crnn, None


def _out_clash(names: dict[str, Path]) -> str | None:
    """A one-line refusal when a planned --out file already exists."""
    taken = [p for p in names.values() if p.exists()]
    if not taken:
        return None
    more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
    return f"--out {taken[0].parent} already holds {taken[0].name}{more}; pass --overwrite or another --out"


def _save_view(res: ReadResult, path: Path) -> None:
    """Write the comparison PNG of a read result; one stderr line when it cannot."""
    if res.sr is None or res.lr is None:
        print(f"no picture for {res.source}: the model has no STISR decoder", file=sys.stderr)
        return
    try:
        comparison_image(res.lr, res.sr, f"LR bicubic / SR: {res.text or ''}").save(path)
        res.out = str(path)
    except OSError as err:
        print(f"could not write {path}: {err.strerror or err}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, read every image, print / save; exit 0 if any image was read, else 2."""
    args = build_parser().parse_args(argv)
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, crnn, problem = _load_models(args, device)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.verbose and not model.config.mini_decoders:
        print("note: per-step readings need --full-model (a checkpoint with mini decoders)", file=sys.stderr)
    return _read_all(args, model, crnn, device)


def _read_all(args: argparse.Namespace, model: nn.Module, crnn: nn.Module | None, device: str) -> int:
    """Expand the inputs, read them batch by batch, print, write --out / --json; the exit code."""
    from tqdm import tqdm

    items = expand_sources(args.inputs, args.recursive)
    out_dir = Path(args.out) if args.out else None
    names = plan_out_names(items, out_dir) if out_dir else {}
    clash = None if args.overwrite else _out_clash(names)
    if clash:
        print(f"error: {clash}", file=sys.stderr)
        return 2
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    n_read = 0
    bar = tqdm(total=len(items), unit="img", file=sys.stderr, disable=args.no_progress or len(items) < PROGRESS_MIN)
    for batch in _iter_items(model, items, crnn, args.batch_size, keep_images=out_dir is not None):
        for res in batch:
            if res.ok:
                n_read += 1
                if out_dir:
                    _save_view(res, names[res.source])
                tqdm.write(format_result(res, args.verbose), file=sys.stdout)
            else:
                tqdm.write(f"skipped {res.source}: {res.error}", file=sys.stderr)
            res.sr = res.lr = None
            results.append(res.to_dict())
        bar.update(len(batch))
    bar.close()
    if args.json:
        meta = {
            "stirer": str(args.stirer),
            "crnn": args.crnn,
            "device": device,
            "full_model": args.full_model,
            "config": model.config.to_dict(),
            "read": n_read,
            "skipped": len(results) - n_read,
        }
        write_json_atomic(Path(args.json), {"meta": meta, "results": results})
    if n_read == 0:
        print("error: no image could be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
