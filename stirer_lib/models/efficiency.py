"""Parameters and multiply-adds per component of STIRER, next to the paper's Table 5.

Counting. torch.utils.flop_counter.FlopCounterMode counts 2 FLOPs per multiply-add on the matrix
ops (convolution, mm, addmm, bmm); we report multiply-adds (MACs = FLOPs / 2), because the
paper's "FLOPs" are multiply-adds counted per Conv / Linear / GRU module (thop / ptflops style).
- `macs` (the paper's convention): all counted ops except the attention products q k^T and
  attn v (aten.bmm and any scaled_dot_product op), i.e. the weights' multiply-adds. nn.GRU runs
  as mm / addmm per time step on CPU, so the counter sees its input and hidden products
  (3 gates x (input + hidden) x hidden per step and direction), what thop counts for a GRU.
- `macs_all`: every op the counter sees, attention products included (the fused CPU attention kernel
  of the Swin windows, the ViTs and T5 is handed to each counter here: torch counts only the CUDA
  kernels, and its global registry stays untouched). Greedy decoding
  stops once every row has emitted EOS, so the STR decoder's count depends on the weights.
One 4 x 16 x 64 image; the STR decoder generates 20 tokens greedily (T5 encoder once, decoder
20 steps with a cache). Counts run on CPU, where they are defined; biases and norms are not MACs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import StirerConfig
from .decoders import greedy_generate, stisr_decode, str_encode
from .stirer import STIRER, STISR_PREFIXES, STR_PREFIXES, build_stirer, is_feature_encoder_key, is_mini_decoder_key

# paper Table 5 (params, MACs) and the official code's counts (fixtures/official_reference_numbers.json)
PAPER_TABLE5 = {
    "encoder": (0.52e6, 0.52e9),
    "stisr_decoder": (0.13e6, 0.13e9),
    "str_decoder": (3.38e6, 0.09e9),
    "total": (4.03e6, 0.74e9),
}
OFFICIAL_COUNTS = {
    "encoder": (530_394, 522_436_608),
    "stisr_decoder": (119_688, 121_143_296),
    "str_decoder": (3_380_256, 86_580_480),
    "total": (4_030_338, 730_160_384),
    "mini_decoders": (9_017_007, 368_732_160),
}
ATTENTION_OPS = ("bmm", "scaled_dot_product")


@dataclass
class ComponentCost:
    """One row of the efficiency table."""

    name: str
    params: int
    macs: int  # Conv / Linear / GRU multiply-adds (paper's convention)
    macs_all: int  # + attention products the counter sees


def cpu_attention_formulas() -> dict:
    """FLOP formulas for the CPU flash-attention kernel (forward, backward), which FlopCounterMode does not
    count as it counts the CUDA ones: the same formulas (the attention products), for one counter's
    custom_mapping. Empty on a torch without these names."""
    try:
        from torch.utils import flop_counter as fcm

        aten = torch.ops.aten
        return {
            aten._scaled_dot_product_flash_attention_for_cpu: fcm.sdpa_flop.__wrapped__,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: fcm.sdpa_backward_flop.__wrapped__,
        }
    except (ImportError, AttributeError):
        return {}


def _count(fn) -> tuple[object, int, int]:
    """Run fn under FlopCounterMode -> (result, MACs without attention products, all MACs)."""
    with FlopCounterMode(display=False, custom_mapping=cpu_attention_formulas()) as fc:
        result = fn()
    ops = fc.get_flop_counts()["Global"]
    total = sum(ops.values())
    attn = sum(v for k, v in ops.items() if any(a in str(k) for a in ATTENTION_OPS))
    return result, (total - attn) // 2, total // 2


def _params(model: STIRER, pred) -> int:
    """Parameters whose names satisfy pred (tied tensors once)."""
    seen, n = set(), 0
    for name, p in model.named_parameters(remove_duplicate=False):
        if pred(name) and id(p) not in seen:
            seen.add(id(p))
            n += p.numel()
    return n


def component_costs(model: STIRER | StirerConfig | None = None, new_tokens: int | None = None) -> list[ComponentCost]:
    """Costs of encoder, mini decoders (if built), STISR decoder, STR decoder and the inference total."""
    if model is None or isinstance(model, StirerConfig):
        model = build_stirer(model or StirerConfig())
    cfg = model.config
    model = model.cpu().eval()
    lr = torch.rand(1, cfg.in_chans, *cfg.img_size)
    rows = []
    with torch.no_grad():
        (h, h0, _, _), enc_macs, enc_all = _count(lambda: model.encode(lr))
        mini_macs = mini_all = 0
        if any(getattr(layer, "has_mini_decoders", False) for layer in model.layers):
            lean = build_stirer(cfg.replace(mini_decoders=False)).eval()
            _, lean_macs, lean_all = _count(lambda: lean.encode(lr))
            mini_macs, mini_all = enc_macs - lean_macs, enc_all - lean_all
        rows.append(
            ComponentCost("encoder", _params(model, is_feature_encoder_key), enc_macs - mini_macs, enc_all - mini_all)
        )
        if mini_macs:
            rows.append(ComponentCost("mini_decoders", _params(model, is_mini_decoder_key), mini_macs, mini_all))
        if cfg.stisr_decoder:
            _, m, a = _count(lambda: stisr_decode(model, lr, h, h0))
            rows.append(ComponentCost("stisr_decoder", _params(model, lambda n: n.startswith(STISR_PREFIXES)), m, a))
        if cfg.str_decoder:
            z, m1, a1 = _count(lambda: str_encode(model, lr, h))
            _, m2, a2 = _count(lambda: greedy_generate(model, z, new_tokens or cfg.max_new_tokens))
            rows.append(
                ComponentCost("str_decoder", _params(model, lambda n: n.startswith(STR_PREFIXES)), m1 + m2, a1 + a2)
            )
    inference = [r for r in rows if r.name != "mini_decoders"]
    rows.append(
        ComponentCost(
            "total",
            sum(r.params for r in inference),
            sum(r.macs for r in inference),
            sum(r.macs_all for r in inference),
        )
    )
    return rows


def efficiency_table(model: STIRER | StirerConfig | None = None) -> str:
    """A text table: ours (params, GMACs, GMACs incl. attention) | official code | paper Table 5."""
    rows = component_costs(model)
    lines = [
        f"{'component':14} {'params':>10} {'GMACs':>7} {'+attn':>7} | {'official':>10} {'GMACs':>7} | "
        f"{'paper':>6} {'GMACs':>6}"
    ]
    for r in rows:
        off = OFFICIAL_COUNTS.get(r.name)
        pap = PAPER_TABLE5.get(r.name)
        o = f"{off[0]:>10,} {off[1] / 1e9:>7.3f}" if off else f"{'':>10} {'':>7}"
        p = f"{pap[0] / 1e6:>5.2f}M {pap[1] / 1e9:>6.2f}" if pap else f"{'':>6} {'':>6}"
        lines.append(f"{r.name:14} {r.params:>10,} {r.macs / 1e9:>7.3f} {r.macs_all / 1e9:>7.3f} | {o} | {p}")
    lines.append(
        "GMACs: multiply-adds of Conv / Linear / GRU (the paper's 'FLOPs'); +attn adds the attention "
        "products FlopCounterMode sees. 1 x 4 x 16 x 64 input, 20 greedy steps; total = inference model "
        "(mini decoders dropped)."
    )
    return "\n".join(lines)
