"""The reference run of a profile: the numbers `make course` measured and the checkpoints it trained.

A complete course run writes RUN/reference/: `results.json` (when, on what machine, with which command
and commit; minutes per notebook; the CRNN gap of notebook 02, the last evaluations of notebooks 04 and
05, the evaluation of notebook 06 on the test splits and out of distribution) and the trained weights
(`crnn.pt`, `pretrain.pt`, `finetune.pt`: weights and config only, no optimizer state).
`python -m stirer_lib.course --publish-reference RUN` copies them to `reference/<profile>/` in the
repository, where the notebooks read them:
- `beside(mine, key)` shows a learner's number next to the reference run's;
- `checkpoint(profile, part)` is what a notebook loads with `use_reference=True` instead of training;
- `weights_note(profile, part, use_reference)` is the sentence of a notebook's header that says which weights it
  uses and which parameter trains your own; `weights_used(run_dir, part)` says, after a notebook ran, which
  weights its run directory holds (the runner's terminal and RUN/index.html); `run_weights(...)` makes sure a
  run directory holds what a solutions notebook reads (the reference run's where the chapters have not run).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch

from ..atomic_write import atomic_write_text
from ..checkpoint import atomic_save, best_or_last, read, state_dict_of
from ..errors import MissingCheckpointError, RunDirError
from ..evaluation import compact, load_results
from ..rundir import read_metrics
from ..viz.training import save_curves
from .session import OOD_STYLE, repo_root

PARTS = {"crnn": "crnn.pt", "pretrain": "pretrain.pt", "finetune": "finetune.pt"}
NOTEBOOK_OF = {"crnn": "02_crnn_baseline.ipynb", "pretrain": "04_pretraining.ipynb", "finetune": "05_finetuning.ipynb"}
PART_WORDS = {"crnn": "CRNN", "pretrain": "pretrained STIRER (stage 1)", "finetune": "fine-tuned STIRER (stage 2)"}
TRAIN_WORDS = {"crnn": "the CRNN", "pretrain": "stage 1 (pretraining)", "finetune": "stage 2 (fine-tuning)"}
METRICS = {"pretrain": "pretrain_metrics.jsonl", "finetune": "finetune_metrics.jsonl"}  # the stages' training logs
RESULTS = "results.json"
EVALUATIONS = "evaluations.json"  # a run still training: its shipped model on each test set (style, camera, figures)


def reference_dir(profile: str) -> Path:
    """reference/<profile>/ in the repository."""
    return repo_root() / "reference" / profile


def load(profile: str) -> dict | None:
    """The reference run's results.json of a profile, or None when the repository has none."""
    path = reference_dir(profile) / RESULTS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def world_readings(profile: str) -> dict[str, float]:
    """The final decoder's accuracy (%, mean of splits) of a profile's shipped model on each data style's test words
    through the course's camera (the lesson world, the open world's full style): a finished run's results.json (its
    own test set, and its out-of-distribution set, OOD_STYLE), else reference/P/evaluations.json."""
    from .profiles import get_profile

    out, results = {}, load(profile)
    if results:
        out[get_profile(profile).data.style] = results["eval"]["mean_of_splits"]["acc"]
        if results.get("ood"):
            out.setdefault(OOD_STYLE, results["ood"]["mean_of_splits"]["acc"])
    path = reference_dir(profile) / EVALUATIONS
    for e in json.loads(path.read_text(encoding="utf-8")).values() if path.exists() else []:
        if isinstance(e, dict) and e.get("camera") == "course" and e.get("style"):
            out.setdefault(e["style"], e["mean_of_splits"]["acc"])
    return out


def stage1_name(step: int | None = None) -> str:
    """The file of a reference run's stage 1: pretrain.pt (finished), or pretrain_stepSTEP.pt (at an earlier step)."""
    return PARTS["pretrain"] if step is None else f"pretrain_step{step}.pt"


def checkpoint(profile: str, part: str, step: int | None = None) -> Path:
    """The reference run's checkpoint of a part ("crnn", "pretrain", "finetune"; the stage 1 at an earlier step
    when given); MissingCheckpointError if none."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; choose one of {sorted(PARTS)}")
    path = reference_dir(profile) / (stage1_name(step) if part == "pretrain" else PARTS[part])
    if not path.exists():
        shipped = sorted(d.name for d in reference_dir(profile).parent.glob("*") if (d / PARTS[part]).exists())
        raise MissingCheckpointError(
            f"no reference checkpoint at {path}: the repository ships them for {', '.join(shipped) or 'no profile'}; "
            f"set use_reference=False (or finetune.init to run or reference:<one of those>) to train, or make them "
            f"with `make course` then `python -m stirer_lib.course --publish-reference runs/{profile}`"
        )
    return path


def value(ref: dict | None, key: str) -> Any:
    """A number of a reference results dict by dotted key (e.g. "eval.mean_of_splits.steps.0.acc"), or None."""
    node: Any = ref
    for part in key.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def beside(mine: float | None, ref: dict | None, key: str, unit: str = " %", digits: int = 2) -> str:
    """ "12.34 % (reference run: 80.12 %)": a learner's number next to the reference run's (when there is one)."""
    text = "-" if mine is None else f"{mine:.{digits}f}{unit}"
    theirs = value(ref, key)
    if isinstance(theirs, (int, float)):
        text += f" (reference run: {theirs:.{digits}f}{unit})"
    return text


def provenance_line(ref: dict | None) -> str:
    """One line that says where the reference numbers come from."""
    if not ref:
        return "no reference run in this repository for this profile"
    p = ref.get("provenance", {})
    return (
        f"reference run: `{p.get('command', '?')}` on {p.get('date', '?')}, {p.get('machine', '?')}, "
        f"commit {p.get('commit', '?')}"
    )


def shown_path(path: str | os.PathLike) -> str:
    """A path as a notebook shows it: relative to the course checkout when inside it."""
    try:
        return Path(path).resolve().relative_to(repo_root().resolve()).as_posix()
    except ValueError:
        return str(path)


def _machine_short(ref: dict) -> str:
    """ "2 CPUs" of the recorded machine "2 CPUs (x86_64), torch ... threads, no GPU"; its GPU when it had one."""
    machine = (ref.get("provenance") or {}).get("machine") or "?"
    gpu = machine.rsplit(", ", 1)[-1] if ", " in machine else "no GPU"
    return machine.split(" (")[0].split(", torch")[0] + ("" if gpu == "no GPU" else f" and {gpu}")


def trained_line(ref: dict) -> str:
    """ "trained on DATE with `COMMAND` on 2 CPUs": where a reference run's weights come from, in words."""
    p = ref.get("provenance") or {}
    return f"trained on {p.get('date', '?')} with `{p.get('command', '?')}` on {_machine_short(ref)}"


def _training_time(profile: str, part: str, ref: dict) -> str | None:
    """ "training took 6.6 minutes" of a reference run's part: a stage's from its shipped training log, the CRNN's
    from its notebook's minutes (None when the run resumed finished stages, whose notebook minutes say nothing)."""
    if part in METRICS and (reference_dir(profile) / METRICS[part]).exists():
        seconds = training_seconds(reference_dir(profile) / METRICS[part])
    elif "--resume" in (ref.get("provenance") or {}).get("command", ""):
        return None
    else:
        minutes = (ref.get("minutes") or {}).get(NOTEBOOK_OF[part])
        if not isinstance(minutes, (int, float)):
            return None
        return f"this notebook took {minutes:.1f} minutes"
    if seconds <= 0:
        return None
    return (
        f"training took {seconds / 3600:.1f} hours" if seconds >= 5400 else f"training took {seconds / 60:.1f} minutes"
    )


def duration_words(profile: str) -> str | None:
    """How long a reference run trained, in words from its shipped files (the one source the notebooks quote):
    "trained on 2 CPUs (the CRNN: this notebook took 9.4 minutes; stage 1 (pretraining): training took 6.6 minutes;
    ...)"; None when the profile ships no reference run."""
    ref = load(profile)
    if ref is None:
        return None
    said = [f"{TRAIN_WORDS[part]}: {took}" for part in PARTS if (took := _training_time(profile, part, ref))]
    total = ref.get("total_minutes")
    whole = (
        ""
        if "--resume" in (ref.get("provenance") or {}).get("command", "") or not isinstance(total, (int, float))
        else f"; the six notebooks ran {total:.1f} minutes in all"
    )
    return f"trained on {_machine_short(ref)} (" + ("; ".join(said) or "no training time recorded") + whole + ")"


def stage1_words(profile: str, step: int | None = None) -> str:
    """What a reference run's stage 1 is, in words from its shipped files: "3,500 pretraining steps of 8 words
    (28,000 images; training took 1.0 hours on 2 CPUs), shipped in reference/cpu-long/pretrain.pt"; with a step, its
    weights at that step: "the weights at step 5,000 of its 6,000 pretraining steps of 8 words (40,000 images; ...".
    """
    log, ref = reference_dir(profile) / METRICS["pretrain"], load(profile) or {}
    records = read_metrics(log) if log.exists() else []
    starts = [r for r in records if r.get("kind") == "start"]
    steps = max((int(r["step"]) for r in records if r.get("kind") == "train"), default=0) if starts else 0
    before = started_from(log) if starts else None  # a stage 1 that continued another reference run's
    per_step = int(starts[-1].get("batch_size", 0)) * int(starts[-1].get("world", 1)) if starts else 0
    took = _training_time(profile, "pretrain", ref)
    seen = steps if step is None else step
    size = (
        f"{steps:,} pretraining steps of {per_step} words ({seen * per_step:,} images" if steps else "its pretraining"
    )
    if step is not None and steps:
        size = f"the weights at step {step:,} of its " + size.replace("(", "(at that step: ", 1)
        took = took and f"all {steps:,} steps: {took}"
    return (
        size
        + (f"; {took}" + (f" on {_machine_short(ref)}" if ref else "") if took else "")
        + (")" if steps else "")
        + (f" after the {before} run's stage 1 (reference/{before}/{PARTS['pretrain']})" if before else "")
        + f", shipped in reference/{profile}/{stage1_name(step)}"
    )


def weights_note(profile: str, part: str, use_reference: bool) -> str:
    """The header sentence of a training notebook (02: "crnn", 04: "pretrain", 05: "finetune"): which weights it
    uses (the reference run's, or your own trained here), and which parameter to change for the other."""
    ref, rel = load(profile), f"reference/{profile}/{PARTS[part]}"
    shipped = ref is not None and (reference_dir(profile) / PARTS[part]).exists()
    took = _training_time(profile, part, ref) if shipped else None
    if use_reference and not shipped:
        return (
            f"**Weights: none shipped for the `{profile}` profile** (no `{rel}` in this checkout): the training "
            f"cell will stop and say so. **To train your own**, set `use_reference = False` in the parameters cell."
        )
    if use_reference:
        return (
            f"**Weights: the reference run's {PART_WORDS[part]}**, `{rel}`, {trained_line(ref)}"
            + (f" ({took} there)" if took else "")
            + ": loaded instead of training. "
            "**To train your own**, set `use_reference = False` in the parameters cell."
        )
    own = f"**Weights: your own**: this notebook trains {TRAIN_WORDS[part]} into the run directory"
    if not shipped:
        return own + f" (no reference weights ship for the `{profile}` profile)."
    return (
        own
        + (f" (in the reference run on {_machine_short(ref)}, {took})" if took else "")
        + f". To load the shipped reference weights instead (`{rel}`, seconds), set `use_reference = True` in the "
        "parameters cell."
    )


def weights_used(run_dir: str | os.PathLike, part: str) -> str | None:
    """What RUN holds for a part after its notebook ran: "loaded reference/cpu/pretrain.pt (the reference run's,
    1,600 steps)" or "trained 1,600 steps (pretrain/best.pt)"; None when it holds nothing."""
    run = Path(run_dir)
    path = run / "crnn" / "crnn.pt" if part == "crnn" else best_or_last(run / part) if (run / part).exists() else None
    if path is None or not path.exists():
        return None
    ckpt = read(path, "checkpoint")
    step = ckpt.get("step")
    steps = f"{step:,} steps" if isinstance(step, int) else "steps unknown"
    if ckpt.get("reference"):
        return f"loaded {ckpt.get('reference_path') or 'the reference weights'} (the reference run's, {steps})"
    if part == "crnn" and step == 0:
        return f"loaded the released CRNN ({path.relative_to(run).as_posix()}, step 0)"
    return f"trained {steps} ({path.relative_to(run).as_posix()})"


def run_weights(profile: str, run_dir: str | os.PathLike, parts: list[str], use_reference: bool) -> str:
    """For a notebook that reads what the chapters trained (the solutions, notebook 06): make sure RUN holds the
    weights of `parts` (with use_reference, the reference run's are installed where RUN holds none, as the
    chapters do by default) and say in one sentence which weights it reads. MissingCheckpointError when RUN
    lacks one and use_reference is False."""
    said = []
    for part in parts:
        if weights_used(run_dir, part) is None:
            if not use_reference:
                raise MissingCheckpointError(
                    f"no {PART_WORDS[part]} in {run_dir}: run notebook {NOTEBOOK_OF[part][:2]} first (with the same "
                    f"profile and run_dir), or set use_reference = True to load the reference run's"
                )
            install(profile, run_dir, part)
        said.append(f"{PART_WORDS[part]}: {weights_used(run_dir, part)}")
    return "**Weights** (what the chapters left in the run directory): " + "; ".join(said) + "."


def install(profile: str, run_dir: str | os.PathLike, part: str) -> dict:
    """Put the reference run's weights of a part where the course's later notebooks look for them (instead of
    training): RUN/crnn/crnn.pt, or RUN/<stage>/best.pt with the reference's metrics.jsonl. A run of the
    learner's own there is never replaced (RunDirError: choose another run_dir); a training run into the
    directory later replaces the reference files (resume = False). A stage's training log is drawn into
    RUN/<stage>/curves.png (RUN/index.html shows it). Returns {"step", "finished", "path", "from"}, "from" as a
    notebook shows it (reference/<profile>/<part>.pt)."""
    src = checkpoint(profile, part)
    run = Path(run_dir)
    dst = run / "crnn" / "crnn.pt" if part == "crnn" else run / part / "best.pt"
    own = [p for p in (dst, dst.parent / "last.pt") if p.exists() and not read(p, "checkpoint").get("reference")]
    if own:
        raise RunDirError(
            f"{own[0]} holds a run of your own; load the reference into another run directory "
            f"(run_dir = ...) or keep training there (use_reference = False)"
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        **read(src, "reference checkpoint"),
        "reference": provenance_line(load(profile)),
        "reference_path": shown_path(src),
    }
    if part != "crnn":
        metrics = reference_dir(profile) / METRICS[part]
        if metrics.exists():
            atomic_write_text(metrics.read_text(encoding="utf-8"), dst.parent / "metrics.jsonl")
            try:
                save_curves(
                    dst.parent / "metrics.jsonl",
                    dst.parent / "curves.png",
                    title=f"{'pretraining' if part == 'pretrain' else 'fine-tuning'} (the reference run's log)",
                )
            except (KeyError, TypeError, ValueError):  # a log without evaluation records to draw: no figure
                (dst.parent / "curves.png").unlink(missing_ok=True)
    atomic_save(ckpt, dst)
    return {"step": ckpt.get("step"), "finished": True, "path": str(dst), "from": shown_path(src)}


# ----------------------------------------------------------------------------- writing a reference run


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> str:
    """The machine in words: CPU count, processor, torch threads, GPU."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), torch {torch.__version__} "
        f"with {torch.get_num_threads()} threads, {gpu}"
    )


def _last_eval(metrics: Path) -> dict | None:
    """The last "eval" record of a trainer's metrics.jsonl."""
    if not metrics.exists():
        return None
    evals = [r for r in read_metrics(metrics) if r.get("kind") == "eval"]
    return evals[-1] if evals else None


def training_seconds(metrics: Path) -> float:
    """Wall-clock seconds a stage trained, from its metrics.jsonl: time_s counts from each start or resume, so
    a record whose time_s is below its predecessor's opens a new segment; the segments' lengths add up."""
    total, seg = 0.0, 0.0
    for r in read_metrics(metrics) if metrics.exists() else []:
        t = r.get("time_s")
        if isinstance(t, (int, float)):
            if t < seg:
                total, seg = total + seg, 0.0
            seg = max(seg, float(t))
    return total + seg


def _weights(src: Path, dst: Path) -> None:
    """Copy a checkpoint's weights and config (no optimizer, no RNG state) to dst, atomically; a CRNN's
    training history (its evaluations, notebook 02's curve) travels with its weights."""
    ckpt = read(src, "checkpoint")
    keep = {"model": state_dict_of(ckpt, str(src)), "config": ckpt.get("config"), "step": ckpt.get("step")}
    if ckpt.get("history"):
        keep["history"] = list(ckpt["history"])
    atomic_save(keep, dst)


def collect(run_dir: str | os.PathLike, minutes: dict[str, float], command: str) -> dict:
    """The reference numbers of a finished course run (read from its files)."""
    run = Path(run_dir)
    out: dict[str, Any] = {
        "provenance": {
            "date": _dt.date.today().isoformat(),
            "machine": machine(),
            "command": command,
            "commit": _commit(),
        },
        "minutes": {k: round(v, 2) for k, v in minutes.items()},
        "total_minutes": round(sum(minutes.values()), 2),
    }
    gap = run / "crnn" / "accuracy_gap.json"
    if gap.exists():
        out["crnn"] = json.loads(gap.read_text(encoding="utf-8"))
    out["training_hours"] = {
        stage: round(training_seconds(run / stage / "metrics.jsonl") / 3600, 2)
        for stage in ("pretrain", "finetune")
        if (run / stage / "metrics.jsonl").exists()
    }
    for stage in ("pretrain", "finetune"):
        last = _last_eval(run / stage / "metrics.jsonl")
        if last is not None:
            out[stage] = {
                "step": last.get("step"),
                "mean_of_splits": last.get("mean_of_splits"),
                "over_all": last.get("over_all"),
            }
    for name, rel in (
        ("eval", "eval/results.json"),
        ("ood", "eval/ood/results.json"),
        ("heldout", "eval/heldout/results.json"),
    ):
        if (run / rel).exists():
            out[name] = compact(load_results(run / rel))
    return out


def write(run_dir: str | os.PathLike, minutes: dict[str, float], command: str) -> Path:
    """RUN/reference/: results.json and the weights of the CRNN and both STIRER stages that exist."""
    run = Path(run_dir)
    dst = run / "reference"
    dst.mkdir(parents=True, exist_ok=True)
    sources = {"crnn": run / "crnn" / "crnn.pt"}
    for stage in ("pretrain", "finetune"):
        found = best_or_last(run / stage) if (run / stage).exists() else None
        if found is not None:
            sources[stage] = found
    for part, src in sources.items():
        if src.exists():
            _weights(src, dst / PARTS[part])
    for stage, name in METRICS.items():
        if (run / stage / "metrics.jsonl").exists():
            shutil.copyfile(run / stage / "metrics.jsonl", dst / name)
    atomic_write_text(json.dumps(collect(run, minutes, command), indent=1) + "\n", dst / RESULTS)
    return dst


def publish(run_dir: str | os.PathLike, profile: str, overwrite: bool = False) -> Path:
    """Copy RUN/reference/ to reference/<profile>/ in the repository (refuses to replace one without overwrite)."""
    src = Path(run_dir) / "reference"
    if not (src / RESULTS).exists():
        raise RunDirError(f"{src / RESULTS} does not exist: run the whole course into {run_dir} first (make course)")
    dst = reference_dir(profile)
    if (dst / RESULTS).exists() and not overwrite:
        raise RunDirError(f"{dst} already holds a reference run; pass --overwrite to replace it")
    dst.mkdir(parents=True, exist_ok=True)
    for name in [RESULTS, *PARTS.values(), *METRICS.values()]:
        if (src / name).exists():
            shutil.copyfile(src / name, dst / (name + ".tmp"))
            os.replace(dst / (name + ".tmp"), dst / name)
    return dst


def continued_log(
    previous: str | os.PathLike, segment: str | os.PathLike, out: str | os.PathLike, style: str | None = None
) -> Path:
    """One training log of a stage trained in segments: `previous`'s records, then those of `segment` (a run
    started from previous's final weights, with a schedule of its own) with their steps counted on from previous's
    last step, its start records marked {"continues": that step} (and {"data_style": style} when given: a segment
    trained and evaluated on another data style, logged before the trainer recorded it); so the shipped curve and
    the step count read as one stage. Writes out atomically (it must not exist) and returns it."""
    out = Path(out)
    if out.exists():
        raise RunDirError(f"{out} exists: write the joined log to a new file")
    first = read_metrics(previous)
    offset = max((int(r.get("step", 0)) for r in first), default=0)
    mark = {"continues": offset, **({"data_style": style} if style else {})}
    later = [
        {**r, "step": int(r.get("step", 0)) + offset, **(mark if r.get("kind") == "start" else {})}
        for r in read_metrics(segment)
    ]
    atomic_write_text("".join(json.dumps(r) + "\n" for r in first + later), out)
    return out


def stage_evals(profile: str, stage: str) -> list[dict]:
    """The reference run's evaluation records of a training stage (from its shipped metrics log); [] if none."""
    path = reference_dir(profile) / METRICS[stage]
    if not path.exists():
        return []
    return [r for r in read_metrics(path) if r.get("kind") == "eval"]


_STAGE1_FILE = re.compile(r"pretrain(?:_step(\d+))?\.pt")


def _reference_start(finetune_log: str | os.PathLike) -> tuple[str, int | None] | None:
    """(P, STEP or None) of the reference stage 1 a fine-tuning started from, by its log's first start record."""
    path = Path(finetune_log)
    starts = [r for r in read_metrics(path) if r.get("kind") == "start"] if path.exists() else []
    parts = Path(str(starts[0].get("init_from") or "")).parts if starts else ()
    found = _STAGE1_FILE.fullmatch(parts[-1]) if len(parts) >= 3 and parts[-3] == "reference" else None
    return (parts[-2], int(found[1]) if found[1] else None) if found else None


def started_from(finetune_log: str | os.PathLike) -> str | None:
    """The profile P whose shipped pretrained model (reference/P/pretrain.pt, or pretrain_stepSTEP.pt) a fine-tuning
    started from, by its log's start record (`init_from`); None when it started from anything else (its own run's
    stage 1)."""
    found = _reference_start(finetune_log)
    return found[0] if found else None


def started_step(finetune_log: str | os.PathLike) -> int | None:
    """STEP when a fine-tuning started from a reference stage 1 at an earlier step (pretrain_stepSTEP.pt), else None."""
    found = _reference_start(finetune_log)
    return found[1] if found else None


def stage1_log(pretrain_log: str | os.PathLike, finetune_log: str | os.PathLike) -> Path:
    """The metrics log of the stage 1 a fine-tuning continued: the reference run P's pretraining log when it
    started from reference/P/pretrain.pt, else `pretrain_log` (the run's own)."""
    ref = started_from(finetune_log)
    return reference_dir(ref) / METRICS["pretrain"] if ref else Path(pretrain_log)


def run_curve_of(name: str, pretrain_log: str | os.PathLike, finetune_log: str | os.PathLike, style: str | None = None):
    """A run's scaling curve (viz.scaling): its fine-tuning drawn after the stage 1 it continued (a reference run's,
    up to the step it started from, or its own pretraining), itself after the stage 1s it continued: the images
    they saw count. A reference stage 1 trained (and evaluated) on another data style than `style`, the
    fine-tuning's, only moves the curve's start: its points read other test words."""
    from ..viz.scaling import run_curve, stage_points
    from .profiles import get_profile

    stage1, ref, until = stage1_log(pretrain_log, finetune_log), started_from(finetune_log), started_step(finetune_log)
    offset, before, seen = 0, started_from(stage1), set()
    while before and before not in seen:  # cpu-open's stage 1 continued cpu-long's
        seen.add(before)
        earlier = reference_dir(before) / METRICS["pretrain"]
        offset += stage_points(earlier)[1]
        before = started_from(earlier)
    if ref and style and get_profile(ref).data.style != style:
        return run_curve(name, None, finetune_log, finetune_offset=stage_points(stage1, offset, until)[1], style=style)
    return run_curve(name, stage1, finetune_log, pretrain_until=until, pretrain_offset=offset, style=style)


def reference_curves(style: str | None = None) -> list:
    """The scaling curve of each shipped reference run with both stages' logs (cpu, cpu-long, cpu-open), named
    "P reference", with the style of its test words added where it is not `style` (the lesson's, for the
    notebooks): the open-world run's points read full-style words, not the lesson's."""
    from .profiles import PROFILE_NAMES, get_profile

    curves = []
    for name in PROFILE_NAMES:
        ref = reference_dir(name)
        if not (ref / METRICS["pretrain"]).exists() or not (ref / METRICS["finetune"]).exists():
            continue
        own = get_profile(name).data.style
        label = f"{name} reference" + ("" if style in (None, own) else f" ({own}-style test words)")
        curves.append(run_curve_of(label, ref / METRICS["pretrain"], ref / METRICS["finetune"], style=own))
    return curves


def start_of(finetune_log: str | os.PathLike) -> Path | None:
    """The pretrained model a fine-tuning started from, by its log: this checkout's reference/P/pretrain.pt when it
    was a reference run's stage 1 (logged with another machine's path), else the logged path if it exists here."""
    ref = started_from(finetune_log)
    if ref:
        return checkpoint(ref, "pretrain", started_step(finetune_log))
    path = Path(finetune_log)
    starts = [r for r in read_metrics(path) if r.get("kind") == "start"] if path.exists() else []
    init = starts[0].get("init_from") if starts else None
    return Path(init) if init and init != "none" and Path(init).exists() else None


def finetune_start(profile: str) -> Path:
    """The pretrained model the reference run of `profile` fine-tuned: reference/P/pretrain.pt of the run it
    started from (the cpu course fine-tunes the open-world run's stage 1), else reference/<profile>/pretrain.pt."""
    log = reference_dir(profile) / METRICS["finetune"]
    ref = started_from(log)
    return checkpoint(ref, "pretrain", started_step(log)) if ref else checkpoint(profile, "pretrain")


def evals_table(runs: dict[str, list[dict]]) -> tuple[list[list[str]], list[str]]:
    """Rows and headers of a Markdown table of evaluation records {name: [eval record, ...]}: per evaluation,
    the mean PSNR against bicubic's, each mini decoder's accuracy and the final decoder's (mean of splits)."""
    fmt = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"  # noqa: E731
    rows = []
    for name, evals in runs.items():
        for r in evals:
            m = r["mean_of_splits"]
            accs = [s.get("acc") for s in m["steps"]]
            rows.append(
                [
                    name,
                    str(r["step"]),
                    f"{fmt(m.get('psnr'), 2)} / {fmt(m['bicubic'].get('psnr'), 2)}",
                    " / ".join(fmt(a) for a in accs[:-1]) or "-",
                    fmt(accs[-1] if accs else None),
                ]
            )
    return rows, ["run", "step", "PSNR SR / bicubic (dB)", "mini decoders 1 / 2 / 3 (%)", "final decoder (%)"]
