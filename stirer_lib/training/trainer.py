"""One training loop for both STIRER stages (docs/DESIGN.md section 1, "Training").

Stage "pretrain" reads every MJ/ST-format LMDB under ROOT/pretrain (LR synthesised on the fly);
stage "finetune" reads TextZoom-format ROOT/textzoom/train1 + train2 and starts from the
pretraining checkpoint. Both minimise Eq. 9 (stirer_lib.losses.stirer_loss: the model returns
outputs, the losses are computed here, in float32) with AdamW, the SR head at its own learning rate,
on the stage's schedule (training/optim.py: "step" halves the rates after half of the planned steps,
as released; "cosine" and "constant" warm up first).

Run directory (one per stage): last.pt (resumable), best.pt (the evaluated model `best_by` picks:
"acc_final", the best mean final-step word accuracy on the test splits as the release keeps it, or
"last", the latest evaluation, for short runs whose small evaluation subsets make that pick noise),
metrics.jsonl (one JSON object per line: kind "start", "train" or "eval"; an "eval" record is the
results of stirer_lib.evaluation without per-image lists), and curves.png (drawn by the course's
callback). One run at a time holds the directory's lock. Checkpoints are atomic and read
weights-only; Ctrl-C (SIGINT) or SIGTERM finish the current step (under torchrun: the steps up to the
next logged one), save last.pt and raise KeyboardInterrupt; a non-finite loss stops the run without touching the last
good checkpoint (a step does not wait for the device: the losses are read every log_every steps and
before every checkpoint or evaluation, which is when a non-finite one is found). The same code runs
alone or under torchrun with DistributedDataParallel.

Where things are: how a run starts (its RunOptions, the initial weights, whether a last.pt may be resumed) is
training/resume.py; the optimizer groups and schedules training/optim.py; the data order training/sampler.py; this
file is the loop (`fit`), one step (`train_step`), the periodic evaluation and the checkpoints it writes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from ..checkpoint import atomic_save, load_strict, read, state_dict_of
from ..data import collate_train
from ..errors import DataError, SettingError, UserError
from ..evaluation import compact, evaluate_loaders, is_better
from ..losses import stirer_loss
from ..models.loading import checkpoint_dict
from ..rundir import RunLock, append_jsonl, check_run_dir, truncate_jsonl
from ..utils import seed_everything
from . import distributed as ddp
from .optim import build_optimizer, build_scheduler, freeze, group_lr
from .resume import (
    RunOptions,
    apply_new_learning_rates,
    check_resumable,
    initial_weights,
)
from .rng_state import rng_state, set_rng_state
from .sampler import EpochBatchSampler, epoch_seed, set_epoch_seed
from .settings import STAGES, StageSettings
from .stop import StopFlag, TrainingInterrupted

LOG_GROUPS = (("lr", "body"), ("lr_sr", "sr_head"), ("lr_str", "str_decoder"))  # settings key, optimizer group


class NonFiniteLossError(UserError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


@dataclass
class Callbacks:
    """Hooks for notebooks, the course and tests: on_log(record) after each logged record (the course
    draws curves.png from it), on_step(step) after each step."""

    on_log: list[Callable[[dict], None]] = field(default_factory=list)
    on_step: list[Callable[[int], None]] = field(default_factory=list)


def epoch_loader(
    dataset: Dataset, s: StageSettings, seed: int, epoch: int, start: int, info: ddp.DistInfo, num_workers: int = 0
) -> DataLoader:
    """The loader of one epoch from batch `start` on; everything random is a function of (seed, epoch)."""
    set_epoch_seed(dataset, seed, epoch)
    sampler = EpochBatchSampler(len(dataset), s.batch_size, seed, epoch, info.rank, info.world, start)
    cuda = info.device.type == "cuda"
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_train,
        num_workers=num_workers,
        pin_memory=cuda,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(epoch_seed(seed, epoch, salt=2)),
    )


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for an amp mode on a device: "auto" is bf16 (else fp16) on CUDA and off on a CPU;
    "bf16" runs on any device that supports it; "fp16" (with a GradScaler) needs CUDA."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        if device.type != "cuda":
            raise SettingError(
                "amp=fp16 needs a CUDA device (float16 autocast with a GradScaler); use amp=bf16 or amp=off on a CPU"
            )
        return torch.float16
    if mode == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


# ----------------------------------------------------------------------------- the loop


class Trainer:
    """Holds the state of one stage's run; `fit()` trains until the planned step (settings.max_steps or
    epochs) or, earlier, until `stop_at` (an interruption at that step: the schedule stays the planned one).

    Takes built things: the model (built with the same seed on every rank), the training set, the
    test loaders of the periodic evaluation, the stage's settings and its run directory. Wiring a
    profile into them is stirer_lib.course.build.train_stage. `record`: plain data stored in the
    checkpoints (the profile it came from).
    """

    def __init__(
        self,
        model: nn.Module,
        train_set: Dataset,
        settings: StageSettings,
        run_dir: str | Path,
        stage: str,
        eval_loaders: dict[str, DataLoader] | None = None,
        options: RunOptions | None = None,
        callbacks: Callbacks | None = None,
        seed: int = 0,
        num_workers: int = 0,
        record: dict | None = None,
        device: str | torch.device | None = None,
    ):
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")
        self.stage, self.s = stage, settings.check(stage)
        self.info = ddp.setup(device)
        self.device = self.info.device
        self.run_dir = Path(run_dir)
        self.callbacks = callbacks or Callbacks()
        options = options or RunOptions()
        self.progress, self.record, self.seed, self.num_workers = options.progress, record or {}, int(seed), num_workers
        self.lock = RunLock(self.run_dir, f"{stage} training") if self.info.main else None
        try:
            self._setup(model, train_set, eval_loaders, options)
        except BaseException:
            self.close()
            raise

    def _setup(
        self,
        model: nn.Module,
        train_set: Dataset,
        eval_loaders: dict[str, DataLoader] | None,
        options: RunOptions,
    ) -> None:
        """Lock and check the run directory, build optimizer and schedule, restore or initialise the weights."""
        resume_state, err = None, None
        if self.info.main:
            try:
                self.lock.acquire()
                resume_state = check_run_dir(self.run_dir, options.resume, options.overwrite)
            except UserError as e:
                err = e
        err = ddp.broadcast_object(err, self.info)
        if err:
            raise err
        ddp.barrier(self.info)
        if not self.info.main and options.resume:
            resume_state = read(self.run_dir / "last.pt")
        self.model, self.cfg = model.to(self.device), getattr(model, "config", None)
        if self.info.world > 1:  # each rank its own dropout / drop-path stream
            seed_everything(self.seed + 1000 * self.info.rank)
        self.dataset, self._eval_loaders = train_set, eval_loaders or {}
        self.steps_per_epoch = EpochBatchSampler.steps_per_epoch(len(self.dataset), self.s.batch_size, self.info.world)
        if self.steps_per_epoch <= 0:
            raise DataError(
                f"{self.stage}: the training set has {len(self.dataset)} items, fewer than one batch of "
                f"{self.s.batch_size} per process; lower {self.stage}.batch_size or add data"
            )
        self.total_steps = self.s.max_steps if self.s.max_steps is not None else self.s.epochs * self.steps_per_epoch
        if self.total_steps <= 0:
            raise DataError(f"{self.stage}: the profile plans {self.total_steps} steps; set {self.stage}.max_steps > 0")
        stop_at = options.stop_at
        self.stop_at = self.total_steps if stop_at is None else min(stop_at, self.total_steps)
        if stop_at is not None and stop_at > self.total_steps and self.info.main:
            print(
                f"--max-steps {stop_at} is past the profile's plan of {self.total_steps} steps; stopping at "
                f"{self.total_steps} (train longer with --set {self.stage}.max_steps={stop_at})",
                flush=True,
            )
        frozen = freeze(self.model, self.s.freeze)
        if frozen and self.info.main:
            print(
                f"{self.stage}: the feature encoder's {frozen:,} weights are frozen ({self.stage}.freeze)", flush=True
            )
        self.optimizer = build_optimizer(
            self.model, self.s.lr, self.s.lr_sr, self.s.weight_decay, betas=(self.s.beta1, 0.999), lr_str=self.s.lr_str
        )
        self.scheduler = build_scheduler(
            self.optimizer, self.total_steps, kind=self.s.schedule, warmup_steps=self.s.warmup_steps
        )
        self.amp_dtype = amp_dtype(self.s.amp, self.device)  # autocast dtype of the forward; None: float32
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.step, self.best = 0, None
        self._unchecked: list[dict[str, torch.Tensor]] = []  # loss terms of the steps not yet checked finite
        self.resumed_finished = False
        self.init_from: str | None = None
        if resume_state is not None:
            self._restore(resume_state)
        else:
            self.init_from = initial_weights(self.model, self.stage, self.run_dir, options.init, self.info.main)
        self.ddp_model = (
            DistributedDataParallel(
                self.model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=self.s.find_unused_parameters,
            )
            if self.info.world > 1
            else self.model
        )

    def close(self) -> None:
        """Release the run directory's lock. The process group stays: ddp.teardown(trainer.info) leaves it
        (stirer_lib.course.build.train_stage calls both)."""
        if self.lock is not None:
            self.lock.release()

    # -- setup helpers
    def _restore(self, state: dict) -> None:
        """Continue the run of last.pt: weights, optimizer, schedule, scaler, step, best pick and RNG state."""
        last = self.run_dir / "last.pt"
        config = self.cfg.to_dict() if self.cfg is not None else None
        check_resumable(state, self.stage, last, config, [g.get("name") for g in self.optimizer.param_groups])
        load_strict(self.model, state_dict_of(state, str(last)), str(last))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        apply_new_learning_rates(self.optimizer, self.scheduler, self.s, self.stage, self.info.main)
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.best = int(state["step"]), state.get("best")
        self.resumed_finished = bool(state.get("finished")) and self.step >= self.total_steps
        self.init_from = state.get("init_from")
        rngs = state.get("rng") or []
        if len(rngs) == self.info.world:
            set_rng_state(rngs[self.info.rank])
        elif self.info.main:
            print(
                f"resuming with {self.info.world} processes from a checkpoint of {len(rngs)}: the dropout "
                f"random streams restart (data order follows the new sharding)",
                flush=True,
            )
        if self.info.main:
            print(f"{self.stage}: resuming from {last} at step {self.step}", flush=True)

    # -- checkpoints
    def _state(self, rngs: list[dict], finished: bool) -> dict:
        return checkpoint_dict(
            self.model,
            step=self.step,
            epoch=self.step // self.steps_per_epoch,
            batch_in_epoch=self.step % self.steps_per_epoch,
            optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(),
            scaler=self.scaler.state_dict(),
            rng=rngs,
            stage=self.stage,
            profile=self.record,
            total_steps=self.total_steps,
            world=self.info.world,
            finished=finished,
            best=self.best,
            init_from=self.init_from,
        )

    def save_last(self, rng: dict | None = None, finished: bool = False) -> Path | None:
        """All ranks call this together; rank 0 writes last.pt with every rank's RNG state (after checking
        the losses since the last check: a non-finite one raises and leaves last.pt as it was)."""
        self.check_finite()
        rngs = ddp.gather_objects(rng if rng is not None else rng_state(), self.info)
        path = None
        if self.info.main:
            path = atomic_save(self._state(rngs, finished), self.run_dir / "last.pt")
        ddp.barrier(self.info)
        return path

    def _save_best(self, results: dict) -> None:
        atomic_save(
            checkpoint_dict(self.model, step=self.step, stage=self.stage, metrics=results), self.run_dir / "best.pt"
        )

    # -- logging and evaluation
    def _log(self, record: dict) -> None:
        if not self.info.main:
            return
        append_jsonl(self.run_dir / "metrics.jsonl", record)
        for cb in self.callbacks.on_log:
            cb(record)

    def evaluate(self) -> dict | None:
        """Rank 0 evaluates on the test splits (stirer_lib.evaluation, without SSIM and per-image lists),
        logs it and keeps best.pt; returns the results."""
        self.check_finite()
        results = None
        if self.info.main and self._eval_loaders:
            results = compact(
                evaluate_loaders(self.model, self._eval_loaders, device=self.device, ssim_on=False, details=False)
            )
            if self.s.best_by == "last" or is_better(results, self.best):
                self.best = {"step": self.step, "mean_of_splits": results["mean_of_splits"]}
                self._save_best(results)
            self._log({"kind": "eval", "step": self.step, **results})
        ddp.barrier(self.info)
        return results

    # -- one step
    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """Forward, Eq. 9, backward, AdamW step -> the loss terms, detached, on the device. Nothing here waits
        for the device (no host sync): check_finite reads the terms later, every log_every steps."""
        dev = self.device  # the CTC lengths stay on the CPU, where torch reads them
        batch = {
            **batch,
            **{k: batch[k].to(dev, non_blocking=True) for k in ("lr", "hr", "decoder_labels", "ctc_targets")},
        }
        autocast = (
            torch.autocast(dev.type, dtype=self.amp_dtype) if self.amp_dtype is not None else contextlib.nullcontext()
        )
        with autocast:
            out = self.ddp_model(batch["lr"], labels=batch["decoder_labels"])
        parts = stirer_loss(out, batch, alpha=self.s.alpha)  # float32: the losses cast the outputs they read
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(parts["total"]).backward()
        if self.s.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.s.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.step += 1
        parts = {k: v.detach() for k, v in parts.items()}
        self._unchecked.append(parts)
        return parts

    def check_finite(self) -> None:
        """Raise NonFiniteLossError when a total loss since the last check is NaN or infinite (on any rank;
        all ranks call this together). One host sync for all the steps since the last check."""
        pending, self._unchecked = self._unchecked, []
        if not pending:
            return
        finite = torch.isfinite(torch.stack([p["total"] for p in pending])).tolist()
        if ddp.any_true([not all(finite)], self.info)[0]:
            first = finite.index(False) if not all(finite) else len(pending) - 1
            raise NonFiniteLossError(self._nonfinite_message(self.step - len(pending) + first + 1, pending[first]))

    def _nonfinite_message(self, step: int, parts: dict[str, torch.Tensor]) -> str:
        """What went wrong at `step` (its loss terms), what was kept, and what to try."""
        values = torch.stack(list(parts.values())).tolist()
        terms = ", ".join(f"{k}={v:.4g}" for k, v in zip(parts, values, strict=True))
        last = self.run_dir / "last.pt"
        kept = f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint was written yet"
        how = "--resume (a resumed run takes the new learning rates)" if last.exists() else "--overwrite"
        return (
            f"non-finite loss at step {step} of the {self.stage} stage ({terms}); {kept}. "
            f"Lower the learning rate (--set {self.stage}.lr=... / {self.stage}.lr_sr=...), set "
            f"{self.stage}.grad_clip, or turn off mixed precision ({self.stage}.amp=off), then run again "
            f"with {how}."
        )

    # -- the loop
    def fit(self) -> dict:
        """Train to stop_at; save, evaluate and plot on schedule. Returns a summary dict."""
        from tqdm.auto import tqdm

        if self.resumed_finished:  # nothing left to do
            if self.info.main:
                print(f"{self.stage}: {self.run_dir} holds a finished run of {self.step} steps", flush=True)
            return {"step": self.step, "finished": True, "best": self.best, "run_dir": str(self.run_dir)}
        if self.info.main and self.step == 0:
            self._log(
                {
                    "kind": "start",
                    "step": 0,
                    "stage": self.stage,
                    "total_steps": self.total_steps,
                    "steps_per_epoch": self.steps_per_epoch,
                    "train_size": len(self.dataset),
                    "world": self.info.world,
                    "batch_size": self.s.batch_size,
                    "init_from": self.init_from,
                    "data_style": (self.record.get("data") or {}).get("style"),  # the test words the evals read
                }
            )
        elif self.info.main:
            truncate_jsonl(self.run_dir / "metrics.jsonl", self.step)
        bar = tqdm(
            total=self.stop_at,
            initial=self.step,
            desc=self.stage,
            disable=not (self.progress and self.info.main),
            dynamic_ncols=True,
        )
        if self.step == 0 and self.s.eval_every >= 0:  # where the stage starts: its log's and curve's first point
            state = rng_state()  # the evaluation's loaders draw seeds: training's randomness stays as without it
            self.evaluate()
            set_rng_state(state)
        window: list[dict[str, torch.Tensor]] = []
        t0 = time.perf_counter()
        self.model.train()
        with StopFlag() as stop:
            try:
                while self.step < self.stop_at:
                    epoch, start = divmod(self.step, self.steps_per_epoch)
                    for batch in epoch_loader(
                        self.dataset, self.s, self.seed, epoch, start, self.info, self.num_workers
                    ):
                        self._step_start = (self.step, rng_state())  # kept for a hard interrupt
                        window.append(self.train_step(batch))
                        bar.update(1)
                        for cb in self.callbacks.on_step:
                            cb(self.step)
                        due = self.step % self.s.log_every == 0 or self.step == self.stop_at
                        if due:  # the host reads the losses here only
                            self.check_finite()
                            mean = self._log_train(window, time.perf_counter() - t0)
                            bar.set_postfix(
                                loss=f"{mean['total']:.3f}", l_sr=f"{mean['l_sr']:.3f}", l_rec=f"{mean['l_rec']:.3f}"
                            )
                            window = []
                        # alone: a flag; under torchrun an all_reduce that waits, so at the logged steps only
                        if (due or self.info.world == 1) and ddp.any_true([stop.requested], self.info)[0]:
                            self.save_last()
                            raise TrainingInterrupted(
                                f"stopped at step {self.step}; {self.run_dir / 'last.pt'} saved, continue with --resume"
                            )
                        self._on_schedule()
                        if self.step >= self.stop_at:
                            break
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt:  # raised inside a step (no handler, or a second Ctrl-C)
                self._save_after_interrupt()
                raise
            finally:
                bar.close()
        finished = self.step >= self.total_steps
        if finished and self.s.eval_every >= 0 and (self.s.eval_every == 0 or self.step % self.s.eval_every):
            self.evaluate()
        self.save_last(finished=finished)
        return {"step": self.step, "finished": finished, "best": self.best, "run_dir": str(self.run_dir)}

    def _log_train(self, window: list[dict[str, torch.Tensor]], elapsed: float) -> dict[str, float]:
        """Log the mean of each loss term over the window's steps (one device read); returns the means."""
        keys = list(window[-1])
        rows = torch.stack([torch.stack([w[k] for k in keys]) for w in window]).tolist()  # [steps][terms]
        mean = {k: sum(r[i] for r in rows) / len(rows) for i, k in enumerate(keys)}
        self._log(
            {
                "kind": "train",
                "step": self.step,
                "epoch": (self.step - 1) // self.steps_per_epoch,
                **self._group_lrs(),
                "time_s": round(elapsed, 3),
                **mean,
            }
        )
        return mean

    def _group_lrs(self) -> dict[str, float]:
        """The current learning rate of each parameter group, by its log key (lr, lr_sr, lr_str)."""
        lrs = {key: group_lr(self.optimizer, name) for key, name in LOG_GROUPS}
        return {key: lr for key, lr in lrs.items() if lr is not None}

    def _on_schedule(self) -> None:
        if self.s.ckpt_every and self.step % self.s.ckpt_every == 0 and self.step < self.stop_at:
            self.save_last()
        if self.s.eval_every and self.s.eval_every > 0 and self.step % self.s.eval_every == 0:
            self.evaluate()

    def _save_after_interrupt(self) -> None:
        """A KeyboardInterrupt that bypassed the signal handler: save the state of the last whole step.

        The weights are those of step self.step unless the interrupt hit the optimiser update itself;
        the RNG state is the one the interrupted step started from.
        """
        if self.info.world > 1:
            return  # the other ranks cannot join a collective now; the periodic last.pt stands
        start_step, rng = getattr(self, "_step_start", (None, None))
        print(f"interrupted: saving {self.run_dir / 'last.pt'} at step {self.step}", flush=True)
        self.save_last(rng=rng if start_step == self.step else None)
