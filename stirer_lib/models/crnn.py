"""CRNN, the recogniser that judges super-resolved images (Shi et al., TPAMI 2017; meijieru crnn.pytorch).

`CRNN(imgH=32, nc=1, nclass=37, nh=256)`: a VGG-style CNN turns a 1 x 32 x 128 gray word image
into a 512 x 1 x 33 feature row, two bidirectional LSTMs read the 33 columns left to right and
right to left, and a linear layer scores 37 classes per column (0 = CTC blank, 1-36 = 0-9a-z).
The parameter names are crnn.pytorch's (`cnn.conv0` ... `rnn.1.embedding`), so its `crnn.pth`
loads strictly. As in the STIRER evaluation, RGB input is turned into gray inside the forward
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
from ..errors import MissingCheckpointError
from ..text import NUM_CTC_CLASSES

GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as the official evaluation

# (out channels, kernel, padding, batch norm) of conv0..conv6; pools follow conv0, conv1, conv3, conv5
_CONVS = [(64, 3, 1, False), (128, 3, 1, False), (256, 3, 1, True), (256, 3, 1, False),
          (512, 3, 1, True), (512, 3, 1, False), (512, 2, 0, True)]
_POOLS = {0: ((2, 2), (2, 2), (0, 0)), 1: ((2, 2), (2, 2), (0, 0)),
          3: ((2, 2), (2, 1), (0, 1)), 5: ((2, 2), (2, 1), (0, 1))}  # kernel, stride, padding


class BidirectionalLSTM(nn.Module):
    """A bidirectional LSTM over the columns, then a linear layer per time step: [T,B,nIn] -> [T,B,nOut]."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int):
        super().__init__()
        self.rnn = nn.LSTM(n_in, n_hidden, bidirectional=True)
        self.embedding = nn.Linear(n_hidden * 2, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(x)  # [T, B, 2 * n_hidden]
        return self.embedding(h)  # [T, B, n_out]


def _cnn(nc: int) -> nn.Sequential:
    """conv0..conv6 with ReLU, BN after conv2/4/6 and four max-pools: [B,nc,32,W] -> [B,512,1,W/4+1]."""
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    c_in = nc
    for i, (c_out, k, p, bn) in enumerate(_CONVS):
        layers[f"conv{i}"] = nn.Conv2d(c_in, c_out, k, 1, p)
        if bn:
            layers[f"batchnorm{i}"] = nn.BatchNorm2d(c_out)
        layers[f"relu{i}"] = nn.ReLU(True)
        if i in _POOLS:
            kernel, stride, pad = _POOLS[i]
            layers[f"pooling{len([j for j in _POOLS if j < i])}"] = nn.MaxPool2d(kernel, stride, pad)
        c_in = c_out
    return nn.Sequential(layers)


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

    def __init__(self, imgH: int = 32, nc: int = 1, nclass: int = 37, nh: int = 256):
        super().__init__()
        if imgH != 32:
            raise ValueError(f"CRNN here is built for 32-pixel-high images (imgH=32), got imgH={imgH}")
        self.nc = nc
        self.cnn = _cnn(nc)
        self.rnn = nn.Sequential(BidirectionalLSTM(512, nh, nh), BidirectionalLSTM(nh, nh, nclass))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B,C,32,W] in [0,1] -> scores [W/4+1, B, nclass] (33 steps for W=128)."""
        if images.dim() != 4 or images.shape[2] != 32:
            raise ValueError(f"CRNN expects [B, C, 32, W] images, got shape {tuple(images.shape)}")
        x = to_gray(images) if self.nc == 1 else images
        conv = self.cnn(x)  # [B, 512, 1, T]
        conv = conv.squeeze(2).permute(2, 0, 1)  # [T, B, 512]
        return self.rnn(conv)  # [T, B, nclass]


def load_crnn(path_or_state_dict: str | os.PathLike | dict, map_location: str | torch.device = "cpu") -> CRNN:
    """Build CRNN(32, 1, 37, 256) and load crnn.pytorch's layout strictly; returns the model in eval mode.

    Accepts a path (crnn.pth or our RUN/crnn/crnn.pt, read weights-only), our checkpoint dict
    {"model": ...} or a plain state_dict. Missing or unexpected keys, or a shape mismatch, raise a
    CheckpointError that lists them.
    """
    obj = path_or_state_dict
    source = f"CRNN checkpoint {obj}" if isinstance(obj, (str, os.PathLike)) else "CRNN state_dict"
    if isinstance(obj, (str, os.PathLike)):
        if not Path(obj).exists():
            raise MissingCheckpointError(f"no CRNN checkpoint at {obj}: train one in notebook 02 (saved to "
                                  "RUN/crnn/crnn.pt) or put crnn.pytorch's crnn.pth in ckpt/ (ckpt/README.md)")
        obj = read(obj, "CRNN checkpoint")
    model = CRNN(HR_HEIGHT, 1, NUM_CTC_CLASSES, 256)
    load_strict(model, state_dict_of(obj, source), source, "expected crnn.pytorch's CRNN(32, 1, 37, 256) layout")
    return model.to(map_location).eval()
