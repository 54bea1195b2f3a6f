"""The two decoders on top of the feature encoder h_L: STISR decoder (Eq. 4) and STR decoder (Eqs. 5-6).

STISR decoder Phi_SR (Eq. 4):
    I_SR = PixelShuffle(conv(conv_after_body(down_conv(SRB([I_LR, h_L]))) + sg(h_0)))
  [I_LR, h_L] is the 4 + 48 = 52-channel concat (LR first); SRB is TSRN's Bi-GRU block; sg(h_0)
  is the conv_first output with its gradient stopped (the release detaches it).
STR decoder Phi_Rec (Eqs. 5-6):
    z = ViT([h_L, I_LR]) [B,32,96]  (note: h_L first here, the release's order)
    p(y_t | y_<t, z) = T5(z, y_<t)   (transformers' T5ForConditionalGeneration, z as inputs_embeds)
  Training: teacher forcing with the shifted labels; inference: greedy decoding of 20 new tokens, run
  step by step on T5's own modules (greedy_generate), the same ids as transformers' generate().
The modules are returned as ModuleDicts whose names (`last_sr`, `down_conv`, `conv_after_body`,
`upsample`, `vit`, `decoder`) STIRER registers at its top level, the official state_dict layout.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import T5Config, T5ForConditionalGeneration

from .config import StirerConfig
from .pstst import RecurrentResidualBlock, pixel_shuffle_head, three_conv
from .vit import ViTEncoder


def build_stisr_decoder(cfg: StirerConfig) -> nn.ModuleDict:
    """Phi_SR's modules: SRB on 52 channels, conv to C', 3-conv body, pixel-shuffle head."""
    c = cfg.in_chans + cfg.embed_dim
    return nn.ModuleDict(
        dict(
            last_sr=RecurrentResidualBlock(c) if cfg.use_bigru else nn.Identity(),
            down_conv=nn.Conv2d(c, cfg.embed_dim, 3, 1, 1),
            conv_after_body=three_conv(cfg.embed_dim),
            upsample=pixel_shuffle_head(cfg.embed_dim, cfg.in_chans, cfg.upscale),
        )
    )


def stisr_decode(m: nn.Module, lr: torch.Tensor, h: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """Eq. (4): lr [B,4,H,W], h_L [B,C',H,W], h_0 [B,C',H,W] -> I_SR [B,4,2H,2W]."""
    x = m.down_conv(m.last_sr(torch.cat([lr, h], 1)))  # [B,C',H,W]
    return m.upsample(m.conv_after_body(x) + h0.detach())


def t5_config(cfg: StirerConfig) -> T5Config:
    """The release's T5Config (DESIGN.md section 2); d_kv stays independent of d_model."""
    return T5Config(
        vocab_size=cfg.vocab_size,
        d_model=cfg.vit_dim,
        d_kv=cfg.t5_d_kv,
        d_ff=cfg.t5_d_ff,
        num_layers=cfg.t5_encoder_layers,
        num_decoder_layers=cfg.t5_decoder_layers,
        num_heads=cfg.t5_heads,
        relative_attention_num_buckets=cfg.t5_buckets,
        dropout_rate=cfg.t5_dropout,
        eos_token_id=cfg.vocab_size - 1,
        pad_token_id=0,
        decoder_start_token_id=0,
    )


def build_str_decoder(cfg: StirerConfig) -> nn.ModuleDict:
    """Phi_Rec's modules: the column-patch ViT over [h_L, I_LR] and the T5 encoder-decoder."""
    c = cfg.in_chans + cfg.embed_dim
    vit = ViTEncoder(c, cfg.img_size, cfg.window_size, cfg.vit_dim, cfg.vit_depth, cfg.vit_heads, cfg.vit_mlp_ratio)
    return nn.ModuleDict(dict(vit=vit, decoder=T5ForConditionalGeneration(t5_config(cfg))))


def str_encode(m: nn.Module, lr: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Eq. (5): z = ViT([h_L, I_LR]) -> [B,32,D], fed to T5 as inputs_embeds."""
    return m.vit(torch.cat([h, lr], 1))


def shift_right(labels: torch.Tensor) -> torch.Tensor:
    """T5's decoder inputs: start token 0, then labels[:, :-1] (-100 read as pad 0)."""
    shifted = torch.cat([labels.new_zeros(labels.shape[0], 1), labels[:, :-1]], 1)
    return shifted.masked_fill_(shifted == -100, 0)


def teacher_forced(m: nn.Module, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. (6) with teacher forcing: labels [B,31] (0 pad, 1-36, 37 EOS) -> logits [B,31,38].

    T5 reads the labels shifted right behind the start token 0 and is called without labels: its
    cross entropy (L_CE of Eq. 8) is stirer_lib.losses.decoder_ce.
    """
    if labels.dim() != 2 or labels.dtype != torch.long:
        raise ValueError(
            f"decoder labels must be a [B, 31] long tensor, got {tuple(labels.shape)} {labels.dtype}; "
            "build them with stirer_lib.text.encode_decoder_labels"
        )
    return m.decoder(inputs_embeds=z, decoder_input_ids=shift_right(labels)).logits


@contextmanager
def _eval_mode(module: nn.Module):
    """No dropout for the duration (also when the model trains), then the previous mode again."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _pad_generation(ids: torch.Tensor, scores: torch.Tensor, max_new_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad ids with 0 and scores with NaN to 1 + max_new_tokens steps (every row stopped early)."""
    short = 1 + max_new_tokens - ids.shape[1]
    if short > 0:
        ids = F.pad(ids, (0, short), value=0)
        scores = F.pad(scores, (0, 0, 0, short), value=float("nan"))
    return ids, scores


def _heads(x: torch.Tensor, attn: nn.Module) -> torch.Tensor:
    """[B,L,h*dk] -> [B,h,L,dk]."""
    return x.view(x.shape[0], x.shape[1], attn.n_heads, attn.key_value_proj_dim).transpose(1, 2)


def _attend(
    attn: nn.Module, q_in: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """One T5 attention read: softmax(q k^T + bias) v (T5 does not scale q k^T), output projection."""
    q = _heads(attn.q(q_in), attn)
    if bias is not None:
        bias = bias.to(q.dtype).expand(q.shape[0], -1, -1, -1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
    return attn.o(out.transpose(1, 2).reshape(q_in.shape[0], q_in.shape[1], -1))


class _T5Steps:
    """T5's decoder run one token at a time on its own weights: cross-attention keys / values made once,
    self-attention keys / values written into preallocated buffers, the relative-position bias of all
    steps gathered once. Same arithmetic as T5Stack with a cache, without its per-token bookkeeping."""

    def __init__(self, t5: nn.Module, enc: torch.Tensor, steps: int):
        self.t5, self.blocks = t5, t5.decoder.block
        b = enc.shape[0]
        sa0 = self.blocks[0].layer[0].SelfAttention
        self.bias = sa0.compute_bias(steps, steps, device=enc.device)  # [1,h,T,T]
        cross = [blk.layer[1].EncDecAttention for blk in self.blocks]
        self.cross = [(_heads(a.k(enc), a), _heads(a.v(enc), a)) for a in cross]
        shape = (b, sa0.n_heads, steps, sa0.key_value_proj_dim)
        self.keys = [enc.new_empty(shape) for _ in self.blocks]
        self.values = [enc.new_empty(shape) for _ in self.blocks]
        cfg = t5.config
        self.out_scale = cfg.d_model**-0.5 if getattr(cfg, "scale_decoder_outputs", cfg.tie_word_embeddings) else None

    def logits(self, tokens: torch.Tensor, t: int) -> torch.Tensor:
        """tokens [B] at position t -> next-token logits [B,V] (float32)."""
        x = self.t5.decoder.embed_tokens(tokens[:, None])  # [B,1,D]
        for blk, keys, values, (ck, cv) in zip(self.blocks, self.keys, self.values, self.cross):
            sa = blk.layer[0]
            h = sa.layer_norm(x)
            keys[:, :, t] = _heads(sa.SelfAttention.k(h), sa.SelfAttention)[:, :, 0]
            values[:, :, t] = _heads(sa.SelfAttention.v(h), sa.SelfAttention)[:, :, 0]
            bias = self.bias[:, :, t : t + 1, : t + 1]  # query t against keys 0..t
            x = x + _attend(sa.SelfAttention, h, keys[:, :, : t + 1], values[:, :, : t + 1], bias)
            ca = blk.layer[1]
            x = x + _attend(ca.EncDecAttention, ca.layer_norm(x), ck, cv, None)
            ff = blk.layer[2]
            x = x + ff.DenseReluDense(ff.layer_norm(x))
        x = self.t5.decoder.final_layer_norm(x)
        if self.out_scale is not None:
            x = x * self.out_scale
        return self.t5.lm_head(x)[:, 0].float()


@torch.no_grad()
def greedy_generate(m: nn.Module, z: torch.Tensor, max_new_tokens: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (6) at inference: greedy decoding -> ids [B,1+max_new_tokens] (start token 0 first) and the
    per-step logits [B,max_new_tokens,38]. A row that emitted EOS continues with pad 0 (its scores are
    still recorded); when every row has, decoding stops and the rest is padded with 0 / NaN scores,
    as transformers' generate() does (same ids, logits within float rounding: tests/test_speed.py)."""
    t5 = m.decoder
    eos, pad = t5.config.eos_token_id, t5.config.pad_token_id
    with _eval_mode(t5):
        enc = t5.encoder(inputs_embeds=z).last_hidden_state
        steps = _T5Steps(t5, enc, max_new_tokens)
        tokens = torch.full((z.shape[0],), t5.config.decoder_start_token_id, dtype=torch.long, device=z.device)
        ids, scores = [tokens], []
        unfinished = torch.ones_like(tokens, dtype=torch.bool)
        for t in range(max_new_tokens):
            logits = steps.logits(tokens, t)
            scores.append(logits)
            tokens = torch.where(unfinished, logits.argmax(-1), pad)
            ids.append(tokens)
            unfinished &= tokens != eos
            if not unfinished.any():
                break
    return _pad_generation(torch.stack(ids, 1), torch.stack(scores, 1), max_new_tokens)


@torch.no_grad()
def cross_attention(m: nn.Module, lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the STR decoder looks (Eq. 6): greedy ids [B,1+T] and, for each generated token, its last decoder
    layer's cross-attention over the 32 column tokens of z, averaged over the heads [B,T,32]. The decoder is run
    once more, teacher-forced on its own greedy output, with transformers' eager attention (the only one that
    returns weights), then set back."""
    was_training = m.training
    m.eval()
    h = m.encode(lr)[0]
    z = str_encode(m, lr, h)
    ids, _ = greedy_generate(m, z, m.config.max_new_tokens)
    t5 = m.decoder
    before = t5.config._attn_implementation
    t5.set_attn_implementation("eager")
    try:
        out = t5(inputs_embeds=z, decoder_input_ids=ids[:, :-1], output_attentions=True)
    finally:
        t5.set_attn_implementation(before)
        m.train(was_training)
    return ids, out.cross_attentions[-1].mean(1).float()
