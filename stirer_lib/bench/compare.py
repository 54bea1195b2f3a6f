"""`python -m stirer_lib.bench compare --against BASELINE`: this tree's STIRER / CRNN steps against a baseline's.

The baseline is a commit (checked out as a temporary `git worktree`) or a directory holding a
stirer_lib; there is no default: name the commit you compare with (for a change, the commit before
it, e.g. `--against HEAD~1` once the change is committed, `--against HEAD` while it is not).
Both sides run in their own worker process (stirer_lib/bench/worker.py, started as a script with
the side's tree first on sys.path), build the same seed-0 weights and inputs, and interleave the timed
repetitions (ABBA) so that load on a shared machine hits both alike; it prints median seconds and
speed-ups (baseline / this), and with --scaling images per second over batch sizes and thread counts.
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
from contextlib import contextmanager
from pathlib import Path

import torch

WORKER = Path(__file__).with_name("worker.py")
DEFAULT_CASES = "eval:release:64,train:release:32,train:small:32,eval:small:64,crnn_eval:64,crnn_train:32"


class BenchError(RuntimeError):
    """A comparison that cannot run (unknown commit, a worker that failed): one line for the user."""


def build_parser() -> argparse.ArgumentParser:
    """Options of `python -m stirer_lib.bench compare`."""
    p = argparse.ArgumentParser(
        prog="python -m stirer_lib.bench compare",
        description="This tree's STIRER / CRNN against another commit's, in two worker processes, "
        "same weights and inputs, repetitions interleaved; prints the speed ratios.",
    )
    p.add_argument(
        "--against",
        required=True,
        metavar="BASELINE",
        help="a commit (checked out as a temporary git worktree; e.g. HEAD~1, the commit before the last) "
        "or a directory holding a stirer_lib",
    )
    p.add_argument(
        "--cases",
        default=DEFAULT_CASES,
        help="comma-separated eval:CONFIG:B, train:CONFIG:B, crnn_eval:B, crnn_train:B",
    )
    p.add_argument("--reps", type=_positive, default=3, help="timed repetitions per side (interleaved)")
    p.add_argument("--warmup", type=_non_negative, default=1, help="untimed steps after building")
    p.add_argument("--threads", type=_positive, default=2, help="torch CPU threads of both workers")
    p.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on both sides (changes the numbers)")
    p.add_argument("--compile", action="store_true", help="torch.compile both models (setup time = compile time)")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager: tracing only)")
    p.add_argument(
        "--scaling",
        action="store_true",
        help="also images/second of eval and train, release and small, over --scaling-batches x --scaling-threads",
    )
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


def this_tree() -> Path:
    """The directory holding this stirer_lib (a checkout's root, where `git` finds the baseline commit)."""
    return Path(__file__).resolve().parents[2]


@contextmanager
def baseline_tree(against: str, repo: Path):
    """A directory holding the baseline's stirer_lib: `against` itself, or a temporary git worktree of it."""
    if (Path(against) / "stirer_lib").is_dir():
        yield Path(against).resolve(), against
        return
    rev = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if rev.returncode:
        raise BenchError(f"--against {against!r} is neither a directory with stirer_lib nor a commit of {repo}")
    sha = rev.stdout.strip()
    tmp = Path(tempfile.mkdtemp(prefix="stirer_bench_"))
    tree = tmp / sha[:10]
    add = subprocess.run(
        ["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), sha], capture_output=True, text=True
    )
    if add.returncode:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BenchError(f"git worktree add failed: {add.stderr.strip().splitlines()[-1:]}")
    try:
        yield tree, sha[:10]
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


class Worker:
    """A worker.py process importing the stirer_lib of one tree; JSON lines both ways."""

    def __init__(self, name: str, root: Path, args: argparse.Namespace):
        cmd = [
            sys.executable,
            str(WORKER),
            "--root",
            str(root),
            "--threads",
            str(args.threads),
            "--device",
            args.device,
            "--compile-backend",
            args.compile_backend,
        ]
        cmd += ["--bf16"] * args.bf16 + ["--compile"] * args.compile
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        env.pop("PYTHONPATH", None)
        self.name = name
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(root),
        )
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


def interleaved(
    base: Worker, ours: Worker, case: str, reps: int, warmup: int, threads: int
) -> tuple[list[float], list[float], dict]:
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


def compare(args: argparse.Namespace) -> int:
    """Run every case on both sides and print medians and ratios (baseline seconds / ours)."""
    repo = this_tree()
    with baseline_tree(args.against, repo) as (base_root, label):
        workers = []
        try:
            workers.append(Worker(f"baseline {label}", base_root, args))
            workers.append(Worker("this tree", repo, args))
            base, ours = workers
            flags = [f for f, on in (("bf16", args.bf16), (f"compile[{args.compile_backend}]", args.compile)) if on]
            print(
                f"baseline {label} ({base_root}) vs this tree ({repo}); torch {torch.__version__}, device "
                f"{args.device}, {args.threads} threads, {args.reps} interleaved reps, "
                f"{', '.join(flags) or 'fp32 eager'}"
            )
            print(f"{'case':20} {'baseline s':>11} {'this s':>9} {'speed-up':>9}  {'per-rep ratios':>16}")
            for case in [c for c in args.cases.split(",") if c]:
                tb, to, setup = interleaved(base, ours, case, args.reps, args.warmup, args.threads)
                mb, mo = statistics.median(tb), statistics.median(to)
                per = [x / y for x, y in zip(tb, to, strict=True)]
                extra = f"  setup {setup['setup_base']:.1f}/{setup['setup_ours']:.1f} s" if args.compile else ""
                print(
                    f"{case:20} {mb:>11.4f} {mo:>9.4f} {mb / mo:>8.2f}x  {min(per):>7.2f}-{max(per):.2f}x{extra}",
                    flush=True,
                )
            if args.scaling:
                scaling(base, ours, args)
        finally:
            for w in workers:
                w.close()
    return 0


def scaling(base: Worker, ours: Worker, args: argparse.Namespace) -> None:
    """Images/second of both sides over batch sizes and thread counts, eval and train, per config."""
    print(
        f"\n{'config':8} {'mode':5} {'batch':>5} {'threads':>7} {'baseline img/s':>15} {'this img/s':>11} {'ratio':>6}"
    )
    for cfg in args.scaling_configs.split(","):
        for mode in ("eval", "train"):
            for b in [int(x) for x in args.scaling_batches.split(",")]:
                for th in [int(x) for x in args.scaling_threads.split(",")]:
                    tb, to, _ = interleaved(base, ours, f"{mode}:{cfg}:{b}", args.reps, args.warmup, th)
                    rb, ro = b / statistics.median(tb), b / statistics.median(to)
                    print(f"{cfg:8} {mode:5} {b:>5} {th:>7} {rb:>15.1f} {ro:>11.1f} {ro / rb:>5.2f}x", flush=True)
