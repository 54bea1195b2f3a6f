"""What the training and evaluation notebooks do besides teaching: pick the weights, train or load them, and say so.

Each function is one call of a notebook (02 the CRNN, 04 / 05 the two stages, 06 the evaluation) that hides a
branch a learner should not have to read (the reference run's weights, a released checkpoint, the run's own, a
resumed run) and returns the sentence the notebook prints. The notebooks keep the lesson; this keeps the wiring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic_write import atomic_write_text
from ..checkpoint import best_or_last, read
from ..evaluation import evaluate, find_checkpoints, save_results
from ..models import load_crnn, load_stirer
from ..rundir import read_metrics
from ..training.crnn import eval_loader, save_crnn, train_crnn
from ..training.trainer import Callbacks
from ..viz.training import LiveCurves, StepProgress
from . import reference
from .build import stage_config, stage_start, train_stage
from .profiles import PROFILE_NAMES, Profile, get_profile, reference_start, reference_step
from .session import repo_root, resolve

STAGE_WORDS = {"pretrain": "pretraining", "finetune": "fine-tuning"}
SETTING_KEYS = ("init", "freeze", "batch_size", "max_steps", "lr", "lr_sr", "lr_str", "schedule", "warmup_steps")


def ignored_overrides(overrides: dict[str, Any], stage: str, use_reference: bool) -> str | None:
    """The sentence that says which of the learner's overrides a notebook loading reference weights ignores."""
    ignored = sorted(k for k in overrides if k.startswith((f"{stage}.", "model."))) if use_reference else []
    if not ignored:
        return None
    return (
        f"**Your overrides {', '.join(f'`{k}`' for k in ignored)} change nothing here**: with `use_reference = True` "
        "this notebook loads weights trained with the profile's settings. To train with them, set "
        "`use_reference = False` and a `run_dir` of their own (the exercises show how)."
    )


def stage_settings(prof: Profile, stage: str) -> list[tuple[str, Any]]:
    """(setting, value) rows of a stage as it trains: the model it builds, then its schedule."""
    rows: list[tuple[str, Any]] = [("model", f"STIRER {stage_config(prof, stage).label()}")]
    settings = prof.as_dict()[stage]
    return rows + [(k, settings[k]) for k in SETTING_KEYS if k in settings]


# ----------------------------------------------------------------------------- notebook 02: the CRNN


def released_crnn(prof: Profile, crnn_source: str) -> Path | None:
    """ckpt/crnn.pth when notebook 02 should use the released CRNN (crnn_source "released", or "auto" and found or
    the profile trains none), else None."""
    if crnn_source not in ("auto", "train", "released"):
        raise ValueError(f"crnn_source must be 'auto', 'train' or 'released', not {crnn_source!r}")
    released = resolve("ckpt/crnn.pth")
    use = crnn_source == "released" or (crnn_source == "auto" and (released.exists() or prof.crnn.max_steps == 0))
    return released if use else None


def crnn_weights_note(prof: Profile, crnn_source: str, use_reference: bool) -> str:
    """Notebook 02's header line: which CRNN weights it will use."""
    released = released_crnn(prof, crnn_source)
    if released is None:
        return reference.weights_note(prof.name, "crnn", use_reference)
    return (
        f"**Weights: the released CRNN**, `{released}` (crnn.pytorch's, trained on real MJSynth; `crnn_source = "
        f'"{crnn_source}"` found it). **To train your own**, set `crnn_source = "train"` and `use_reference = False`.'
    )


def crnn_weights(
    prof: Profile, crnn_source: str, use_reference: bool, resume: bool, interactive: bool
) -> tuple[Any, list[dict], str]:
    """Notebook 02's CRNN: the released one, the reference run's, the run's own (resume) or trained now.
    Returns (CRNN in eval mode on the profile's device, its training history, the sentence that says which)."""
    path = Path(prof.run_dir) / "crnn" / "crnn.pt"
    released = released_crnn(prof, crnn_source)
    if released is not None:
        crnn, history = load_crnn(released), []
        save_crnn(path, crnn, step=0, history=history)
        said = f"Loaded the released CRNN from `{released}` (no training log ships with it)."
    elif use_reference:
        installed = reference.install(prof.name, prof.run_dir, "crnn")  # RUN/crnn/crnn.pt for notebooks 05-06
        crnn, history = load_crnn(path), list(read(path, "CRNN checkpoint").get("history", []))
        said = (
            f"Loaded the reference run's CRNN (`{installed['from']}`, {installed['step']:,} training steps) instead of "
            "training it; below, the training log it was saved with."
        )
    elif resume and (reference.weights_used(prof.run_dir, "crnn") or "").startswith("trained"):
        crnn, history = load_crnn(path), list(read(path, "CRNN checkpoint").get("history", []))
        said = f"Kept the CRNN this run directory already trained (`{path}`, resume = True)."
    else:
        progress = StepProgress("CRNN", enabled=not interactive)  # headless: a line every 10 % (tqdm bar otherwise)
        crnn, history = train_crnn(
            prof.crnn,
            prof.run_dir,
            prof.data.root,
            eval_loaders={"easy": eval_loader(prof.data.root, "easy", 64, max_images=200)},
            device=prof.device,
            num_workers=prof.data.num_workers,
            progress=interactive,
            on_step=progress.step,
        )
        said = f"Trained {prof.crnn.max_steps:,} steps; saved to `{path}`."
    return crnn.to(prof.device).eval(), history, said


def crnn_whose(prof: Profile, crnn_source: str, use_reference: bool) -> str:
    """Whose CRNN notebook 02 reads with: "the released CRNN", "the reference run's CRNN" or "this CRNN"."""
    if released_crnn(prof, crnn_source) is not None:
        return "the released CRNN"
    return "the reference run's CRNN" if use_reference else "this CRNN"


def crnn_history_words(history: list[dict]) -> str:
    """The last logged step of a CRNN's training, in words."""
    last = history[-1]
    acc = {k[4:]: v for k, v in last.items() if k.startswith("acc_") and v is not None}
    loss = f": CTC loss {last['loss']:.3f}" if last.get("loss") is not None else ""
    return (
        f"Last logged step {last['step']:,}{loss}"
        + "".join(f", HR accuracy on {k} {v:.1f} %" for k, v in acc.items())
        + "."
    )


# ----------------------------------------------------------------------------- notebooks 04 / 05: the stages


def finetune_start(prof: Profile, use_reference: bool) -> tuple[Path | str, str]:
    """Notebook 05's "before": the weights the fine-tuning starts from (the reference run's start when it loads the
    reference, else the profile's `finetune.init`) and the sentences that say what they are."""
    if use_reference:
        init = reference.finetune_start(prof.name)
        return init, f'The reference run fine-tuned `{reference.shown_path(init)}`: that model is the "before" here.'
    init = stage_start(prof, "finetune")
    if init is None:
        raise FileNotFoundError(
            f"no pretrained model in {Path(prof.run_dir) / 'pretrain'}: run notebook 04 first "
            f"(with the same profile and run_dir)"
        )
    said = f"Fine-tuning starts from `{reference.shown_path(init) if init != 'none' else 'fresh weights'}`."
    started = reference_start(prof.finetune.init)
    if started:
        frozen = prof.finetune.freeze == "encoder"
        said += (
            f" That is the **{started} reference run's stage 1**: "
            f"{reference.stage1_words(started, reference_step(prof.finetune.init))}. The paper pays "
            "for stage 1 once and fine-tunes cheaply; so does this course: you fine-tune that model (STIRER "
            f"{stage_config(prof, 'finetune').label()})"
            + (
                ', with its feature encoder frozen (`finetune.freeze = "encoder"`): the mini decoders, the STISR and '
                "the STR decoder learn, and a step costs about half. "
                if frozen
                else ". "
            )
            + "Set `own_stage1 = True` to fine-tune your own stage 1 of notebook 04 instead."
        )
    return init, said


def _eval_words(m: dict) -> str:
    return (
        f"the final decoder reads {m['acc']:.2f} %, the SR image scores {m['psnr']:.2f} dB against bicubic's "
        f"{m['bicubic']['psnr']:.2f} dB"
    )


def stage_weights(
    prof: Profile,
    stage: str,
    use_reference: bool,
    resume: bool,
    interactive: bool,
    init: Path | str | None = None,
) -> str:
    """Notebook 04 / 05's stage: the reference run's weights and log copied into RUN/<stage> (use_reference), or the
    stage trained there (resumed when asked and possible) with live curves. Returns the sentence that says which."""
    stage_dir = Path(prof.run_dir) / stage
    words = STAGE_WORDS[stage]
    if use_reference:
        installed = reference.install(prof.name, prof.run_dir, stage)
        evals = [r for r in read_metrics(stage_dir / "metrics.jsonl") if r["kind"] == "eval"]
        last = evals[-1]["mean_of_splits"] if evals else None
        return (
            f"Loaded the reference run's {words} weights (`{installed['from']}`, {installed['step']:,} steps) instead "
            "of training them"
            + (
                f". Its last evaluation (step {evals[-1]['step']:,}, the trainer's test words): {_eval_words(last)}."
                if last and last.get("acc") is not None
                else "."
            )
        )
    live = LiveCurves(interactive=interactive, title=words)
    progress = StepProgress(stage, enabled=not interactive)  # headless: a line every 10 % (tqdm bar otherwise)
    summary = train_stage(
        prof,
        stage,
        init=init,
        resume=resume and (stage_dir / "last.pt").exists(),
        overwrite=not resume,
        progress=interactive,
        callbacks=Callbacks(on_log=[live, progress], on_step=[progress.step]),
    )
    best = summary["best"]
    return (
        f"{words.capitalize()} {'finished' if summary['finished'] else 'stopped'} at step {summary['step']:,}; "
        + (
            f"the kept evaluation (step {best['step']:,}): {_eval_words(best['mean_of_splits'])}."
            if best and best["mean_of_splits"].get("acc") is not None
            else "no evaluation ran, so the model below is the last step's."
        )
        + f" Files in `{stage_dir}`."
    )


def kept_weights(prof: Profile, stage: str) -> tuple[Path, str]:
    """The checkpoint a stage kept (best.pt, else last.pt) and what it is, in words."""
    path = best_or_last(Path(prof.run_dir) / stage)
    ckpt = read(path)
    whose = (
        "the reference run's weights"
        if ckpt.get("reference")
        else "the evaluation the trainer kept"
        if path.name == "best.pt"
        else "the last step's weights (no evaluation kept a best model)"
    )
    return path, f"`{path.name}` at step {ckpt['step']:,}, {whose}"


def gallery_words(prof: Profile, stage: str, whose: str = "These weights'") -> str | None:
    """Why a stage's gallery reads what it reads, from the last evaluation of its log (None without one): early
    weights answer the words they learned to expect, trained ones miss on the most degraded images."""
    log = Path(prof.run_dir) / stage / "metrics.jsonl"
    evals = [r for r in read_metrics(log) if r.get("kind") == "eval"] if log.exists() else []
    if not evals or evals[-1]["mean_of_splits"].get("acc") is None:
        return None
    last, m = evals[-1], evals[-1]["mean_of_splits"]
    minis = " / ".join(f"{s['acc']:.1f}" for s in m["steps"][:-1])
    said = (
        f"{whose} last evaluation (step {last['step']:,}, the first test words of each split) read "
        f"{m['acc']:.1f} % with the final decoder and {minis} % with the mini decoders. "
    )
    if m["acc"] < 30:
        return said + (
            "So early, a reader answers what it has learned to expect rather than the letters in front of it: the "
            'T5 a frequent word ("the", "and") or a short prefix, a CTC head still on its all-blank plateau nothing.'
        )
    return said + "Most readings are right; the misses sit on the most degraded images and on rare letter pairs."


# ----------------------------------------------------------------------------- notebook 06: the evaluation


def evaluation_checkpoints(prof: Profile) -> dict[str, Path | None]:
    """The STIRER checkpoints notebook 06 evaluates (the run's fine-tuned model, the release) and its CRNN; a run
    with neither STIRER is a FileNotFoundError that says how to get one."""
    run = Path(prof.run_dir)
    found = find_checkpoints(run, repo_root() / "ckpt")
    if found["ours"] is None and found["release"] is None:
        raise FileNotFoundError(
            f"nothing to evaluate: train STIRER (notebooks 04-05 write {run}/finetune/best.pt) "
            "or put the released STIRER_Final_Release.pth into ckpt/ (see ckpt/README.md)"
        )
    return found


def evaluate_checkpoints(prof: Profile, found: dict[str, Path | None], crnn: Any, progress: bool) -> dict:
    """Evaluate each STIRER found (notebook 06), save RUN/eval/results.json (the release's under release/ when
    both) and return {name: (model, results, path of the saved results)}."""
    run, evaluated = Path(prof.run_dir), {}
    for name in ("ours", "release"):
        if found[name] is None:
            continue
        model = load_stirer(found[name])
        res = evaluate(
            model,
            prof.data.root,
            crnn=crnn,
            device=prof.device,
            batch_size=prof.eval.batch_size,
            max_images=prof.eval.max_images,
            with_skimage=True,
            progress=progress,
        )
        res["meta"]["stirer"] = str(found[name])
        out = run / "eval" / ("results.json" if name == "ours" or found["ours"] is None else "release/results.json")
        save_results(res, out)
        evaluated[name] = (model, res, out)
    return evaluated


def step_rows(results: dict) -> list[tuple]:
    """(split, step, accuracy %, PSNR dB, SSIM) of every step of every split, formatted."""
    fmt = lambda v, d: "n/a" if v is None else f"{v:.{d}f}"  # noqa: E731
    return [
        (
            split,
            i if i < len(r["steps"]) - 1 else f"{i} (final)",
            fmt(s["acc"], 2),
            fmt(s["psnr"], 2),
            fmt(s["ssim"], 4),
        )
        for split, r in results["splits"].items()
        for i, s in enumerate(r["steps"])
    ]


def beside_reference_rows(results: dict, ref: dict | None, own_is_reference: bool) -> list[tuple[str, str]]:
    """Notebook 06's table of the mean of splits: this run's number and, in brackets, the reference run's (once,
    when the model evaluated is the reference's)."""
    m, b = results["mean_of_splits"], reference.beside
    rows = [("final decoder (%)", b(m["acc"], ref, "eval.mean_of_splits.acc"))]
    rows += [
        (f"mini decoder {k + 1} (%)", b(s["acc"], ref, f"eval.mean_of_splits.steps.{k}.acc"))
        for k, s in enumerate(m["steps"][:-1])
    ]
    rows += [
        ("SR PSNR (dB)", b(m["psnr"], ref, "eval.mean_of_splits.psnr", " dB")),
        ("bicubic PSNR (dB)", b(m["bicubic"]["psnr"], ref, "eval.mean_of_splits.bicubic.psnr", " dB")),
        ("SR SSIM", b(m["ssim"], ref, "eval.mean_of_splits.ssim", "", 4)),
        ("bicubic SSIM", b(m["bicubic"]["ssim"], ref, "eval.mean_of_splits.bicubic.ssim", "", 4)),
        ("CRNN on SR (%)", b(m["crnn_acc"], ref, "eval.mean_of_splits.crnn_acc")),
        ("CRNN on bicubic LR (%)", b(m["crnn_acc_lr_bicubic"], ref, "eval.mean_of_splits.crnn_acc_lr_bicubic")),
        ("CRNN on HR (%)", b(m["crnn_acc_hr"], ref, "eval.mean_of_splits.crnn_acc_hr")),
    ]
    return [(name, cell.split(" (reference run")[0]) for name, cell in rows] if own_is_reference else rows


def scaling_curves(prof: Profile, own_is_reference: bool) -> tuple[list, str]:
    """The scaling lesson's curves (your run unless it loaded reference weights, then each shipped reference run;
    a fine-tuning that continued a reference stage 1 is drawn after that stage 1) and what to say about them."""
    run, curves, said = Path(prof.run_dir), [], []
    if not own_is_reference:
        logs = run / "pretrain" / "metrics.jsonl", run / "finetune" / "metrics.jsonl"
        curves.append(reference.run_curve_of(f"your run ({prof.name})", *logs, style=prof.data.style))
        if reference.started_from(logs[1]):
            said.append(
                f"Your fine-tuning continued the {reference.started_from(logs[1])} reference run's stage 1: your "
                "curve starts with that run's pretraining evaluations."
            )
    curves += reference.reference_curves(prof.data.style)
    if own_is_reference:
        said.append(
            "This run loaded reference weights, so its points are the reference's own; train your own "
            "(`use_reference = False` in notebooks 04 and 05) to add your run to the curve."
        )
    return curves, " ".join(said)


def worlds_sentence() -> str:
    """Where each shipped reference model reads, in the lesson world and in the open world (full-style words), in
    words formatted from its shipped figures (reference.world_readings)."""
    said = []
    for name in PROFILE_NAMES:
        got = reference.world_readings(name)
        if "lesson" in got or "full" in got:
            lesson, full = (f"{got[s]:.1f} %" if s in got else "not measured" for s in ("lesson", "full"))
            said.append(f"the {name} reference {lesson} and {full}")
    if not said:
        return "No reference run ships its figures in this checkout."
    return (
        "Where each shipped model reads (final decoder, mean of the test splits), on the lesson's words and on the "
        "open world's full-style words: " + "; ".join(said) + "."
    )


def save_gap(gap: dict, run_dir: str | Path) -> Path:
    """RUN/crnn/accuracy_gap.json: the CRNN's accuracy (and n) per split and source (HR, bicubic LR)."""
    summary = {s: {src: {"accuracy": r[src]["accuracy"], "n": r[src]["n"]} for src in r} for s, r in gap.items()}
    path = Path(run_dir) / "crnn" / "accuracy_gap.json"
    atomic_write_text(json.dumps(summary, indent=1), path)
    return path


def gap_words(gap: dict, prof: Profile, whose: str) -> str:
    """Notebook 02's sentence on the HR vs bicubic LR gap, from the numbers."""
    hr = {s: gap[s]["hr"]["accuracy"] for s in gap}
    lr = {s: gap[s]["lr_bicubic"]["accuracy"] for s in gap}
    if not any(hr.values()):
        return (
            "**This CRNN reads no HR test word yet**, so there is no gap to measure: "
            f"it trained {prof.crnn.max_steps:,} steps in the `{prof.name}` profile."
        )
    grows = [s for s in gap if hr[s] - lr[s] > 0]
    per = lambda acc: " / ".join(f"{acc[s]:.1f}" for s in gap)  # noqa: E731
    return (
        f"On this data {whose} reads {per(hr)} % of the HR words ({' / '.join(gap)}) and {per(lr)} % of the bicubic "
        f"LR ones: a gap on {len(grows)} of {len(gap)} splits."
    )


def gap_beside_reference(gap: dict, ref: dict | None) -> list[tuple[str, str, str]]:
    """(split, CRNN on HR, CRNN on bicubic LR) with the reference run's numbers in brackets."""
    return [
        (
            s,
            reference.beside(gap[s]["hr"]["accuracy"], ref, f"crnn.{s}.hr.accuracy"),
            reference.beside(gap[s]["lr_bicubic"]["accuracy"], ref, f"crnn.{s}.lr_bicubic.accuracy"),
        )
        for s in gap
    ]


def course_crnn(prof: Profile, use_reference: bool) -> tuple[Any, str | None]:
    """The CRNN that judges SR images in notebooks 05 / 06: RUN/crnn/crnn.pt (notebook 02's), else the reference
    run's when notebook 02 has not run; (None, why) without one. Returns (CRNN or None, what to say or None)."""
    path = Path(prof.run_dir) / "crnn" / "crnn.pt"
    said = None
    if not path.exists() and use_reference and (reference.reference_dir(prof.name) / "crnn.pt").exists():
        path = reference.checkpoint(prof.name, "crnn")
        said = (
            "No CRNN in the run directory (notebook 02 writes one): the CRNN columns use the reference run's, "
            f"`{reference.shown_path(path)}`."
        )
    if not path.exists():
        return None, f"No CRNN at `{path}` (run notebook 02 to add the CRNN columns)."
    return load_crnn(path).to(prof.device).eval(), said


def before_after_rows(before: dict, after: dict, ref: dict | None, with_crnn: bool) -> list[tuple[str, str, str]]:
    """Notebook 05's table, mean of splits: the model before and after fine-tuning (the reference run's after-numbers
    in brackets when given)."""
    m_b, m_a = before["mean_of_splits"], after["mean_of_splits"]
    fmt = lambda v, unit: "-" if v is None else f"{v:.2f}{unit}"  # noqa: E731
    mine = lambda v, key, unit: reference.beside(v, ref, key, unit) if ref else fmt(v, unit)  # noqa: E731
    rows = [
        ("final decoder", fmt(m_b["acc"], " %"), mine(m_a["acc"], "finetune.mean_of_splits.acc", " %")),
        ("SR PSNR", fmt(m_b["psnr"], " dB"), mine(m_a["psnr"], "finetune.mean_of_splits.psnr", " dB")),
        ("bicubic PSNR", fmt(m_b["bicubic"]["psnr"], " dB"), fmt(m_a["bicubic"]["psnr"], " dB")),
    ]
    if with_crnn:
        rows += [
            ("CRNN on bicubic LR", fmt(m_b["crnn_acc_lr_bicubic"], " %"), fmt(m_a["crnn_acc_lr_bicubic"], " %")),
            ("CRNN on the SR images", fmt(m_b["crnn_acc"], " %"), fmt(m_a["crnn_acc"], " %")),
        ]
    return rows


def moved_words(before: dict, after: dict) -> str | None:
    """What fine-tuning changed, in one sentence (None when the numbers are missing)."""
    m_b, m_a = before["mean_of_splits"], after["mean_of_splits"]
    if m_a["acc"] is None or m_b["acc"] is None or m_a["psnr"] is None:
        return None
    return (
        f"Fine-tuning moved the final decoder by {m_a['acc'] - m_b['acc']:+.2f} points and the SR image by "
        f"{m_a['psnr'] - m_b['psnr']:+.2f} dB (now {m_a['psnr'] - m_a['bicubic']['psnr']:+.2f} dB against bicubic)."
    )


def extra_test_set(prof: Profile, kind: str, model: Any, crnn: Any, progress: bool) -> tuple[dict | None, str | None]:
    """Notebook 06's out-of-distribution ("ood") or held-out camera ("heldout") evaluation: made when missing,
    evaluated, saved to RUN/eval/<kind>/results.json. Returns (results, None), or (None, why there is none)."""
    from . import session

    root = session.ensure_ood_data(prof) if kind == "ood" else session.ensure_heldout_data(prof)
    if root is None:
        setting = "eval.ood_images" if kind == "ood" else "eval.heldout_images"
        return (
            None,
            f"This profile has no {'out-of-distribution' if kind == 'ood' else 'held-out camera'} test set "
            + (f"(`{setting} = 0`, or real data, whose TextZoom test set is the distribution shift)."),
        )
    res = evaluate(model, root, crnn=crnn, device=prof.device, batch_size=prof.eval.batch_size, progress=progress)
    save_results(res, Path(prof.run_dir) / "eval" / kind / "results.json")
    return res, None


def shift_words(results: dict, other: dict, where: str) -> str | None:
    """SR gain over bicubic and the final decoder's accuracy on the course's test splits and on another test set."""
    m_in, m_out = results["mean_of_splits"], other["mean_of_splits"]
    gain = lambda m: None if m["psnr"] is None else m["psnr"] - m["bicubic"]["psnr"]  # noqa: E731
    if gain(m_in) is None or gain(m_out) is None or m_in["acc"] is None:
        return None
    return (
        f"In this run the SR image is {gain(m_in):+.2f} dB against bicubic on the course's test words and "
        f"{gain(m_out):+.2f} dB on {where}; the final decoder reads {m_in['acc']:.1f} % and {m_out['acc']:.1f} %."
    )


def ood_history(prof: Profile) -> str:
    """What the evaluated model's training saw of the out-of-distribution (full) style, from its fine-tuning log: a
    stage 1 trained on it (the cpu course's is the open-world reference run's) or none."""

    started = reference.started_from(Path(prof.run_dir) / "finetune" / "metrics.jsonl")
    style = get_profile(started).data.style if started else prof.data.style
    whose = f"the {started} reference run's" if started else "this run's own"
    if style in ("full", "open"):
        lesson = "; only its fine-tuning was on the lesson" if prof.data.style == "lesson" else ""
        return (
            f"This model's stage 1 ({whose}) trained on the {style} style's words, fonts and backgrounds (never on "
            f"these test images){lesson}. So this set measures how much of that its fine-tuning kept, not reading of "
            'text it never saw (docs/EXPERIMENTS.md, "The open world", measures that).'
        )
    return (
        f"Neither stage of this model trained on the full style (its stage 1 is {whose}, {style} style): these "
        "words and fonts are new to it."
    )


# ----------------------------------------------------------------------------- notebook 03: the architecture


def config_rows(configs: dict[str, Any]) -> tuple[list[tuple], list[str]]:
    """Rows and headers comparing STIRER configurations: what each is, its sizes and parameters (with and without
    the mini decoders, which only training runs)."""
    from ..models import build_stirer, count_parameters, is_mini_decoder_key

    rows = []
    for name, c in configs.items():
        full = build_stirer(c)
        lean = sum(p.numel() for n, p in full.named_parameters() if not is_mini_decoder_key(n))
        rows.append(
            (
                name,
                c.label(),
                "-".join(map(str, c.depths)),
                f"{c.mini_vit_depth} x {c.mini_vit_dim}",
                f"{c.t5_encoder_layers} + {c.t5_decoder_layers}",
                f"{count_parameters(full):,}",
                f"{lean:,}",
            )
        )
    headers = ["", "STIRER", "STLs per block", "mini ViT depth x dim", "T5 layers (enc + dec)", "parameters"]
    return rows, [*headers, "without mini decoders"]


def ablation_rows(cfg: Any, lr: Any, labels: list[str]) -> tuple[list[tuple], list[str]]:
    """Table 3's ablations of a configuration, each built and run once on `lr`: parameters and which outputs
    it still has."""
    import torch

    from ..models import build_stirer, count_parameters
    from ..text import encode_decoder_labels

    rows = []
    from ..models.config import ABLATIONS

    for name, switches in {"full": {}, **ABLATIONS}.items():
        m = build_stirer(cfg.replace(**switches)).eval()
        with torch.no_grad():
            o = m(lr[:1], labels=encode_decoder_labels(labels[:1]), generate=False)
        text = "yes" if o.ar_logits is not None else "no"
        rows.append((name, f"{count_parameters(m):,}", "yes" if o.sr is not None else "no", len(o.srs), text))
    return rows, ["ablation", "parameters", "final SR", "mini SR images / CTC heads", "text decoder"]


def trained_stirer(prof: Profile) -> tuple[Path | None, str]:
    """A trained STIRER for notebook 03's last section: the release in ckpt/, else the run's fine-tuned, else its
    pretrained model. Returns (path or None, what to say)."""
    release = resolve("ckpt/STIRER_Final_Release.pth")
    run = Path(prof.run_dir)
    found = release if release.is_file() else (best_or_last(run / "finetune") or best_or_last(run / "pretrain"))
    if found is None:
        return None, (
            "No trained STIRER yet, as expected when the course runs in order: notebooks 04 and 05 put one into "
            f"`{run}` (the reference run's, or with `use_reference = False` your own). Come back to this cell after "
            f"notebook 05, or put the released model at `{release}` (see `ckpt/README.md`)."
        )
    return found, f"Loaded `{found}`."


def edge_gain_words(g: dict[str, float], n: int) -> str:
    """Notebook 06's sentence on where SR's gain over bicubic falls (`metrics.edge_gain` of n test words)."""
    where = (
        f"Over {n} hard test words SR is closer to HR than bicubic by {g['edges']:+.4f} per pixel on the stroke edges"
    )
    where += f" ({g['edge_share_of_pixels']:.0%} of the pixels) and by {g['elsewhere']:+.4f} elsewhere (0-1 scale)"
    share = g["edge_share_of_gain"]
    if share != share or g["edges"] * g["edge_share_of_pixels"] + g["elsewhere"] * (1 - g["edge_share_of_pixels"]) <= 0:
        return where + ": on these words SR is not closer to HR than bicubic overall."
    return where + f": the edges hold {share:.0%} of the whole gain."
