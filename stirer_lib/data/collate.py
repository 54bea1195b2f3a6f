"""Batch collation: stack the images and encode the labels for both recognition losses.

Both collations return the contract dict (stirer_lib/data/__init__.py):
  hr [B, 4, 32, 128], lr [B, 4, 16, 64], labels list[str],
  ctc_targets int32 (concatenated, 1-36), ctc_lengths int32 [B],
  decoder_labels long [B, 31] (chars 1-36, EOS 37 kept, pad 0).
The images are already resized by the data sets (the official collation resizes inside the
collate function; the result is the same tensors, see tests/test_data.py).
"""

from __future__ import annotations

import torch

from ..constants import HR_HW, IN_CHANNELS, LR_HW
from ..text import DECODER_LABEL_LEN, ctc_encode, encode_decoder_labels

Batch = dict[str, object]


def _collate(items: list[tuple[torch.Tensor, torch.Tensor, str]]) -> Batch:
    if not items:
        raise ValueError("cannot collate an empty list of items")
    hrs, lrs, labels = zip(*items)
    targets, lengths = ctc_encode(list(labels))
    return {
        "hr": torch.stack(hrs),  # [B, 4, 32, 128]
        "lr": torch.stack(lrs),  # [B, 4, 16, 64]
        "labels": list(labels),
        "ctc_targets": targets,  # int32 [sum of lengths]
        "ctc_lengths": lengths,  # int32 [B]
        "decoder_labels": encode_decoder_labels(list(labels), keep_eos=True),  # long [B, 31]
    }


def collate_train(items: list[tuple[torch.Tensor, torch.Tensor, str]]) -> Batch:
    """Training batch (the random LR shrink already happened in the data set)."""
    return _collate(items)


def collate_eval(items: list[tuple[torch.Tensor, torch.Tensor, str] | None]) -> Batch:
    """Evaluation batch: identical layout; matches the official LRSTR_collect_fn(train=False).

    Items that are None (records whose image could not be read) are dropped; their number is in
    batch["skipped"], and a batch of only such items has no images (labels == [])."""
    kept = [it for it in items if it is not None]
    skipped = len(items) - len(kept)
    if not kept:
        return {
            "hr": torch.zeros(0, IN_CHANNELS, *HR_HW),
            "lr": torch.zeros(0, IN_CHANNELS, *LR_HW),
            "labels": [],
            "ctc_targets": torch.zeros(0, dtype=torch.int32),
            "ctc_lengths": torch.zeros(0, dtype=torch.int32),
            "decoder_labels": torch.zeros(0, DECODER_LABEL_LEN, dtype=torch.long),
            "skipped": skipped,
        }
    return {**_collate(kept), "skipped": skipped}
