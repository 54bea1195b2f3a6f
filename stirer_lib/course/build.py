"""Wiring a profile into the library's parts: the one place that turns settings into built things.

`build_model`, `train_set` and `eval_loaders` build what the trainer takes; `stage_start` says which
weights a stage starts from (its `init` setting), and with which model; `train_stage` builds a
Trainer for a stage, draws curves.png as it logs, runs it and releases the run directory.
Notebooks 04 / 05, `python -m stirer_lib.train` and the tests all train through `train_stage`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data import pretrain_set, textzoom_train_set
from ..evaluation import test_loaders
from ..models import build_stirer
from ..training import distributed as ddp
from ..training.trainer import Callbacks, Trainer, default_init
from ..utils import seed_everything
from ..viz.training import save_curves
from . import reference
from .profiles import ModelSettings, Profile, get_profile, reference_start


def build_model(prof: Profile, stage: str | None = None) -> nn.Module:
    """STIRER of the stage's model settings (`stage_model`; the profile's model section when stage is None),
    seeded with the run's seed: the same weights on every rank."""
    seed_everything(prof.seed)
    return build_stirer((stage_model(prof, stage) if stage else prof.model).stirer_config())


def stage_model(prof: Profile, stage: str) -> ModelSettings:
    """The model a stage trains: the profile's, or, when the stage starts from a reference run's pretrained
    weights (`init = "reference:P"`), profile P's model, which those weights fit."""
    ref = reference_start(prof.stage(stage).init)
    return get_profile(ref).model if ref else prof.model


def stage_start(prof: Profile, stage: str) -> Path | str | None:
    """The weights a stage starts from, by its `init` setting: "run": fresh weights for pretraining, the run's own
    pretrained model (RUN/pretrain/best.pt, else last.pt; None when there is none yet) for fine-tuning;
    "none": fresh weights ("none"); "reference:P": reference/P/pretrain.pt (MissingCheckpointError if absent)."""
    init = prof.stage(stage).init
    ref = reference_start(init)
    if ref:
        return reference.checkpoint(ref, "pretrain")
    if init == "none":
        return "none"
    return default_init(Path(prof.run_dir) / stage) if stage == "finetune" else None


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
    """A Trainer for `stage` built from the profile (kw: resume, overwrite, stop_at, init, progress). Without an
    `init`, the stage starts where its `init` setting says (`stage_start`)."""
    run_dir = Path(run_dir) if run_dir is not None else Path(prof.run_dir) / stage
    s = prof.stage(stage)
    if kw.get("init") is None and s.init != "run":
        kw["init"] = stage_start(prof, stage)
    callbacks = callbacks or Callbacks()
    callbacks.on_log.append(curves_callback(run_dir))  # the trainer logs on rank 0 only
    loaders = eval_loaders(prof, s.eval_max_images) if s.eval_every >= 0 else {}
    return Trainer(
        build_model(prof, stage),
        train_set(prof, stage),
        s,
        run_dir,
        stage,
        eval_loaders=loaders,
        seed=prof.seed,
        num_workers=prof.data.num_workers,
        callbacks=callbacks,
        record=prof.as_dict(),
        **kw,
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
