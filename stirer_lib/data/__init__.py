"""The data layer: TextZoom / MJSynth / SynthText LMDB data sets, transforms, collation.

The synthetic generator lives in stirer_lib.data.synth (`ensure_data`, the CLI); it is not
imported here because it pulls in the word list, fonts and photographs.
"""

from .collate import collate_eval, collate_train
from .lmdb_io import TEST_SPLITS, TRAIN_SPLITS, find_lmdbs, pretrain_dir, split_dir, textzoom_dir
from .lmdb_sets import (
    SynthTextLmdbDataset,
    TextZoomDataset,
    pretrain_set,
    textzoom_split,
    textzoom_train_set,
    training_words,
)
from .transforms import decode_image, hr_tensor, lr_tensor, resize_with_mask

__all__ = [
    "TEST_SPLITS",
    "TRAIN_SPLITS",
    "find_lmdbs",
    "textzoom_dir",
    "pretrain_dir",
    "split_dir",
    "TextZoomDataset",
    "SynthTextLmdbDataset",
    "textzoom_split",
    "textzoom_train_set",
    "training_words",
    "pretrain_set",
    "collate_train",
    "collate_eval",
    "decode_image",
    "hr_tensor",
    "lr_tensor",
    "resize_with_mask",
]
