"""Swin transformer layers (STL) with full-height windows, as in the PSTST blocks (Liu et al. 2021; SwinIR).

A word image's 16 x 64 feature map is cut into 32 windows of 16 x 2 pixels (a full-height column
pair: STIRER's window is [H, W/32] in every configuration, and these layers take no other). Attention
runs inside each window with a learned relative-position bias; every odd layer rolls the map by half
a window (8 x 1) first, so information crosses window borders, and masks (value -100) the pairs that
the roll made neighbours although they are not. Parameter names and the state_dict's buffers follow
timm / SwinIR and the release (`norm1`, `attn.qkv`, `attn.relative_position_bias_table`,
`attn.relative_position_index`, `attn_mask`, `mlp.fc1`, ...), so the released checkpoint loads strictly.

Layout: a stage keeps its tokens column-major (rows_to_cols), so every window is a contiguous run of
tokens (a view, no partition copy), the shift along the width is one flat roll, and the shift along
the height, a cyclic roll inside each full-height window, becomes a fixed permutation of the window's
slots (cols_slot_order) folded into the gathered bias and mask: attention is equivariant to permuting
a window's tokens together with its bias and mask, so the outputs are the release's row-major
partition-roll-attend computation (tests/test_speed.py). Attention runs in
F.scaled_dot_product_attention with bias + mask as one additive float mask (-100 where masked, as
released). The relative-position index and the masks depend only on shapes: buffers computed once
(cached per width when another width comes in), never per forward.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def window_partition(x: torch.Tensor, ws: tuple[int, int]) -> torch.Tensor:
    """[B,H,W,C] -> [B*nW, wh*ww, C], windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws[0], ws[0], w // ws[1], ws[1], c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, ws[0] * ws[1], c)


def relative_position_index(ws: tuple[int, int]) -> torch.Tensor:
    """[N,N] index into the (2wh-1)(2ww-1) bias table for every query/key pair of a window."""
    coords = torch.stack(torch.meshgrid(torch.arange(ws[0]), torch.arange(ws[1]), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # [N,N,2]
    rel[:, :, 0] += ws[0] - 1
    rel[:, :, 1] += ws[1] - 1
    return rel[:, :, 0] * (2 * ws[1] - 1) + rel[:, :, 1]


def shift_regions(size: tuple[int, int], ws: tuple[int, int], shift: tuple[int, int]) -> torch.Tensor:
    """[H,W] region id per pixel of the rolled map: the roll makes the last window row / column wrap,
    and tokens of different regions were never neighbours."""
    region = torch.zeros(size)
    cnt = 0
    for hs in (slice(0, -ws[0]), slice(-ws[0], -shift[0]), slice(-shift[0], None)):
        for wsl in (slice(0, -ws[1]), slice(-ws[1], -shift[1]), slice(-shift[1], None)):
            region[hs, wsl] = cnt
            cnt += 1
    return region


def shift_attention_mask(
    size: tuple[int, int], ws: tuple[int, int], shift: tuple[int, int], value: float = -100.0
) -> torch.Tensor:
    """[nW,N,N] mask: 0 where two tokens came from the same region before the roll, `value` else."""
    ids = window_partition(shift_regions(size, ws, shift)[None, :, :, None], ws).squeeze(-1)  # [nW,N]
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.where(diff == 0, 0.0, value)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability p (training)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2 (timm names)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def window_softmax_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + bias) v with PyTorch's fused kernel; bias [..., N, N] broadcasts over the
    leading dims of q. It is expanded to q's 4-D batch shape (a stride-0 view): the CPU flash kernel takes
    such a mask, a broadcasting 3-D one sends SDPA to its slower math path."""
    bias = bias.to(q.dtype).expand(*q.shape[:-2], *bias.shape[-2:])
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def cols_slot_order(ws: tuple[int, int], shift_h: int) -> torch.Tensor:
    """[N] for full-height windows: column-major slot s = c*wh + row (rows before the roll) -> the
    release's slot in its rolled, row-major window: ((row - shift_h) mod wh) * ww + c."""
    c, row = torch.meshgrid(torch.arange(ws[1]), torch.arange(ws[0]), indexing="ij")
    return (((row - shift_h) % ws[0]) * ws[1] + c).flatten()


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a relative-position bias per head."""

    def __init__(self, dim: int, ws: tuple[int, int], num_heads: int):
        super().__init__()
        self.ws, self.num_heads = ws, num_heads
        n_rel = (2 * ws[0] - 1) * (2 * ws[1] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(n_rel, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(ws))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def position_bias(self, index: torch.Tensor) -> torch.Tensor:
        """[heads,N,N] bias gathered from the table; index: relative_position_index [N,N] in the window's slot
        order (the layer's column-major cols_index)."""
        n = self.ws[0] * self.ws[1]
        bias = self.relative_position_bias_table[index.reshape(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, index: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x [B*nW,N,C], index as in position_bias, mask [nW,N,N] in the same slot order or None -> [B*nW,N,C]."""
        bw, n, c = x.shape
        qkv = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B*nW,heads,N,hd]
        bias = self.position_bias(index)  # [heads,N,N]
        if mask is not None:  # fold windows into heads: one [nW*heads,N,N] additive mask
            nw = mask.shape[0]
            bias = (bias.unsqueeze(0) + mask.unsqueeze(1)).flatten(0, 1)
            q, k, v = (t.reshape(bw // nw, nw * self.num_heads, n, -1) for t in (q, k, v))
        out = window_softmax_attention(q, k, v, bias)
        out = out.reshape(bw, self.num_heads, n, -1).transpose(1, 2).reshape(bw, n, c)
        return self.proj(out)


class SwinTransformerLayer(nn.Module):
    """One STL on column-major tokens: x + DropPath(W-MSA or SW-MSA(LN(x))), then x + DropPath(MLP(LN(x)))."""

    def __init__(
        self,
        dim: int,
        img_size: tuple[int, int],
        ws: tuple[int, int],
        num_heads: int,
        shifted: bool,
        mlp_ratio: float = 2.0,
        drop_path: float = 0.0,
        mask_value: float = -100.0,
    ):
        super().__init__()
        if ws[0] != img_size[0]:
            raise ValueError(
                f"STIRER's Swin windows span the full height of the feature map ([H, W/32]); got "
                f"window {tuple(ws)} on a {tuple(img_size)} map"
            )
        self.ws, self.img_size, self.mask_value = ws, tuple(img_size), mask_value
        self.shift = (ws[0] // 2, ws[1] // 2) if shifted else (0, 0)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shift_attention_mask(self.img_size, ws, self.shift, mask_value) if shifted else None
        self.register_buffer("attn_mask", mask)  # the release's row-major mask, kept for its state_dict key
        # the index and mask in column-major slot order, which the forward reads (not in the state_dict)
        order = cols_slot_order(ws, self.shift[0])
        self.register_buffer("cols_index", self.attn.relative_position_index[order][:, order], persistent=False)
        self.register_buffer("cols_mask", None if mask is None else mask[:, order][:, :, order], persistent=False)
        self._masks: dict[tuple, torch.Tensor] = {}

    def mask_for(self, size: tuple[int, int], device: torch.device) -> torch.Tensor | None:
        """The shift mask [nW,N,N] in column-major slot order for this input size: the buffer, or one
        computed once per other width; None for an unshifted layer."""
        if self.shift == (0, 0):
            return None
        if tuple(size) == self.img_size:
            return self.cols_mask
        key = (size[0], size[1], device)
        if key not in self._masks:
            order = cols_slot_order(self.ws, self.shift[0])
            mask = shift_attention_mask(size, self.ws, self.shift, self.mask_value)
            self._masks[key] = mask[:, order][:, :, order].to(device)
        return self._masks[key]

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """x [B,W*H,C] column-major tokens (rows_to_cols) of an H x W map, H the window height -> [B,W*H,C]:
        windows are views, the width shift one flat roll, the height shift folded into cols_index / the mask."""
        h = size[0]
        if h != self.ws[0]:
            raise ValueError(
                f"an STL with {tuple(self.ws)} windows takes maps {self.ws[0]} rows high, got {tuple(size)}"
            )
        b, n_tok, c = x.shape
        roll = self.shift[1] * h
        y = self.norm1(x)
        if roll:
            y = torch.roll(y, -roll, dims=1)
        y = self.attn(y.view(-1, self.ws[0] * self.ws[1], c), self.cols_index, self.mask_for(size, x.device))
        y = y.view(b, n_tok, c)
        if roll:
            y = torch.roll(y, roll, dims=1)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


def rows_to_cols(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Row-major tokens [B,H*W,C] -> column-major [B,W*H,C]."""
    b, _, c = x.shape
    return x.view(b, size[0], size[1], c).transpose(1, 2).reshape(b, -1, c)


def cols_to_rows(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Column-major tokens [B,W*H,C] -> row-major [B,H*W,C]."""
    b, _, c = x.shape
    return x.view(b, size[1], size[0], c).transpose(1, 2).reshape(b, -1, c)


class SwinStage(nn.Module):
    """The STLs of one PSTST block (`residual_group.blocks.i`), shifted windows on odd layers."""

    def __init__(
        self,
        dim: int,
        img_size: tuple[int, int],
        depth: int,
        num_heads: int,
        ws: tuple[int, int],
        mlp_ratio: float,
        drop_path: list[float],
        mask_value: float = -100.0,
    ):
        super().__init__()
        self.ws = ws
        self.blocks = nn.ModuleList(
            SwinTransformerLayer(
                dim,
                img_size,
                ws,
                num_heads,
                shifted=i % 2 == 1,
                mlp_ratio=mlp_ratio,
                drop_path=drop_path[i],
                mask_value=mask_value,
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Row-major tokens [B,H*W,C] -> [B,H*W,C]; column-major from the first layer to the last."""
        if not len(self.blocks):
            return x
        x = rows_to_cols(x, size)
        for blk in self.blocks:
            x = blk(x, size)
        return cols_to_rows(x, size)
