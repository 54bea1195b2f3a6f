"""STIRER: one model that super-resolves and reads a low-resolution word image (Zhao et al. 2023).

    h_0 = conv_first(I_LR)                                  3x3 conv, 4 -> C' channels
    h_i, I_SR^i, p_i = phi_i(h_{i-1}),  i = 1..L           Eq. (1), PSTST blocks (pstst.py)
    h_L = LN(h_L)
    I_SR = Phi_SR(I_LR, h_L, h_0)                           Eq. (4) (decoders.py)
    p_{L+1} = Phi_Rec(I_LR, h_L)                            Eqs. (5-6) (decoders.py)

The modules carry the official state_dict names (conv_first, patch_embed.norm, layers.i.*, norm,
last_sr, down_conv, conv_after_body, upsample, vit, decoder.*), so the release loads as it is.
The 4-channel input is not mean-shifted (the release's img_range = 1, mean = 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..scoring import bicubic_upsample
from ..text import ctc_greedy_decode, decode_ids
from .config import StirerConfig
from .decoders import build_stisr_decoder, build_str_decoder, greedy_generate, stisr_decode, str_encode, teacher_forced
from .pstst import PatchEmbedNorm, PSTSTBlock, tokens_to_map

# state_dict key prefixes of the decoders; the encoder is the rest minus the per-block mini decoders
MINI_DECODER_KEY = re.compile(r"^layers\.\d+\.(vit|fc|conv_after_body|upsample)\.")
STISR_PREFIXES = ("last_sr.", "down_conv.", "conv_after_body.", "upsample.")
STR_PREFIXES = ("vit.", "decoder.")


@dataclass
class StirerOutput:
    """What STIRER returns; fields of parts an ablation removed stay None / empty.

    sr [B,4,32,128] final SR; srs: intermediate SRs (one per PSTST block, mini decoders only);
    ctc_logits: [B,32,37] raw CTC scores per block; text_ids [B,21] greedy ids (start token first);
    text_scores [B,20,38] the logits of each greedy step; ar_logits [B,31,38] the teacher-forced logits
    (only with labels; stirer_lib.losses.decoder_ce turns them into L_CE of Eq. 8); features: h_L [B,C',16,64].
    """

    sr: torch.Tensor | None = None
    srs: list[torch.Tensor] = field(default_factory=list)
    ctc_logits: list[torch.Tensor] = field(default_factory=list)
    text_ids: torch.Tensor | None = None
    text_scores: torch.Tensor | None = None
    ar_logits: torch.Tensor | None = None
    features: torch.Tensor | None = None


class STIRER(nn.Module):
    """Scene text image super-resolution and recognition in one model (feature encoder + two decoders)."""

    def __init__(self, cfg: StirerConfig | None = None):
        super().__init__()
        cfg = cfg or StirerConfig()
        self.config = cfg
        c = cfg.embed_dim
        self.conv_first = nn.Conv2d(cfg.in_chans, c, 3, 1, 1)
        self.patch_embed = PatchEmbedNorm(c)
        depths = cfg.depths if cfg.use_pstst else ()
        n_stl = sum(depths) if cfg.use_stl else 0
        dpr = torch.linspace(0, cfg.drop_path_rate, max(n_stl, 1)).tolist()  # stochastic depth, linear
        mini_vit = dict(
            dim=cfg.mini_vit_dim, depth=cfg.mini_vit_depth, heads=cfg.mini_vit_heads, mlp_ratio=cfg.mini_vit_mlp_ratio
        )
        self.layers = nn.ModuleList()
        start = 0
        for depth, heads in zip(depths, cfg.num_heads):
            d = depth if cfg.use_stl else 0
            self.layers.append(
                PSTSTBlock(
                    c,
                    cfg.img_size,
                    d,
                    heads,
                    cfg.window_size,
                    cfg.mlp_ratio,
                    dpr[start : start + d],
                    cfg.mask_value,
                    cfg.use_bigru,
                    cfg.mini_decoders,
                    mini_vit,
                    cfg.in_chans,
                    cfg.upscale,
                    cfg.num_ctc_classes,
                )
            )
            start += d
        self.norm = nn.LayerNorm(c)
        if cfg.stisr_decoder:
            for name, m in build_stisr_decoder(cfg).items():
                self.add_module(name, m)
        if cfg.str_decoder:
            for name, m in build_str_decoder(cfg).items():
                self.add_module(name, m)
        init_weights(self.named_children(), cfg)

    def encode(self, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Eq. (1): lr [B,4,16,64] -> h_L [B,C',16,64], h_0, intermediate SRs, intermediate CTC logits."""
        size = tuple(lr.shape[-2:])
        h0 = self.conv_first(lr)  # [B,C',H,W]
        t = self.patch_embed(h0)  # [B,H*W,C']
        srs, logits = [], []
        for layer in self.layers:
            t, sr_i, p_i = layer(t, size)
            if sr_i is not None:
                srs.append(sr_i)
                logits.append(p_i)
        return tokens_to_map(self.norm(t), size), h0, srs, logits

    def forward(
        self, lr: torch.Tensor, labels: torch.Tensor | None = None, generate: bool | None = None
    ) -> StirerOutput:
        """Eqs. (1), (4)-(6): lr [B,4,16,64] in [0,1] (RGB + mask) -> outputs, no loss. labels: decoder labels
        [B,31] for teacher forcing (ar_logits); generate: greedy text ids (default: in eval mode only)."""
        _check_input(lr, self.config)
        h, h0, srs, logits = self.encode(lr)
        base = bicubic_upsample(lr, self.config.upscale) if self.config.sr_residual else None  # [B,4,2H,2W]
        if base is not None:
            srs = [sr + base for sr in srs]
        out = StirerOutput(srs=srs, ctc_logits=logits, features=h)
        if self.config.stisr_decoder:
            out.sr = stisr_decode(self, lr, h, h0)
            if base is not None:
                out.sr = out.sr + base
        if self.config.str_decoder:
            z = str_encode(self, lr, h)
            if labels is not None:
                out.ar_logits = teacher_forced(self, z, labels.to(lr.device))
            if (not self.training) if generate is None else generate:
                out.text_ids, out.text_scores = greedy_generate(self, z, self.config.max_new_tokens)
        return out


def _init_weights(m: nn.Module) -> None:
    """The release's init: trunc-normal(0.02) Linear weights (T5's and its tied embedding too, unless
    cfg.t5_init is "t5"), zero biases, LayerNorm 1 / 0."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def init_weights(named_modules: Iterable[tuple[str, nn.Module]], cfg: StirerConfig) -> None:
    """Apply the release's init to (name, module) pairs; the T5 ("decoder") keeps transformers' own
    init when cfg.t5_init is "t5"."""
    for name, module in named_modules:
        if not (name == "decoder" and cfg.t5_init == "t5"):
            module.apply(_init_weights)


def _check_input(lr: torch.Tensor, cfg: StirerConfig) -> None:
    """Raise a clear error for a wrongly shaped LR batch."""
    want = (cfg.in_chans, *cfg.img_size)
    if lr.dim() != 4 or tuple(lr.shape[1:]) != want:
        raise ValueError(
            f"STIRER expects LR images [B, {want[0]}, {want[1]}, {want[2]}] (RGB + mask), got "
            f"{tuple(lr.shape)}; resize LR images to {want[2]} x {want[1]} and add the mask channel"
        )


def build_stirer(cfg: StirerConfig | str | None = None) -> STIRER:
    """A freshly initialised STIRER from a config (or 'release' / 'small'), in train mode."""
    if isinstance(cfg, str):
        from .config import config_from_name

        cfg = config_from_name(cfg)
    return STIRER(cfg)


def predictions(out: StirerOutput) -> list[list[str]]:
    """Strings per step: one list per mini STR decoder (CTC greedy), then the STR decoder's (greedy ids)."""
    steps = [ctc_greedy_decode(lo.detach()) for lo in out.ctc_logits]
    if out.text_ids is not None:
        steps.append(decode_ids(out.text_ids))
    return steps


def is_mini_decoder_key(key: str) -> bool:
    """True for the keys of the per-block mini STISR / STR decoders (layers.i.{vit,fc,conv_after_body,upsample})."""
    return MINI_DECODER_KEY.match(key) is not None


def is_feature_encoder_key(key: str) -> bool:
    """True for the feature encoder's own keys (Eq. 1: conv_first, the patch embedding, the PSTST blocks' Swin and
    Bi-GRU layers, the norm), not its mini decoders nor the STISR / STR decoders."""
    return not is_mini_decoder_key(key) and not key.startswith(STISR_PREFIXES + STR_PREFIXES)


def count_parameters(model: nn.Module) -> int:
    """Parameters, each shared tensor (T5's tied embedding) counted once."""
    return sum(p.numel() for p in model.parameters())
