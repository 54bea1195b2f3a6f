"""Course profiles (smoke, cpu, gpu, paper): one typed place that says how big each run is.

A profile is a `Profile` of one dataclass per section: `data` (where the data lives, how much
synthetic data to generate), `model` (which STIRER configuration), `crnn` (the baseline of
notebook 02), `pretrain` / `finetune` (the trainer), `eval`, `course` (the papermill runner).
The defaults are the dataclasses' own (the smoke profile); each other profile lists only what
it changes. Every notebook reads its profile name and overrides from its `parameters` cell; the
command-line tools take `--profile` and `--set key=value`, and every value is parsed to its
field's type (`pretrain.max_steps=abc` or `pretrain.amp=flase` are refused with a SettingError
that names the key, the value and the type).
"""
from __future__ import annotations

import ast
import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from ..data.synth import SYNTH_SIZES
from ..errors import SettingError
from ..training.settings import CrnnSettings, StageSettings

PROFILE_NAMES = ("smoke", "cpu", "cpu-long", "gpu", "paper")


@dataclass
class DataSettings:
    """Where the data lives; for synthetic data, how much to generate and in which style."""

    root: str = "data/synth/{profile}"  # ROOT holds textzoom/{train1,train2,test/{easy,medium,hard}}, pretrain/
    synthetic: bool = True  # generate ROOT with stirer_lib.data.synth when it is missing
    seed: int = 0  # the generator's seed (the data), not the run's
    style: str = "lesson"  # "lesson" (1,000 words, plain fonts: learnable on a CPU) or "full" (TextZoom-like)
    num_workers: int = 0  # DataLoader workers
    sizes: dict[str, int] = field(default_factory=lambda: dict(SYNTH_SIZES["smoke"]))


@dataclass
class ModelSettings:
    """Which STIRER configuration: "small" (CPU lessons) or "release" (the paper's), with field overrides."""

    config: str = "small"
    overrides: dict[str, Any] = field(default_factory=dict)  # StirerConfig fields


@dataclass
class EvalSettings:
    """The evaluation of notebook 06 (and notebook 02's CRNN gap)."""

    batch_size: int = 32
    max_images: int | None = None  # per test split; None: all
    # out of distribution (notebook 06): a synthetic test set in the "full" style (TextZoom-like words and
    # fonts the lesson-style model never saw), generated from data.seed; 0 images: no such evaluation
    ood_root: str = ""  # "": ROOT-ood beside the data root
    ood_images: int = 24  # per test split
    # held-out camera (notebook 06): lesson-style test splits captured by a camera the training data never uses
    # (camera.py "heldout": motion blur, Lanczos / Hamming sampling, shot noise, WebP, rotation); 0: none
    heldout_root: str = ""  # "": ROOT-heldout beside the data root
    heldout_images: int = 24  # per test split


@dataclass
class CourseSettings:
    """The papermill runner."""

    cell_timeout_s: int = 600
    interactive: bool = False


@dataclass
class Profile:
    """All settings of one course run."""

    name: str = "smoke"
    run_dir: str = "runs/{profile}"
    seed: int = 0  # the run's seed (model init, data order, dropout)
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    crnn: CrnnSettings = field(default_factory=CrnnSettings)
    pretrain: StageSettings = field(default_factory=StageSettings)
    finetune: StageSettings = field(default_factory=lambda: StageSettings(lr=5e-5, lr_sr=1e-3))
    eval: EvalSettings = field(default_factory=EvalSettings)
    course: CourseSettings = field(default_factory=CourseSettings)
    device: str = "cpu"  # set by session.start

    def stage(self, name: str) -> StageSettings:
        """The pretrain or finetune section."""
        if name not in ("pretrain", "finetune"):
            raise ValueError(f"unknown stage {name!r}; choose pretrain or finetune")
        return getattr(self, name)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints, JSON and notebooks' printouts)."""
        return dataclasses.asdict(self)


# What each profile changes, as dotted keys (the same keys --set takes).
_CHANGES: dict[str, dict[str, Any]] = {
    "smoke": {},
    "cpu": {
        "data.sizes": dict(SYNTH_SIZES["cpu"]), "data.num_workers": 1,
        # CRNN: half the channels (0.28 s a step of 32 on 2 cores instead of 1 s) and Adam's beta1 0.5
        # (crnn.pytorch's), which leaves CTC's all-blank plateau after about 300 steps instead of 600
        # (README, "Measured": 84.5 % of the easy HR words after 1,500 steps)
        "crnn.max_steps": 1500, "crnn.batch_size": 32, "crnn.eval_every": 300, "crnn.log_every": 10,
        "crnn.width": 0.5, "crnn.hidden": 128, "crnn.beta1": 0.5,
        # the small model without dropout / drop-path (they only slow a short run down); the T5 with
        # transformers' init and the STR decoder at lr_str 5e-4 (README, "The T5 in a short run"); every
        # SR output added to the bicubic upsampling (sr_residual: it starts at interpolation); without the
        # Bi-GRU blocks (Table 3's "w/o Bi-GRU"): their loops took 60 % of a step of 8 on 2 cores, and the
        # same minutes buy 2.7 x the steps (README, "Measured")
        "model.overrides": {"drop_path_rate": 0.0, "t5_dropout": 0.0, "t5_init": "t5", "sr_residual": True,
                            "use_bigru": False},
        # lr 2e-3 / 1e-3, not the paper's 1e-4 at batch 256 for 8 epochs: a short run needs large steps.
        # best_by "last": on 100 images per split the best-accuracy pick is noise
        # pretraining at a constant rate after a warm-up (with the Bi-GRU the CTC heads left their all-blank plateau
        # after about 800 steps of 8 at 2e-3, and a decaying rate kept them there; without it they stay near it in
        # this budget), fine-tuning with a cosine to 0 (a short run ends with small steps; README, "Measured")
        **{f"pretrain.{k}": v for k, v in dict(max_steps=1600, eval_every=800, ckpt_every=200, lr=2e-3, lr_sr=2e-3,
                                                lr_str=5e-4, log_every=20, eval_max_images=100, best_by="last",
                                                schedule="constant", warmup_steps=50).items()},
        **{f"finetune.{k}": v for k, v in dict(max_steps=2000, eval_every=1000, ckpt_every=200, lr=1e-3, lr_sr=1e-3,
                                                lr_str=5e-4, log_every=20, eval_max_images=100, best_by="last",
                                                schedule="cosine", warmup_steps=50).items()},
        "eval.batch_size": 64, "eval.ood_images": 300, "eval.heldout_images": 300, "course.cell_timeout_s": 3600,
    },
    # the long lesson run the maintainers train for hours and ship in reference/cpu-long/ (docs/EXPERIMENTS.md, "The long
    # lesson model (cpu-long)"): the cpu profile's data style and CRNN, with the Bi-GRU blocks (the mini CTC decoders leave
    # their plateau with them), the release's width (48 channels: a 32-channel SR path levels off near +0.7 dB),
    # a pretraining set twice the cpu one, and a cosine schedule over many more steps
    "cpu-long": {
        "data.sizes": dict(SYNTH_SIZES["cpu-long"]), "data.num_workers": 1,
        # the CRNN sees its 40,000 words 2.4 times, as the cpu profile's sees its 20,000 (docs/EXPERIMENTS.md)
        "crnn.max_steps": 3000, "crnn.batch_size": 32, "crnn.eval_every": 300, "crnn.log_every": 10,
        "crnn.width": 0.5, "crnn.hidden": 128, "crnn.beta1": 0.5,
        "model.overrides": {"drop_path_rate": 0.0, "t5_dropout": 0.0, "t5_init": "t5", "sr_residual": True,
                            "embed_dim": 48},
        **{f"pretrain.{k}": v for k, v in dict(max_steps=3500, eval_every=500, ckpt_every=250, lr=2e-3, lr_sr=2e-3,
                                                lr_str=5e-4, log_every=25, eval_max_images=100, best_by="last",
                                                schedule="cosine", warmup_steps=100).items()},
        **{f"finetune.{k}": v for k, v in dict(max_steps=6000, eval_every=500, ckpt_every=250, lr=1e-3, lr_sr=1e-3,
                                                lr_str=5e-4, log_every=25, eval_max_images=100, best_by="last",
                                                schedule="cosine", warmup_steps=50).items()},
        "eval.batch_size": 64, "eval.ood_images": 300, "eval.heldout_images": 300,
        "course.cell_timeout_s": 12 * 3600,
    },
    "gpu": {
        "data.style": "full", "data.sizes": dict(SYNTH_SIZES["gpu"]), "data.num_workers": 8,
        "model.config": "release",
        "crnn.max_steps": 20000, "crnn.batch_size": 256, "crnn.eval_every": 2000, "crnn.log_every": 50,
        **{f"pretrain.{k}": v for k, v in dict(max_steps=40000, batch_size=256, eval_every=2000, ckpt_every=1000,
                                                log_every=50).items()},
        **{f"finetune.{k}": v for k, v in dict(max_steps=20000, batch_size=64, eval_every=1000, ckpt_every=1000,
                                                log_every=50).items()},
        "eval.batch_size": 256, "course.cell_timeout_s": 6 * 3600,
    },
    "paper": {
        "data.root": "data", "data.synthetic": False, "data.num_workers": 8,
        "model.config": "release",
        "crnn.max_steps": 0,  # use the released ckpt/crnn.pth
        **{f"pretrain.{k}": v for k, v in dict(max_steps=None, epochs=8, batch_size=256, eval_every=5000,
                                                ckpt_every=1000, log_every=50).items()},
        **{f"finetune.{k}": v for k, v in dict(max_steps=None, epochs=500, batch_size=48, eval_every=1000,
                                                ckpt_every=1000, log_every=50).items()},
        "eval.batch_size": 256, "course.cell_timeout_s": 7 * 24 * 3600,
    },
}


# ----------------------------------------------------------------------------- typed --set values

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


_TYPE_WORDS = {int: "a whole number (int)", float: "a number (float)", bool: "true or false (bool)",
               str: "a text (str)", dict: "a Python dict literal such as {'a': 1}"}


def _type_name(tp: Any) -> str:
    """How a --set error names the expected type."""
    base = typing.get_origin(tp) or tp
    return _TYPE_WORDS.get(base, getattr(tp, "__name__", None) or str(tp).replace("typing.", ""))


def parse_value(text: Any, tp: Any, key: str) -> Any:
    """`text` (a --set string, or a Python value) as type `tp`; a SettingError names key, value and type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (text is None or (isinstance(text, str) and text.strip().lower() in ("none", "null",
                                                                                                         ""))):
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(text, inner[0], key) if len(inner) == 1 else text
    bad = SettingError(f"{key}={text!r}: expected {_type_name(tp)}; fix the value of --set {key}")
    if tp is bool:
        if isinstance(text, bool):
            return text
        if isinstance(text, str) and text.strip().lower() in _TRUE | _FALSE:
            return text.strip().lower() in _TRUE
        raise bad
    if tp is int:
        if isinstance(text, bool):
            raise bad
        if isinstance(text, int):
            return text
        if isinstance(text, float) and text.is_integer():
            return int(text)
        try:
            value = float(str(text).replace("_", "")) if isinstance(text, str) else None
        except ValueError:
            raise bad from None
        if value is None or not value.is_integer():
            raise bad
        return int(value)
    if tp is float:
        if isinstance(text, bool):
            raise bad
        try:
            return float(text)
        except (TypeError, ValueError):
            raise bad from None
    if tp is str:
        if not isinstance(text, str):
            raise bad
        return text
    if origin is dict or tp is dict:
        if isinstance(text, dict):
            return dict(text)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise bad from None
        if not isinstance(value, dict):
            raise bad
        return value
    return text


def _literal(text: Any) -> Any:
    """A value inside a free-form dict (model.overrides.*): a Python literal, else the string itself."""
    if not isinstance(text, str):
        return text
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def set_value(prof: Profile, key: str, text: Any) -> None:
    """Set dotted `key` (section.field, or section.dictfield.entry) of prof to `text`, parsed to its type."""
    parts = key.strip().split(".")
    node: Any = prof
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if dataclasses.is_dataclass(node):
            hints = typing.get_type_hints(type(node))
            if part not in hints:
                where = ".".join(parts[:i]) or "the profile"
                known = sorted(f.name for f in dataclasses.fields(node))
                raise SettingError(f"unknown setting {key!r}: {where} has no {part!r}; known here: {known}")
            if last:
                setattr(node, part, parse_value(text, hints[part], key))
                return
            child = getattr(node, part)
            if isinstance(child, dict) and i == len(parts) - 2:
                entry = parts[-1]
                if part == "sizes":
                    if entry not in child:
                        raise SettingError(f"unknown setting {key!r}: {'.'.join(parts[:-1])} has {sorted(child)}")
                    child[entry] = parse_value(text, int, key)
                else:
                    child[entry] = _literal(text)
                return
            if not (dataclasses.is_dataclass(child)):
                raise SettingError(f"unknown setting {key!r}: {'.'.join(parts[:i + 1])} is a value, not a section")
            node = child


def parse_overrides(overrides: dict[str, Any] | list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """["a.b=1", ...] or {"a.b": 1} -> {"a.b": value}; a string without '=' is a SettingError."""
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    pairs = {}
    for item in overrides:
        if "=" not in item:
            raise SettingError(f"--set {item!r} is not KEY=VALUE (e.g. --set pretrain.max_steps=10)")
        k, v = item.split("=", 1)
        pairs[k.strip()] = v.strip()
    return pairs


def apply_overrides(prof: Profile, overrides: dict[str, Any] | list[str] | None) -> Profile:
    """A copy of prof with dotted overrides set (each parsed to its field's type)."""
    prof = copy.deepcopy(prof)
    for key, value in parse_overrides(overrides).items():
        set_value(prof, key, value)
    return prof


def get_profile(name: str, overrides: dict[str, Any] | list[str] | None = None) -> Profile:
    """The settings of profile `name` ('smoke', 'cpu', 'gpu', 'paper') with dotted overrides."""
    if name not in PROFILE_NAMES:
        raise SettingError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    prof = Profile(name=name)
    for key, value in _CHANGES[name].items():
        set_value(prof, key, value)
    prof = apply_overrides(prof, overrides)
    prof.run_dir = prof.run_dir.format(profile=name)
    prof.data.root = prof.data.root.format(profile=name)
    for stage in ("pretrain", "finetune"):
        try:
            prof.stage(stage).check(stage)
        except ValueError as err:
            raise SettingError(str(err)) from None
    return prof


def default_profile() -> str:
    """'gpu' when CUDA is available, else 'cpu' (the profile that fits a laptop)."""
    import torch
    return "gpu" if torch.cuda.is_available() else "cpu"
