"""Text handling: the 37-class charset, the label filter, and the two label codecs.

STIRER reads words over a 36-character alphabet (0-9, a-z):
- the mini STR decoders emit CTC distributions over 37 classes (0 = blank, 1-36 = characters);
- the STR decoder (T5) generates ids over 38 classes (0 = pad / start, 1-36 = characters,
  37 = EOS), with decoder labels of fixed length 31 (docs/DESIGN.md sections 1 and 3).
"""

from __future__ import annotations

import torch

CHARSET = "0123456789abcdefghijklmnopqrstuvwxyz"
NUM_CTC_CLASSES = len(CHARSET) + 1  # 37: blank + 36 characters
PAD = 0  # decoder pad, also the decoder start token and the CTC blank
EOS = len(CHARSET) + 1  # 37
NUM_DECODER_CLASSES = len(CHARSET) + 2  # 38
DECODER_LABEL_LEN = 31  # official collation: 30 characters + EOS at most
MAX_TRAIN_LABEL_LEN = 20  # training drops longer words

_CHAR_TO_ID = {c: i + 1 for i, c in enumerate(CHARSET)}
_ALLOWED = frozenset(CHARSET)


def filter_label(label: str) -> str:
    """Map a raw label to the 37-class charset: lowercase, keep only 0-9a-z.

    This is the official reader's order (lowercase and filter first, so 'café' -> 'caf';
    NFKD normalisation afterwards can no longer change anything). Spaces and punctuation are
    dropped. Evaluation applies the same filter to predictions and ground truth.
    """
    return "".join(c for c in label.lower() if c in _ALLOWED)


def ctc_encode(labels: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenated CTC targets (int32, 1-36) and their lengths (int32), as the official collation."""
    for s in labels:
        bad = set(s) - _ALLOWED
        if bad:
            raise ValueError(f"label {s!r} has characters outside 0-9a-z: {sorted(bad)}; run filter_label first")
    targets = [_CHAR_TO_ID[c] for s in labels for c in s]
    return (torch.tensor(targets, dtype=torch.int32), torch.tensor([len(s) for s in labels], dtype=torch.int32))


def ctc_greedy_decode(logits: torch.Tensor, time_major: bool = False) -> list[str]:
    """Best-path CTC decoding: argmax per frame, collapse repeats, drop blanks.

    logits: [B, T, 37] (or [T, B, 37] with time_major=True).
    """
    if time_major:
        logits = logits.transpose(0, 1)
    ids = logits.argmax(-1).cpu().tolist()
    out = []
    for row in ids:
        chars, prev = [], PAD
        for i in row:
            if i != prev and i != PAD:
                chars.append(CHARSET[i - 1])
            prev = i
        out.append("".join(chars))
    return out


def encode_decoder_labels(labels: list[str], length: int = DECODER_LABEL_LEN, keep_eos: bool = True) -> torch.Tensor:
    """Decoder labels [B, length] (int64): characters 1-36, EOS 37 right after the word, pad 0.

    Words longer than length - 1 are cut. keep_eos=False reproduces the official training
    collation, whose loop `for j in range(15 - v)` overwrites the EOS with 0 for every word
    shorter than 15 characters (see notebook 04).
    """
    out = torch.zeros(len(labels), length, dtype=torch.long)
    for b, s in enumerate(labels):
        ids = [_CHAR_TO_ID[c] for c in s if c in _CHAR_TO_ID][: length - 1]
        out[b, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        if keep_eos or len(ids) >= 15:
            out[b, len(ids)] = EOS
    return out


def decode_ids(ids: torch.Tensor | list[list[int]]) -> list[str]:
    """Generated decoder ids -> strings: 0 (start / pad) maps to '', stop at EOS (37)."""
    rows = ids.tolist() if isinstance(ids, torch.Tensor) else ids
    out = []
    for row in rows:
        chars = []
        for i in row:
            if i == EOS:
                break
            if 1 <= i <= len(CHARSET):
                chars.append(CHARSET[i - 1])
        out.append("".join(chars))
    return out
