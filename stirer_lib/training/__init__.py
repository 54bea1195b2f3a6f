"""Training: one loop for STIRER's two stages (pretraining, fine-tuning), resumable, DDP-ready.

trainer.train_stage runs a stage from a profile; optim builds AdamW with the SR-head group and
the released schedule; checkpoint writes and reads resumable checkpoints atomically; sampler
fixes the data order as a function of (seed, epoch); distributed wraps torchrun / DDP.
(crnn.py, the CRNN baseline of notebook 02, belongs to the CRNN helper.)
"""
