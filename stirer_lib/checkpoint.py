"""Checkpoint files, in one place: read safely, load strictly, save atomically, pick best else last.

- `read(path)`: torch.load with weights_only=True, so a file never runs code. A file that is not
  a checkpoint (an image, an empty or truncated file) or that holds Python objects beyond tensors
  and plain data gets a CheckpointError naming the file and what it is not.
- `state_dict_of(obj)`: the name -> tensor dict inside our checkpoints ({"model": ...}), the
  fixtures' ({"state_dict": ...}) or a plain state_dict; DataParallel's "module." stripped.
- `load_strict(model, sd)`: load_state_dict(strict=True) with the list of missing, unexpected and
  misshapen keys in the error.
- `atomic_save(obj, path)`: torch.save through stirer_lib.atomic_write (a temporary file beside the
  target, fsync, rename; a failure raises SaveError and leaves the previous file intact; Ctrl-C
  during the save is held until the file is complete).
- `best_or_last(run_dir)`: RUN/best.pt, else RUN/last.pt, else None.

The command line:
    python -m stirer_lib.checkpoint convert OLD.pt NEW.pt   # an older checkpoint of this course (numpy RNG
                                                            # states pickled as arrays) re-saved weights-only
    python -m stirer_lib.checkpoint half SRC.pt DST.pt      # the weights stored as float16 (half the bytes)
    python -m stirer_lib.checkpoint check FILE              # does it load as a safe checkpoint, and its keys
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic_write import atomic_write_bytes, hold_sigint
from .errors import CheckpointError, MissingCheckpointError, run_cli

_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"RIFF", "a RIFF (WebP/WAV) file"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
)
CONVERT_HINT = "python -m stirer_lib.checkpoint convert {path} NEW.pt"


# ----------------------------------------------------------------------------- reading


def _what_it_is(head: bytes) -> str | None:
    """'a PNG image' etc. for a file that starts like a known non-checkpoint format."""
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def read(path: str | os.PathLike, what: str = "checkpoint") -> Any:
    """torch.load(path, weights_only=True) on CPU; anything else than a safe checkpoint -> CheckpointError."""
    path = Path(path)
    if not path.exists():
        raise MissingCheckpointError(f"{what} {path} not found")
    if path.is_dir():
        raise CheckpointError(f"{what} {path} is a folder, not a checkpoint file")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise CheckpointError(f"{what} {path} is empty (0 bytes), not a checkpoint")
    kind = _what_it_is(head)
    if kind:
        raise CheckpointError(f"{what} {path} is {kind}, not a PyTorch checkpoint")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "unsupported global" in str(err).lower():  # a real pickle of Python objects beyond plain data
            raise CheckpointError(
                f"{what} {path} holds Python objects beyond tensors and plain data, and loading it could run "
                f"code, so it is refused. If it is an older checkpoint of this course, convert "
                f"it: {CONVERT_HINT.format(path=path)}"
            ) from None
        raise CheckpointError(
            f"{what} {path} is not a PyTorch checkpoint (its bytes are not a pickle that torch.save writes)"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        UnicodeDecodeError,
    ) as err:
        raise CheckpointError(
            f"{what} {path} is truncated or damaged, not a readable PyTorch checkpoint ({_first_line(err)})"
        ) from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:160]}" if text else type(err).__name__


def state_dict_of(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state_dict in one of our checkpoints, a {"state_dict": ...} file or a plain state_dict."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a state_dict or a checkpoint dict")
    if isinstance(obj.get("model"), dict):
        obj = obj["model"]
    elif isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad or not obj:
        raise CheckpointError(
            f"{source} is not a state_dict (name -> tensor) nor a checkpoint with a 'model' "
            f"state_dict; its entries include {sorted(map(str, obj))[:6]}"
        )
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel / DDP
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return {k: v.float() if v.is_floating_point() else v for k, v in obj.items()}


def _listed(keys: list[str], limit: int = 12) -> str:
    more = f" ... and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more if keys else "none"


def load_strict(
    model: torch.nn.Module, sd: dict[str, torch.Tensor], source: str = "checkpoint", hint: str = ""
) -> None:
    """model.load_state_dict(sd, strict=True); on any mismatch a CheckpointError listing the keys."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(
        f"{k} (file {tuple(sd[k].shape)}, model {tuple(own[k].shape)})"
        for k in set(own) & set(sd)
        if own[k].shape != sd[k].shape
    )
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source} does not fit this {type(model).__name__}: missing keys ({len(missing)}): {_listed(missing)}; "
            f"unexpected keys ({len(unexpected)}): {_listed(unexpected)}; other shapes ({len(shapes)}): "
            f"{_listed(shapes)}" + (f". {hint}" if hint else "")
        )
    model.load_state_dict(sd, strict=True)


def best_or_last(run_dir: str | os.PathLike) -> Path | None:
    """RUN/best.pt, else RUN/last.pt, else None."""
    return next((p for p in (Path(run_dir) / "best.pt", Path(run_dir) / "last.pt") if p.is_file()), None)


# ----------------------------------------------------------------------------- writing


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save(obj) atomically (stirer_lib.atomic_write); Ctrl-C is held from serialising to the rename."""
    with hold_sigint():
        buf = io.BytesIO()
        torch.save(obj, buf)
        return atomic_write_bytes(buf.getvalue(), path)


# ----------------------------------------------------------------------------- converting old files


def to_safe(obj: Any) -> Any:
    """Plain data + tensors only: numpy arrays -> tensors, numpy scalars -> Python, paths -> str."""
    if isinstance(obj, dict):
        return {to_safe(k): to_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_safe(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, os.PathLike):
        return str(obj)
    return obj


def _numpy_globals() -> list:
    """The numpy constructors an older checkpoint of this course needs (its RNG state as arrays)."""
    multiarray = getattr(np, "_core", np.core).multiarray
    dtypes = [type(np.dtype(t)) for t in ("uint32", "int64", "float64", "uint8")]
    return [np.ndarray, multiarray._reconstruct, np.dtype, *dtypes]


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def convert(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Re-save an older checkpoint (numpy RNG arrays) so that it loads without numpy (dst must not exist).

    Never unpickles code: only numpy's array constructors are allowed besides tensors and plain data."""
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise CheckpointError(f"{src} not found")
    if dst.exists():
        raise CheckpointError(f"{dst} exists; choose a new file name (a user's file is never overwritten)")
    allowed = _numpy_globals()
    unsafe = sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(src)) - {_qualname(g) for g in allowed})
    if unsafe:
        raise CheckpointError(
            f"{src} holds Python objects beyond tensors, plain data and numpy arrays ({unsafe[:5]}); "
            "it is not a checkpoint of this course and is not converted"
        )
    with torch.serialization.safe_globals(allowed):  # still weights-only: numpy arrays are data, never code
        obj = torch.load(src, map_location="cpu", weights_only=True)
    atomic_save(to_safe(obj), dst)
    read(dst)  # proves the result is safe
    return dst


def half(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Write src's weights with every float32 tensor stored as float16 (dst must not exist): half the bytes; a
    model loads them into its float32 parameters as before. Check the evaluation of the stored weights before
    shipping them (docs/EXPERIMENTS.md, "The long lesson model (cpu-long)")."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise CheckpointError(f"{dst} exists; choose a new file name (a user's file is never overwritten)")
    ckpt = read(src, "checkpoint")
    weights = {k: v.half() if v.dtype == torch.float32 else v for k, v in state_dict_of(ckpt, str(src)).items()}
    atomic_save({**{k: v for k, v in ckpt.items() if k not in ("model", "state_dict")}, "model": weights}, dst)
    return dst


def _main(argv: list[str] | None = None) -> int:
    """`python -m stirer_lib.checkpoint convert OLD NEW` | `half SRC DST` | `check FILE`."""
    ap = argparse.ArgumentParser(prog="python -m stirer_lib.checkpoint", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("convert", help="re-save an older checkpoint of this course so that it loads weights-only")
    c.add_argument("old")
    c.add_argument("new")
    h = sub.add_parser("half", help="write a checkpoint's weights stored as float16 to a new file")
    h.add_argument("src")
    h.add_argument("dst")
    k = sub.add_parser("check", help="say whether a file loads as a safe checkpoint, and its top-level keys")
    k.add_argument("file")
    a = ap.parse_args(argv)
    if a.cmd == "half":
        print(f"wrote {half(a.src, a.dst)} (float16 weights)")
    elif a.cmd == "convert":
        print(f"converting {a.old}: loaded weights-only, numpy arrays allowed")
        print(f"wrote {convert(a.old, a.new)}")
    else:
        obj = read(a.file)
        keys = sorted(obj)[:12] if isinstance(obj, dict) else type(obj).__name__
        print(f"{a.file}: a safe checkpoint; top-level entries: {keys}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
