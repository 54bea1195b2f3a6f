"""How a stage's run starts: from fresh or given weights, or from its own last.pt (resume), and with which options.

The trainer (training/trainer.py) holds the loop; this module holds the decisions before it: which weights the
model starts from (`initial_weights`), whether a last.pt may be continued with today's model and optimizer
(`check_resumable`), and the learning rates a resumed run takes (`apply_new_learning_rates`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..checkpoint import best_or_last, load_strict, read, state_dict_of
from ..errors import DataError, UserError
from .settings import StageSettings


@dataclass
class RunOptions:
    """How one run of a stage starts and stops (what it trains is the StageSettings): continue last.pt (resume) or
    replace the run (overwrite); stop after global step stop_at (the schedule stays the planned one); the initial
    weights (init: a checkpoint, "none" for fresh weights, None for the stage's default); a progress bar."""

    resume: bool = False
    overwrite: bool = False
    stop_at: int | None = None
    init: str | Path | None = None
    progress: bool = True


class ResumeMismatchError(UserError, ValueError):
    """The checkpoint to resume was made with another model config or other optimizer groups."""


def default_init(run_dir: Path) -> Path | None:
    """Fine-tuning starts from RUN/pretrain/best.pt, else RUN/pretrain/last.pt (RUN = run_dir's parent)."""
    return best_or_last(Path(run_dir).parent / "pretrain")


def initial_weights(model: nn.Module, stage: str, run_dir: Path, init: str | Path | None, main: bool) -> str | None:
    """Load a fresh run's initial weights strictly (fine-tuning: the run's pretraining checkpoint unless `init`
    says otherwise; "none": keep the fresh weights). Returns the path loaded, or None."""
    if init is None and stage == "finetune":
        init = default_init(run_dir)
        if init is None:
            raise DataError(
                f"fine-tuning starts from the pretraining checkpoint, but {run_dir.parent / 'pretrain'} has "
                f"neither best.pt nor last.pt: run the pretraining stage first (notebook 04 or "
                f"`python -m stirer_lib.train --stage pretrain ...`), pass --init CKPT, or --init none"
            )
    if init is None or str(init) == "none":
        return None
    load_strict(
        model,
        state_dict_of(read(init, "initial weights"), str(init)),
        f"initial weights {init}",
        "Saved without a model config? Set model.config / model.<field> to the one it was trained with",
    )
    if main:
        print(f"{stage}: initialised from {init}", flush=True)
    return str(init)


def check_resumable(state: dict, stage: str, last: Path, config: dict | None, groups: list[str | None]) -> None:
    """Refuse (ResumeMismatchError) to continue a last.pt of another stage, model config or optimizer groups."""
    if state.get("stage") not in (None, stage):
        raise ResumeMismatchError(f"{last} is a {state['stage']} checkpoint, not {stage}")
    saved = state.get("config")
    if saved is not None and config is not None and saved != config:
        diff = {
            k: (saved.get(k, "absent"), config.get(k, "absent"))
            for k in sorted(set(saved) | set(config))
            if saved.get(k, "absent") != config.get(k, "absent")
        }
        raise ResumeMismatchError(
            f"{last} was trained with another model config, (saved, now): {diff}; resume "
            f"with the same profile and model.<field> settings, or pass --overwrite"
        )
    saved_groups = [g.get("name") for g in state["optimizer"]["param_groups"]]
    if saved_groups != groups:
        raise ResumeMismatchError(
            f"{last} holds the optimizer groups {saved_groups}, this profile builds "
            f"{groups}: resume with the same {stage}.lr_str (None: no str_decoder "
            f"group), or pass --overwrite"
        )


def apply_new_learning_rates(optimizer, scheduler, s: StageSettings, stage: str, main: bool) -> None:
    """A resumed run learns at the settings' rates (e.g. a lower --set STAGE.lr after a NaN), and says so."""
    wanted = {"body": s.lr, "sr_head": s.lr_sr, "str_decoder": s.lr_str}
    for i, g in enumerate(optimizer.param_groups):
        new = wanted.get(g.get("name"))
        if new is None or math.isclose(g["initial_lr"], new, rel_tol=1e-9):
            continue
        if main:
            print(
                f"{stage}: resuming with {g['name']} learning rate {new:g} (the checkpoint had "
                f"{g['initial_lr']:g}); the schedule continues from there",
                flush=True,
            )
        factor = g["lr"] / g["initial_lr"]
        g["initial_lr"], g["lr"] = new, new * factor
        scheduler.base_lrs[i] = new
