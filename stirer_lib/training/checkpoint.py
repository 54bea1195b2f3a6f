"""Resumable checkpoints: atomic writes, RNG states, and loading a model's weights from any form.

A checkpoint is a dict {"model": state_dict (official key layout), "config": asdict(StirerConfig),
"step", "epoch", "batch_in_epoch", "optimizer", "scheduler", "scaler", "rng" (one entry per rank:
python, numpy, torch, cuda), "stage", "profile", "total_steps", "finished", "best"}. The data order
needs no state: it is a function of (seed, epoch) (sampler.py).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save to path.tmp-<pid>, fsync, then os.replace: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def rng_state() -> dict:
    """This process's RNG states: python, numpy, torch CPU and (when present) every CUDA device."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    """Restore what rng_state() returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load(path: str | os.PathLike) -> dict:
    """Read a checkpoint on CPU (weights_only=False: it holds RNG states and a config dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location="cpu", weights_only=False)


def model_state(obj: str | os.PathLike | dict) -> dict[str, torch.Tensor]:
    """The model state_dict from a path, one of our checkpoint dicts, or a plain state_dict."""
    if isinstance(obj, (str, os.PathLike)):
        obj = load(obj)
    if not isinstance(obj, dict):
        raise TypeError(f"expected a checkpoint path, dict or state_dict, got {type(obj).__name__}")
    if "model" in obj and isinstance(obj["model"], dict):
        return obj["model"]
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise ValueError(f"not a checkpoint: no 'model' entry and not a plain state_dict (keys: {sorted(obj)[:8]})")


def load_weights(model: torch.nn.Module, obj: str | os.PathLike | dict, source: str = "") -> None:
    """Load weights strictly; on mismatch say which keys differ and what to do."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in model_state(obj).items()}
    want = model.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    shapes = sorted(k for k in set(want) & set(state) if want[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f"checkpoint {source or '(dict)'} does not fit this model: {len(missing)} missing keys "
            f"{missing[:4]}, {len(unexpected)} unexpected {unexpected[:4]}, {len(shapes)} with other shapes "
            f"{shapes[:4]}. Is it another model configuration? Set model.config to the one it was trained with.")
    model.load_state_dict(state, strict=True)
