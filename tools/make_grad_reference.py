"""Reference gradients of one STIRER train step on the fixture batch, from a given checkout of the code.

    python tools/make_grad_reference.py --repo /tmp/stirer_base/be7bf5b --out tests/data/grad_reference_be7bf5b.pt

Imports stirer_lib from --repo (a `git worktree` of the pre-speed-up commit be7bf5b), loads the seed-0
official weights of ../shared/fixtures/official_stirer_seed0.pt, runs one training forward (train mode:
BatchNorm batch statistics, drop-path 0.1 and T5 dropout 0.1 under torch.manual_seed(0)), the released
loss (Eq. 9, stirer_lib.losses.stirer_loss) and backward. Saves plain tensors (torch.load(weights_only=True)):
the loss terms, every parameter's gradient norm, and the full gradients of a few parameters spread over
the model. tests/test_speed.py compares today's code with it (1e-4 relative).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FULL = (
    "conv_first.weight",
    "layers.0.residual_group.blocks.1.attn.relative_position_bias_table",
    "layers.0.residual_group.blocks.1.attn.qkv.weight",
    "layers.1.gru.gru2.gru.weight_hh_l0_reverse",
    "layers.2.vit.blocks.0.attn.qkv.weight",
    "last_sr.gru1.gru.weight_ih_l0",
    "upsample.0.weight",
    "vit.pos_embed",
    "decoder.shared.weight",
    "decoder.decoder.block.5.layer.1.EncDecAttention.q.weight",
)


def fixture_batch(d: dict, ctc_encode) -> dict:
    """The fixture's LR/HR pair with the official training labels (EOS overwritten below 15 characters)."""
    targets, lengths = ctc_encode(d["labels"])
    return {
        "lr": d["lr"],
        "hr": d["hr"],
        "ctc_targets": targets,
        "ctc_lengths": lengths,
        "decoder_labels": d["label_ce"],
    }


def train_step_gradients(fixtures: Path, threads: int = 1) -> dict:
    """One seeded train-mode forward + Eq. 9 + backward on the fixture batch -> reference dict."""
    import torch

    from stirer_lib.losses import stirer_loss
    from stirer_lib.models import load_stirer
    from stirer_lib.text import ctc_encode

    torch.set_num_threads(threads)
    d = torch.load(fixtures / "official_stirer_seed0.pt", weights_only=False, map_location="cpu")
    model = load_stirer(d["state_dict"]).train()
    batch = fixture_batch(d, ctc_encode)
    torch.manual_seed(0)
    out = model(batch["lr"], labels=batch["decoder_labels"])
    parts = stirer_loss(out, batch)
    parts["total"].backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    return {
        "loss": {k: v.detach().clone() for k, v in parts.items()},
        "grad_norm": {n: g.norm().clone() for n, g in grads.items()},
        "grad_full": {n: grads[n].clone() for n in FULL},
    }


def main(argv: list[str] | None = None) -> int:
    """Write the reference file from the code under --repo."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", required=True, help="checkout whose stirer_lib computes the gradients")
    ap.add_argument("--fixtures", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the float summation order)")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(a.repo).resolve()))
    import torch

    import stirer_lib

    if Path(stirer_lib.__file__).resolve().parents[1] != Path(a.repo).resolve():
        raise SystemExit(f"stirer_lib came from {stirer_lib.__file__}, not from {a.repo}")
    ref = train_step_gradients(Path(a.fixtures), a.threads)
    torch.save(ref, a.out)
    print(f"{a.out}: loss {ref['loss']['total'].item():.6f}, {len(ref['grad_norm'])} gradients")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
