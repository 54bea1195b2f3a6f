"""`python -m stirer_lib.doctor`: what to run first on a new machine.

    python -m stirer_lib.doctor [--profile P] [--data ROOT] [--run-dir DIR] [--set KEY=VALUE]...

Prints, as tables: the device and library versions, bfloat16 support, free disk at the data and
run folders against what the profile will write, whether the profile's data is there (or will be
generated, or where to get it), and an estimate of each notebook's time for the profile, made from
a few timed generator records, CRNN and STIRER training steps and evaluation batches on this
device. The timing data is generated into a temporary folder: nothing is written under data/ or runs/.
A batch too slow to time here (the gpu profile's 256 on a CPU) is timed at 8 and scaled linearly.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from .constants import HR_HEIGHT
from .course.build import build_model
from .course.profiles import Profile, add_profile_argument, default_profile, get_profile
from .course.session import prepare
from .data import TEST_SPLITS, TRAIN_SPLITS, collate_eval, collate_train, pretrain_set, synth, textzoom_split
from .data.lmdb_io import find_lmdbs, pretrain_dir, split_dir
from .errors import DataError, run_cli
from .evaluation import evaluate_loaders
from .losses import ctc_loss
from .models import CRNN, build_stirer, config_from_name, count_parameters
from .text import NUM_CTC_CLASSES
from .training import cost
from .training.resume import RunOptions
from .training.sampler import EpochBatchSampler
from .training.trainer import Trainer

PROBE_BATCH = 8  # the batch of the warm-up step, and of the timing when the profile's batch is too slow here
STEP_BUDGET_S = 4.0  # a step predicted slower than this is timed at PROBE_BATCH and scaled linearly
TIMING_RECORDS = {"pair": 16, "word": 16}  # records generated (and timed) for the measurements
CRNN_MONITOR_IMAGES = 200  # notebook 02 reads this many easy images at every CRNN evaluation
MB = 1e6


# ----------------------------------------------------------------------------- tables


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """Rows as aligned text columns under a header line (numbers right-aligned)."""
    cells = [[str(c) for c in r] for r in [headers, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    right = [all(_numeric(r[i]) for r in cells[1:]) for i in range(len(headers))]

    def line(r: list[str]) -> str:
        """One aligned row."""
        return "  ".join(c.rjust(w) if al else c.ljust(w) for c, w, al in zip(r, widths, right)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *map(line, cells[1:])])


def _numeric(text: str) -> bool:
    """True for a number (or an empty cell): right-aligned."""
    return text.replace(",", "").replace(".", "").replace("-", "").isdigit() or text == ""


def section(title: str, body: str) -> str:
    """A titled block of the report."""
    return f"\n== {title}\n{body}"


# ----------------------------------------------------------------------------- device


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def bf16_support(device: torch.device) -> str:
    """Whether bfloat16 autocast works here: CUDA asks the driver, a CPU runs a tiny matmul under autocast."""
    if device.type == "cuda":
        return "yes (torch.cuda.is_bf16_supported)" if torch.cuda.is_bf16_supported() else "no: use amp=fp16 or off"
    try:
        a = torch.randn(16, 16)
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = a @ a
        ms = (time.perf_counter() - t0) * 1e3
    except RuntimeError as err:
        return f"no: {str(err).splitlines()[0]}"
    if out.dtype != torch.bfloat16:
        return f"no: autocast gave {out.dtype}"
    return f"yes (a bf16 matmul under torch.autocast('cpu') ran in {ms:.2f} ms; set STAGE.amp=bf16 to use it)"


def device_rows(device: torch.device) -> list[list[str]]:
    """Device, core counts and library versions."""
    import transformers

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cuda = (
        f"{torch.version.cuda}, {torch.cuda.device_count()} device(s)"
        if torch.cuda.is_available()
        else "not available (torch built "
        + (f"with CUDA {torch.version.cuda})" if torch.version.cuda else "for CPU only)")
    )
    dev = f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else "cpu"
    return [
        ["device", dev],
        ["CPU", f"{cpu_name()}, {os.cpu_count()} cores ({usable} usable), torch threads {torch.get_num_threads()}"],
        ["python", platform.python_version()],
        ["torch", torch.__version__],
        ["CUDA", cuda],
        ["transformers", transformers.__version__],
        ["bf16 autocast", bf16_support(device)],
        ["load", load_note(usable or 1)],
    ]


def load_note(cores: int) -> str:
    """The 1-minute load average against the usable cores: a busy machine makes every timing below slower."""
    if not hasattr(os, "getloadavg"):
        return "unknown"
    load = os.getloadavg()[0]
    busy = load > 0.75 * cores
    return f"{load:.1f} on {cores} cores" + (
        ": BUSY, other processes compete and the timings below include that; rerun the doctor on an idle machine"
        if busy
        else ""
    )


# ----------------------------------------------------------------------------- data


def lmdb_records(path: Path) -> int | None:
    """num-samples of an LMDB folder, or None when it is not readable."""
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, subdir=True)
    except lmdb.Error:
        return None
    try:
        with env.begin() as txn:
            raw = txn.get(b"num-samples")
        return int(raw) if raw is not None else None
    finally:
        env.close()


def data_sizes(prof: Profile) -> dict[str, int]:
    """Records per split the stages read: synthetic sizes; real LMDBs' num-samples, else the published sizes."""
    # the published sizes: TextZoom's test splits (the gpu profile's synthetic set copies them) and
    # train pairs, MJSynth + SynthText (stirer_lib.training.cost)
    if prof.data.synthetic:
        return {k: int(v) for k, v in prof.data.sizes.items()}
    root, expected = Path(prof.data.root), dict(get_profile("gpu").data.sizes)
    half = cost.TEXTZOOM_TRAIN_PAIRS // 2
    expected.update(
        train1=half, train2=cost.TEXTZOOM_TRAIN_PAIRS - half, pretrain=cost.MJSYNTH_WORDS + cost.SYNTHTEXT_WORDS
    )
    found = {s: lmdb_records(split_dir(root, s)) for s in (*TRAIN_SPLITS, *TEST_SPLITS)}
    words = [lmdb_records(p) for p in find_lmdbs(pretrain_dir(root))] if pretrain_dir(root).is_dir() else []
    found["pretrain"] = sum(w for w in words if w) or None
    return {k: found.get(k) or v for k, v in expected.items()}


def will_generate(prof: Profile, user_root: bool) -> bool:
    """True when session.start / the course would (re)generate the synthetic set (synth.ensure_data)."""
    root, d = Path(prof.data.root), prof.data
    if not d.synthetic or synth.is_complete(root, d.sizes, d.seed, d.style):
        return False
    return not root.exists() or (not user_root and synth.only_generated(root))


def data_report(prof: Profile, user_root: bool) -> tuple[list[list[str]], str]:
    """(rows: part, path, status; a note) for the profile's data, in synth.ensure_data's words."""
    root, d = Path(prof.data.root), prof.data
    parts = [
        (f"textzoom/{s}" if s in TRAIN_SPLITS else f"textzoom/test/{s}", split_dir(root, s))
        for s in (*TRAIN_SPLITS, *TEST_SPLITS)
    ] + [("pretrain", pretrain_dir(root))]
    if will_generate(prof, user_root):
        note = (
            f"synthetic ({d.style} style, seed {d.seed}): generated on first use by the notebooks or the course; "
            f"to make it now: {synth.make_command(root, d.sizes, d.seed, synth.get_style(d.style))}"
        )
        return [[name, str(path), "will be generated"] for name, path in parts], note
    missing = set(synth.missing_parts(root))
    rows = [[name, str(path), "MISSING" if path in missing else _found(path)] for name, path in parts]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            synth.ensure_data(
                root, synthetic=d.synthetic, sizes=d.sizes, seed=d.seed, style=d.style, replace_outdated=not user_root
            )
    except DataError as err:
        return rows, str(err)
    return rows, out.getvalue().strip() or "all found"


def _found(path: Path) -> str:
    """The status of a part that is there: its records."""
    if path.name == "pretrain":
        return "found: " + ", ".join(f"{p.name} ({lmdb_records(p) or '?'})" for p in find_lmdbs(path))
    return f"found ({lmdb_records(path) or '?'} records)"


# ----------------------------------------------------------------------------- measurements


@dataclass
class Measured:
    """Seconds of each unit of work, timed on this device."""

    pair_s: float  # one TextZoom pair record, one generator process
    word_s: float  # one pre-training word record
    quality_s: float  # the generator's quality statistics, per test record
    pair_bytes: float  # LMDB bytes per record
    word_bytes: float
    start_s: float  # a notebook's start: a fresh Python importing what the notebooks import
    build_s: float  # building the release and small models (notebook 03)
    item_s: float  # reading one test item (decode, resize, mask)
    crnn_step_s: float
    crnn_params: int
    params: int
    step_s: dict[str, float]  # STIRER train step per stage, at the stage's batch size
    save_s: float  # writing last.pt (model, AdamW state)
    eval_s: float  # per image: STIRER with generation, PSNR (the trainer's periodic evaluation)
    crnn_eval_s: float  # per image: CRNN on HR and bicubic LR (notebook 02)
    full_eval_s: float  # per image: STIRER, CRNN on SR / LR / HR, both SSIMs (notebook 06)
    scaled: dict[str, int]  # measurement -> batch it was timed at, when smaller than the profile's


def sync(device: torch.device) -> None:
    """Wait for the device (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall seconds of fn(), the device synchronised."""
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def sample_loader(
    ds: Dataset, batch: int, batches: int, workers: int, collate: Callable, device: torch.device, seed: int = 0
) -> DataLoader:
    """`batches` batches of `batch` items drawn with replacement (a small timing set gives any batch size)."""
    sampler = RandomSampler(
        ds, replacement=True, num_samples=batch * batches, generator=torch.Generator().manual_seed(seed)
    )
    return DataLoader(
        ds,
        batch_size=batch,
        sampler=sampler,
        collate_fn=collate,
        num_workers=workers,
        drop_last=True,
        pin_memory=device.type == "cuda",
    )


def timing_batch(full: int, warm_s: float) -> int:
    """The batch to time at: the profile's, unless its step (from the warm-up at PROBE_BATCH) would be slow."""
    small = min(full, PROBE_BATCH)
    return full if warm_s * full / small <= STEP_BUDGET_S else small


def time_steps(
    step: Callable[[dict], Any], ds: Dataset, full: int, workers: int, n: int, collate: Callable, device: torch.device
) -> tuple[float, int]:
    """(median seconds per step at batch `full`, batch timed at): a warm-up step, then n steps through a DataLoader."""
    small = min(full, PROBE_BATCH)
    warm = seconds(lambda: step(next(iter(sample_loader(ds, small, 1, 0, collate, device)))), device)
    batch = timing_batch(full, warm)
    it = iter(sample_loader(ds, batch, n + 1, workers, collate, device, seed=1))
    next(it)  # waits for the loader's workers to start
    times, t = [], time.perf_counter()
    for b in it:  # each step's time includes waiting for its batch
        step(b)
        sync(device)
        times.append(time.perf_counter() - t)
        t = time.perf_counter()
    return statistics.median(times) * full / batch, batch


def eval_batch(run: Callable[[DataLoader], Any], ds: Dataset, full: int, device: torch.device) -> int:
    """The batch to time evaluations at, from a warm-up evaluation of one batch of PROBE_BATCH."""
    return timing_batch(
        full, seconds(lambda: run(sample_loader(ds, min(full, PROBE_BATCH), 1, 0, collate_eval, device)), device)
    )


def time_eval(
    run: Callable[[DataLoader], Any], ds: Dataset, batch: int, workers: int, n: int, device: torch.device
) -> float:
    """Seconds per image of an evaluation over n batches (its loader's start included, as in every evaluation)."""
    loader = sample_loader(ds, batch, n, workers, collate_eval, device, seed=1)
    return seconds(lambda: run(loader), device) / (n * batch)


def generate_timing_set(root: Path, style: str, seed: int) -> dict[str, float]:
    """Write a few pairs (train1, easy) and words under root with the generator; their seconds and bytes per record."""
    synth.warm_caches()
    n_pair, n_word = TIMING_RECORDS["pair"], TIMING_RECORDS["word"]
    keep: list = []
    t_pair = time.perf_counter()
    synth.write_lmdb(split_dir(root, "train1"), "pair", seed, "train1", n_pair, style=style)
    synth.write_lmdb(split_dir(root, "easy"), "pair", seed, "easy", n_pair, keep=keep, style=style)
    t_word = time.perf_counter()
    synth.write_lmdb(pretrain_dir(root) / "synth", "word", seed, "pretrain", n_word, style=style)
    t_quality = time.perf_counter()
    synth.split_quality(keep)
    t_end = time.perf_counter()
    return {
        "pair_s": (t_word - t_pair) / (2 * n_pair),
        "word_s": (t_quality - t_word) / n_word,
        "quality_s": (t_end - t_quality) / n_pair,
        "pair_bytes": lmdb_bytes(split_dir(root, "train1")) / n_pair,
        "word_bytes": lmdb_bytes(pretrain_dir(root) / "synth") / n_word,
    }


def lmdb_bytes(path: Path) -> float:
    """Bytes an LMDB's pages use (last page number x page size)."""
    env = lmdb.open(str(path), readonly=True, lock=False, subdir=True)
    try:
        return (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    finally:
        env.close()


def start_seconds() -> float:
    """Seconds a fresh Python takes to import what a notebook imports (its kernel's start, mostly)."""
    code = (
        "import matplotlib.pyplot, stirer_lib.course.session, stirer_lib.course.build, stirer_lib.evaluation, "
        "stirer_lib.viz.training"
    )
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=Path(__file__).parents[1])
    return time.perf_counter() - t0


def crnn_step_fn(
    crnn: CRNN, device: torch.device, grad_clip: float | None, lr: float, beta1: float = 0.9
) -> Callable[[dict], float]:
    """One CRNN training step as stirer_lib.training.crnn.train_crnn takes it (CTC, Adam, clipping)."""
    opt = torch.optim.Adam(crnn.parameters(), lr=lr, betas=(beta1, 0.999))

    def step(batch: dict) -> float:
        """Forward, CTC loss, backward, Adam step; returns the loss."""
        scores = crnn(batch["hr"].to(device))  # [T, B, 37]
        loss = ctc_loss(scores.transpose(0, 1), batch["ctc_targets"].to(device), batch["ctc_lengths"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(crnn.parameters(), float(grad_clip))
        opt.step()
        return loss.item()

    return step


def stirer_steps(
    prof: Profile,
    models: dict[str, torch.nn.Module],
    sets: dict[str, Dataset],
    tmp: Path,
    device: torch.device,
    n: int,
    scaled: dict[str, int],
) -> tuple[dict[str, float], float]:
    """Seconds per training step of each stage (the Trainer's own train_step, on the stage's model with its frozen
    part) and of one last.pt save."""
    out, save_s = {}, 0.0
    for stage in ("pretrain", "finetune"):
        s = dataclasses.replace(prof.stage(stage), eval_every=-1)
        model = models[stage]
        trainer = Trainer(
            model,
            sets[stage],
            s,
            tmp / stage,
            stage,
            options=RunOptions(init="none", progress=False),
            seed=prof.seed,
            num_workers=prof.data.num_workers,
            device=device,
        )
        try:
            model.train()
            out[stage], batch = time_steps(
                trainer.train_step, sets[stage], s.batch_size, prof.data.num_workers, n, collate_train, device
            )
            save_s = max(save_s, seconds(trainer.save_last, device))
        finally:
            trainer.close()
        if batch < s.batch_size:
            scaled[f"STIRER {stage} step"] = batch
    return out, save_s


def eval_costs(
    prof: Profile,
    model: torch.nn.Module,
    crnn: CRNN,
    test: Dataset,
    device: torch.device,
    n: int,
    scaled: dict[str, int],
) -> dict[str, float]:
    """Seconds per image of the three evaluations the notebooks run (periodic, CRNN gap, full)."""
    runs = {
        "eval_s": lambda dl: evaluate_loaders(model, {"t": dl}, None, device, ssim_on=False, details=False),
        "crnn_eval_s": lambda dl: evaluate_loaders(None, {"t": dl}, crnn, device, crnn_on=("lr_bicubic", "hr")),
        "full_eval_s": lambda dl: evaluate_loaders(model, {"t": dl}, crnn, device, with_skimage=True),
    }
    batch = eval_batch(runs["eval_s"], test, prof.eval.batch_size, device)
    if batch < prof.eval.batch_size:
        scaled.update({f"evaluation ({key})": batch for key in runs})
    return {key: time_eval(run, test, batch, prof.data.num_workers, n, device) for key, run in runs.items()}


def measure(prof: Profile, device: torch.device, n: int) -> Measured:
    """Time every unit of the profile's work on this device, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="stirer-doctor-") as tmp_name:
        tmp = Path(tmp_name)
        gen = generate_timing_set(tmp / "data", prof.data.style, prof.data.seed)
        sets = {"pretrain": pretrain_set(tmp / "data", seed=0), "finetune": textzoom_split(tmp / "data", "train1")}
        test = textzoom_split(tmp / "data", "easy", train=False)
        item_s = seconds(lambda: [test[i] for i in range(len(test))], device) / len(test)
        start_s = start_seconds()
        other = "small" if prof.model.config == "release" else "release"
        t0 = time.perf_counter()
        models = {stage: build_model(prof, stage).to(device) for stage in ("pretrain", "finetune")}  # the same or
        # (fine-tuning from a reference run's pretrained model) another
        build_s = (time.perf_counter() - t0) / 2 + seconds(lambda: build_stirer(config_from_name(other)), device)
        scaled: dict[str, int] = {}
        crnn = CRNN(HR_HEIGHT, 1, NUM_CTC_CLASSES, prof.crnn.hidden, prof.crnn.width).to(device).train()
        crnn_step, batch = time_steps(
            crnn_step_fn(crnn, device, prof.crnn.grad_clip, prof.crnn.lr, prof.crnn.beta1),
            sets["pretrain"],
            prof.crnn.batch_size,
            prof.data.num_workers,
            n,
            collate_train,
            device,
        )
        if batch < prof.crnn.batch_size:
            scaled["CRNN step"] = batch
        steps, save_s = stirer_steps(prof, models, sets, tmp / "runs", device, n, scaled)
        evals = eval_costs(prof, models["finetune"], crnn.eval(), test, device, max(1, n // 2), scaled)
        return Measured(
            **gen,
            start_s=start_s,
            build_s=build_s,
            item_s=item_s,
            crnn_step_s=crnn_step,
            crnn_params=count_parameters(crnn),
            params=count_parameters(models["pretrain"]),
            step_s=steps,
            save_s=save_s,
            **evals,
            scaled=scaled,
        )


def measured_rows(m: Measured, prof: Profile, workers: int) -> list[list[str]]:
    """The timed units as table rows."""
    rows = [
        [
            "generator: TextZoom pair",
            "",
            f"{m.pair_s * 1e3:.1f} ms",
            f"{1 / m.pair_s:.0f} records/s per process ({workers} processes), {m.pair_bytes / 1e3:.1f} kB in the LMDB",
        ],
        [
            "generator: pre-training word",
            "",
            f"{m.word_s * 1e3:.1f} ms",
            f"{1 / m.word_s:.0f} records/s per process, {m.word_bytes / 1e3:.1f} kB",
        ],
        ["generator: test-split quality", "", f"{m.quality_s * 1e3:.1f} ms", "per test record"],
        ["notebook start", "", f"{m.start_s:.2f} s", "a fresh Python importing the notebooks' modules"],
        ["CRNN train step", prof.crnn.batch_size, f"{m.crnn_step_s:.3f} s", _scaled(m, "CRNN step")],
    ]
    for stage in ("pretrain", "finetune"):
        rows.append(
            [
                f"STIRER {stage} step ({prof.model.config})",
                prof.stage(stage).batch_size,
                f"{m.step_s[stage]:.3f} s",
                _scaled(m, f"STIRER {stage} step")
                or f"amp {prof.stage(stage).amp}, {prof.data.num_workers} loader workers",
            ]
        )
    for key, what in (
        ("eval_s", "evaluation: STIRER, generation"),
        ("crnn_eval_s", "evaluation: CRNN HR + bicubic"),
        ("full_eval_s", "evaluation: full (notebook 06)"),
    ):
        rows.append(
            [
                what,
                prof.eval.batch_size,
                f"{getattr(m, key) * 1e3:.1f} ms",
                "per image; " + (_scaled(m, f"evaluation ({key})") or f"{1 / getattr(m, key):.0f} images/s"),
            ]
        )
    rows.append(["checkpoint save (last.pt)", "", f"{m.save_s:.2f} s", f"{m.params:,} parameters + AdamW state"])
    return rows


def _scaled(m: Measured, key: str) -> str:
    """A note when the measurement ran at a smaller batch than the profile's."""
    return f"timed at batch {m.scaled[key]}, scaled linearly" if key in m.scaled else ""


# ----------------------------------------------------------------------------- the estimate


def evaluations(steps: int, eval_every: int) -> int:
    """How many periodic evaluations the Trainer runs in `steps` steps (at each multiple, and at the end)."""
    if eval_every < 0 or steps <= 0:
        return 0
    if eval_every == 0:
        return 1
    return steps // eval_every + (1 if steps % eval_every else 0)


def stage_steps(prof: Profile, stage: str, sizes: dict[str, int]) -> int:
    """The planned optimiser steps of a stage (max_steps, or epochs over the stage's data on one process)."""
    s = prof.stage(stage)
    if s.max_steps is not None:
        return s.max_steps
    n = sizes["pretrain"] if stage == "pretrain" else sizes["train1"] + sizes["train2"]
    return s.epochs * EpochBatchSampler.steps_per_epoch(n, s.batch_size)


def test_images(sizes: dict[str, int], limit: int | None) -> int:
    """Images of one evaluation over the three test splits, at most `limit` per split."""
    return sum(min(sizes[s], limit) if limit is not None else sizes[s] for s in TEST_SPLITS)


@dataclass
class Row:
    """One line of the estimate."""

    stage: str
    work: str
    seconds: float


def stirer_stage_row(prof: Profile, stage: str, name: str, m: Measured, sizes: dict[str, int]) -> Row:
    """A training notebook: steps, periodic evaluations, checkpoint saves, its start."""
    s, steps = prof.stage(stage), stage_steps(prof, stage, sizes)
    n_eval, images = evaluations(steps, s.eval_every), test_images(sizes, s.eval_max_images)
    saves = (steps - 1) // s.ckpt_every + 1 if s.ckpt_every else 1
    secs = steps * m.step_s[stage] + n_eval * images * m.eval_s + (saves + n_eval / 3) * m.save_s + m.start_s
    work = f"{steps:,} steps x {m.step_s[stage]:.3f} s + {n_eval} evals x {images:,} images + {saves} saves"
    if stage == "finetune":  # notebook 05 evaluates the model before and after, with the CRNN
        secs += 2 * images * (m.eval_s + m.crnn_eval_s)
        work += f" + before/after 2 x {images:,}"
    return Row(name, work, secs)


def estimate(prof: Profile, m: Measured, sizes: dict[str, int], generate: bool, workers: int) -> list[Row]:
    """Seconds of data generation (when it will run) and of each notebook, from the measured units."""
    rows = []
    if generate:
        pairs = sum(sizes[s] for s in (*TRAIN_SPLITS, *TEST_SPLITS))
        tests = sum(sizes[s] for s in TEST_SPLITS)
        secs = (pairs * m.pair_s + sizes["pretrain"] * m.word_s) / workers + tests * m.quality_s
        rows.append(Row("data generation", f"{pairs:,} pairs + {sizes['pretrain']:,} words, {workers} processes", secs))
    n_test, c = test_images(sizes, None), prof.crnn
    rows.append(Row("01_data", f"start + read {n_test:,} test images", m.start_s + n_test * m.item_s))
    gap = test_images(sizes, prof.eval.max_images)
    if c.max_steps > 0:
        monitor = evaluations(c.max_steps, c.eval_every) * min(CRNN_MONITOR_IMAGES, sizes["easy"])
        secs = c.max_steps * m.crnn_step_s + (monitor + gap) * m.crnn_eval_s + m.start_s
        work = f"{c.max_steps:,} steps x {m.crnn_step_s:.3f} s + {monitor:,} monitor + {gap:,} gap images"
    else:
        secs, work = gap * m.crnn_eval_s + m.start_s, f"released CRNN (crnn.max_steps=0) + {gap:,} gap images"
    rows.append(Row("02_crnn_baseline", work, secs))
    rows.append(Row("03_stirer_architecture", "start + build the release and small models", m.start_s + m.build_s))
    rows.append(stirer_stage_row(prof, "pretrain", "04_pretraining", m, sizes))
    rows.append(stirer_stage_row(prof, "finetune", "05_finetuning", m, sizes))
    rows.append(Row("06_evaluation", f"start + full evaluation of {gap:,} images", m.start_s + gap * m.full_eval_s))
    return rows


def estimate_table(rows: list[Row]) -> str:
    """The estimate with minutes per stage and the total."""
    body = [[r.stage, r.work, f"{r.seconds / 60:.1f}"] for r in rows]
    total = sum(r.seconds for r in rows)
    return table(["stage", "work", "minutes"], [*body, ["total", "", f"{total / 60:.1f}"]])


# ----------------------------------------------------------------------------- disk


def free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds path (or its nearest existing parent)."""
    p = path.resolve()
    while not p.exists():
        p = p.parent
    return shutil.disk_usage(p).free


def disk_rows(prof: Profile, m: Measured, sizes: dict[str, int], generate: bool) -> list[list[str]]:
    """Free space at the data and run folders vs what the profile writes there."""
    pairs = sum(sizes[s] for s in (*TRAIN_SPLITS, *TEST_SPLITS))
    data = (pairs * m.pair_bytes + sizes["pretrain"] * m.word_bytes) if generate else 0.0
    data_what = (
        f"{pairs:,} pairs x {m.pair_bytes / 1e3:.1f} kB + {sizes['pretrain']:,} words x {m.word_bytes / 1e3:.1f} kB"
        if generate
        else "nothing (the data is read only)"
    )
    model, crnn = 4 * m.params, 4 * m.crnn_params  # float32
    crnn_file = crnn * (3 if prof.crnn.max_steps > 0 else 1)  # with Adam's two moments when trained
    run = 2 * (3 * model + model) + crnn_file + 3 * model  # per stage last.pt (+AdamW) and best.pt; a save's temp
    run_what = (
        f"2 stages x (last.pt {3 * model / MB:.0f} MB + best.pt {model / MB:.0f} MB) + crnn.pt "
        f"{crnn_file / MB:.0f} MB + one temporary save (notebook copies not counted)"
    )
    rows = []
    for name, path, need, what in (
        ("data", Path(prof.data.root), data, data_what),
        ("run", Path(prof.run_dir), run, run_what),
    ):
        free = free_bytes(path)
        rows.append(
            [
                name,
                str(path),
                f"{free / 1e9:.1f} GB",
                f"{need / MB:,.0f} MB",
                "ok" if free > need else "TOO LITTLE",
                what,
            ]
        )
    return rows


# ----------------------------------------------------------------------------- the command


def report(prof: Profile, user_root: bool, device: torch.device, n: int) -> str:
    """The whole report (measures on the device; takes seconds to a minute)."""
    generate = will_generate(prof, user_root)
    workers = synth.default_workers()
    data_rows, note = data_report(prof, user_root)
    dev_rows = device_rows(device)  # before the measurements load the machine
    m = measure(prof, device, n)
    sizes = data_sizes(prof)
    parts = [
        f"stirer doctor: profile {prof.name}, data {prof.data.root}, run dir {prof.run_dir}",
        section("device", table(["what", "value"], dev_rows)),
        section(
            "disk",
            table(["folder", "path", "free", "will write", "status", "what"], disk_rows(prof, m, sizes, generate)),
        ),
        section("data", table(["part", "path", "status"], data_rows) + f"\n{note}"),
        section(
            f"measured on this device ({n} timed steps after a warm-up)",
            table(["measurement", "batch", "time", "note"], measured_rows(m, prof, workers)),
        ),
        section(
            f"estimated time of the {prof.name} course on this device (one process)",
            estimate_table(estimate(prof, m, sizes, generate, workers)),
        ),
    ]
    return "\n".join(parts)


def _main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, print the report."""
    ap = argparse.ArgumentParser(prog="python -m stirer_lib.doctor", description=__doc__.split("\n")[0])
    add_profile_argument(ap)
    ap.add_argument("--data", default=None, help="data ROOT (default: the profile's)")
    ap.add_argument("--run-dir", default=None, help="the run directory (default: the profile's)")
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="profile override, as the course and train take it (repeatable)",
    )
    ap.add_argument("--steps", type=int, default=3, help="timed steps per measurement (after one warm-up)")
    a = ap.parse_args(argv)
    if a.steps < 1:
        ap.error("--steps must be at least 1")
    prof, user_root = prepare(a.profile or default_profile(), a.overrides, a.data, a.run_dir)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    print(report(prof, user_root, device, a.steps))
    print(f"\n(doctor took {time.perf_counter() - t0:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
