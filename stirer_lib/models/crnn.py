"""CRNN, the recogniser that judges super-resolved images (Shi et al., TPAMI 2017; meijieru crnn.pytorch).

`CRNN(imgH=32, nc=1, nclass=37, nh=256, width=1.0)`: a VGG-style CNN turns a 1 x 32 x 128 gray word image
into a 512 x 1 x 33 feature row, two bidirectional LSTMs read the 33 columns left to right and
right to left, and a linear layer scores 37 classes per column (0 = CTC blank, 1-36 = 0-9a-z).
The parameter names are crnn.pytorch's (`cnn.conv0` ... `rnn.1.embedding`), so its `crnn.pth`
loads strictly. `width` scales every convolution's channels (not in crnn.pytorch: the cpu profile's
CRNN is half as wide, about 4 x cheaper, and learns as fast per image; docs/EXPERIMENTS.md, "The CRNN in a
short run"). As in the STIRER evaluation, RGB input is turned into gray inside the forward
(0.299 R + 0.587 G + 0.114 B) and fed in [0, 1] without any mean shift (docs/DESIGN.md section 4).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn as nn

from ..checkpoint import load_strict, read, state_dict_of
from ..constants import HR_HEIGHT
from ..errors import CheckpointError, MissingCheckpointError
from ..text import NUM_CTC_CLASSES

GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as the official evaluation

# (out channels, kernel, padding, batch norm) of conv0..conv6; pools follow conv0, conv1, conv3, conv5
_CONVS = [
    (64, 3, 1, False),
    (128, 3, 1, False),
    (256, 3, 1, True),
    (256, 3, 1, False),
    (512, 3, 1, True),
    (512, 3, 1, False),
    (512, 2, 0, True),
]
_POOLS = {
    0: ((2, 2), (2, 2), (0, 0)),
    1: ((2, 2), (2, 2), (0, 0)),
    3: ((2, 2), (2, 1), (0, 1)),
    5: ((2, 2), (2, 1), (0, 1)),
}  # kernel, stride, padding


class BidirectionalLSTM(nn.Module):
    """A bidirectional LSTM over the columns, then a linear layer per time step: [T,B,nIn] -> [T,B,nOut]."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        super().__init__()
        self.rnn = nn.LSTM(n_in, n_hidden, bidirectional=True)
        self.embedding = nn.Linear(n_hidden * 2, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # [T, B, 2 * n_hidden]
        return self.embedding(h)  # [T, B, n_out]


def _cnn(nc: int, width: float = 1.0) -> nn.Sequential:
    """conv0..conv6 with ReLU, BN after conv2/4/6 and four max-pools: [B,nc,32,W] -> [B,512*width,1,W/4+1]."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    c_in = nc
    for i, (c_out, k, p, bn) in enumerate(_CONVS):
        c_out = scaled(c_out, width)
        layers[f"conv{i}"] = nn.Conv2d(c_in, c_out, k, 1, p)
        if bn:
            layers[f"batchnorm{i}"] = nn.BatchNorm2d(c_out)
        layers[f"relu{i}"] = nn.ReLU(True)
        if i in _POOLS:
            kernel, stride, pad = _POOLS[i]
            layers[f"pooling{len([j for j in _POOLS if j < i])}"] = nn.MaxPool2d(kernel, stride, pad)
        c_in = c_out
    return nn.Sequential(layers)


def scaled(channels: int, width: float) -> int:
    """A layer's channel count at a width multiplier (at least 8)."""
    return max(8, int(round(channels * width)))


def to_gray(images: torch.Tensor) -> torch.Tensor:
    """[B,C,H,W] with C=1 (gray), 3 (RGB) or 4 (RGB + mask, mask ignored) -> [B,1,H,W] gray."""
    c = images.shape[1]
    if c == 1:
        return images
    if c not in (3, 4):
        raise ValueError(f"CRNN input has {c} channels; give 1 (gray), 3 (RGB) or 4 (RGB + mask)")
    r, g, b = images[:, 0:1], images[:, 1:2], images[:, 2:3]
    return GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b


class CRNN(nn.Module):
    """crnn.pytorch's CRNN: CNN -> 2 x BiLSTM; returns raw scores [T=W/4+1, B, nclass] (time-major)."""

    def __init__(self, imgH: int = 32, nc: int = 1, nclass: int = 37, nh: int = 256, width: float = 1.0):
        super().__init__()
        if imgH != 32:
            raise ValueError(f"CRNN here is built for 32-pixel-high images (imgH=32), got imgH={imgH}")
        self.nc, self.nh, self.width = nc, nh, width
        self.cnn = _cnn(nc, width)
        c = scaled(512, width)
        self.rnn = nn.Sequential(BidirectionalLSTM(c, nh, nh), BidirectionalLSTM(nh, nh, nclass))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B,C,32,W] in [0,1] -> scores [W/4+1, B, nclass] (33 steps for W=128)."""
        if images.dim() != 4 or images.shape[2] != 32:
            raise ValueError(f"CRNN expects [B, C, 32, W] images, got shape {tuple(images.shape)}")
        x = to_gray(images) if self.nc == 1 else images
        conv = self.cnn(x)  # [B, 512, 1, T]
        conv = conv.squeeze(2).permute(2, 0, 1)  # [T, B, 512]
        return self.rnn(conv)  # [T, B, nclass]


def crnn_config(crnn: CRNN) -> dict | None:
    """What a checkpoint records to rebuild this CRNN: None for crnn.pytorch's layout, else its width / hidden size."""
    if crnn.width == 1.0 and crnn.nh == 256 and crnn.nc == 1:
        return None
    return {"width": float(crnn.width), "nh": int(crnn.nh), "nc": int(crnn.nc)}


def build_crnn(config: dict | None = None) -> CRNN:
    """CRNN(32, nc, 37, nh, width) from a checkpoint's "config" (None: crnn.pytorch's CRNN(32, 1, 37, 256))."""
    cfg = dict(config or {})
    unknown = sorted(set(cfg) - {"width", "nh", "nc"})
    if unknown:
        raise ValueError(f"unknown CRNN config keys {unknown}; known: width, nh, nc")
    return CRNN(
        HR_HEIGHT, int(cfg.get("nc", 1)), NUM_CTC_CLASSES, int(cfg.get("nh", 256)), float(cfg.get("width", 1.0))
    )


def load_crnn(path_or_state_dict: str | os.PathLike | dict, map_location: str | torch.device = "cpu") -> CRNN:
    """Build the CRNN a checkpoint describes and load it strictly; returns the model in eval mode.

    Accepts a path (crnn.pth or our RUN/crnn/crnn.pt, read weights-only), our checkpoint dict
    {"model": ..., "config": None | {"width", "nh"}} or a plain state_dict (crnn.pytorch's
    CRNN(32, 1, 37, 256)). Missing or unexpected keys, or a shape mismatch, raise a CheckpointError
    that lists them.
    """
    obj = path_or_state_dict
    source = f"CRNN checkpoint {obj}" if isinstance(obj, (str, os.PathLike)) else "CRNN state_dict"
    if isinstance(obj, (str, os.PathLike)):
        if not Path(obj).exists():
            raise MissingCheckpointError(
                f"no CRNN checkpoint at {obj}: train one in notebook 02 (saved to "
                "RUN/crnn/crnn.pt) or put crnn.pytorch's crnn.pth in ckpt/ (ckpt/README.md)"
            )
        obj = read(obj, "CRNN checkpoint")
    config = obj.get("config") if isinstance(obj, dict) and "model" in obj else None
    try:
        model = build_crnn(config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: its CRNN config {config!r} cannot be built ({e})") from None
    layout = (
        "expected crnn.pytorch's CRNN(32, 1, 37, 256) layout"
        if config is None
        else f"expected a CRNN of width {model.width:g} and hidden size {model.nh}"
    )
    load_strict(model, state_dict_of(obj, source), source, layout)
    return model.to(map_location).eval()
