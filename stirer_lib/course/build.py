"""Wiring a profile into the library's parts: the one place that turns settings into built things.

`build_model`, `train_set` and `eval_loaders` build what the trainer takes; `stage_start` says which
weights a stage starts from (its `init` setting), `stage_config` which model (the weights' own);
`settled` is the profile as a run would use it (`--print-config`); `train_stage` builds a
Trainer for a stage, draws curves.png as it logs, runs it and releases the run directory.
Notebooks 04 / 05, `python -m stirer_lib.train` and the tests all train through `train_stage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import pretrain_set, textzoom_train_set
from ..errors import SettingError
from ..evaluation import test_loaders
from ..models import StirerConfig, build_stirer
from ..models.loading import read_checkpoint
from ..training import distributed as ddp
from ..training.resume import RunOptions, default_init
from ..training.trainer import Callbacks, Trainer
from ..utils import seed_everything
from ..viz.training import save_curves
from . import reference
from .profiles import Profile, reference_start, reference_step, user_model_fields

# the model fields a stage that starts from trained weights may still set: they change how it trains or decodes, not
# what the weights are (drop-path, dropout, the greedy length); every other field is the weights' own
TRAINED_WEIGHTS_MAY_SET = ("drop_path_rate", "t5_dropout", "max_new_tokens")


def build_model(prof: Profile, stage: str | None = None, init: str | Path | None = None) -> nn.Module:
    """STIRER of the stage's configuration (`stage_config`; the profile's model section when stage is None),
    seeded with the run's seed: the same weights on every rank."""
    seed_everything(prof.seed)
    return build_stirer(stage_config(prof, stage, init) if stage else prof.model.stirer_config())


def start_weights(prof: Profile, stage: str, init: str | Path | None = None) -> Path | str | None:
    """The weights a stage starts from: `init` (the command line's --init) when given, else its `init` setting
    (`stage_start`)."""
    return init if init is not None else stage_start(prof, stage)


def stage_config(prof: Profile, stage: str, init: str | Path | None = None) -> StirerConfig:
    """The STIRER a stage trains. From fresh weights: the profile's model section. From trained weights (a reference
    run's stage 1, `--init CKPT`, the run's own stage 1) that store their config: that config, which the weights fit,
    with the user's model settings that can apply to trained weights (TRAINED_WEIGHTS_MAY_SET); any other model
    setting of the user's that differs from the weights' own is refused (SettingError: the key, the stage, why)."""
    start = start_weights(prof, stage, init)
    cfg = None if start in (None, "none") else read_checkpoint(start)[1]
    if cfg is None:  # fresh weights, or a file without a config (the release's state_dict): the profile's model
        return prof.model.stirer_config()
    for name, key in user_model_fields(prof).items():
        wanted = prof.model.config if name == "config" else prof.model.changes.get(name)
        have = cfg.name if name == "config" else getattr(cfg, name, None)
        if name in TRAINED_WEIGHTS_MAY_SET:
            cfg = cfg.replace(**{name: wanted})
        elif wanted != have:
            raise SettingError(
                f"{key}={prof.overrides[key]!r} cannot apply to stage {stage}: it starts from {start}, trained "
                f"with model {name}={have!r}, and trained weights keep their model (only "
                f"{', '.join(f'model.{n}' for n in TRAINED_WEIGHTS_MAY_SET)} may change); drop the setting, or start "
                f"the stage from fresh weights ({stage}.init=none"
                + (", or finetune.init=run for your own stage 1)" if stage == "finetune" else ")")
            )
    return cfg


def stage_start(prof: Profile, stage: str) -> Path | str | None:
    """The weights a stage starts from, by its `init` setting: "run": fresh weights for pretraining, the run's own
    pretrained model (RUN/pretrain/best.pt, else last.pt; None when there is none yet) for fine-tuning;
    "none": fresh weights ("none"); "reference:P": reference/P/pretrain.pt, "reference:P@STEP": its stage 1 at that
    step, reference/P/pretrain_stepSTEP.pt (MissingCheckpointError if absent)."""
    init = prof.stage(stage).init
    ref = reference_start(init)
    if ref:
        return reference.checkpoint(ref, "pretrain", reference_step(init))
    if init == "none":
        return "none"
    return default_init(Path(prof.run_dir) / stage) if stage == "finetune" else None


def settled(prof: Profile, init: str | Path | None = None, stages: tuple[str, ...] = ("pretrain", "finetune")) -> dict:
    """The profile as a run would use it, as plain data (`--print-config`): every stage's start weights, model
    (the StirerConfig it builds), schedule; the data, the CRNN, the evaluation. Builds nothing; a setting that
    cannot apply is a SettingError. init: the command line's --init (for `stages`)."""
    d = prof.as_dict()
    out = {k: d[k] for k in ("name", "description", "overrides", "seed", "run_dir", "data", "crnn", "eval")}
    out["stages"] = {}
    for stage in stages:
        start = start_weights(prof, stage, init)
        out["stages"][stage] = {
            "start": "fresh weights"
            if start in (None, "none") and stage == "pretrain"
            else str(start or "the run's own stage 1 (RUN/pretrain/best.pt, else last.pt)"),
            "model": stage_config(prof, stage, init).to_dict(),
            "settings": d[stage],
        }
    return out


def train_set(prof: Profile, stage: str) -> Dataset:
    """Pretraining: every MJ/ST LMDB under ROOT/pretrain; fine-tuning: TextZoom train1 + train2."""
    root = prof.data.root
    return pretrain_set(root, seed=0) if stage == "pretrain" else textzoom_train_set(root, seed=0)


def eval_loaders(prof: Profile, max_images: int | None = None, batch_size: int | None = None) -> dict[str, DataLoader]:
    """The test splits' loaders of the periodic (and notebooks') evaluation."""
    return test_loaders(
        prof.data.root, batch_size or prof.eval.batch_size, max_images, num_workers=prof.data.num_workers
    )


def curves_callback(run_dir: Path):
    """on_log callback: redraw RUN/curves.png after every evaluation record."""

    def draw(record: dict) -> None:
        if record.get("kind") == "eval":
            save_curves(run_dir / "metrics.jsonl", run_dir / "curves.png")

    return draw


def make_trainer(
    prof: Profile, stage: str, run_dir: str | Path | None = None, callbacks: Callbacks | None = None, **kw: Any
) -> Trainer:
    """A Trainer for `stage` built from the profile (kw: RunOptions' fields resume, overwrite, stop_at, init,
    progress). Without an `init`, the stage starts where its `init` setting says (`stage_start`)."""
    run_dir = Path(run_dir) if run_dir is not None else Path(prof.run_dir) / stage
    s = prof.stage(stage)
    options = RunOptions(**kw)
    if options.init is None and s.init != "run":
        options.init = stage_start(prof, stage)
    callbacks = callbacks or Callbacks()
    callbacks.on_log.append(curves_callback(run_dir))  # the trainer logs on rank 0 only
    loaders = eval_loaders(prof, s.eval_max_images) if s.eval_every >= 0 else {}
    return Trainer(
        build_model(prof, stage, options.init),
        train_set(prof, stage),
        s,
        run_dir,
        stage,
        eval_loaders=loaders,
        options=options,
        callbacks=callbacks,
        seed=prof.seed,
        num_workers=prof.data.num_workers,
        record=prof.as_dict(),
    )


def train_stage(prof: Profile, stage: str, **kw: Any) -> dict:
    """Build the stage's Trainer, train, draw the curves, release the run directory; returns fit()'s summary."""
    trainer = make_trainer(prof, stage, **kw)
    try:
        return trainer.fit()
    finally:
        if trainer.info.main and (trainer.run_dir / "metrics.jsonl").exists():
            save_curves(trainer.run_dir / "metrics.jsonl", trainer.run_dir / "curves.png")
        trainer.close()
        ddp.teardown(trainer.info)
