"""STIRER and CRNN models: configs, building, strict checkpoint loading, outputs as strings.

Where each part of the paper lives:
  config.py      StirerConfig (release defaults, small(), Table 3 ablation switches)
  swin.py        Swin transformer layers with 16 x 2 (shifted) windows
  vit.py         the column-patch ViT encoder (mini STR decoders, STR decoder)
  pstst.py       Bi-GRU recurrent residual block, basic PSTST block + mini decoders (Eqs. 1-3)
  decoders.py    STISR decoder (Eq. 4), STR decoder with T5 (Eqs. 5-6)
  stirer.py      STIRER, StirerOutput, predictions()
  loading.py     our checkpoint dict, load_stirer (our checkpoints and the official state_dict, strict)
  efficiency.py  parameters and multiply-adds per component vs the paper's Table 5
  crnn.py        the CRNN recogniser used to judge SR images
"""

from .config import CONFIG_NAMES, StirerConfig, config_from_name
from .crnn import CRNN, load_crnn
from .loading import checkpoint_dict, load_stirer, read_checkpoint, save_checkpoint
from .stirer import STIRER, StirerOutput, build_stirer, count_parameters, is_mini_decoder_key, predictions

__all__ = [
    "StirerConfig",
    "config_from_name",
    "CONFIG_NAMES",
    "STIRER",
    "StirerOutput",
    "build_stirer",
    "checkpoint_dict",
    "load_stirer",
    "read_checkpoint",
    "save_checkpoint",
    "is_mini_decoder_key",
    "predictions",
    "count_parameters",
    "CRNN",
    "load_crnn",
]
