"""Training: one loop for STIRER's two stages (pretraining, fine-tuning), resumable, DDP-ready, and the CRNN's.

trainer runs a stage (Trainer: a built model, data sets, StageSettings, a run directory); settings
holds the typed settings of the stages and of the CRNN; optim builds AdamW with the SR-head group and
the learning-rate schedules; sampler fixes the data order as a function of (seed, epoch); rng_state
saves and restores the random streams a resumed run continues; stop turns Ctrl-C / SIGTERM into a
stop after the current step; distributed wraps torchrun / DDP; crnn trains the CRNN baseline of
notebook 02; cost estimates what the paper's recipe costs from a measured speed. The run directory's
files (lock, checkpoints, metrics log) are stirer_lib.rundir's; checkpoint files stirer_lib.checkpoint's.
"""
