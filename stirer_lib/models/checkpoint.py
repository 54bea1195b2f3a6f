"""Loading STIRER weights strictly: our checkpoints and the official state_dict alike.

Accepted inputs: a path to a file; our checkpoint dict {"model": state_dict, "config": dict, ...};
or a plain state_dict in the official layout (the release `STIRER_Final_Release.pth`). Floating
tensors are cast to float32 (the fixtures store float16). Loading is strict: every tensor of the
file must be used and every parameter / buffer of the model set, else a ValueError lists the
missing and unexpected keys. `inference_only=True` builds the model without the mini decoders
(the paper's 4.03 M model) and drops exactly their keys (layers.i.{vit,fc,conv_after_body,upsample}.*),
by name, before the strict load.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from .config import StirerConfig
from .stirer import STIRER, build_stirer, is_mini_decoder_key


def read_checkpoint(path_or_obj: str | os.PathLike | dict) -> tuple[dict[str, torch.Tensor], StirerConfig | None]:
    """(state_dict as float32, config or None) from a path, our checkpoint dict, or a plain state_dict."""
    obj: Any = path_or_obj
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.is_file():
            raise FileNotFoundError(f"STIRER checkpoint {path} not found; train one (notebooks 04/05) or put the "
                                    "release at ckpt/STIRER_Final_Release.pth (see ckpt/README.md)")
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(obj, dict):
        raise TypeError(f"expected a path, a checkpoint dict or a state_dict, got {type(obj).__name__}")
    cfg = None
    if "model" in obj and isinstance(obj["model"], dict):
        cfg = StirerConfig.from_dict(obj["config"]) if obj.get("config") else None
        obj = obj["model"]
    elif "state_dict" in obj and isinstance(obj["state_dict"], dict):  # e.g. the fixtures' layout
        obj = obj["state_dict"]
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise TypeError(f"not a state_dict: entries {bad[:5]} are not name -> tensor")
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}  # DataParallel
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    return sd, cfg


def load_state_dict_strict(model: torch.nn.Module, sd: dict[str, torch.Tensor]) -> None:
    """load_state_dict(strict=True) with an error that lists missing / unexpected keys and shape clashes."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shapes = sorted(f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(sd) if own[k].shape != sd[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            "checkpoint does not fit this STIRER configuration:\n"
            f"  missing keys ({len(missing)}): {missing}\n  unexpected keys ({len(unexpected)}): {unexpected}\n"
            f"  shape mismatches ({len(shapes)}): {shapes}\n"
            "Pass the config the checkpoint was trained with (our checkpoints store it) or "
            "inference_only=True for a file without mini decoders.")
    model.load_state_dict(sd, strict=True)


def load_stirer(path_or_state_dict: str | os.PathLike | dict, inference_only: bool = False,
                config: StirerConfig | None = None, map_location: str | torch.device = "cpu") -> STIRER:
    """A STIRER in eval mode with the given weights (release config unless the checkpoint says otherwise).

    inference_only: build without the mini decoders and drop their keys (the paper's 4.03 M model).
    """
    sd, stored_cfg = read_checkpoint(path_or_state_dict)
    cfg = config or stored_cfg or StirerConfig()
    if inference_only:
        cfg = cfg.replace(mini_decoders=False)
        sd = {k: v for k, v in sd.items() if not is_mini_decoder_key(k)}
    model = build_stirer(cfg)
    load_state_dict_strict(model, sd)
    return model.to(map_location).eval()


def save_checkpoint(model: STIRER, path: str | os.PathLike, **extra: Any) -> None:
    """Write our checkpoint dict {"model", "config", **extra} (official key layout)."""
    torch.save({"model": model.state_dict(), "config": model.config.to_dict(), **extra}, path)
