"""Probe the STR decoder alone: a fresh ViT + T5 (Eqs. 5-6) trained on the frozen h_L of a trained STIRER.

When the final decoder reads worse than the mini decoders, is it the features or the decoder?
The probe keeps the trained feature encoder fixed (its h_L read well by the CTC heads), builds a
new STR decoder from the model's config (optionally changed: `--t5-init`, ...) and trains only
that on the TextZoom-format training pairs with teacher forcing (L_CE of Eq. 8), reading the test
splits with greedy decoding every few steps. It is how the cpu profile's `t5_init` and `lr_str`
were chosen (docs/EXPERIMENTS.md, "The STR decoder"):

    python -m experiments.probe --ckpt runs/cpu/finetune/last.pt --data data/synth/cpu \
        --steps 6000 --lr 2e-3 --t5-init release      # then --t5-init t5, then other --lr

The encoder runs once over the data (its features are kept in memory, float16) and only the
decoder trains, on random batches of those features: STIRER's trainer, which trains the whole model
on images, cannot run it, so it trains in experiments.loop.
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Subset
from tqdm.auto import tqdm

from stirer_lib.data import TEST_SPLITS, collate_eval, textzoom_split, textzoom_train_set
from stirer_lib.errors import DataError, SettingError, run_cli
from stirer_lib.losses import decoder_ce
from stirer_lib.models import StirerConfig, load_stirer
from stirer_lib.models.decoders import build_str_decoder, greedy_generate, str_encode, teacher_forced
from stirer_lib.models.stirer import StirerOutput, init_weights
from stirer_lib.text import decode_ids, encode_decoder_labels, filter_label

from .loop import train_steps


@torch.no_grad()
def frozen_features(
    model: nn.Module, dataset, batch_size: int = 64, progress: bool = False
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(LR [N,4,16,64], h_L [N,C',16,64] in float16, labels) of every item, the model in eval mode."""
    model.eval()
    lrs, feats, labels = [], [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate_eval)
    for batch in tqdm(loader, desc="features", disable=not progress, leave=False):
        if not batch["labels"]:  # only unreadable records
            continue
        lrs.append(batch["lr"])
        feats.append(model.encode(batch["lr"])[0].half())
        labels += [filter_label(s) for s in batch["labels"]]
    return torch.cat(lrs), torch.cat(feats), labels


def build_probe(cfg: StirerConfig, seed: int = 0) -> nn.ModuleDict:
    """A freshly initialised STR decoder (vit + decoder), initialised as STIRER would be."""
    torch.manual_seed(seed)
    dec = build_str_decoder(cfg)
    init_weights(dec.items(), cfg)
    return dec


@torch.no_grad()
def read(
    dec: nn.ModuleDict, lr: torch.Tensor, feats: torch.Tensor, batch_size: int = 100, max_new_tokens: int = 20
) -> list[str]:
    """Greedy readings of the probe for precomputed (LR, h_L), in eval mode."""
    dec.eval()
    preds: list[str] = []
    for i in range(0, len(lr), batch_size):
        ids, _ = greedy_generate(
            dec, str_encode(dec, lr[i : i + batch_size], feats[i : i + batch_size].float()), max_new_tokens
        )
        preds += decode_ids(ids)
    return preds


def train_probe(
    dec: nn.ModuleDict,
    train: tuple,
    test: tuple,
    steps: int,
    lr: float = 2e-3,
    batch_size: int = 8,
    eval_every: int = 0,
    seed: int = 0,
    weight_decay: float = 0.01,
    progress: bool = False,
) -> Iterator[dict]:
    """Train the probe (experiments.loop: AdamW at a constant lr); yields one record {step, loss (L_CE),
    acc (%), top (the three most frequent readings), seconds} per evaluation."""
    (tr_lr, tr_h, tr_y), (te_lr, te_h, te_y) = train, test
    gen = torch.Generator().manual_seed(seed)

    def batches():
        while True:
            yield torch.randint(len(tr_y), (batch_size,), generator=gen)

    def loss(idx: torch.Tensor) -> torch.Tensor:
        labels = encode_decoder_labels([tr_y[i] for i in idx], keep_eos=True)
        logits = teacher_forced(dec, str_encode(dec, tr_lr[idx], tr_h[idx].float()), labels)
        return decoder_ce(StirerOutput(ar_logits=logits), labels)

    def evaluate() -> dict:
        preds = read(dec, te_lr, te_h)
        return {
            "acc": 100.0 * sum(p == t for p, t in zip(preds, te_y, strict=True)) / max(len(te_y), 1),
            "top": collections.Counter(preds).most_common(3),
        }

    return train_steps(
        dec, batches(), loss, steps, lr, evaluate, eval_every or steps, weight_decay, desc="probe", progress=progress
    )


def _subset(ds, n: int | None):
    return ds if n is None else Subset(ds, range(min(n, len(ds))))


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.probe", description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True, help="a trained STIRER (its encoder gives the frozen features)")
    ap.add_argument("--data", required=True, help="TextZoom-format ROOT (train1, train2, test/{easy,medium,hard})")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--eval-every", type=int, default=0, help="0: only at the end")
    ap.add_argument("--t5-init", choices=("release", "t5"), default=None, help="default: the checkpoint's")
    ap.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="use the first N training pairs (their features are kept in memory, float16)",
    )
    ap.add_argument("--max-test", type=int, default=100, help="test pairs per split")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not Path(a.data).is_dir():
        raise DataError(
            f"--data {a.data} is not a folder; give a TextZoom-format ROOT (make one with "
            "`python -m stirer_lib.data.synth --out DIR --profile smoke`)"
        )
    try:
        return _run(a, ap)
    except FloatingPointError as e:  # the learning rate: the user's setting
        raise SettingError(str(e)) from None


def _run(a: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    model = load_stirer(a.ckpt)
    cfg = model.config if a.t5_init is None else model.config.replace(t5_init=a.t5_init)
    if not cfg.str_decoder:
        ap.error(f"{a.ckpt} was built without an STR decoder (str_decoder=False): nothing to probe")
    train = frozen_features(model, _subset(textzoom_train_set(a.data), a.max_train), progress=True)
    test_sets = [_subset(textzoom_split(a.data, s), a.max_test) for s in TEST_SPLITS]
    test = frozen_features(model, ConcatDataset(test_sets), progress=True)
    print(
        f"probe: {len(train[2])} training / {len(test[2])} test words; t5_init {cfg.t5_init}, lr {a.lr}, "
        f"batch {a.batch_size}",
        flush=True,
    )
    dec = build_probe(cfg, a.seed)
    for r in train_probe(dec, train, test, a.steps, a.lr, a.batch_size, a.eval_every, a.seed, progress=True):
        print(
            f"step {r['step']:>6}  ce {r['loss']:.3f}  acc {r['acc']:5.1f} %  most frequent readings {r['top']}  "
            f"{r['seconds']:.0f} s",
            flush=True,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
