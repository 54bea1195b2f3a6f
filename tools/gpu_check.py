"""The GPU check (issue 23): the course's GPU code paths in one timed, logged run of at most 8 minutes.

    bash tools/gpu_check.sh OUTDIR [--cpu-dry-run] [--work DIR] [--budget-s S] [--steps A,B]   (picks the Python)

Steps, in order, each timed and time-boxed; a failing step is recorded and the others still run:
  install       the course's packages missing on a bare GPU machine, from gpu_wheels/wheels (tools/gpu_wheels.sh)
  environment   GPU, driver, torch / CUDA / cuDNN / NCCL versions
  fixtures      the reference fixtures (gpu_wheels/fixtures: the CRNN weights rebuilt from their seed and checked)
  tests         the fixture-equivalence tests on the device (STIRER_TEST_DEVICE), float32 and bf16 autocast
  doctor_gpu, doctor_paper   python -m stirer_lib.doctor and its estimate per stage
  bench_fp32, bench_bf16     python -m stirer_lib.bench model: images/second, peak CUDA memory
  course        the six notebooks, gpu profile at reduced size (release model, bf16, loader workers)
  evaluate      python -m stirer_lib.evaluation on the course's fine-tuned checkpoint
  torchrun      torchrun --nproc_per_node 1 of the paper profile's train command on a tiny real-format layout
  ddp_probe     one process group (NCCL on CUDA, gloo on a CPU) and DistributedDataParallel steps of the model
OUTDIR gets gpu_check.log (every command and its output) and gpu_check.json (rc, seconds and figures of each
step; the GPU, versions, date, commit), rewritten after every step; everything else goes to the work folder
(default OUTDIR/work). --cpu-dry-run runs the same steps at toy size on the CPU (tests/test_gpu_check.py).
--steps reruns some steps (one JSON of those). Preparing the wheels and fixtures, and carrying them to the
device: tools/gpu_wheels.sh and README, "The GPU check (issue 23)".
The other subcommands (env, install, pack-fixtures, unpack-fixtures, layout, tiny-checkpoint, ckpt-figures,
ddp-probe) are the steps' helpers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / "gpu_wheels"
FIGURES_TAG = "GPU_CHECK_FIGURES "  # a helper's output line carrying a JSON object of figures
BUDGET_S = 480  # the whole check on a GPU machine: 8 minutes
MIN_STEP_S = 10  # a step that would get less is skipped
NEEDED_MODULES = (
    "lmdb",
    "papermill",
    "nbformat",
    "nbclient",
    "nbconvert",
    "ipykernel",
    "jupyter_client",
    "zmq",
    "ipywidgets",
    "wordfreq",
    "jupyter_server_mathjax",
)
CRNN_FIXTURE, CRNN_SLIM = "official_crnn_seed0.pt", "official_crnn_seed0.slim.pt"
XZ_FIXTURES = ("official_stirer_seed0.pt",)  # packed xz-compressed
UNPACKED_FIXTURES = ("official_metrics.pt",)  # read by tests/test_metrics.py only, which the GPU check does not run
STEP_NAMES = (
    "install",
    "environment",
    "fixtures",
    "tests",
    "doctor_gpu",
    "doctor_paper",
    "bench_fp32",
    "bench_bf16",
    "gru",
    "course",
    "evaluate",
    "torchrun",
    "ddp_probe",
)
FIXTURE_TESTS = [
    "tests/test_models.py",
    "tests/test_crnn.py",
    "tests/test_losses.py",
    "tests/test_evaluation.py",
    "tests/test_amp.py",
]
DRY_TESTS = [
    "tests/test_losses.py",
    "tests/test_crnn.py::test_reproduces_official_output_rgb",
    "tests/test_amp.py::test_amp_modes_pick_the_dtype_per_device",
    "tests/test_models.py::test_fixture_encoder_and_sr",
]


# ----------------------------------------------------------------------------- sizes of the two modes


@dataclass(frozen=True)
class Mode:
    """What differs between the GPU run and the CPU dry run: sizes, steps, devices, time boxes."""

    dry: bool
    device: str
    tests: list[str]
    doctor_sets: list[str]
    bench: list[str]
    course_sets: list[str]
    course_only: list[str]
    eval_args: list[str]
    layout: list[str]
    train_sets: list[str]
    probe: list[str]
    boxes: dict[str, int]
    env: dict = field(default_factory=dict)


def _sets(d: dict) -> list[str]:
    """--set KEY=VALUE pairs of a dict."""
    return [x for k, v in d.items() for x in ("--set", f"{k}={v}")]


def course_overrides(sizes: dict, steps: int, model: str, workers: int, batch: dict | None) -> dict:
    """The gpu profile at reduced size: data sizes, steps per stage, the model, bf16 and loader workers."""
    over = {
        **{f"data.sizes.{k}": v for k, v in sizes.items()},
        "data.num_workers": workers,
        "model.config": model,
        "crnn.max_steps": steps,
        "pretrain.max_steps": steps,
        "finetune.max_steps": steps,
        "pretrain.amp": "bf16",
        "finetune.amp": "bf16",
    }
    return {**over, **(batch or {})}


def gpu_mode() -> Mode:
    """The check on a GPU machine (8 minutes)."""
    sizes = {"train1": 512, "train2": 512, "easy": 128, "medium": 128, "hard": 128, "pretrain": 4096}
    return Mode(
        dry=False,
        device="cuda",
        tests=FIXTURE_TESTS,
        doctor_sets=[],
        bench=["--devices", "cuda", "--configs", "release,small", "--batch-sizes", "1,64,256"],
        course_sets=_sets(course_overrides(sizes, 200, "release", 4, None)),
        course_only=[],
        eval_args=["--device", "cuda", "--batch-size", "256"],
        layout=["--pairs", "32", "--tests", "16", "--words", "64"],
        train_sets=_sets(
            {
                "data.num_workers": 4,
                "eval.batch_size": 64,
                "pretrain.epochs": 1,
                "pretrain.batch_size": 32,
                "finetune.epochs": 1,
                "finetune.batch_size": 16,
            }
        ),
        probe=["--config", "release", "--batch", "64"],
        # each step's box; the check's budget (8 minutes) cuts the last ones if the first run long: rerun those with
        # --steps (a device session has 15 minutes, the machine's start included)
        boxes={
            "install": 45,
            "environment": 20,
            "fixtures": 25,
            "tests": 100,
            "doctor_gpu": 45,
            "doctor_paper": 45,
            "bench_fp32": 50,
            "bench_bf16": 30,
            "gru": 20,
            "course": 230,
            "evaluate": 30,
            "torchrun": 60,
            "ddp_probe": 30,
        },
    )


def dry_mode() -> Mode:
    """The same steps at toy size on the CPU: the small model, a step or two, gloo; the course runs notebook 01
    only (all six take minutes on 2 cores: tests/test_profiles_toy.py runs them) and the evaluate step reads a
    random small checkpoint in place of notebook 05's."""
    sizes = {"train1": 4, "train2": 4, "easy": 4, "medium": 4, "hard": 4, "pretrain": 8}
    toy_batch = {"crnn.batch_size": 4, "eval.batch_size": 4, "pretrain.batch_size": 2, "finetune.batch_size": 2}
    return Mode(
        dry=True,
        device="cpu",
        tests=DRY_TESTS,
        doctor_sets=["--steps", "1", *_sets({"model.config": "small", "data.num_workers": 0, **toy_batch})],
        bench=["--devices", "cpu", "--configs", "small", "--batch-sizes", "1,2", "--reps", "1"],
        course_sets=_sets(course_overrides(sizes, 1, "small", 2, {**toy_batch, "eval.ood_images": 2})),
        course_only=["--only", "1"],
        eval_args=["--device", "cpu", "--batch-size", "4", "--max-images", "4"],
        layout=["--pairs", "4", "--tests", "2", "--words", "4"],
        train_sets=_sets(
            {
                "model.config": "small",
                "data.num_workers": 0,
                "eval.batch_size": 4,
                "pretrain.epochs": 1,
                "pretrain.batch_size": 2,
                "finetune.epochs": 1,
                "finetune.batch_size": 2,
            }
        ),
        probe=["--config", "small", "--batch", "2"],
        boxes=dict.fromkeys(STEP_NAMES, 900),  # only a guard against a hang: a busy 2-core machine is slow
        # one torch thread: on a shared 2-core machine two OpenMP threads spin against each other (a small-model
        # train step measured 40 CPU s instead of 0.25 s), as tests/conftest.py's one_thread fixture says
        env={"OMP_NUM_THREADS": "1"},
    )


# ----------------------------------------------------------------------------- the steps


@dataclass
class Ctx:
    """Paths and settings shared by the steps."""

    out: Path
    work: Path
    mode: Mode
    wheels: Path
    fixtures_src: Path | None
    py: str = sys.executable
    result: dict = field(default_factory=dict)

    @property
    def site(self) -> Path:
        return self.work / "site"

    @property
    def fixtures(self) -> Path:
        return self.work / "fixtures"

    @property
    def run(self) -> Path:
        return self.work / "course"

    @property
    def data(self) -> Path:
        return self.work / "data"


@dataclass
class Step:
    """A named list of commands (run in order, stopping at the first failure) and how to read its figures."""

    name: str
    commands: Callable[[Ctx], list[list[str]]]
    figures: Callable[[Ctx, str], dict] = lambda ctx, out: {}
    env: Callable[[Ctx], dict] = lambda ctx: {}


def me(ctx: Ctx, *args: str) -> list[str]:
    """A command running one of this file's helpers."""
    return [ctx.py, str(Path(__file__).resolve()), *args]


def torchrun(ctx: Ctx, *args: str) -> list[str]:
    """torchrun --nproc_per_node 1 (as `python -m torch.distributed.run`, the same launcher)."""
    return [ctx.py, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--standalone", *args]


def train_cmd(ctx: Ctx, stage: str) -> list[str]:
    """The paper profile's train command of one stage under torchrun, on the tiny real-format layout."""
    return torchrun(
        ctx,
        "-m",
        "stirer_lib.train",
        "--stage",
        stage,
        "--profile",
        "paper",
        "--run-dir",
        str(ctx.work / "paper" / stage),
        "--data",
        str(ctx.work / "paper_data"),
        "--no-progress",
        *ctx.mode.train_sets,
    )


def evaluate_cmds(ctx: Ctx) -> list[list[str]]:
    """Evaluate the course's fine-tuned model (the dry run, which runs notebook 01 only, makes a random one)."""
    ckpt, crnn = ctx.run / "finetune" / "best.pt", ctx.run / "crnn" / "crnn.pt"
    cmds = [] if ckpt.exists() or not ctx.mode.dry else [me(ctx, "tiny-checkpoint", str(ckpt))]
    return cmds + [
        [
            ctx.py,
            "-m",
            "stirer_lib.evaluation",
            "--stirer",
            str(ckpt),
            "--data",
            str(ctx.data),
            "--json",
            str(ctx.work / "evaluate.json"),
            "--no-progress",
            *ctx.mode.eval_args,
            *(["--crnn", str(crnn)] if crnn.exists() or not ctx.mode.dry else []),
        ]
    ]


def steps() -> list[Step]:
    """Every step of the check, in order."""
    doctor = lambda p: (
        lambda c: [
            [
                c.py,
                "-m",
                "stirer_lib.doctor",
                "--profile",
                p,
                "--data",  # noqa: E731
                str(c.work / f"doctor_{p}_data"),
                "--run-dir",
                str(c.work / f"doctor_{p}_run"),
                *c.mode.doctor_sets,
            ]
        ]
    )
    bench = lambda tag, extra: (
        lambda c: [
            [
                c.py,
                "-m",
                "stirer_lib.bench",
                "model",
                *c.mode.bench,
                *extra,  # noqa: E731
                "--json",
                str(c.work / f"bench_{tag}.json"),
            ]
        ]
    )
    return [
        Step("install", lambda c: [me(c, "install", str(c.wheels / "wheels"), str(c.site))]),
        Step("environment", lambda c: [me(c, "env")]),
        Step(
            "fixtures",
            lambda c: [
                me(
                    c,
                    "unpack-fixtures",
                    str(c.fixtures_src or ""),
                    str(c.fixtures),
                    *(["--optional"] if c.mode.dry else []),
                )
            ],
        ),
        Step(
            "tests",
            lambda c: [[c.py, "-m", "pytest", "-q", "-rfE", *c.mode.tests, "--junitxml", str(c.work / "tests.xml")]],
            tests_figures,
            lambda c: {"STIRER_TEST_DEVICE": c.mode.device},
        ),
        Step("doctor_gpu", doctor("gpu"), doctor_figures),
        Step("doctor_paper", doctor("paper"), doctor_figures),
        Step("bench_fp32", bench("fp32", []), lambda c, o: bench_figures(c.work / "bench_fp32.json")),
        Step(
            "bench_bf16",
            bench("bf16", ["--bf16", "--no-train"]),
            lambda c, o: bench_figures(c.work / "bench_bf16.json"),
        ),
        Step("gru", lambda c: [me(c, "gru-timing", "--device", c.mode.device)], lambda c, o: tagged_figures(o)),
        Step(
            "course",
            lambda c: [
                [
                    c.py,
                    "-m",
                    "stirer_lib.course",
                    "--profile",
                    "gpu",
                    "--run-dir",
                    str(c.run),
                    "--data",
                    str(c.data),
                    *c.mode.course_sets,
                    *c.mode.course_only,
                ]
            ],
            course_figures,
        ),
        Step("evaluate", evaluate_cmds, lambda c, o: evaluate_figures(c.work / "evaluate.json")),
        Step(
            "torchrun",
            lambda c: [
                me(c, "layout", str(c.work / "paper_data"), *c.mode.layout),
                train_cmd(c, "pretrain"),
                train_cmd(c, "finetune"),
                me(c, "ckpt-figures", str(c.work / "paper" / "pretrain"), str(c.work / "paper" / "finetune")),
            ],
        ),
        Step("ddp_probe", lambda c: [torchrun(c, str(Path(__file__).resolve()), "ddp-probe", *c.mode.probe)]),
    ]


# ----------------------------------------------------------------------------- figures read from the outputs


def tagged_figures(out: str) -> dict:
    """The JSON objects that helpers printed after FIGURES_TAG, merged."""
    figs: dict = {}
    for line in out.splitlines():
        if line.startswith(FIGURES_TAG):
            figs.update(json.loads(line[len(FIGURES_TAG) :]))
    return figs


def tests_figures(ctx: Ctx, out: str) -> dict:
    """Counts, seconds per test file and the failing tests, from pytest's JUnit XML."""
    path = ctx.work / "tests.xml"
    if not path.exists():
        return {}
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    per_file: dict[str, float] = {}
    failed = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name')}"
        module = case.get("classname", "").split(".")[-1]
        per_file[module] = round(per_file.get(module, 0.0) + float(case.get("time", 0)), 2)
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is not None:
            counts["failed"] += 1
            first = (bad.get("message") or "").strip().splitlines()[:1]
            failed.append(f"{name}: {first[0][:300] if first else ''}")
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return {**counts, "device": ctx.mode.device, "seconds_per_file": per_file, "failed_tests": failed}


def table_rows(body: str) -> list[list[str]]:
    """The cells of a doctor table (header, dash line, rows), cut at the dash line's column positions."""
    lines = body.splitlines()
    dash = next((i for i, ln in enumerate(lines) if ln.startswith("---")), None)
    if dash is None:
        return []
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[dash])]
    rows = []
    for ln in lines[dash + 1 :]:
        if not ln.strip():
            break
        cells = [ln[a : (spans[i + 1][0] if i + 1 < len(spans) else None)].strip() for i, (a, _) in enumerate(spans)]
        rows.append(cells)
    return rows


def doctor_figures(ctx: Ctx, out: str) -> dict:
    """The doctor's device table, its measurements and its estimate (minutes per stage)."""
    sections = {}
    for block in out.split("\n== ")[1:]:
        title, _, body = block.partition("\n")
        sections[title.strip()] = table_rows(body)
    pick = lambda prefix: next((r for t, r in sections.items() if t.startswith(prefix)), [])  # noqa: E731
    estimate = {r[0]: _number(r[-1]) for r in pick("estimated time")}
    measured = {r[0]: {"batch": r[1], "time": r[2], "note": r[3]} for r in pick("measured") if len(r) >= 4}
    took = re.search(r"\(doctor took (\d+) s\)", out)
    return {
        "device": {r[0]: r[1] for r in pick("device") if len(r) >= 2},
        "measured": measured,
        "estimate_minutes": estimate,
        "doctor_seconds": int(took.group(1)) if took else None,
    }


def _number(text: str) -> float | None:
    """A float of a table cell, None when it is not one."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def bench_figures(path: Path) -> dict:
    """bench model --json: the rows (images/second, peak CUDA MiB)."""
    return json.loads(path.read_text()) if path.exists() else {}


def evaluate_figures(path: Path) -> dict:
    """Accuracy / PSNR / SSIM of the evaluate CLI's results JSON, both averaging conventions."""
    if not path.exists():
        return {}
    res = json.loads(path.read_text())
    keep = lambda r: {k: r.get(k) for k in ("n", "acc", "psnr", "ssim", "crnn_acc")}  # noqa: E731
    return {
        "over_all": keep(res["over_all"]),
        "mean_of_splits": keep(res["mean_of_splits"]),
        "seconds": res["meta"].get("seconds"),
        "device": res["meta"].get("device"),
        "splits": {s: r["n"] for s, r in res["splits"].items()},
    }


def stage_figures(metrics: Path) -> dict:
    """Steps, first / last loss and images per second of a training stage, from its metrics.jsonl."""
    rows = [json.loads(ln) for ln in metrics.read_text().splitlines() if ln.strip()]
    start = next((r for r in rows if r.get("kind") == "start"), {})
    train = [r for r in rows if r.get("kind") == "train"]
    if not train:
        return {"steps": 0}
    secs = train[-1].get("time_s")
    imgs = train[-1]["step"] * (start.get("batch_size") or 0) * (start.get("world") or 1)
    return {
        "steps": train[-1]["step"],
        "batch_size": start.get("batch_size"),
        "first_loss": train[0].get("total"),
        "last_loss": train[-1].get("total"),
        "time_s": secs,
        "images_per_s": round(imgs / secs, 1) if secs else None,
    }


def course_figures(ctx: Ctx, out: str) -> dict:
    """Minutes per notebook, the training stages and the results of notebook 06 (what ran)."""
    figs: dict = {
        "notebook_minutes": {
            m.group(1): float(m.group(2)) for m in re.finditer(r"done (\S+)\.ipynb in ([\d.]+) min", out)
        }
    }
    for stage in ("pretrain", "finetune"):
        if (ctx.run / stage / "metrics.jsonl").exists():
            figs[stage] = stage_figures(ctx.run / stage / "metrics.jsonl")
    res = evaluate_figures(ctx.run / "eval" / "results.json")
    if res:
        figs["results"] = res
    return figs


# ----------------------------------------------------------------------------- running the steps


def log(ctx: Ctx, text: str) -> None:
    """Append to OUTDIR/gpu_check.log."""
    with open(ctx.out / "gpu_check.log", "a", encoding="utf-8") as f:
        f.write(text)


def step_env(ctx: Ctx, step: Step) -> dict:
    """The environment of a step's commands: the wheels' site folder and the repository on PYTHONPATH, the
    site's share/jupyter (nbconvert's templates) on JUPYTER_PATH, the unpacked fixtures."""
    path = os.pathsep.join([str(ctx.site), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    jupyter = os.pathsep.join([str(ctx.site / "share" / "jupyter"), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    return {
        **os.environ,
        "PYTHONPATH": path,
        "JUPYTER_PATH": jupyter,
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "STIRER_FIXTURES": str(ctx.fixtures),
        **ctx.mode.env,
        **step.env(ctx),
    }


RUNNING: list[subprocess.Popen] = []  # the command in flight, ended with the check if the check is stopped


def run_command(cmd: list[str], env: dict, timeout: float, logfile: Path) -> int:
    """Run one command (its own process group) into logfile; on timeout end its group, return 124."""
    with open(logfile, "ab") as f:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        RUNNING.append(proc)
        try:
            return proc.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            end_group(proc)
            f.write(f"\n[gpu_check] timed out after {timeout:.0f} s\n".encode())
            return 124
        finally:
            RUNNING.remove(proc)


def end_group(proc: subprocess.Popen) -> None:
    """Kill the process group this check started for one command (and only that one)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def on_signal(signum, frame) -> None:
    """SIGTERM / SIGINT: end the command in flight with its children, then stop (the JSON so far stays)."""
    for proc in list(RUNNING):
        end_group(proc)
    sys.exit(128 + signum)


def run_step(ctx: Ctx, step: Step, deadline: float) -> dict:
    """A step's commands within its time box (and the check's deadline): rc, seconds, figures, output tail."""
    box = min(ctx.mode.boxes[step.name], deadline - time.monotonic())
    if box < MIN_STEP_S:
        return {"rc": None, "seconds": 0.0, "skipped": "no time left in the check's budget", "figures": {}}
    logfile = ctx.work / "logs" / f"{step.name}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.unlink(missing_ok=True)
    t0, cpu0, rc, cmds = time.monotonic(), _children_cpu(), 0, []
    try:
        cmds = step.commands(ctx)
        for cmd in cmds:
            rc = run_command(cmd, step_env(ctx, step), box - (time.monotonic() - t0), logfile)
            if rc:
                break
    except Exception as err:  # a step that cannot even be built is that step's failure, not the check's
        rc = 1
        with open(logfile, "a") as f:
            f.write(f"[gpu_check] {type(err).__name__}: {err}\n")
    seconds = round(time.monotonic() - t0, 2)
    out = logfile.read_text(errors="replace") if logfile.exists() else ""
    rec = {
        "rc": rc,
        "seconds": seconds,
        "cpu_seconds": round(_children_cpu() - cpu0, 2),
        "timeout_s": round(box),
        "commands": [" ".join(c) for c in cmds],
    }
    rec["figures"] = read_figures(ctx, step, out)
    if rc:
        rec["output_tail"] = out[-3000:]
    log(
        ctx,
        f"\n==== {step.name}\n"
        + "".join(f"$ {c}\n" for c in rec["commands"])
        + out
        + f"---- {step.name}: rc {rc} in {seconds} s\n",
    )
    return rec


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far: a step's work whatever the load."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def read_figures(ctx: Ctx, step: Step, out: str) -> dict:
    """The step's figures: the helpers' tagged lines and the step's own reader (a reader's error is a figure)."""
    figs = tagged_figures(out)
    try:
        figs.update(step.figures(ctx, out))
    except Exception as err:  # noqa: BLE001 - recorded, never fatal
        figs["figures_error"] = f"{type(err).__name__}: {err}"
    return figs


def commit() -> dict:
    """The git commit of the tree (or the one gpu_wheels.sh recorded when .git did not travel)."""
    try:
        if not (REPO / ".git").exists():
            raise FileNotFoundError("no .git here")
        sha = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if sha:
            return {"commit": sha, "modified_files": len(dirty.splitlines()), "commit_from": "git"}
    except (OSError, subprocess.SubprocessError):
        pass
    rec = WHEELS / "wheels" / "COMMIT"
    return {"commit": rec.read_text().strip() if rec.exists() else None, "commit_from": str(rec)}


def write_json(ctx: Ctx) -> None:
    """OUTDIR/gpu_check.json, atomically."""
    tmp = ctx.out / "gpu_check.json.tmp"
    tmp.write_text(json.dumps(ctx.result, indent=1, default=str) + "\n")
    tmp.replace(ctx.out / "gpu_check.json")


def check(ctx: Ctx, budget_s: float, only: list[str] | None = None) -> int:
    """Run every step, record each one, print one line per step; 0 when all passed, else 1."""
    t0 = time.monotonic()
    deadline = t0 + budget_s
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    env = {"python": platform.python_version(), "host": platform.node(), "cpu_count": os.cpu_count()}
    ctx.result = {
        "check": "issue 23 GPU check",
        "dry_run": ctx.mode.dry,
        "device": ctx.mode.device,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **commit(),
        "budget_s": budget_s,
        "work": str(ctx.work),
        "environment": env,
        "steps": {},
    }
    log(
        ctx,
        f"gpu check {'(CPU dry run) ' if ctx.mode.dry else ''}at {ctx.result['date']}, "
        f"commit {ctx.result['commit']}, work folder {ctx.work}\n",
    )
    for step in [s for s in steps() if not only or s.name in only]:
        rec = run_step(ctx, step, deadline)
        ctx.result["steps"][step.name] = rec
        if step.name == "environment":
            env.update({k: v for k, v in rec["figures"].items()})
        ctx.result["total_seconds"] = round(time.monotonic() - t0, 1)
        write_json(ctx)
        status = "skipped" if rec["rc"] is None else ("ok" if rec["rc"] == 0 else f"FAILED rc {rec['rc']}")
        print(f"[gpu_check] {step.name:13} {status:14} {rec['seconds']:7.1f} s", flush=True)
    failed = [n for n, r in ctx.result["steps"].items() if r["rc"] != 0]
    print(
        f"[gpu_check] {len(ctx.result['steps']) - len(failed)}/{len(ctx.result['steps'])} steps ok in "
        f"{ctx.result['total_seconds']:.0f} s"
        + (f"; not ok: {', '.join(failed)}" if failed else "")
        + f"; figures in {ctx.out / 'gpu_check.json'}",
        flush=True,
    )
    return 1 if failed else 0


def _usage_error(prog: str, msg: str):
    """Bad input: one line on stderr, exit code 2."""
    print(f"{prog}: error: {msg}", file=sys.stderr)
    sys.exit(2)


def default_fixtures() -> Path | None:
    """gpu_wheels/fixtures (carried to the GPU machine), else $STIRER_FIXTURES, else ../shared/fixtures."""
    for cand in (WHEELS / "fixtures", os.environ.get("STIRER_FIXTURES"), REPO.parent / "shared" / "fixtures"):
        if cand and (Path(cand) / "README.md").exists():
            return Path(cand)
    return None


def main_check(argv: list[str]) -> int:
    """Parse the check's command line (bad input: one line, exit 2) and run it."""
    ap = argparse.ArgumentParser(prog="bash tools/gpu_check.sh", description=__doc__.splitlines()[0])
    ap.error = lambda msg: _usage_error(ap.prog, msg)
    ap.add_argument("outdir", help="where gpu_check.log and gpu_check.json go")
    ap.add_argument("--cpu-dry-run", action="store_true", help="the same steps at toy size on the CPU")
    ap.add_argument("--work", default=None, help="folder for data, runs and logs (default OUTDIR/work)")
    ap.add_argument("--wheels", default=str(WHEELS), help="the folder tools/gpu_wheels.sh filled")
    ap.add_argument(
        "--fixtures",
        default=None,
        help="reference fixtures (default: gpu_wheels/fixtures, $STIRER_FIXTURES, ../shared/fixtures)",
    )
    ap.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help=f"the whole check's time (default {BUDGET_S} s on a GPU, unlimited in the dry run)",
    )
    ap.add_argument("--steps", default=None, help="comma-separated subset of the steps (a rerun of some)")
    a = ap.parse_args(argv)
    only = a.steps.split(",") if a.steps else None
    if only and set(only) - set(STEP_NAMES):
        ap.error(f"--steps {a.steps}: choose from {','.join(STEP_NAMES)}")
    mode = dry_mode() if a.cpu_dry_run else gpu_mode()
    out = Path(a.outdir).resolve()
    work = Path(a.work).resolve() if a.work else out / "work"
    fixtures = Path(a.fixtures) if a.fixtures else default_fixtures()
    if a.fixtures and not (fixtures / "README.md").exists():
        ap.error(f"--fixtures {a.fixtures}: no README.md there (the reference fixtures folder)")
    for d in (out, work):
        d.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.log").unlink(missing_ok=True)
    ctx = Ctx(out=out, work=work, mode=mode, wheels=Path(a.wheels).resolve(), fixtures_src=fixtures)
    budget = a.budget_s if a.budget_s is not None else (1e9 if mode.dry else BUDGET_S)
    return check(ctx, budget, only)


# ----------------------------------------------------------------------------- helpers run by the steps


def emit(figures: dict) -> None:
    """Print figures for the check to collect."""
    print(FIGURES_TAG + json.dumps(figures, default=str), flush=True)


def helper_env(args: list[str]) -> int:
    """Versions and the GPU: torch, CUDA, cuDNN, NCCL, driver, bf16 support, GPU memory."""
    import torch

    figs = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
    }
    for mod in ("numpy", "transformers", "lmdb", "papermill", "nbconvert", "ipykernel"):
        try:
            figs[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - absent or without __version__
            figs[mod] = None
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        figs.update(
            gpu=p.name,
            gpu_count=torch.cuda.device_count(),
            gpu_memory_gib=round(p.total_memory / 2**30, 1),
            capability=f"{p.major}.{p.minor}",
            bf16=torch.cuda.is_bf16_supported(),
            nccl=".".join(map(str, torch.cuda.nccl.version())),
            driver=_driver(),
        )
    emit(figs)
    return 0


def _driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi, if it is there."""
    try:
        return (
            subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def missing_modules() -> list[str]:
    """The course's modules that this Python cannot find (found without importing them)."""
    import importlib.util

    return [m for m in NEEDED_MODULES if importlib.util.find_spec(m) is None]


def helper_install(args: list[str]) -> int:
    """install WHEELS SITE: pip-install the carried wheels into SITE (no index, no deps) when modules are missing."""
    wheels, site = Path(args[0]), Path(args[1])
    missing = missing_modules()
    if not missing:
        emit({"installed": [], "note": "every module was importable already"})
        return 0
    files = sorted(wheels.glob("*.whl"))
    if not files:
        print(f"missing {', '.join(missing)} and no wheels in {wheels}: run bash tools/gpu_wheels.sh first")
        return 1
    site.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-deps",
        "--no-compile",
        "--upgrade",
        "--disable-pip-version-check",
        "--target",
        str(site),
        *map(str, files),
    ]
    rc = subprocess.run(cmd).returncode
    sys.path.insert(0, str(site))
    still = missing_modules()
    emit(
        {
            "missing_before": missing,
            "installed": [f.name for f in files],
            "still_missing": still,
            "wheels_mib": round(sum(f.stat().st_size for f in files) / 2**20, 1),
        }
    )
    return rc or (1 if still else 0)


def _sd_digest(sd: dict) -> str:
    """sha256 over the keys and bytes of a state_dict, in order."""
    h = hashlib.sha256()
    for k, v in sd.items():
        h.update(k.encode())
        h.update(v.contiguous().numpy().tobytes())
    return h.hexdigest()


def _crnn_from_seed(seed: int, keys: list[str]) -> dict:
    """crnn.pytorch's CRNN(32, 1, 37, 256) initialised after torch.manual_seed(seed) (tests/test_crnn.py proves
    the fixture's weights are exactly that), restricted to the fixture's keys."""
    import torch

    from stirer_lib.models.crnn import CRNN

    torch.manual_seed(seed)
    sd = CRNN(32, 1, 37, 256).state_dict()
    return {k: sd[k] for k in keys}


def helper_pack_fixtures(args: list[str]) -> int:
    """pack-fixtures SRC DST: the fixtures the GPU check's tests read, without the CRNN weights (33 MB), which
    the GPU side rebuilds, and with the STIRER fixture xz-compressed (29 -> 25 MB): a device call carries 64 MiB."""
    import lzma

    import torch

    src, dst = Path(args[0]), Path(args[1])
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(
        src,
        dst,
        ignore=shutil.ignore_patterns(CRNN_FIXTURE, *XZ_FIXTURES, *UNPACKED_FIXTURES),
        copy_function=shutil.copyfile,
    )
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    for name in XZ_FIXTURES:
        with open(src / name, "rb") as f, lzma.open(dst / f"{name}.xz", "wb", preset=6) as g:
            shutil.copyfileobj(f, g)
    fx = torch.load(src / CRNN_FIXTURE, weights_only=False, map_location="cpu")
    digest = _sd_digest(fx["state_dict"])
    if _sd_digest(_crnn_from_seed(fx["seed"], list(fx["state_dict"]))) != digest:
        print(f"the CRNN fixture is not rebuilt exactly from seed {fx['seed']} here: copying it whole")
        shutil.copy2(src / CRNN_FIXTURE, dst / CRNN_FIXTURE)
        return 0
    slim = {k: v for k, v in fx.items() if k != "state_dict"}
    torch.save({**slim, "state_dict_keys": list(fx["state_dict"]), "state_dict_sha256": digest}, dst / CRNN_SLIM)
    mib = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file()) / 2**20
    print(f"fixtures packed into {dst}: {mib:.1f} MiB (the CRNN weights rebuilt from seed {fx['seed']} there)")
    return 0


def helper_unpack_fixtures(args: list[str]) -> int:
    """unpack-fixtures SRC DST [--optional]: DST links SRC's files; a slim CRNN fixture is rebuilt and checked."""
    src, dst, optional = Path(args[0]) if args[0] else None, Path(args[1]), "--optional" in args
    if src is None or not (src / "README.md").exists():
        print(f"no reference fixtures at {src}: carry gpu_wheels/fixtures (bash tools/gpu_wheels.sh)")
        emit({"found": False, "source": str(src) if src else None})
        return 0 if optional else 1
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for p in src.iterdir():
        if p.name.endswith(".xz"):
            _unxz(p, dst / p.name[:-3])
        elif p.name != CRNN_SLIM:
            (dst / p.name).symlink_to(p.resolve(), target_is_directory=p.is_dir())
    figs = {"found": True, "source": str(src), "crnn_rebuilt_from_seed": (src / CRNN_SLIM).exists()}
    if figs["crnn_rebuilt_from_seed"]:
        figs["crnn_sha256_ok"] = _rebuild_crnn(src / CRNN_SLIM, dst / CRNN_FIXTURE)
    emit(figs)
    return 0 if figs.get("crnn_sha256_ok", True) else 1


def _unxz(src: Path, out: Path) -> None:
    """Decompress one packed fixture."""
    import lzma

    with lzma.open(src, "rb") as f, open(out, "wb") as g:
        shutil.copyfileobj(f, g)


def _rebuild_crnn(slim_path: Path, out: Path) -> bool:
    """Write the full CRNN fixture from the slim one; True when the rebuilt weights have the recorded sha256."""
    import torch

    slim = torch.load(slim_path, weights_only=False, map_location="cpu")
    sd = _crnn_from_seed(slim["seed"], slim.pop("state_dict_keys"))
    ok = _sd_digest(sd) == slim.pop("state_dict_sha256")
    if ok:
        torch.save({**slim, "state_dict": sd}, out)
    else:
        print(
            "the CRNN weights rebuilt from the seed differ from the fixture's (another torch RNG?): "
            "the CRNN tests will not find official_crnn_seed0.pt"
        )
    return ok


def helper_layout(args: list[str]) -> int:
    """layout ROOT --pairs N --tests N --words N: a tiny data ROOT in the real formats (TextZoom, MJ / ST LMDBs)."""
    ap = argparse.ArgumentParser(prog="gpu_check.py layout")
    ap.add_argument("root")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--tests", type=int, default=2)
    ap.add_argument("--words", type=int, default=4)
    a = ap.parse_args(args)
    from stirer_lib.data.lmdb_io import pretrain_dir, split_dir
    from stirer_lib.data.synth import write_lmdb

    root = Path(a.root)
    for split in ("train1", "train2", "easy", "medium", "hard"):
        write_lmdb(
            split_dir(root, split), "pair", 7, split, a.pairs if split.startswith("train") else a.tests, style="full"
        )
    for i, name in enumerate(("mjsynth", "synthtext")):
        write_lmdb(pretrain_dir(root) / name, "word", 7 + i, "pretrain", a.words, style="full")
    emit({"layout": {"pairs_per_train_split": a.pairs, "images_per_test_split": a.tests, "words_per_lmdb": a.words}})
    return 0


def helper_tiny_checkpoint(args: list[str]) -> int:
    """tiny-checkpoint PATH: a random small STIRER checkpoint (the dry run's stand-in for notebook 05's)."""
    import torch

    from stirer_lib.models import build_stirer, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(build_stirer("small").eval(), Path(args[0]), step=0)
    emit({"checkpoint": "random small model (dry run: the course ran notebook 01 only)"})
    return 0


def helper_ckpt_figures(args: list[str]) -> int:
    """ckpt-figures DIR...: step, world size, finished and profile of each stage's last.pt."""
    from stirer_lib.checkpoint import read

    figs = {}
    for d in map(Path, args):
        s = read(d / "last.pt")
        figs[d.name] = {
            "step": s.get("step"),
            "world": s.get("world"),
            "finished": s.get("finished"),
            "profile": s.get("profile", {}).get("name"),
            "device": s.get("profile", {}).get("device"),
            "embed_dim": s.get("config", {}).get("embed_dim"),
        }
    emit({"stages": figs})
    return 0


def helper_ddp_probe(args: list[str]) -> int:
    """ddp-probe --config NAME --batch B (under torchrun): a process group, all_reduce and two DDP train steps."""
    ap = argparse.ArgumentParser(prog="gpu_check.py ddp-probe")
    ap.add_argument("--config", default="small")
    ap.add_argument("--batch", type=int, default=2)
    a = ap.parse_args(args)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from stirer_lib.bench.worker import make_batch
    from stirer_lib.losses import stirer_loss
    from stirer_lib.models import build_stirer

    cuda = torch.cuda.is_available()
    dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        t = torch.ones(1, device=dev)
        dist.all_reduce(t)
        torch.manual_seed(0)
        model = build_stirer(a.config).to(dev).train()
        ddp = DistributedDataParallel(model, device_ids=[dev.index] if cuda else None, find_unused_parameters=True)
        opt, batch, losses, times = torch.optim.AdamW(model.parameters(), lr=1e-4), make_batch(a.batch, dev), [], []
        for _ in range(2):
            t0 = time.perf_counter()
            loss = stirer_loss(ddp(batch["lr"], labels=batch["decoder_labels"]), batch)["total"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if cuda:
                torch.cuda.synchronize(dev)
            losses.append(loss.item())
            times.append(round(time.perf_counter() - t0, 3))
        grads_ok = all(torch.isfinite(p.grad).all().item() for p in model.parameters() if p.grad is not None)
        emit(
            {
                "backend": dist.get_backend(),
                "world": dist.get_world_size(),
                "all_reduce": t.item(),
                "config": a.config,
                "batch": a.batch,
                "losses": losses,
                "step_seconds": times,
                "grads_finite": grads_ok,
            }
        )
        return 0 if grads_ok and t.item() == dist.get_world_size() else 1
    finally:
        dist.destroy_process_group()


def helper_gru_timing(args: list[str]) -> int:
    """gru-timing --device D: the PSTST Bi-GRU's two paths (CPU time loop, nn.GRU = cuDNN on CUDA), forward +
    backward on the release model's row sequences, milliseconds each and their largest output difference."""
    import time

    import torch

    from stirer_lib.models.pstst import bidirectional_gru_loop

    ap = argparse.ArgumentParser(prog="gpu_check.py gru-timing")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args(args)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    gru = torch.nn.GRU(48, 24, bidirectional=True, batch_first=True).to(dev)
    x = torch.randn(a.batch * 16, 64, 48, device=dev, requires_grad=True)  # one sequence per row of 16 x 64 maps
    paths = {"loop": lambda: bidirectional_gru_loop(x, gru), "nn_gru": lambda: gru(x)[0]}

    def once(fn) -> float:
        t0 = time.perf_counter()
        fn().square().mean().backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    ms = {}
    for name, fn in paths.items():
        once(fn)
        ms[name] = round(1000 * sorted(once(fn) for _ in range(a.reps))[a.reps // 2], 3)
    with torch.no_grad():
        diff = (paths["loop"]() - paths["nn_gru"]()).abs().max().item()
    emit(
        {
            "gru": {
                "device": str(dev),
                "sequences": x.shape[0],
                "ms_fwd_bwd": ms,
                "loop_over_nn_gru": round(ms["loop"] / ms["nn_gru"], 2),
                "max_abs_diff": diff,
            }
        }
    )
    return 0


HELPERS = {
    "env": helper_env,
    "install": helper_install,
    "pack-fixtures": helper_pack_fixtures,
    "unpack-fixtures": helper_unpack_fixtures,
    "layout": helper_layout,
    "tiny-checkpoint": helper_tiny_checkpoint,
    "ckpt-figures": helper_ckpt_figures,
    "ddp-probe": helper_ddp_probe,
    "gru-timing": helper_gru_timing,
}


def main(argv: list[str] | None = None) -> int:
    """A helper subcommand, or the check itself."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in HELPERS:
        sys.path.insert(0, str(REPO))
        return HELPERS[argv[0]](argv[1:])
    return main_check(argv)


if __name__ == "__main__":
    sys.exit(main())
