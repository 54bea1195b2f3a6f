"""What a resumable checkpoint adds to the weights: the RNG states, stored as plain data + tensors.

A checkpoint is a dict {"model": state_dict (official key layout), "config": asdict(StirerConfig),
"step", "epoch", "batch_in_epoch", "optimizer", "scheduler", "scaler", "rng" (one entry per rank:
python, numpy, torch, cuda), "stage", "profile", "total_steps", "finished", "best"}; every entry
loads with torch.load(weights_only=True). Reading, strict loading and atomic writing are
stirer_lib.checkpoint's. The data order needs no state: it is a function of (seed, epoch)
(sampler.py).
"""
from __future__ import annotations

import random

import numpy as np
import torch


def rng_state() -> dict:
    """This process's RNG states as tensors and plain data: python, numpy, torch CPU and every CUDA device."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "gauss": float(gauss)},
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(state: dict) -> None:
    """Restore what rng_state() returned."""
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
