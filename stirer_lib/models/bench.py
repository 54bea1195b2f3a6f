"""`python -m stirer_lib.bench model | compare`: STIRER eval-forward and train-step images/second.

For each configuration (release, small), device (CPU, and CUDA when present) and batch size it
times (1) an eval forward with greedy generation under no_grad, and (2) one training step:
train-mode forward with teacher forcing, a loss with the same graph as training (MSE on every SR
image, CTC on every mini STR decoder, the T5 cross entropy), backward, AdamW step. Inputs are
random; the figures are medians over a few repetitions. Nothing is asserted: machines are noisy.

`--json PATH` also writes every row (images per second and, on CUDA, the peak memory each timing allocated,
torch.cuda.max_memory_allocated) with the torch / CUDA versions and the device name.

`compare` runs this tree and a baseline commit (default be7bf5b, checked out as a temporary `git
worktree`) in two worker processes (tools/bench_worker.py), builds the same seed-0 weights and inputs
on both sides, and interleaves the timed repetitions (ABBA) so that load on a shared machine hits
both alike; it prints median seconds and speed-ups (baseline / this), and with --scaling images per
second over batch sizes and thread counts.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import config_from_name
from .stirer import STIRER, build_stirer, count_parameters


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def with_peak(device: torch.device, fn, *args, **kw) -> tuple[float, float | None]:
    """fn's result and the peak CUDA memory (MiB) allocated while it ran; None on a CPU."""
    if device.type != "cuda":
        return fn(*args, **kw), None
    torch.cuda.reset_peak_memory_stats(device)
    value = fn(*args, **kw)
    return value, torch.cuda.max_memory_allocated(device) / 2**20


def random_batch(b: int, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """LR [b,4,16,64], HR [b,4,32,128], CTC targets and decoder labels of 10-character words."""
    g = torch.Generator().manual_seed(seed)
    chars = torch.randint(1, 37, (b, 10), generator=g)
    labels = torch.zeros(b, 31, dtype=torch.long)
    labels[:, :10], labels[:, 10] = chars, 37
    return {"lr": torch.rand(b, 4, 16, 64, generator=g).to(device), "hr": torch.rand(b, 4, 32, 128, generator=g).to(device),
            "ctc_targets": chars.flatten().int().to(device), "ctc_lengths": torch.full((b,), 10, dtype=torch.int32).to(device),
            "decoder_labels": labels.to(device)}


def proxy_loss(out, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A loss touching every output the real one uses (Eqs. 7-8 shape, not their weights)."""
    loss = out.ar_loss if out.ar_loss is not None else torch.zeros((), device=batch["lr"].device)
    for sr in ([out.sr] if out.sr is not None else []) + list(out.srs):
        loss = loss + F.mse_loss(sr, batch["hr"])
    b = batch["lr"].shape[0]
    for lo in out.ctc_logits:
        lp = lo.log_softmax(-1).transpose(0, 1)  # [T,B,C]
        loss = loss + F.ctc_loss(lp, batch["ctc_targets"], torch.full((b,), lp.shape[0], dtype=torch.int32),
                                 batch["ctc_lengths"], zero_infinity=True)
    return loss


def time_eval(model: STIRER, batch: dict, reps: int, bf16: bool = False) -> float:
    """Median seconds of an eval forward (with greedy generation), under bfloat16 autocast when asked."""
    model.eval()
    times = []
    device = batch["lr"].device
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for i in range(reps + 1):
            _sync(batch["lr"].device)
            t = time.perf_counter()
            model(batch["lr"])
            _sync(batch["lr"].device)
            if i:  # first run warms up
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_train(model: STIRER, batch: dict, reps: int) -> float:
    """Median seconds of one train step (forward with labels, proxy loss, backward, AdamW)."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i in range(reps + 1):
        _sync(batch["lr"].device)
        t = time.perf_counter()
        out = model(batch["lr"], labels=batch["decoder_labels"])
        opt.zero_grad(set_to_none=True)
        proxy_loss(out, batch).backward()
        opt.step()
        _sync(batch["lr"].device)
        if i:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_parser() -> argparse.ArgumentParser:
    """Options of `python -m stirer_lib.bench model`."""
    p = argparse.ArgumentParser(prog="python -m stirer_lib.bench model", description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="release,small", help="comma-separated config names")
    p.add_argument("--batch-sizes", default="1,16,64", help="comma-separated batch sizes")
    p.add_argument("--devices", default="auto", help="cpu, cuda, or auto (cpu + cuda when present)")
    p.add_argument("--reps", type=int, default=3, help="timed repetitions after one warm-up")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    p.add_argument("--no-train", action="store_true", help="skip the train-step timing")
    p.add_argument("--bf16", action="store_true", help="also time the eval forward under bfloat16 autocast "
                   "(`python -m stirer_lib.evaluate --bf16`; it changes the numbers slightly)")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the figures (and CUDA peak memory) here")
    return p


def environment() -> dict:
    """torch / CUDA versions and the GPU's name, for a JSON of figures."""
    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "cuda": torch.version.cuda, "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if cuda else None}


def bench_row(name: str, model: STIRER, device: torch.device, b: int, args: argparse.Namespace) -> dict:
    """Images per second (and CUDA peak MiB) of one config, device and batch size."""
    batch = random_batch(b, device)
    ev, ev_mem = with_peak(device, time_eval, model, batch, args.reps)
    row = {"config": name, "params": count_parameters(model), "device": device.type, "batch": b,
           "eval_img_s": b / ev, "eval_peak_mib": ev_mem, "train_img_s": None, "train_peak_mib": None}
    if not args.no_train:
        tr, row["train_peak_mib"] = with_peak(device, time_train, model, batch, args.reps)
        row["train_img_s"] = b / tr
    if args.bf16:
        ev16, row["eval_bf16_peak_mib"] = with_peak(device, time_eval, model, batch, args.reps, bf16=True)
        row["eval_bf16_img_s"] = b / ev16
    return row


def format_row(r: dict, bf16: bool) -> str:
    """One printed line of `bench model` (NaN where a timing was skipped; peak MiB on CUDA)."""
    tr = float("nan") if r["train_img_s"] is None else r["train_img_s"]
    line = f"{r['config']:8} {r['params']:>11,} {r['device']:6} {r['batch']:>5} {r['eval_img_s']:>11.1f} {tr:>12.1f}"
    if bf16:
        line += f" {r['eval_bf16_img_s']:>16.1f} {r['eval_bf16_img_s'] / r['eval_img_s']:>10.2f}x"
    peaks = [r.get(k) for k in ("eval_peak_mib", "train_peak_mib", "eval_bf16_peak_mib") if r.get(k) is not None]
    return line + (f"  peak {max(peaks):,.0f} MiB" if peaks else "")


def run(args: argparse.Namespace) -> int:
    """Print eval / train images per second for every config, device and batch size."""
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.devices == "auto" else args.devices.split(",")
    devices = [d for d in devices if d != "cuda" or torch.cuda.is_available()]
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
          + (f", CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no CUDA"))
    print(f"{'config':8} {'params':>11} {'device':6} {'batch':>5} {'eval img/s':>11} {'train img/s':>12}"
          + (f" {'eval bf16 img/s':>16} {'bf16 / fp32':>11}" if args.bf16 else ""))
    rows = []
    for name in args.configs.split(","):
        for dev in devices:
            device = torch.device(dev)
            model = build_stirer(config_from_name(name)).to(device)
            for b in sizes:
                rows.append(bench_row(name, model, device, b, args))
                print(format_row(rows[-1], args.bf16), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({**environment(), "bf16": args.bf16, "reps": args.reps,
                                               "rows": rows}, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse argv (argparse's own error handling) and run."""
    return run(build_parser().parse_args(argv))


# ---------------------------------------------------------------- compare: this tree against a commit
DEFAULT_CASES = "eval:release:64,train:release:32,train:small:32,eval:small:64,crnn_eval:64,crnn_train:32"


class BenchError(RuntimeError):
    """A comparison that cannot run (unknown commit, a worker that failed): one line for the user."""


def build_compare_parser() -> argparse.ArgumentParser:
    """Options of `python -m stirer_lib.bench compare`."""
    p = argparse.ArgumentParser(
        prog="python -m stirer_lib.bench compare",
        description="This tree's STIRER / CRNN against another commit's, in two worker processes, "
                    "same weights and inputs, repetitions interleaved; prints the speed ratios.")
    p.add_argument("--against", default="be7bf5b",
                   help="baseline: a commit (checked out as a temporary git worktree) or a directory with stirer_lib")
    p.add_argument("--cases", default=DEFAULT_CASES,
                   help="comma-separated eval:CONFIG:B, train:CONFIG:B, crnn_eval:B, crnn_train:B")
    p.add_argument("--reps", type=_positive, default=3, help="timed repetitions per side (interleaved)")
    p.add_argument("--warmup", type=_non_negative, default=1, help="untimed steps after building")
    p.add_argument("--threads", type=_positive, default=2, help="torch CPU threads of both workers")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on both sides (changes the numbers)")
    p.add_argument("--compile", action="store_true", help="torch.compile both models (setup time = compile time)")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager: tracing only)")
    p.add_argument("--scaling", action="store_true",
                   help="also images/second of eval and train, release and small, "
                        "over --scaling-batches x --scaling-threads")
    p.add_argument("--scaling-batches", default="1,16,64,256")
    p.add_argument("--scaling-threads", default="1,2")
    p.add_argument("--scaling-configs", default="release,small")
    return p


def _positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _non_negative(text: str) -> int:
    """argparse type: an integer >= 0."""
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def _repo_root() -> Path:
    """The checkout this stirer_lib lives in (tools/bench_worker.py must be there)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "tools" / "bench_worker.py").exists():
        raise BenchError(f"compare needs a source checkout: {root / 'tools' / 'bench_worker.py'} is missing")
    return root


@contextmanager
def baseline_tree(against: str, repo: Path):
    """A directory holding the baseline's stirer_lib: `against` itself, or a temporary git worktree of it."""
    if (Path(against) / "stirer_lib").is_dir():
        yield Path(against).resolve(), against
        return
    rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}"],
                         capture_output=True, text=True)
    if rev.returncode:
        raise BenchError(f"--against {against!r} is neither a directory with stirer_lib nor a commit of {repo}")
    sha = rev.stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="stirer_bench_"))
    tree = tmp / sha[:10]
    add = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), sha],
                         capture_output=True, text=True)
    if add.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BenchError(f"git worktree add failed: {add.stderr.strip().splitlines()[-1:]}")
    try:
        yield tree, sha[:10]
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


class Worker:
    """A tools/bench_worker.py process importing the stirer_lib of one tree; JSON lines both ways."""

    def __init__(self, name: str, root: Path, repo: Path, args: argparse.Namespace):
        cmd = [sys.executable, str(repo / "tools" / "bench_worker.py"), "--root", str(root), "--threads",
               str(args.threads), "--device", args.device, "--compile-backend", args.compile_backend]
        cmd += ["--bf16"] * args.bf16 + ["--compile"] * args.compile
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        env.pop("PYTHONPATH", None)
        self.name = name
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd=str(root))
        self._read()

    def _read(self) -> dict:
        """The next reply; a dead worker or an error reply raises BenchError."""
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read().strip().splitlines()
            raise BenchError(f"{self.name} worker exited: {err[-1] if err else 'no message'}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise BenchError(f"{self.name} worker: {reply.get('error')}")
        return reply

    def ask(self, **req) -> dict:
        """Send one request, wait for its reply."""
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Close stdin (the worker ends) and reap it."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def interleaved(base: Worker, ours: Worker, case: str, reps: int, warmup: int,
                threads: int) -> tuple[list[float], list[float], dict]:
    """Set the case up on both sides, then time reps steps each, alternating which side goes first."""
    a, b = base.ask(cmd="setup", case=case, warmup=warmup), ours.ask(cmd="setup", case=case, warmup=warmup)
    if abs(a["checksum"] - b["checksum"]) > 1e-6 * max(1.0, abs(a["checksum"])):
        raise BenchError(f"{case}: the two sides built different weights ({a['checksum']} vs {b['checksum']})")
    tb, to = [], []
    for r in range(reps):
        pair = (base, ours) if r % 2 == 0 else (ours, base)
        for w in pair:
            (tb if w is base else to).append(w.ask(cmd="run", threads=threads)["seconds"])
    return tb, to, {"setup_base": a["setup_s"], "setup_ours": b["setup_s"]}


def _batch(case: str) -> int:
    return int(case.split(":")[-1])


def compare(args: argparse.Namespace) -> int:
    """Run every case on both sides and print medians and ratios (baseline seconds / ours)."""
    repo = _repo_root()
    with baseline_tree(args.against, repo) as (base_root, label):
        workers = []
        try:
            workers.append(Worker(f"baseline {label}", base_root, repo, args))
            workers.append(Worker("this tree", repo, repo, args))
            base, ours = workers
            flags = [f for f, on in (("bf16", args.bf16), (f"compile[{args.compile_backend}]", args.compile)) if on]
            print(f"baseline {label} ({base_root}) vs this tree ({repo}); torch {torch.__version__}, device "
                  f"{args.device}, {args.threads} threads, {args.reps} interleaved reps, "
                  f"{', '.join(flags) or 'fp32 eager'}")
            print(f"{'case':20} {'baseline s':>11} {'this s':>9} {'speed-up':>9}  {'per-rep ratios':>16}")
            for case in [c for c in args.cases.split(",") if c]:
                tb, to, setup = interleaved(base, ours, case, args.reps, args.warmup, args.threads)
                mb, mo = statistics.median(tb), statistics.median(to)
                per = [x / y for x, y in zip(tb, to)]
                extra = f"  setup {setup['setup_base']:.1f}/{setup['setup_ours']:.1f} s" if args.compile else ""
                print(f"{case:20} {mb:>11.4f} {mo:>9.4f} {mb / mo:>8.2f}x  {min(per):>7.2f}-{max(per):.2f}x{extra}",
                      flush=True)
            if args.scaling:
                scaling(base, ours, args)
        finally:
            for w in workers:
                w.close()
    return 0


def scaling(base: Worker, ours: Worker, args: argparse.Namespace) -> None:
    """Images/second of both sides over batch sizes and thread counts, eval and train, per config."""
    print(f"\n{'config':8} {'mode':5} {'batch':>5} {'threads':>7} {'baseline img/s':>15} {'this img/s':>11} "
          f"{'ratio':>6}")
    for cfg in args.scaling_configs.split(","):
        for mode in ("eval", "train"):
            for b in [int(x) for x in args.scaling_batches.split(",")]:
                for th in [int(x) for x in args.scaling_threads.split(",")]:
                    tb, to, _ = interleaved(base, ours, f"{mode}:{cfg}:{b}", args.reps, args.warmup, th)
                    rb, ro = b / statistics.median(tb), b / statistics.median(to)
                    print(f"{cfg:8} {mode:5} {b:>5} {th:>7} {rb:>15.1f} {ro:>11.1f} {ro / rb:>5.2f}x", flush=True)
