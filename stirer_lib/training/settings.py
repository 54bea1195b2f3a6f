"""The trainers' settings: one dataclass per profile section, the defaults written once.

StageSettings is the `pretrain` / `finetune` section (stirer_lib.training.trainer), CrnnSettings
the `crnn` section (stirer_lib.training.crnn). stirer_lib.course.profiles builds them from a
profile and `--set key=value` overrides, checking every value against the field's type.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("pretrain", "finetune")
BEST_BY = ("acc_final", "last")
AMP_MODES = ("auto", "bf16", "fp16", "off")
SCHEDULES = ("step", "cosine", "constant")
FREEZE = ("none", "encoder")


@dataclass
class StageSettings:
    """One STIRER training stage (docs/DESIGN.md section 1, "Training")."""

    batch_size: int = 8
    lr: float = 1e-4  # the body; AdamW
    lr_sr: float = 5e-4  # the SR heads (names with upsample / conv_after_body)
    lr_str: float | None = None  # the STR decoder's own rate (None: lr, as released)
    max_steps: int | None = 8  # or epochs (one of the two)
    epochs: int | None = None
    eval_every: int = 0  # 0: only at the end; < 0: never
    ckpt_every: int = 4
    schedule: str = "step"  # "step": halve after half of the steps (the release); "cosine": warm-up, then cosine
    # to 0; "constant": warm-up, then the rate
    warmup_steps: int = 0  # linear warm-up of the cosine and constant schedules
    alpha: float = 0.5  # Eq. 9 as released: alpha * L_SR + (1 - alpha) * L_Rec
    weight_decay: float = 0.01
    beta1: float = 0.9  # AdamW's first beta (the release: 0.9)
    grad_clip: float | None = None
    # "encoder": the feature encoder's own weights stay as loaded (not in the release, which trains everything;
    # its BatchNorm statistics still follow the data); its mini decoders and the STISR / STR decoders learn, and a
    # step costs about half (no backward through the Swin and Bi-GRU layers). The cpu course fine-tunes the open-world
    # reference run's stage 1 so (docs/EXPERIMENTS.md, "Fine-tuning the long run's stage 1 in the course")
    freeze: str = "none"
    # the weights the stage starts from: "run" (pretraining: fresh; fine-tuning: this run's pretrained model,
    # RUN/pretrain), "none" (fresh), "reference:P" (the shipped reference run P's pretrained model, with P's model
    # settings), "reference:P@STEP" (that stage 1 at an earlier step, shipped as pretrain_stepSTEP.pt: the cpu
    # course fine-tunes the open-world run's so). --init CKPT on the command line wins.
    init: str = "run"
    amp: str = "auto"  # mixed precision: "auto" (bf16 / fp16 on CUDA, off on CPU), "bf16" (any device), "fp16", "off"
    log_every: int = 2
    eval_max_images: int | None = None  # per test split; None: all
    best_by: str = "acc_final"  # which evaluated model best.pt keeps: "acc_final" or "last"
    find_unused_parameters: bool = False  # DDP, for ablations that leave parameters unused

    def check(self, stage: str) -> StageSettings:
        """Raise ValueError for values that cannot work; returns self."""
        if self.max_steps is None and self.epochs is None:
            raise ValueError(f"{stage} needs max_steps or epochs (set {stage}.max_steps=N)")
        if self.best_by not in BEST_BY:
            raise ValueError(f"{stage}.best_by is {self.best_by!r}; choose one of {BEST_BY}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"{stage}.schedule is {self.schedule!r}; choose one of {SCHEDULES}")
        if self.init not in ("run", "none") and not self.init.startswith("reference:"):
            raise ValueError(
                f"{stage}.init is {self.init!r}; choose run, none or reference:P (P a profile with reference weights)"
            )
        if self.freeze not in FREEZE:
            raise ValueError(f"{stage}.freeze is {self.freeze!r}; choose one of {FREEZE}")
        if self.amp not in AMP_MODES:
            raise ValueError(
                f"{stage}.amp is {self.amp!r}; choose one of {AMP_MODES} (auto: bf16 or fp16 on CUDA, off on a CPU)"
            )
        if self.batch_size < 1:
            raise ValueError(f"{stage}.batch_size must be >= 1, got {self.batch_size}")
        return self


@dataclass
class CrnnSettings:
    """The CRNN baseline of notebook 02 (Adam, CTC)."""

    max_steps: int = 4
    batch_size: int = 8
    lr: float = 1e-3
    beta1: float = 0.9  # Adam's first beta; crnn.pytorch trains with 0.5, and so does the cpu profile
    # (docs/EXPERIMENTS.md, "The CRNN in a short run")
    width: float = 1.0  # channel multiplier of the CNN (1.0: crnn.pytorch's CRNN, which ckpt/crnn.pth fits)
    hidden: int = 256  # LSTM hidden size (crnn.pytorch: 256)
    eval_every: int = 0  # 0: only at the end
    log_every: int = 1
    grad_clip: float | None = 5.0
