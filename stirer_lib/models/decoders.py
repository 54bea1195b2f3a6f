"""The two decoders on top of the feature encoder h_L: STISR decoder (Eq. 4) and STR decoder (Eqs. 5-6).

STISR decoder Phi_SR (Eq. 4):
    I_SR = PixelShuffle(conv(conv_after_body(down_conv(SRB([I_LR, h_L]))) + sg(h_0)))
  [I_LR, h_L] is the 4 + 48 = 52-channel concat (LR first); SRB is TSRN's Bi-GRU block; sg(h_0)
  is the conv_first output with its gradient stopped (the release detaches it).
STR decoder Phi_Rec (Eqs. 5-6):
    z = ViT([h_L, I_LR]) [B,32,96]  (note: h_L first here, the release's order)
    p(y_t | y_<t, z) = T5(z, y_<t)   (transformers' T5ForConditionalGeneration, z as inputs_embeds)
  Training: teacher forcing with the shifted labels; inference: greedy decoding of 20 new tokens.
The modules are returned as ModuleDicts whose names (`last_sr`, `down_conv`, `conv_after_body`,
`upsample`, `vit`, `decoder`) STIRER registers at its top level, the official state_dict layout.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn as nn
from transformers import T5Config, T5ForConditionalGeneration
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from .config import StirerConfig
from .pstst import RecurrentResidualBlock, pixel_shuffle_head, three_conv
from .vit import ViTEncoder

# transformers >= 5.24 names the generation cache `cache` (`past_key_values` before)
_CACHE_KWARG = "cache" if "cache" in inspect.signature(T5ForConditionalGeneration.forward).parameters \
    else "past_key_values"


def build_stisr_decoder(cfg: StirerConfig) -> nn.ModuleDict:
    """Phi_SR's modules: SRB on 52 channels, conv to C', 3-conv body, pixel-shuffle head."""
    c = cfg.in_chans + cfg.embed_dim
    return nn.ModuleDict(dict(
        last_sr=RecurrentResidualBlock(c) if cfg.use_bigru else nn.Identity(),
        down_conv=nn.Conv2d(c, cfg.embed_dim, 3, 1, 1),
        conv_after_body=three_conv(cfg.embed_dim),
        upsample=pixel_shuffle_head(cfg.embed_dim, cfg.in_chans, cfg.upscale)))


def stisr_decode(m: nn.Module, lr: torch.Tensor, h: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Eq. (4): lr [B,4,H,W], h_L [B,C',H,W], h_0 [B,C',H,W] -> I_SR [B,4,2H,2W]."""
    x = m.down_conv(m.last_sr(torch.cat([lr, h], 1)))  # [B,C',H,W]
    return m.upsample(m.conv_after_body(x) + h0.detach())


def t5_config(cfg: StirerConfig) -> T5Config:
    """The release's T5Config (DESIGN.md section 2); d_kv stays independent of d_model."""
    return T5Config(vocab_size=cfg.vocab_size, d_model=cfg.vit_dim, d_kv=cfg.t5_d_kv, d_ff=cfg.t5_d_ff,
                    num_layers=cfg.t5_encoder_layers, num_decoder_layers=cfg.t5_decoder_layers,
                    num_heads=cfg.t5_heads, relative_attention_num_buckets=cfg.t5_buckets,
                    dropout_rate=cfg.t5_dropout, eos_token_id=cfg.vocab_size - 1, pad_token_id=0,
                    decoder_start_token_id=0)


def build_str_decoder(cfg: StirerConfig) -> nn.ModuleDict:
    """Phi_Rec's modules: the column-patch ViT over [h_L, I_LR] and the T5 encoder-decoder."""
    c = cfg.in_chans + cfg.embed_dim
    vit = ViTEncoder(c, cfg.img_size, cfg.window_size, cfg.vit_dim, cfg.vit_depth, cfg.vit_heads, cfg.vit_mlp_ratio)
    return nn.ModuleDict(dict(vit=vit, decoder=T5ForConditionalGeneration(t5_config(cfg))))


def str_encode(m: nn.Module, lr: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Eq. (5): z = ViT([h_L, I_LR]) -> [B,32,D], fed to T5 as inputs_embeds."""
    return m.vit(torch.cat([h, lr], 1))


def teacher_forced(m: nn.Module, z: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (6) with teacher forcing: labels [B,31] (0 pad, 1-36, 37 EOS) -> logits [B,31,38], CE loss.

    T5 shifts the labels right behind the start token 0. As in the release, pad positions (0) are
    scored too: only -100 would be ignored.
    """
    if labels.dim() != 2 or labels.dtype != torch.long:
        raise ValueError(f"decoder labels must be a [B, 31] long tensor, got {tuple(labels.shape)} {labels.dtype}; "
                         "build them with stirer_lib.text.encode_decoder_labels")
    out = m.decoder(inputs_embeds=z, labels=labels)
    return out.logits, out.loss


@torch.no_grad()
def greedy_generate(m: nn.Module, z: torch.Tensor, max_new_tokens: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (6) at inference: greedy decoding -> ids [B,1+max_new_tokens] (start token 0 first) and the
    per-step logits [B,max_new_tokens,38]. Rows that all stopped early are padded with 0 / NaN scores.

    transformers 5 sizes T5's decoder cache from the encoder depth; an EncoderDecoderCache of two
    DynamicCaches grows with the real decoder depth instead.
    """
    cache = {_CACHE_KWARG: EncoderDecoderCache(DynamicCache(), DynamicCache())}
    was_training = m.decoder.training
    m.decoder.eval()  # no T5 dropout while generating, also when asked for in training mode
    try:
        gen = m.decoder.generate(inputs_embeds=z, max_new_tokens=max_new_tokens, min_new_tokens=0, num_beams=1,
                                 do_sample=False, output_scores=True, return_dict_in_generate=True, **cache)
    finally:
        m.decoder.train(was_training)
    ids, scores = gen.sequences, torch.stack(gen.scores, 1)
    short = 1 + max_new_tokens - ids.shape[1]
    if short > 0:  # every sequence ended with EOS before the limit
        ids = torch.nn.functional.pad(ids, (0, short), value=0)
        scores = torch.nn.functional.pad(scores, (0, 0, 0, short), value=float("nan"))
    return ids, scores
