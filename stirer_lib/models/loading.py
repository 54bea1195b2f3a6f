"""STIRER checkpoints: our checkpoint dict, and loading weights strictly (ours and the official ones alike).

Our checkpoint dict is {"model": state_dict in the official key layout, "config": StirerConfig.to_dict(), ...}
(`checkpoint_dict`: save_checkpoint and the trainer's last.pt / best.pt write it, with their own extra entries).
Accepted inputs to load: a path to a file; our checkpoint dict; or a plain state_dict in the official layout
(the release `STIRER_Final_Release.pth`). Files are read weights-only (stirer_lib.checkpoint.read: a file
never runs code). Floating tensors are cast to float32 (the fixtures store float16). Loading is strict: every
tensor of the file must be used and every parameter / buffer of the model set, else a CheckpointError lists
the missing and unexpected keys. `inference_only=True` builds the model without the mini decoders (the
paper's 4.03 M model) and drops exactly their keys (layers.i.{vit,fc,conv_after_body,upsample}.*), by name,
before the strict load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import atomic_save, load_strict, read, state_dict_of
from ..errors import CheckpointError, MissingCheckpointError
from .config import StirerConfig
from .stirer import STIRER, build_stirer, is_mini_decoder_key

FIT_HINT = (
    "Pass the config the checkpoint was trained with (our checkpoints store it), or --inference-only "
    "(inference_only=True) for a file without mini decoders"
)


def read_checkpoint(path_or_obj: str | os.PathLike | dict) -> tuple[dict[str, torch.Tensor], StirerConfig | None]:
    """(state_dict as float32, config or None) from a path, our checkpoint dict, or a plain state_dict."""
    source = str(path_or_obj) if isinstance(path_or_obj, (str, os.PathLike)) else "checkpoint dict"
    if isinstance(path_or_obj, (str, os.PathLike)) and not Path(path_or_obj).exists():
        raise MissingCheckpointError(
            f"STIRER checkpoint {path_or_obj} not found; train one (notebooks 04/05) or put "
            "the release at ckpt/STIRER_Final_Release.pth (see ckpt/README.md)"
        )
    obj: Any = read(path_or_obj, "STIRER checkpoint") if isinstance(path_or_obj, (str, os.PathLike)) else path_or_obj
    cfg = None
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict) and obj.get("config"):
        try:
            cfg = StirerConfig.from_dict(obj["config"])
        except (TypeError, ValueError) as err:
            raise CheckpointError(f"{source}: its stored model config is not a StirerConfig ({err})") from None
    return state_dict_of(obj, source), cfg


def load_stirer(
    path_or_state_dict: str | os.PathLike | dict,
    inference_only: bool = False,
    config: StirerConfig | None = None,
    map_location: str | torch.device = "cpu",
) -> STIRER:
    """A STIRER in eval mode with the given weights (release config unless the checkpoint says otherwise).

    inference_only: build without the mini decoders and drop their keys (the paper's 4.03 M model).
    """
    sd, stored_cfg = read_checkpoint(path_or_state_dict)
    cfg = config or stored_cfg or StirerConfig()
    if inference_only:
        cfg = cfg.replace(mini_decoders=False)
        sd = {k: v for k, v in sd.items() if not is_mini_decoder_key(k)}
    model = build_stirer(cfg)
    source = str(path_or_state_dict) if isinstance(path_or_state_dict, (str, os.PathLike)) else "state_dict"
    load_strict(model, sd, f"STIRER checkpoint {source}", FIT_HINT)
    return model.to(map_location).eval()


def checkpoint_dict(model: nn.Module, **extra: Any) -> dict[str, Any]:
    """Our checkpoint dict {"model": state_dict, "config": the model's StirerConfig as a dict, **extra}, which
    read_checkpoint / load_stirer read back ("config" None for a model without a config)."""
    cfg = getattr(model, "config", None)
    return {"model": model.state_dict(), "config": cfg.to_dict() if cfg is not None else None, **extra}


def save_checkpoint(model: STIRER, path: str | os.PathLike, **extra: Any) -> Path:
    """Write checkpoint_dict(model, **extra) atomically."""
    return atomic_save(checkpoint_dict(model, **extra), path)
