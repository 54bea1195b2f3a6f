"""StirerConfig: every size and switch of STIRER in one dataclass (defaults = the released model).

Sizes (parameters, T5's tied embedding counted once, `count_parameters`):
- release (defaults): 13,047,345 with the three mini decoders (training build), 4,030,338 in the
  inference build (the paper's 4.03 M, Table 5).
- small (`StirerConfig.small()`, CPU lessons): 913,719 (training build), 511,608 (inference build);
  embed_dim 32, depths (2, 2, 2) with 4 heads, window 16 x 2, mini STR decoders of one ViT layer
  of width 64, an STR-decoder ViT of one layer of width 64 and a T5 with 2 + 2 layers (d_ff 128).

Not in the release (the measurements behind them: docs/EXPERIMENTS.md, "The T5 in a short run" and
"The SR path in a short run"):
- `t5_init="t5"` keeps transformers' own T5 initialisation (weights scaled to the layer sizes) instead
  of trunc-normal 0.02: a small T5 trained briefly with 0.02 answers from the language prior.
- `sr_residual=True` adds the bicubic upsampling of the LR image to every SR output (the STISR decoder's
  and the mini STISR decoders'): a fresh model starts at interpolation and learns only the correction.

Ablations of Table 3 (each a boolean switch; the paper's names):
- `use_pstst=False`  (w/o PSTST): the feature encoder is only the 3 x 3 `conv_first` (and its
  LayerNorms); no PSTST blocks, hence no mini decoders either.
- `mini_decoders=False` (w/o mini decoders): PSTST blocks without their mini STISR / STR decoders.
- `use_stl=False` (w/o STL): PSTST blocks without Swin transformer layers (conv + Bi-GRU only).
- `use_bigru=False` (w/o Bi-GRU): no recurrent residual blocks (neither in the PSTST blocks nor
  in the STISR decoder, whose SRB block is then skipped).
- `stisr_decoder=False` (w/o STISR decoder): no final SR image (`out.sr` is None).
- `str_decoder=False` (w/o STR decoder): no ViT + T5 (`out.text_ids`, `out.ar_logits` are None).

A course profile sets any field as `--set model.<field>=value` (stirer_lib.course.profiles).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass
class StirerConfig:
    """STIRER hyper-parameters; the defaults build the released model (official test.py)."""

    in_chans: int = 4  # RGB + binary text mask
    img_size: tuple[int, int] = (16, 64)  # LR height, width
    upscale: int = 2
    embed_dim: int = 48  # C' of the feature encoder
    depths: tuple[int, ...] = (4, 5, 6)  # N_i Swin transformer layers per PSTST block
    num_heads: tuple[int, ...] = (6, 6, 6)
    window_size: tuple[int, int] = (16, 2)  # [H, W/32]
    mlp_ratio: float = 2.0
    drop_path_rate: float = 0.1  # stochastic depth over all STLs, active in training
    mask_value: float = -100.0  # shifted-window attention mask (Swin / SwinIR)
    # mini STR decoders (Eq. 3): a ViT over 16 x 2 column patches + linear CTC head
    mini_vit_dim: int = 192
    mini_vit_depth: int = 6
    mini_vit_heads: int = 3
    mini_vit_mlp_ratio: float = 4.0
    # STR decoder (Eqs. 5-6): ViT over concat(LR, h_L), then T5
    vit_dim: int = 96  # = T5 d_model
    vit_depth: int = 3
    vit_heads: int = 3
    vit_mlp_ratio: float = 4.0
    t5_d_ff: int = 384
    t5_d_kv: int = 64
    t5_encoder_layers: int = 3
    t5_decoder_layers: int = 6
    t5_heads: int = 6
    t5_buckets: int = 8
    t5_dropout: float = 0.1
    # the T5's initial weights: "release" (trunc-normal 0.02 like every Linear of the model, the
    # official code) or "t5" (transformers' T5 init, scaled to the layer sizes)
    t5_init: str = "release"
    # not in the release: every SR output (final and mini STISR decoders) is added to the bicubic
    # upsampling of the LR image, so the SR path learns only the correction (residual learning)
    sr_residual: bool = False
    num_ctc_classes: int = 37  # blank + 0-9a-z
    vocab_size: int = 38  # pad/start, 0-9a-z, EOS
    max_new_tokens: int = 20  # greedy generation length
    # Table 3 ablations
    use_pstst: bool = True
    mini_decoders: bool = True
    use_stl: bool = True
    use_bigru: bool = True
    stisr_decoder: bool = True
    str_decoder: bool = True
    name: str = field(default="release", compare=False)

    def __post_init__(self) -> None:
        self.img_size = tuple(self.img_size)
        self.depths = tuple(self.depths)
        self.num_heads = tuple(self.num_heads)
        self.window_size = tuple(self.window_size)
        if len(self.depths) != len(self.num_heads):
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} need the same length")
        h, w = self.img_size
        wh, ww = self.window_size
        if h % wh or w % ww:
            raise ValueError(f"img_size {self.img_size} must be a multiple of window_size {self.window_size}")
        if self.embed_dim % max(self.num_heads) or self.embed_dim % 4:
            raise ValueError(f"embed_dim {self.embed_dim} must divide by the heads {self.num_heads} and by 4")
        if self.t5_init not in ("release", "t5"):
            raise ValueError(f"t5_init must be 'release' or 't5', got {self.t5_init!r}")
        if not (self.stisr_decoder or self.str_decoder):
            raise ValueError("a STIRER needs at least one of stisr_decoder / str_decoder")

    def label(self) -> str:
        """What the model is, in the words every notebook and results file uses: "small, C' = 48, Bi-GRU"."""
        parts = [self.name, f"C' = {self.embed_dim}", "Bi-GRU" if self.use_bigru else "no Bi-GRU"]
        return ", ".join(parts)

    @classmethod
    def small(cls, **overrides: Any) -> StirerConfig:
        """A narrow, shallow STIRER for CPU lessons: the same code, 0.91 M parameters (see the module doc)."""
        kw: dict[str, Any] = dict(
            embed_dim=32,
            depths=(2, 2, 2),
            num_heads=(4, 4, 4),
            mini_vit_dim=64,
            mini_vit_depth=1,
            mini_vit_heads=4,
            vit_dim=64,
            vit_depth=1,
            vit_heads=4,
            t5_d_ff=128,
            t5_d_kv=16,
            t5_encoder_layers=2,
            t5_decoder_layers=2,
            t5_heads=4,
            name="small",
        )
        kw.update(overrides)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists for tuples) for checkpoints and JSON."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StirerConfig:
        """Inverse of to_dict; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown StirerConfig keys {unknown}; known: {sorted(known)}")
        return cls(**d)

    def replace(self, **changes: Any) -> StirerConfig:
        """A copy with some fields changed (dataclasses.replace)."""
        return replace(self, **changes)


CONFIG_NAMES = ("release", "small")
# Table 3's ablations as StirerConfig switches (the module docstring says what each removes)
ABLATIONS: dict[str, dict[str, bool]] = {
    "w/o PSTST": dict(use_pstst=False),
    "w/o mini decoders": dict(mini_decoders=False),
    "w/o STL": dict(use_stl=False),
    "w/o Bi-GRU": dict(use_bigru=False),
    "w/o STISR decoder": dict(stisr_decoder=False),
    "w/o STR decoder": dict(str_decoder=False),
}


def config_from_name(name: str, **overrides: Any) -> StirerConfig:
    """'release' (the paper's model) or 'small' (CPU lessons), with optional field overrides."""
    if name == "release":
        return StirerConfig(**overrides)
    if name == "small":
        return StirerConfig.small(**overrides)
    raise ValueError(f"unknown STIRER config {name!r}; choose one of {CONFIG_NAMES}")
