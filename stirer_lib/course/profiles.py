"""Course profiles (DESIGN.md section 7): one place that says how big each run is.

Every notebook reads its profile name and overrides from its `parameters` cell and calls
`get_profile`; the command-line entry points take `--profile` and `--set key=value`.
Sections: `data` (where the data lives and how much synthetic data to generate), `crnn`
(the baseline of notebook 02), `model` (which STIRER configuration), `pretrain` and
`finetune` (the trainer), `eval`, and `course` (the papermill runner).
"""
from __future__ import annotations

import ast
import copy
from typing import Any

PROFILE_NAMES = ("smoke", "cpu", "gpu", "paper")

_BASE: dict[str, Any] = {
    "data": {
        # ROOT holds textzoom/{train1,train2,test/{easy,medium,hard}} and pretrain/**/data.mdb
        "root": "data/synth/{profile}",
        "synthetic": True,  # generate ROOT with stirer_lib.data.synth when it is missing
        "seed": 0,
        # synthetic word variety (stirer_lib.data.style): "full" looks like TextZoom, "lesson" (a
        # 1,000-word vocabulary, plain fonts and backgrounds) is learnable in the minutes of a CPU run
        "style": "lesson",
        "num_workers": 0,
        "sizes": {"train1": 96, "train2": 96, "easy": 24, "medium": 24, "hard": 24, "pretrain": 384},
    },
    # config: "release" (the paper's 13.0 M model) or "small" (CPU lessons); overrides: StirerConfig fields
    "model": {"config": "small", "overrides": {}},
    "crnn": {"max_steps": 4, "batch_size": 8, "lr": 1e-3, "eval_every": 0, "log_every": 1, "grad_clip": 5.0},
    # trainer (stirer_lib.training): eval_every 0 = evaluate only at the end; the lr halves after half the steps;
    # lr_str None: the STR decoder (ViT + T5) learns at lr, as released
    "pretrain": {"max_steps": 8, "epochs": None, "batch_size": 8, "eval_every": 0, "ckpt_every": 4, "lr": 1e-4,
                 "lr_sr": 5e-4, "lr_str": None, "alpha": 0.5, "weight_decay": 0.01, "grad_clip": None, "amp": True,
                 "log_every": 2, "eval_max_images": None, "best_by": "acc_final"},
    "finetune": {"max_steps": 8, "epochs": None, "batch_size": 8, "eval_every": 0, "ckpt_every": 4, "lr": 5e-5,
                 "lr_sr": 1e-3, "lr_str": None, "alpha": 0.5, "weight_decay": 0.01, "grad_clip": None, "amp": True,
                 "log_every": 2, "eval_max_images": None, "best_by": "acc_final"},
    "eval": {"batch_size": 32, "max_images": None},
    "course": {"cell_timeout_s": 600, "interactive": False},
    "run_dir": "runs/{profile}",
}

_OVERRIDES: dict[str, dict[str, Any]] = {
    "smoke": {},
    "cpu": {
        "data": {"sizes": {"train1": 3000, "train2": 3000, "easy": 300, "medium": 300, "hard": 300,
                           "pretrain": 20000}, "num_workers": 1},
        # CRNN (about 1 s a step of 32 on 2 cores) creeps off CTC's all-blank plateau for 500 steps of
        # lesson-style words at lr 1e-3, then its loss falls quickly (2.45 at step 600, 0.84 at 1200)
        "crnn": {"max_steps": 1200, "batch_size": 32, "eval_every": 200, "log_every": 10},
        # the small model without dropout / drop-path (they only slow a short run down), batches of 8 at
        # about 0.4 s a step on 2 cores: 04 + 05 fit in 30 min. lr 2e-3 / 1e-3, not the paper's 1e-4 at
        # batch 256 for 8 epochs: a short run needs large steps (measured: see README, "Measured").
        # The T5 with transformers' init and the STR decoder at lr_str 5e-4: with the release's init and
        # the body's lr it learned word frequencies only and read 17 % where the CTC heads read 54 %
        # (README, "Measured"; stirer_lib.training.probe).
        # best_by "last": on 100 images per split the best-accuracy pick is noise (it kept step 400 of
        # 1200, 0.6 dB below the last model); fine-tuning starts from the end of pretraining
        "model": {"overrides": {"drop_path_rate": 0.0, "t5_dropout": 0.0, "t5_init": "t5"}},
        "pretrain": {"max_steps": 2000, "batch_size": 8, "eval_every": 500, "ckpt_every": 100, "lr": 2e-3,
                     "lr_sr": 2e-3, "lr_str": 5e-4, "log_every": 20, "eval_max_images": 100, "best_by": "last"},
        "finetune": {"max_steps": 1200, "batch_size": 8, "eval_every": 400, "ckpt_every": 100, "lr": 1e-3,
                     "lr_sr": 1e-3, "lr_str": 5e-4, "log_every": 20, "eval_max_images": 100, "best_by": "last"},
        "eval": {"batch_size": 64},
        "course": {"cell_timeout_s": 3600},
    },
    "gpu": {
        "data": {"style": "full",
                 "sizes": {"train1": 17367, "train2": 17367, "easy": 1619, "medium": 1411, "hard": 1343,
                           "pretrain": 300000}, "num_workers": 8},
        "model": {"config": "release"},
        "crnn": {"max_steps": 20000, "batch_size": 256, "eval_every": 2000, "log_every": 50},
        "pretrain": {"max_steps": 40000, "batch_size": 256, "eval_every": 2000, "ckpt_every": 1000, "log_every": 50},
        "finetune": {"max_steps": 20000, "batch_size": 64, "eval_every": 1000, "ckpt_every": 1000, "log_every": 50},
        "eval": {"batch_size": 256},
        "course": {"cell_timeout_s": 6 * 3600},
    },
    "paper": {
        "data": {"root": "data", "synthetic": False, "num_workers": 8},
        "model": {"config": "release"},
        "crnn": {"max_steps": 0},  # use the released ckpt/crnn.pth
        "pretrain": {"max_steps": None, "epochs": 8, "batch_size": 256, "eval_every": 5000, "ckpt_every": 1000,
                     "log_every": 50},
        "finetune": {"max_steps": None, "epochs": 500, "batch_size": 48, "eval_every": 1000, "ckpt_every": 1000,
                     "log_every": 50},
        "eval": {"batch_size": 256},
        "course": {"cell_timeout_s": 7 * 24 * 3600},
    },
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _parse_value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a plain string such as a path


def apply_overrides(profile: dict, overrides: dict[str, Any] | list[str] | None) -> dict:
    """Set dotted keys: {"pretrain.max_steps": 10} or ["pretrain.max_steps=10"]."""
    profile = copy.deepcopy(profile)
    if not overrides:
        return profile
    if isinstance(overrides, (list, tuple)):
        pairs = {}
        for item in overrides:
            if "=" not in item:
                raise ValueError(f"override {item!r} is not key=value (e.g. pretrain.max_steps=10)")
            k, v = item.split("=", 1)
            pairs[k.strip()] = _parse_value(v.strip())
        overrides = pairs
    for key, value in overrides.items():
        node, parts = profile, key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise KeyError(f"unknown profile section {p!r} in override {key!r}; sections: {sorted(profile)}")
            node = node[p]
        if parts[-1] not in node:
            raise KeyError(f"unknown profile key {key!r}; known here: {sorted(node)}")
        node[parts[-1]] = value
    return profile


def get_profile(name: str, overrides: dict[str, Any] | list[str] | None = None) -> dict:
    """The settings of profile `name` ('smoke', 'cpu', 'gpu', 'paper') with dotted overrides."""
    if name not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    prof = _merge(_BASE, _OVERRIDES[name])
    prof["name"] = name
    prof = apply_overrides(prof, overrides)
    for key in ("run_dir",):
        prof[key] = prof[key].format(profile=name)
    prof["data"]["root"] = prof["data"]["root"].format(profile=name)
    return prof


def default_profile() -> str:
    """'gpu' when CUDA is available, else 'cpu' (the profile that fits a laptop)."""
    import torch
    return "gpu" if torch.cuda.is_available() else "cpu"
