"""The two LMDB data sets: TextZoom LR/HR pairs and MJSynth / SynthText words (HR only).

Both return items (hr FloatTensor[4, 32, 128], lr FloatTensor[4, 16, 64], label str), the label
already mapped to 0-9a-z (stirer_lib.text.filter_label). At construction the labels (and only
the labels) are read once to build the list of usable records, so __len__ is exact: records whose
label is missing, undecodable or empty after filtering, and (training) longer than max_len, are
skipped and counted, with one warning. An image that fails to decode at read time is, in
training, replaced by the next usable record (deterministic); in evaluation (TextZoomDataset with
train=False) the item is None, which collate_eval drops and counts, so no record is scored twice.
Either way it is counted in `num_bad_reads` and warned about once.
"""

from __future__ import annotations

import os
import warnings
import zlib
from array import array

import numpy as np
import torch
from PIL import Image
from torch.utils.data import ConcatDataset, Dataset

from ..errors import DataError
from ..text import MAX_TRAIN_LABEL_LEN, filter_label
from .degradation import bicubic_shrink, official_lr, random_shrink_factor
from .lmdb_io import HOW_TO_GET_DATA, TRAIN_SPLITS, LazyLmdb, find_lmdbs, pretrain_dir, split_dir
from .transforms import decode_image, hr_tensor, lr_tensor

Item = tuple[torch.Tensor, torch.Tensor, str]
MAX_FALLBACKS = 16  # consecutive undecodable records tolerated before giving up


class ProcessRng:
    """A numpy Generator per process, seeded from torch's per-worker seed (reproducible runs).

    In a DataLoader worker torch.initial_seed() is base_seed + worker_id, where base_seed comes
    from the main process's torch RNG, so torch.manual_seed(s) fixes every worker's stream.
    """

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._key: tuple[int, int] | None = None
        self._rng: np.random.Generator | None = None

    def get(self) -> np.random.Generator:
        key = (os.getpid(), torch.initial_seed())
        if self._rng is None or key != self._key:
            self._rng = np.random.default_rng([self.seed, key[1] % (2**63)])
            self._key = key
        return self._rng

    def __getstate__(self) -> dict:
        return {"seed": self.seed, "_key": None, "_rng": None}


class _LabelledLmdb(Dataset):
    """Shared logic: the usable-record index built from labels, and read-time fallbacks."""

    image_keys: tuple[str, ...] = ()

    def __init__(self, root_lmdb: str | os.PathLike, max_len: int | None):
        self.db = LazyLmdb(root_lmdb)
        self.root = self.db.path
        self.max_len = max_len
        self.num_records = self.db.num_samples()
        self.records, self._blob, self._offsets, self.skipped = self._scan()
        self.num_bad_reads = 0
        self.bad_records: list[int] = []
        if not len(self.records):
            raise DataError(
                f"{self.root / 'data.mdb'}: none of its {self.num_records} records is usable "
                f"({self._skip_text()}); check the labels (keys label-%09d, 1-based)"
            )
        if any(self.skipped.values()):
            warnings.warn(
                f"{self.root}: skipped {sum(self.skipped.values())} of {self.num_records} records "
                f"({self._skip_text()})",
                stacklevel=3,
            )

    def _scan(self) -> tuple[np.ndarray, bytes, np.ndarray, dict[str, int]]:
        """(usable record numbers, their filtered labels as one ASCII blob + offsets, skip counts).

        Compact arrays instead of Python lists: millions of MJSynth labels stay small and are
        shared copy-on-write with forked DataLoader workers.
        """
        skipped = {"missing label": 0, "undecodable label": 0, "empty label": 0, "label too long": 0}
        records, offsets, blob = array("q"), array("q", [0]), bytearray()
        for rec, raw in enumerate(self.db.iter_labels(self.num_records), start=1):
            if raw is None:
                skipped["missing label"] += 1
                continue
            try:
                label = filter_label(raw.decode("utf-8"))
            except UnicodeDecodeError:
                skipped["undecodable label"] += 1
                continue
            if not label:
                skipped["empty label"] += 1
            elif self.max_len is not None and len(label) > self.max_len:
                skipped["label too long"] += 1
            else:
                records.append(rec)
                blob += label.encode("ascii")
                offsets.append(len(blob))
        return np.frombuffer(records, np.int64), bytes(blob), np.frombuffer(offsets, np.int64), skipped

    def rng(self, index: int) -> np.random.Generator:
        """The generator of item `index`'s random augmentation.

        seed set (an int): default_rng([seed, index, crc32 of the LMDB folder name]), the same
        picture each time (a trainer may change `seed` per epoch); seed None: this process's
        stream (ProcessRng), new pictures every epoch, reproducible after torch.manual_seed.
        """
        if self.seed is None:
            return self._rng.get()
        return np.random.default_rng([int(self.seed), index, zlib.crc32(self.root.name.encode())])

    def _skip_text(self) -> str:
        return ", ".join(f"{n} {why}" for why, n in self.skipped.items() if n) or "none skipped"

    def __len__(self) -> int:
        return len(self.records)

    def label(self, index: int) -> str:
        """The filtered label of usable record `index`."""
        return self._blob[self._offsets[index] : self._offsets[index + 1]].decode("ascii")

    @property
    def labels(self) -> list[str]:
        """All filtered labels, in index order."""
        return [self.label(i) for i in range(len(self))]

    def raw_labels(self) -> list[str]:
        """The stored labels (case, punctuation) of the usable records."""
        with self.db.env().begin(write=False, buffers=False) as txn:
            return [txn.get(b"label-%09d" % r).decode("utf-8") for r in self.records.tolist()]

    def load_images(self, index: int) -> list[Image.Image]:
        """The decoded images (image_keys order) of usable record `index`; raises on a bad record."""
        rec = int(self.records[index])
        out = []
        for k in self.image_keys:
            key = f"{k}-{rec:09d}".encode()
            buf = self.db.get(key)
            if buf is None:
                raise KeyError(f"key {key.decode()} missing")
            out.append(decode_image(buf))
        return out

    def load_images_safe(self, index: int) -> tuple[int, list[Image.Image]]:
        """(index actually used, images): on a decoding failure, the next usable record."""
        n = len(self.records)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} usable records of {self.root}")
        index %= n
        for attempt in range(min(MAX_FALLBACKS, n)):
            j = (index + attempt) % n
            try:
                return j, self.load_images(j)
            except Exception as e:  # PIL raises several types for bad bytes
                self._count_bad(j, e)
        raise DataError(
            f"{self.root / 'data.mdb'}: {min(MAX_FALLBACKS, n)} consecutive records from record "
            f"{self.records[index]} could not be decoded; the LMDB looks corrupt, rebuild or "
            f"re-download it"
        )

    def _count_bad(self, index: int, err: Exception, replaced: bool = True) -> None:
        self.num_bad_reads += 1
        self.bad_records.append(int(self.records[index]))
        if self.num_bad_reads == 1:
            what = "using the next record instead" if replaced else "skipped (counted in the batch's 'skipped')"
            warnings.warn(
                f"{self.root / 'data.mdb'}: record {self.records[index]} could not be read "
                f"({type(err).__name__}: {err}); {what}. Further failures are "
                f"counted in dataset.num_bad_reads without more warnings",
                stacklevel=3,
            )


class TextZoomDataset(_LabelledLmdb):
    """TextZoom LR/HR pairs (keys num-samples, label-%09d, image_hr-%09d, image_lr-%09d).

    train=False (evaluation): every non-empty label, LR resized directly to 64 x 16 (the official
    evaluation collation, bit-exact). train=True: labels longer than max_len (default 20) are
    dropped and, when random_shrink (the official training collation), the LR image is first
    shrunk by a random factor (1-3 for TextZoom's 16 px high LR, see degradation.py).
    """

    image_keys = ("image_hr", "image_lr")

    def __init__(
        self,
        root_lmdb: str | os.PathLike,
        train: bool = False,
        max_len: int | None = None,
        random_shrink: bool = True,
        seed: int | None = None,
        skip_bad: bool | None = None,
    ):
        if train and max_len is None:
            max_len = MAX_TRAIN_LABEL_LEN
        super().__init__(root_lmdb, max_len)
        self.train = train
        self.skip_bad = not train if skip_bad is None else skip_bad
        self.random_shrink = random_shrink
        self.seed = seed
        self._rng = ProcessRng(0 if seed is None else seed)

    def __getitem__(self, index: int) -> Item | None:
        if self.skip_bad:  # evaluation: a bad record is skipped and counted, never replaced by another one
            if not -len(self.records) <= index < len(self.records):
                raise IndexError(f"index {index} out of range for {len(self.records)} usable records of {self.root}")
            try:
                hr, lr = self.load_images(index)
            except Exception as e:  # PIL raises several types for bad bytes
                self._count_bad(index, e, replaced=False)
                return None
        else:
            index, (hr, lr) = self.load_images_safe(index)
        if self.train and self.random_shrink:
            lr = bicubic_shrink(lr, random_shrink_factor(lr, self.rng(index)))
        return hr_tensor(hr), lr_tensor(lr), self.label(index)


class SynthTextLmdbDataset(_LabelledLmdb):
    """MJSynth / SynthText words (keys num-samples, image-%09d, label-%09d): HR only.

    The LR image is synthesised on the fly as in the official pre-training (degradation.official_lr:
    blur / noise with p = 0.8, random 1-4x bicubic shrink), then resized to 64 x 16.
    With seed=None the randomness follows torch's per-worker seeds (reproducible after
    torch.manual_seed, new draws every epoch); with an int seed it is fixed per index.
    """

    image_keys = ("image",)

    def __init__(
        self, root_lmdb: str | os.PathLike, max_len: int | None = MAX_TRAIN_LABEL_LEN, seed: int | None = None
    ):
        super().__init__(root_lmdb, max_len)
        self.seed = seed
        self._rng = ProcessRng(0 if seed is None else seed)

    def __getitem__(self, index: int) -> Item:
        index, (img,) = self.load_images_safe(index)
        lr = official_lr(img, self.rng(index))
        return hr_tensor(img), lr_tensor(lr), self.label(index)


def textzoom_split(root: str | os.PathLike, split: str, train: bool | None = None, **kw) -> TextZoomDataset:
    """The TextZoom split of a data ROOT ('train1', 'train2', 'easy', 'medium', 'hard')."""
    train = split in TRAIN_SPLITS if train is None else train
    return TextZoomDataset(split_dir(root, split), train=train, **kw)


def textzoom_train_set(root: str | os.PathLike, **kw) -> ConcatDataset:
    """train1 + train2 of a data ROOT in training mode (the fine-tuning set)."""
    return ConcatDataset([textzoom_split(root, s, train=True, **kw) for s in TRAIN_SPLITS])


def pretrain_set(root: str | os.PathLike, **kw) -> ConcatDataset:
    """Every MJ/ST-format LMDB under ROOT/pretrain (the pre-training set)."""
    paths = find_lmdbs(pretrain_dir(root))
    if not paths:
        raise DataError(f"no LMDB (data.mdb) under {pretrain_dir(root)}. {HOW_TO_GET_DATA}")
    return ConcatDataset([SynthTextLmdbDataset(p, **kw) for p in paths])


def training_words(*roots: str | os.PathLike) -> frozenset[str]:
    """The filtered labels a model trained on these data ROOTs has seen: TextZoom train1 + train2 (as training reads
    them) and every pretraining LMDB under ROOT/pretrain; the evaluation's seen / unseen split is computed from it."""
    words: set[str] = set()
    for root in roots:
        for ds in (*textzoom_train_set(root).datasets, *pretrain_set(root).datasets):
            words.update(ds.labels)
    return frozenset(words)
