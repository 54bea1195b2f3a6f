"""The feature encoder of STIRER: progressive scene text Swin transformer (PSTST), Eq. (1).

h_0 = conv_first(I_LR); for i = 1..L:  h_i, I_SR^i, p_i = phi_i(h_{i-1})  (Eq. 1)
Each basic PSTST block phi_i runs N_i Swin transformer layers, a 3-conv residual and a Bi-GRU
recurrent residual block (TSRN's SRB), and, in training, two mini decoders that read h_i:
- mini STISR decoder (Eq. 2): I_SR^i = PixelShuffle(conv(conv(h_i) + h_0)), 4 x 32 x 128;
- mini STR decoder (Eq. 3): p_i = Linear(ViT(h_i)), a CTC distribution over 32 column patches.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .swin import SwinStage
from .vit import ViTEncoder


def three_conv(dim: int) -> nn.Sequential:
    """SwinIR's '3conv' residual: 3x3 to dim/4, LReLU, 1x1, LReLU, 3x3 back to dim."""
    return nn.Sequential(
        nn.Conv2d(dim, dim // 4, 3, 1, 1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(dim // 4, dim // 4, 1),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(dim // 4, dim, 3, 1, 1),
    )


def pixel_shuffle_head(dim: int, out_chans: int, scale: int) -> nn.Sequential:
    """SwinIR's 'pixelshuffledirect' upsampler: 3x3 conv to out*s^2 channels, PixelShuffle(s)."""
    return nn.Sequential(nn.Conv2d(dim, out_chans * scale**2, 3, 1, 1), nn.PixelShuffle(scale))


def bidirectional_gru(x: torch.Tensor, gru: nn.GRU) -> torch.Tensor:
    """nn.GRU(bidirectional, one layer, batch_first) on x [N,T,C] -> [N,T,2H], each device's fastest way:
    on CPU the time loop of `bidirectional_gru_loop` (measured faster there), elsewhere nn.GRU itself (cuDNN's
    fused kernel on CUDA). Both compute the same numbers (tests/test_speed.py: forward and gradients)."""
    if x.device.type == "cpu":
        return bidirectional_gru_loop(x, gru)
    return gru(x)[0]


def bidirectional_gru_loop(x: torch.Tensor, gru: nn.GRU) -> torch.Tensor:
    """nn.GRU(bidirectional, one layer, batch_first) on x [N,T,C] -> [N,T,2H], both directions in one loop.

    The same GRU equations as torch (r, z = sigmoid(W_i x + b_i + W_h h + b_h); n = tanh(W_in x + b_in +
    r * (W_hn h + b_hn)); h' = n + z (h - n)), with the forward and the time-reversed backward direction
    stacked as a batch of 2: 8 ops per time step for both directions instead of ~10 for each, which
    matters on CPU where every small op pays a thread synchronisation (same outputs within 1e-6)."""
    hid = gru.hidden_size
    n_seq, steps, _ = x.shape
    w_ih = torch.cat([gru.weight_ih_l0, gru.weight_ih_l0_reverse], 0)
    b_ih = torch.cat([gru.bias_ih_l0, gru.bias_ih_l0_reverse], 0)
    w_hh = (gru.weight_hh_l0.t(), gru.weight_hh_l0_reverse.t())  # [H,3H] each
    b_hh = (gru.bias_hh_l0, gru.bias_hh_l0_reverse)
    gi = F.linear(x, w_ih, b_ih).view(n_seq, steps, 2, 3 * hid)  # input projections of all steps at once
    gi = torch.stack([gi[:, :, 0].transpose(0, 1), gi[:, :, 1].flip(1).transpose(0, 1)], 1)  # [T,2,N,3H]
    gi_rz, gi_n = gi[..., : 2 * hid].unbind(0), gi[..., 2 * hid :].unbind(0)
    h = x.new_zeros(2, n_seq, hid)
    outs = []
    for t in range(steps):  # addmm per direction: models.efficiency counts these as the GRU's MACs
        gh = torch.stack([torch.addmm(b_hh[d], h[d], w_hh[d]) for d in (0, 1)])  # [2,N,3H]
        r, z = torch.sigmoid(gh[..., : 2 * hid].add(gi_rz[t])).split(hid, -1)
        n = torch.tanh(torch.addcmul(gi_n[t], r, gh[..., 2 * hid :]))
        h = torch.lerp(n, h, z)
        outs.append(h)
    out = torch.stack(outs, 0)  # [T,2,N,H], the backward direction in reversed time
    return torch.cat([out[:, 0], out[:, 1].flip(0)], -1).transpose(0, 1)


class GruBlock(nn.Module):
    """1x1 conv + BN, then a bidirectional GRU along the width of every row: [B,C,H,W] -> [B,C,H,W]."""

    def __init__(self, channels: int):
        super().__init__()
        if channels % 2:
            raise ValueError(f"GruBlock needs an even channel count, got {channels}")
        self.conv1 = nn.Conv2d(channels, channels, 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.gru = nn.GRU(channels, channels // 2, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))
        b, c, h, w = x.shape
        seq = x.permute(0, 2, 3, 1).reshape(b * h, w, c)  # one sequence per row
        seq = bidirectional_gru(seq, self.gru)
        return seq.reshape(b, h, w, c).permute(0, 3, 1, 2)


class RecurrentResidualBlock(nn.Module):
    """TSRN's sequential residual block: conv-BN-Mish-conv-BN, Bi-GRU along the height (gru1),
    add the input, Bi-GRU along the width (gru2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.gru1 = GruBlock(channels)
        self.act = nn.Mish()
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.gru2 = GruBlock(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))
        r = self.gru1(r.transpose(-1, -2)).transpose(-1, -2)  # rows of the transpose = columns
        return self.gru2(x + r)


def tokens_to_map(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[B,H*W,C] -> [B,C,H,W] (SwinIR's patch_unembed)."""
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], size[0], size[1])


def map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """[B,C,H,W] -> [B,H*W,C] (SwinIR's patch_embed without norm)."""
    return x.flatten(2).transpose(1, 2)


class PatchEmbedNorm(nn.Module):
    """Flatten the h_0 map to tokens and LayerNorm them (`patch_embed.norm`)."""

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(map_to_tokens(x))


class PSTSTBlock(nn.Module):
    """Basic PSTST block phi_i (Eq. 1): STLs -> 3-conv -> Bi-GRU block = g_i;  h_i = h_{i-1} + g_i.

    With mini decoders (training build) it also returns I_SR^i (Eq. 2) and p_i (Eq. 3), both
    read from g_i (the block's branch before the residual sum):
      I_SR^i = PixelShuffle(conv(conv_after_body(g_i) + g_i)),  p_i = fc(ViT(g_i)) [B,32,37].
    """

    def __init__(
        self,
        dim: int,
        img_size: tuple[int, int],
        depth: int,
        num_heads: int,
        ws: tuple[int, int],
        mlp_ratio: float,
        drop_path: list[float],
        mask_value: float,
        use_bigru: bool,
        mini_decoders: bool,
        mini_vit: dict | None = None,
        in_chans: int = 4,
        upscale: int = 2,
        num_classes: int = 37,
    ):
        super().__init__()
        self.img_size = tuple(img_size)
        self.residual_group = SwinStage(dim, img_size, depth, num_heads, ws, mlp_ratio, drop_path, mask_value)
        self.conv = three_conv(dim)
        self.gru = RecurrentResidualBlock(dim) if use_bigru else nn.Identity()
        self.has_mini_decoders = mini_decoders
        if mini_decoders:
            mv = mini_vit or dict(dim=192, depth=6, heads=3, mlp_ratio=4.0)
            self.vit = ViTEncoder(dim, img_size, ws, mv["dim"], mv["depth"], mv["heads"], mv["mlp_ratio"])
            self.fc = nn.Linear(mv["dim"], num_classes)
            self.conv_after_body = nn.Conv2d(dim, dim, 3, 1, 1)
            self.upsample = pixel_shuffle_head(dim, in_chans, upscale)

    def forward(
        self, t: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """t = h_{i-1} [B,H*W,C] -> (h_i [B,H*W,C], I_SR^i [B,4,2H,2W] or None, p_i [B,32,37] or None)."""
        g = tokens_to_map(self.residual_group(t, size), size)  # [B,C,H,W]
        g = self.gru(self.conv(g))
        h = t + map_to_tokens(g)
        if not self.has_mini_decoders:
            return h, None, None
        sr = self.upsample(self.conv_after_body(g) + g)  # Eq. (2)
        logits = self.fc(self.vit(g))  # Eq. (3): [B,32,num_classes] raw CTC scores
        return h, sr, logits
