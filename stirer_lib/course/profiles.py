"""Course profiles (smoke, cpu, cpu-long, gpu, paper): one typed place that says how big each run is.

A profile is a `Profile` of one dataclass per section: `data` (where the data lives, how much
synthetic data to generate), `model` (which STIRER configuration and which of its fields change),
`crnn` (the baseline of notebook 02), `pretrain` / `finetune` (the trainer), `eval`, `course` (the
papermill runner). The defaults are the dataclasses' own (the smoke profile); each other profile
lists only what it changes. Every notebook reads its profile name and overrides from its
`parameters` cell; the command-line tools take `--profile` and `--set key=value`, and every value is
parsed to its field's type (`pretrain.max_steps=abc`, `pretrain.amp=flase` or `model.use_bigru=maybe`
are refused with a SettingError that names the key, the value and the type). The model section's
fields are StirerConfig's (`--set model.sr_residual=true`, `model.depths=(2,2,2)`); a dict setting is
merged entry by entry, never replaced.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import difflib
import types
import typing
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..errors import SettingError
from ..models.config import CONFIG_NAMES, StirerConfig, config_from_name
from ..training.settings import CrnnSettings, StageSettings

SMOKE_SIZES = {"train1": 96, "train2": 96, "easy": 24, "medium": 24, "hard": 24, "pretrain": 384}


@dataclass
class DataSettings:
    """Where the data lives; for synthetic data, how much to generate and in which style."""

    root: str = "data/synth/{profile}"  # ROOT holds textzoom/{train1,train2,test/{easy,medium,hard}}, pretrain/
    synthetic: bool = True  # generate ROOT with stirer_lib.data.synth when it is missing
    seed: int = 0  # the generator's seed (the data), not the run's
    style: str = "lesson"  # "lesson" (1,000 words, plain fonts: learnable on a CPU), "full": TextZoom-like (style.py)
    num_workers: int = 0  # DataLoader workers
    sizes: dict[str, int] = field(default_factory=lambda: dict(SMOKE_SIZES))  # records per split


# the StirerConfig fields a profile may set as model.<field>, with their types (StirerConfig is their one home)
MODEL_FIELDS: dict[str, Any] = {k: tp for k, tp in typing.get_type_hints(StirerConfig).items() if k != "name"}


@dataclass
class ModelSettings:
    """Which STIRER: a configuration ("small": CPU lessons, "release": the paper's) and the fields a profile changes."""

    config: str = "small"
    changes: dict[str, Any] = field(default_factory=dict)  # StirerConfig field -> value, each set as model.<field>

    def stirer_config(self) -> StirerConfig:
        """The StirerConfig these settings describe."""
        return config_from_name(self.config, **self.changes)


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
    description: str = ""  # one line: what the profile is for (notebooks print it)
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
    overrides: dict[str, Any] = field(default_factory=dict)  # the user's --set values as given, on top of the profile

    def stage(self, name: str) -> StageSettings:
        """The pretrain or finetune section."""
        if name not in ("pretrain", "finetune"):
            raise ValueError(f"unknown stage {name!r}; choose pretrain or finetune")
        return getattr(self, name)

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints, JSON and notebooks' printouts)."""
        return dataclasses.asdict(self)


def _stage(stage: str, **settings: Any) -> dict[str, Any]:
    """{"pretrain.max_steps": 3500, ...}: a stage's settings as the dotted keys of a profile's changes."""
    return {f"{stage}.{k}": v for k, v in settings.items()}


# What the lesson profiles (cpu, cpu-long) share, written once. Learning rates 2e-3 / 1e-3, not the paper's 1e-4 at
# batch 256 for 8 epochs: a short run needs large steps; best_by "last": on 100 images per split the best pick is noise.
_LESSON_PRETRAIN = dict(lr=2e-3, lr_sr=2e-3, lr_str=5e-4, eval_max_images=100, best_by="last")
_LESSON_FINETUNE = dict(lr=1e-3, lr_sr=1e-3, lr_str=5e-4, eval_max_images=100, best_by="last")
_LESSON: dict[str, Any] = {
    "data.style": "lesson",
    "data.num_workers": 1,
    # CRNN: half the channels and Adam's beta1 0.5 (crnn.pytorch's), which leaves CTC's all-blank plateau sooner
    # ("The CRNN in a short run")
    "crnn.batch_size": 32,
    "crnn.eval_every": 300,
    "crnn.log_every": 10,
    "crnn.width": 0.5,
    "crnn.hidden": 128,
    "crnn.beta1": 0.5,
    # the small model without dropout / drop-path (they only slow a short run down); the T5 with transformers' init
    # and the STR decoder at its own lr_str ("The T5 in a short run"); every SR output added to the bicubic
    # upsampling ("The SR path in a short run")
    "model.drop_path_rate": 0.0,
    "model.t5_dropout": 0.0,
    "model.t5_init": "t5",
    "model.sr_residual": True,
    "eval.batch_size": 64,
    "eval.ood_images": 300,
    "eval.heldout_images": 300,
}
_TEST_SPLITS_300 = {"easy": 300, "medium": 300, "hard": 300}
# the long runs' schedules (cpu-long, cpu-open): a cosine over many steps, evaluated every 500, saved every 250
_LONG_PRETRAIN = dict(eval_every=500, ckpt_every=250, log_every=25, schedule="cosine", warmup_steps=100)
_LONG_FINETUNE = dict(max_steps=8000, eval_every=500, ckpt_every=250, log_every=25, schedule="cosine", warmup_steps=50)

# Each profile, one record: its description and what it changes from the defaults above (the smoke profile), as the
# dotted keys --set takes; its synthetic data's style and sizes are part of it (data/synth.py --profile reads them).
# The measurements behind the cpu recipes: docs/EXPERIMENTS.md (the section named in each comment).
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {"description": "the tests' profile: tiny data, a few steps, every code path"},
    "cpu": {
        "description": "the lesson: 1,000 lesson-style words, sized for a laptop's CPU: a small STIRER pretrained "
        "briefly (notebook 04), the open-world run's stage 1 fine-tuned to the lesson (notebook 05)",
        **_LESSON,
        "data.sizes": {"train1": 3000, "train2": 3000, **_TEST_SPLITS_300, "pretrain": 20000},
        "crnn.max_steps": 1500,
        # without the Bi-GRU blocks (Table 3's "w/o Bi-GRU"), whose loops dominate a CPU step: the same minutes buy
        # more steps ("The Bi-GRU on a CPU")
        "model.use_bigru": False,
        # pretraining (notebook 04, a lesson: 600 steps) at a constant rate after a warm-up (a decaying rate kept the
        # CTC heads on their all-blank plateau); fine-tuning (notebook 05) starts from the open-world reference run's
        # stage 1 with its model, as the paper pays for stage 1 once, at its step 5,000 (of a first 6,000), before its
        # rate annealed: a converged stage 1 already reads the lesson's words as well as the half hour can teach them
        # (the lesson's own and the open run's final one gained -1.7 and +0.3 points, the step-5,000 one +9.0, ending
        # higher); its feature encoder frozen (a step costs about half), with a cosine to 0 ("Fine-tuning the long
        # run's stage 1 in the course", "A stage 1 the half hour can teach")
        **_stage(
            "pretrain",
            **_LESSON_PRETRAIN,
            max_steps=600,
            eval_every=300,
            ckpt_every=100,
            log_every=20,
            schedule="constant",
            warmup_steps=50,
        ),
        **_stage(
            "finetune",
            **_LESSON_FINETUNE,
            init="reference:cpu-open@5000",
            freeze="encoder",
            max_steps=1800,
            eval_every=900,
            ckpt_every=200,
            log_every=20,
            schedule="cosine",
            warmup_steps=50,
        ),
        "course.cell_timeout_s": 3600,
    },
    # the long lesson run the maintainers train for hours and ship in reference/cpu-long/ ("The long lesson model
    # (cpu-long)"): the cpu profile's data style and CRNN, with the Bi-GRU blocks (the mini CTC decoders leave their
    # plateau with them), the release's width (48 channels: a 32-channel SR path levels off early), a pretraining set
    # twice the cpu one, and a cosine schedule over many more steps
    "cpu-long": {
        "description": "the long lesson: the cpu profile's words with the Bi-GRU blocks and 48 channels, trained "
        "for hours",
        **_LESSON,
        "data.sizes": {"train1": 6000, "train2": 6000, **_TEST_SPLITS_300, "pretrain": 40000},
        "crnn.max_steps": 3000,  # the CRNN sees its 40,000 words as many times as the cpu profile's sees its 20,000
        "model.embed_dim": 48,
        **_stage("pretrain", **_LESSON_PRETRAIN, **_LONG_PRETRAIN, max_steps=10000),
        **_stage("finetune", **_LESSON_FINETUNE, **_LONG_FINETUNE),
        "course.cell_timeout_s": 12 * 3600,
    },
    # the open-world lesson model (issue 31, in progress; docs/EXPERIMENTS.md "The open world"): cpu-long's model and
    # stage 1 continued on full-style words (30,000 words and codes, every font, photo backgrounds) through the wide
    # camera, then on the open style (30 % random strings: "Styles for reading, not recalling"); its CRNN learns the
    # same words. Its stages ship in reference/cpu-open/ as they finish (pretrain.pt, finetune.pt, crnn.pt, logs)
    "cpu-open": {
        "description": "the open-world lesson (in progress): cpu-long's model and stage 1 continued on full-style "
        "words, fonts and backgrounds; each stage ships as it finishes, the run goes on for hours",
        **_LESSON,
        "data.style": "full",
        "data.sizes": {"train1": 6000, "train2": 6000, **_TEST_SPLITS_300, "pretrain": 80000},
        "crnn.max_steps": 6000,
        "crnn.eval_every": 500,
        "model.embed_dim": 48,
        **_stage("pretrain", **_LESSON_PRETRAIN, **_LONG_PRETRAIN, max_steps=4000, init="reference:cpu-long"),
        **_stage("finetune", **_LESSON_FINETUNE, **_LONG_FINETUNE),
        "eval.ood_images": 0,  # its out-of-distribution set is the full style it trains on: none until a new one
        "course.cell_timeout_s": 12 * 3600,
    },
    "gpu": {
        "description": "one GPU: the release model on TextZoom-like synthetic words at scale",
        "data.style": "full",
        # TextZoom's split sizes; 300,000 pretraining words
        "data.sizes": {"train1": 17367, "train2": 17367, "easy": 1619, "medium": 1411, "hard": 1343, "pretrain": 3e5},
        "data.num_workers": 8,
        "model.config": "release",
        "crnn.max_steps": 20000,
        "crnn.batch_size": 256,
        "crnn.eval_every": 2000,
        "crnn.log_every": 50,
        **_stage("pretrain", max_steps=40000, batch_size=256, eval_every=2000, ckpt_every=1000, log_every=50),
        **_stage("finetune", max_steps=20000, batch_size=64, eval_every=1000, ckpt_every=1000, log_every=50),
        "eval.batch_size": 256,
        "course.cell_timeout_s": 6 * 3600,
    },
    "paper": {
        "description": "the paper's recipe on real MJSynth + SynthText + TextZoom (under `data/`)",
        "data.root": "data",
        "data.synthetic": False,
        "data.num_workers": 8,
        "model.config": "release",
        "crnn.max_steps": 0,  # use the released ckpt/crnn.pth
        **_stage("pretrain", max_steps=None, epochs=8, batch_size=256, eval_every=5000, ckpt_every=1000, log_every=50),
        **_stage("finetune", max_steps=None, epochs=500, batch_size=48, eval_every=1000, ckpt_every=1000, log_every=50),
        "eval.batch_size": 256,
        "course.cell_timeout_s": 7 * 24 * 3600,
    },
}
PROFILE_NAMES = tuple(PROFILES)


# ----------------------------------------------------------------------------- typed --set values

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
_NONE = {"none", "null", ""}
_TYPE_WORDS = {
    int: "a whole number (int)",
    float: "a number (float)",
    bool: "true or false (bool)",
    str: "a text (str)",
    dict: "a Python dict literal such as {'a': 1}",
}
_EXAMPLES = {int: "2", float: "0.5", bool: "True"}


def _type_name(tp: Any) -> str:
    """How a --set error names the expected type."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        words = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(words + (["none"] if type(None) in args else []))
    if origin is tuple:
        n = 3 if args[-1] is Ellipsis else len(args)
        return f"a tuple ({str(tp)}) such as ({', '.join(_EXAMPLES.get(args[0], '...') for _ in range(n))})"
    return _TYPE_WORDS.get(origin or tp, getattr(tp, "__name__", str(tp)))


def _as_bool(text: Any, args: tuple) -> bool:
    """True / False, or a word of _TRUE / _FALSE (not a number: 1 for a bool is more likely a slip)."""
    if isinstance(text, bool):
        return text
    word = text.strip().lower() if isinstance(text, str) else None
    if word not in _TRUE | _FALSE:
        raise ValueError(text)
    return word in _TRUE


def _as_int(text: Any, args: tuple) -> int:
    """An int, or a whole number written as a float ("2e3", "1_000"); never a bool."""
    if isinstance(text, bool):
        raise ValueError(text)
    if isinstance(text, int):
        return text
    value = float(text.replace("_", "")) if isinstance(text, str) else text
    if not isinstance(value, float) or not value.is_integer():
        raise ValueError(text)
    return int(value)


def _as_float(text: Any, args: tuple) -> float:
    """A number; never a bool."""
    if isinstance(text, bool):
        raise ValueError(text)
    return float(text)


def _as_str(text: Any, args: tuple) -> str:
    """A text as given."""
    if not isinstance(text, str):
        raise ValueError(text)
    return text


def _literal(text: Any, kind: type | tuple[type, ...]) -> Any:
    """A Python literal of type `kind`, from a --set string or given as a value."""
    value = ast.literal_eval(text.strip()) if isinstance(text, str) else text
    if not isinstance(value, kind):
        raise ValueError(text)
    return value


def _as_dict(text: Any, args: tuple) -> dict:
    """A dict, or a dict literal."""
    return dict(_literal(text, dict))


def _as_tuple(text: Any, args: tuple) -> tuple:
    """A tuple or list (or its literal, "(2, 2, 2)" or "2,2,2") of the right length, each item of its type."""
    items = tuple(_literal(text, (tuple, list)))
    kinds = (args[0],) * len(items) if args[-1] is Ellipsis else args
    if len(kinds) != len(items):
        raise ValueError(text)
    return tuple(_parse(v, t) for v, t in zip(items, kinds))


_PARSERS = {bool: _as_bool, int: _as_int, float: _as_float, str: _as_str, dict: _as_dict, tuple: _as_tuple}


def _parse(text: Any, tp: Any) -> Any:
    """`text` as type `tp`; ValueError / TypeError / SyntaxError when it is not one."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (text is None or (isinstance(text, str) and text.strip().lower() in _NONE)):
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise RuntimeError(f"no --set parser for {tp}")
        return _parse(text, inner[0])
    if (origin or tp) not in _PARSERS:
        raise RuntimeError(f"no --set parser for {tp}")
    return _PARSERS[origin or tp](text, args)


def parse_value(text: Any, tp: Any, key: str) -> Any:
    """`text` (a --set string, or a Python value) as type `tp`; a SettingError names key, value and type."""
    try:
        return _parse(text, tp)
    except (ValueError, TypeError, SyntaxError):
        raise SettingError(f"{key}={text!r}: expected {_type_name(tp)}; fix the value of --set {key}") from None


def _merge(target: dict[str, Any], base: str, entries: dict[str, Any], tp: Any) -> None:
    """Set each entry of a dict setting (data.sizes) by its own key; an entry the dict lacks is unknown."""
    for entry, text in entries.items():
        if entry not in target:
            raise SettingError(f"unknown setting '{base}.{entry}': {base} has {sorted(target)}")
        target[entry] = parse_value(text, tp, f"{base}.{entry}")


def _set_model_field(model: ModelSettings, key: str, name: str, text: Any) -> None:
    """model.<name>: a StirerConfig field, parsed to its type and merged into the profile's model changes."""
    if name not in MODEL_FIELDS:
        near = difflib.get_close_matches(name, MODEL_FIELDS, n=1)
        raise SettingError(
            f"unknown setting {key!r}"
            + (f" (did you mean 'model.{near[0]}'?)" if near else "")
            + f": the model section has 'config' and StirerConfig's fields {sorted(MODEL_FIELDS)}"
        )
    model.changes[name] = parse_value(text, MODEL_FIELDS[name], key)


def _set_old_overrides(model: ModelSettings, key: str, rest: list[str], text: Any) -> None:
    """The old model.overrides={...} / model.overrides.<field>=v: merged field by field, with a one-line notice."""
    entries = {".".join(rest): text} if rest else parse_value(text, dict, key)
    new = ", ".join(f"model.{name}" for name in entries) or "model.<field>"
    warnings.warn(
        f"--set {key} is deprecated and goes away in the next release: set {new} instead "
        f"(merged into the profile's model fields, as model.overrides now is)",
        FutureWarning,
        stacklevel=2,
    )
    for name, value in entries.items():
        _set_model_field(model, f"model.{name}", name, value)


def _set_model(model: ModelSettings, key: str, rest: list[str], text: Any) -> None:
    """model.config ("small" or "release"), or model.<StirerConfig field>."""
    if rest == ["config"]:
        config = parse_value(text, str, key)
        if config not in CONFIG_NAMES:
            raise SettingError(f"{key}={text!r}: expected one of {', '.join(CONFIG_NAMES)}")
        model.config = config
    elif rest[0] == "overrides":
        _set_old_overrides(model, key, rest[1:], text)
    else:
        _set_model_field(model, key, ".".join(rest), text)


def _set_field(node: Any, name: str, tp: Any, path: str, rest: list[str], text: Any) -> None:
    """Set field `name` (at dotted `path`) of a section, or (rest = [entry]) one entry of a dict field; a dict is
    merged entry by entry, never replaced."""
    key = ".".join([path, *rest])
    if typing.get_origin(tp) is dict and len(rest) <= 1:
        entries = {rest[0]: text} if rest else parse_value(text, dict, key)
        _merge(getattr(node, name), path, entries, typing.get_args(tp)[1])
    elif rest:
        where = f"{path}.{rest[0]}" if typing.get_origin(tp) is dict else path
        raise SettingError(f"unknown setting {key!r}: {where} is a value, not a section")
    else:
        setattr(node, name, parse_value(text, tp, key))


def set_value(prof: Profile, key: str, text: Any) -> None:
    """Set dotted `key` (section.field, section.dictfield.entry or model.<StirerConfig field>) to `text`, typed."""
    parts = key.strip().split(".")
    if parts[0] == "model" and len(parts) > 1:
        _set_model(prof.model, key.strip(), parts[1:], text)
        return
    node: Any = prof
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(type(node))
        if part not in hints:
            where = ".".join(parts[:i]) or "the profile"
            raise SettingError(f"unknown setting {key!r}: {where} has no {part!r}; known here: {sorted(hints)}")
        child, rest = getattr(node, part), parts[i + 1 :]
        if not dataclasses.is_dataclass(child):
            _set_field(node, part, hints[part], ".".join(parts[: i + 1]), rest, text)
            return
        if not rest:
            known = sorted(typing.get_type_hints(type(child)))
            raise SettingError(f"{key!r} is a section, not a setting: set one of its fields {known}")
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


# notebook 05's switch (own_stage1 = True) from the profile's start to the run's own stage 1 of notebook 04, every
# weight fine-tuned (the cpu profile starts from the open-world reference run's stage 1, its feature encoder frozen)
OWN_STAGE1 = {"finetune.init": "run", "finetune.freeze": "none"}


def reference_start(init: str) -> str | None:
    """The profile P of a stage's init "reference:P" or "reference:P@STEP" (its shipped pretrained weights, or
    those of its stage 1 at an earlier step), else None."""
    return init.split(":", 1)[1].split("@", 1)[0] if init.startswith("reference:") else None


def reference_step(init: str) -> int | None:
    """STEP of an init "reference:P@STEP" (reference/P/pretrain_stepSTEP.pt), else None (the finished stage 1)."""
    if not init.startswith("reference:") or "@" not in init:
        return None
    step = init.split("@", 1)[1]
    if not step.isdigit():
        raise SettingError(f"init {init!r}: the step after @ must be a whole number (e.g. reference:cpu-open@5000)")
    return int(step)


def check(prof: Profile) -> Profile:
    """Refuse settings that cannot work together (a stage without a length, a model StirerConfig refuses)."""
    for stage in ("pretrain", "finetune"):
        try:
            prof.stage(stage).check(stage)
        except ValueError as err:
            raise SettingError(str(err)) from None
        ref = reference_start(prof.stage(stage).init)
        reference_step(prof.stage(stage).init)  # a malformed @STEP is refused here
        if ref is not None and ref not in PROFILE_NAMES:
            raise SettingError(
                f"{stage}.init={prof.stage(stage).init!r}: {ref!r} is not a profile; choose one of {PROFILE_NAMES}"
            )
    try:
        prof.model.stirer_config()
    except ValueError as err:
        raise SettingError(f"model (config {prof.model.config!r}, changes {prof.model.changes}): {err}") from None
    return prof


def apply_overrides(prof: Profile, overrides: dict[str, Any] | list[str] | None) -> Profile:
    """A copy of prof with dotted overrides set (each parsed to its field's type), checked as a whole."""
    prof = copy.deepcopy(prof)
    for key, value in parse_overrides(overrides).items():
        set_value(prof, key, value)
        prof.overrides[key.strip()] = value
    return check(prof)


def profile_rows() -> list[tuple[str, str]]:
    """(name, description) of every profile, from their records (notebook 01's table)."""
    return [(f"`{name}`", record["description"]) for name, record in PROFILES.items()]


def add_profile_argument(ap: Any) -> None:
    """--profile of every command line: the same names, one default (gpu with CUDA, else cpu: `default_profile`)."""
    ap.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        default=None,
        help="the course profile (course/profiles.py PROFILES); default: gpu with CUDA, else cpu",
    )


def user_model_fields(prof: Profile) -> dict[str, str]:
    """The model settings the user set (--set model.<field>, or the old model.overrides), field -> the key as given;
    "config" for model.config."""
    out: dict[str, str] = {}
    for key, value in prof.overrides.items():
        parts = key.split(".")
        if parts[0] != "model" or len(parts) < 2:
            continue
        if parts[1] != "overrides":
            out[".".join(parts[1:])] = key
        elif len(parts) > 2:
            out[".".join(parts[2:])] = key
        else:
            out.update({name: key for name in parse_value(value, dict, key)})
    return out


def get_profile(name: str, overrides: dict[str, Any] | list[str] | None = None) -> Profile:
    """The settings of profile `name` ('smoke', 'cpu', 'cpu-long', 'gpu', 'paper') with dotted overrides."""
    if name not in PROFILE_NAMES:
        raise SettingError(f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)}")
    record = dict(PROFILES[name])
    prof = Profile(name=name, description=record.pop("description"))
    for key, value in record.items():
        set_value(prof, key, value)
    prof = apply_overrides(prof, overrides)
    prof.run_dir = prof.run_dir.format(profile=name)
    prof.data.root = prof.data.root.format(profile=name)
    return prof


def default_profile() -> str:
    """'gpu' when CUDA is available, else 'cpu' (the profile that fits a laptop)."""
    import torch

    return "gpu" if torch.cuda.is_available() else "cpu"
