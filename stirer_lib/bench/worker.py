"""The timed steps of the benchmarks, and one side of `python -m stirer_lib.bench compare`.

`Case(spec, device, bf16, compile_backend)` builds a model, its optimizer and seeded inputs, and
`Case.timed()` times one step: eval:CONFIG:B (eval forward with greedy T5 decoding, no_grad),
train:CONFIG:B (train-mode forward with teacher forcing, the implementation's own Eq. 9 loss
(losses.stirer_loss) and AdamW (training.optim), backward, step), crnn_eval:B, crnn_train:B (CTC +
AdamW). `bench model` times the cases of this tree in its own process.

`bench compare` starts this file twice as a script, once for this tree and once for the baseline's:

    python stirer_lib/bench/worker.py --root DIR --threads 2 [--device cpu] [--bf16] [--compile]

so that the two implementations never share a module: --root's stirer_lib is imported, whichever
tree this file comes from. It reads one JSON request a line on stdin and answers one JSON line:
  {"cmd": "setup", "case": "train:release:32"}   build model, optimizer and inputs (seed 0), warm up
  {"cmd": "run", "threads": 2}                   one timed repetition -> {"seconds": s}
Only names that every baseline has are used (models.build_stirer, models.CRNN,
training.optim.build_optimizer, losses.stirer_loss), so both sides run the same procedure with their
own code; the imports are absolute for that reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import nullcontext
from pathlib import Path


def make_batch(b: int, device, seed: int = 0) -> dict:
    """LR [b,4,16,64], HR [b,4,32,128], CTC targets and decoder labels of 10-character words (seeded)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    chars = torch.randint(1, 37, (b, 10), generator=g)
    labels = torch.zeros(b, 31, dtype=torch.long)
    labels[:, :10], labels[:, 10] = chars, 37
    batch = {
        "lr": torch.rand(b, 4, 16, 64, generator=g),
        "hr": torch.rand(b, 4, 32, 128, generator=g),
        "ctc_targets": chars.flatten(),
        "ctc_lengths": torch.full((b,), 10, dtype=torch.long),
        "decoder_labels": labels,
    }
    return {k: v.to(device) for k, v in batch.items()}


class Case:
    """A built model + optimizer + inputs, and the step that one repetition times."""

    def __init__(self, spec: str, device, bf16: bool, compile_backend: str | None):
        import torch

        self.torch, self.device = torch, device
        self.autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        kind, *rest = spec.split(":")
        self.kind, b = kind, int(rest[-1])
        torch.manual_seed(0)
        self.batch = make_batch(b, device)
        if kind in ("eval", "train"):
            from stirer_lib.models import build_stirer

            self.model = build_stirer(rest[0]).to(device)
        elif kind in ("crnn_eval", "crnn_train"):
            from stirer_lib.models import CRNN

            self.model = CRNN(32, 1, 37, 256).to(device)
        else:
            raise ValueError(f"unknown case {spec!r}")
        self.model.train(kind.endswith("train"))
        self.forward = torch.compile(self.model, backend=compile_backend) if compile_backend else self.model
        self.opt = self._optimizer() if kind.endswith("train") else None
        self.checksum = float(sum(p.detach().double().sum() for p in self.model.parameters()))

    def _optimizer(self):
        """The implementation's own AdamW (training.optim) for STIRER; plain AdamW for the CRNN."""
        if self.kind == "train":
            from stirer_lib.training.optim import build_optimizer

            return build_optimizer(self.model, 1e-4, 5e-4)
        return self.torch.optim.AdamW(self.model.parameters(), lr=1e-4)

    def step(self) -> None:
        """One eval forward or one training step."""
        torch, batch = self.torch, self.batch
        if self.kind == "eval":
            with torch.no_grad(), self.autocast:
                self.forward(batch["lr"])
        elif self.kind == "train":
            from stirer_lib.losses import stirer_loss

            with self.autocast:
                out = self.forward(batch["lr"], labels=batch["decoder_labels"])
            self.opt.zero_grad(set_to_none=True)
            stirer_loss(out, batch)["total"].backward()
            self.opt.step()
        elif self.kind == "crnn_eval":
            with torch.no_grad(), self.autocast:
                self.forward(batch["hr"][:, :3])
        else:
            with self.autocast:
                scores = self.forward(batch["hr"][:, :3])  # [T,B,37]
            lp = scores.float().log_softmax(-1)
            frames = torch.full((lp.shape[1],), lp.shape[0], dtype=torch.long, device=lp.device)
            loss = torch.nn.functional.ctc_loss(
                lp, batch["ctc_targets"], frames, batch["ctc_lengths"], zero_infinity=True
            )
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()

    def timed(self) -> float:
        """Seconds of one step (device synchronised)."""
        sync = self.torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)
        sync()
        t = time.perf_counter()
        self.step()
        sync()
        return time.perf_counter() - t


def serve(args: argparse.Namespace) -> None:
    """Answer the driver's requests until stdin closes."""
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    case = None
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["cmd"] == "setup":
                case = None  # free the previous model first
                t0 = time.perf_counter()
                case = Case(req["case"], device, args.bf16, args.compile_backend if args.compile else None)
                for _ in range(req.get("warmup", 1)):
                    case.step()
                reply = {"ok": True, "checksum": case.checksum, "setup_s": time.perf_counter() - t0}
            elif req["cmd"] == "run":
                torch.set_num_threads(req.get("threads", args.threads))
                reply = {"ok": True, "seconds": case.timed()}
            else:
                reply = {"ok": False, "error": f"unknown command {req['cmd']!r}"}
        except Exception as e:  # reported to the driver, which prints one line
            reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


def main() -> None:
    """Put --root in place of this file's folder on sys.path, check stirer_lib comes from there, serve."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--compile-backend", default="inductor")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    sys.path[0] = str(root)  # run as a script, sys.path[0] is this folder (its data.py would shadow names)
    import stirer_lib

    if Path(stirer_lib.__file__).resolve().parents[1] != root:
        raise SystemExit(f"stirer_lib imported from {stirer_lib.__file__}, not from {root}")
    print(json.dumps({"ok": True, "ready": str(root)}), flush=True)
    serve(args)


if __name__ == "__main__":
    main()
