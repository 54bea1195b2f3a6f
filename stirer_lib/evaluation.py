"""The TextZoom evaluation of STIRER: per split and per step, accuracy, PSNR and SSIM (docs/DESIGN.md 1, 2, 4).

Steps follow the official test.py: step i < L pairs the i-th mini STR decoder (CTC, greedy) with
the i-th intermediate SR image; the last step pairs the STR decoder (T5, greedy) with the final
SR image. A CRNN reads the final SR image; the baselines are the CRNN on the bicubic-upsampled LR
and on the HR image, and the PSNR / SSIM of the bicubic LR.

Two averaging conventions (docs/DESIGN.md section 2), both kept and labelled:
  "mean_of_splits": the mean of the three split means (what the official test.py prints: 73.91);
  "over_all":       the mean over all images of the three splits (what the paper reports: 74.8).
The official script averages the CRNN accuracy over all images ("Avg CRNN Acc").

The command line (the official test.py printout, then results JSON + .txt):
    python -m stirer_lib.evaluation --stirer CKPT [--crnn CKPT] --data ROOT [--json OUT]
It loads our checkpoints (RUN/finetune/best.pt) and the official release (STIRER_Final_Release.pth)
alike, strictly. With the release, crnn.pth and real TextZoom it prints
"Final Acc 73.91 Final PSNR 22.31 SSIM 0.7650", as in the release's log (docs/DESIGN.md section 2).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from .atomic_write import atomic_write_text
from .checkpoint import best_or_last
from .data import TEST_SPLITS, TextZoomDataset, collate_eval, training_words
from .errors import DataError, run_cli
from .metrics import finite_mean
from .models import load_crnn, load_stirer
from .scoring import BatchScores, correct, percent, score_batch, step_outputs
from .text import CHARSET
from .utils import default_device

CONVENTIONS = {
    "mean_of_splits": "mean of the per-split means (official test.py printout: Final Acc 73.91 / PSNR 22.31 / "
    "SSIM 0.7650 for the release)",
    "over_all": "mean over all images of the splits (the paper's Table 1: 74.8 / 22.46 / 0.7706 for the release)",
}


def find_test_dir(data_root: str | os.PathLike) -> Path:
    """The folder holding easy/medium/hard: ROOT/test (ROOT = the textzoom dir) or ROOT/textzoom/test."""
    root = Path(data_root)
    for cand in (root / "test", root / "textzoom" / "test"):
        if cand.is_dir():
            return cand
    raise DataError(
        f"no TextZoom test folder under {root}: expected {root}/test/{{easy,medium,hard}} or "
        f"{root}/textzoom/test/{{easy,medium,hard}}. Generate synthetic data with "
        "`python -m stirer_lib.data.synth --out DIR --profile smoke` or see data/README.md"
    )


def split_loader(path: Path, batch_size: int, max_images: int | None = None, num_workers: int = 0) -> DataLoader:
    """A DataLoader over one test LMDB in record order (no shuffling), the first max_images items.

    Unreadable records are skipped and counted (collate_eval's "skipped"), never replaced."""
    ds = TextZoomDataset(path, train=False)
    if max_images is not None:
        ds = Subset(ds, range(min(max_images, len(ds))))
    return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=collate_eval)


def test_loaders(
    data_root: str | os.PathLike,
    batch_size: int,
    max_images: int | None = None,
    splits: tuple[str, ...] = TEST_SPLITS,
    num_workers: int = 0,
) -> dict[str, DataLoader]:
    """One split_loader per TextZoom test split of a data ROOT (or of the textzoom folder)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    root = find_test_dir(data_root)
    missing = [str(root / s) for s in splits if not (root / s / "data.mdb").is_file()]
    if missing:
        raise DataError(
            f"test split LMDBs not found: {missing} (each needs a data.mdb); "
            "check --data or pass splits=... for a subset"
        )
    return {s: split_loader(root / s, batch_size, max_images, num_workers) for s in splits}


def label_skips(loader: DataLoader) -> dict[str, int]:
    """Records the loader's data set left out when it read the labels (empty after the filter, ...)."""
    ds = loader.dataset.dataset if isinstance(loader.dataset, Subset) else loader.dataset
    return {k: int(v) for k, v in getattr(ds, "skipped", {}).items() if v}


class _SplitRecorder:
    """Collects the per-image scores of one split (stirer_lib.scoring) and summarises them."""

    def __init__(self) -> None:
        self.batches: list[BatchScores] = []
        self.unreadable = 0

    def add(self, scores: BatchScores) -> None:
        if self.batches and len(scores.step_preds) != len(self.batches[0].step_preds):
            raise RuntimeError("the model returned a different number of steps for another batch")
        self.batches.append(scores)

    def _cat(self, get) -> list:
        return [x for b in self.batches for x in get(b)]

    def result(self, path: Path | str, label_skipped: dict[str, int], details: bool) -> dict:
        labels = self._cat(lambda b: b.labels)
        n_steps = len(self.batches[0].step_preds) if self.batches else 0
        preds = [
            None if self.batches[0].step_preds[k] is None else self._cat(lambda b, k=k: b.step_preds[k])
            for k in range(n_steps)
        ]
        per = {
            key: [self._cat(lambda b, key=key, k=k: getattr(b, key)[k]) for k in range(n_steps)]
            for key in ("step_psnr", "step_ssim", "step_ssim_skimage")
        }
        steps = []
        for k in range(n_steps):
            st = {
                "acc": percent(correct(preds[k], labels)),
                "psnr": finite_mean(per["step_psnr"][k]) if per["step_psnr"][k] else None,
                "ssim": finite_mean(per["step_ssim"][k]) if per["step_ssim"][k] else None,
            }
            if per["step_ssim_skimage"][k]:
                st["ssim_skimage"] = finite_mean(per["step_ssim_skimage"][k])
            steps.append(st)
        crnn = {src: self._cat(lambda b, src=src: b.crnn.get(src, [])) for src in ("sr", "lr_bicubic", "hr")}
        bic = {"psnr": self._cat(lambda b: b.bicubic_psnr), "ssim": self._cat(lambda b: b.bicubic_ssim)}
        out = {
            "n": len(labels),
            "skipped": {**label_skipped, **({"unreadable image": self.unreadable} if self.unreadable else {})},
            "path": str(path),
            "steps": steps,
            "crnn_acc": percent(correct(crnn["sr"] or None, labels)),
            "crnn_acc_lr_bicubic": percent(correct(crnn["lr_bicubic"] or None, labels)),
            "crnn_acc_hr": percent(correct(crnn["hr"] or None, labels)),
            "bicubic": {k: finite_mean(v) if v else None for k, v in bic.items()},
        }
        if details:
            final = preds[-1] if preds and preds[-1] is not None else [None] * len(labels)
            out.update(
                {
                    "predictions": [
                        {"label": t, "pred": p}  # pred None: the model has no STR decoder
                        for t, p in zip(labels, final, strict=True)
                    ],
                    "step_predictions": preds,
                    "crnn_preds": crnn["sr"],
                    "crnn_preds_hr": crnn["hr"],
                    "crnn_preds_lr_bicubic": crnn["lr_bicubic"],
                    "psnr_per_image": per["step_psnr"],
                    "ssim_per_image": per["step_ssim"],
                    "bicubic_per_image": bic,
                }
            )
        return out


def _mean(vals: list[float | None], weights: list[int] | None = None) -> float | None:
    """Mean (optionally weighted by n) of the values that exist; None when none does."""
    pairs = [(v, w) for v, w in zip(vals, weights or [1] * len(vals), strict=True) if v is not None]
    if not pairs or sum(w for _, w in pairs) == 0:
        return None
    return math.fsum(v * w for v, w in pairs) / sum(w for _, w in pairs)


def summarise(splits: dict[str, dict], weighted: bool) -> dict:
    """Average split results: by split (weighted=False) or over all images (weighted=True)."""
    res = list(splits.values())
    w = [r["n"] for r in res] if weighted else None
    n_steps = len(res[0]["steps"]) if res else 0
    keys = sorted({k for r in res for s in r["steps"] for k in s})
    steps = [{k: _mean([r["steps"][i].get(k) for r in res], w) for k in keys} for i in range(n_steps)]
    out = {
        "n": sum(r["n"] for r in res),
        "steps": steps,
        "acc": steps[-1]["acc"] if steps else None,
        "psnr": steps[-1]["psnr"] if steps else None,
        "ssim": steps[-1]["ssim"] if steps else None,
    }
    for k in ("crnn_acc", "crnn_acc_lr_bicubic", "crnn_acc_hr"):
        out[k] = _mean([r[k] for r in res], w)
    out["bicubic"] = {k: _mean([r["bicubic"][k] for r in res], w) for k in ("psnr", "ssim")}
    return out


def _as_model(model: nn.Module | str | os.PathLike | dict | None) -> nn.Module | None:
    return model if model is None or isinstance(model, nn.Module) else load_stirer(model)


def _as_crnn(crnn: nn.Module | str | os.PathLike | dict | None) -> nn.Module | None:
    return crnn if crnn is None or isinstance(crnn, nn.Module) else load_crnn(crnn)


def _model_steps(model: nn.Module, lr: torch.Tensor, bf16: bool) -> list:
    """step_outputs of one forward with greedy decoding, under bfloat16 autocast when asked; SR images in float32."""
    with torch.autocast(lr.device.type, dtype=torch.bfloat16, enabled=bf16):
        out = model(lr, generate=True)
    return [(preds, sr if sr is None else sr.float()) for preds, sr in step_outputs(out)]


@torch.no_grad()
def evaluate_loaders(
    model: nn.Module | None,
    loaders: dict[str, DataLoader],
    crnn: nn.Module | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    with_skimage: bool = False,
    ssim_on: bool = True,
    details: bool = True,
    crnn_on: tuple[str, ...] = ("sr", "lr_bicubic", "hr"),
    bf16: bool = False,
) -> dict:
    """Evaluate STIRER (model may be None: only the CRNN and bicubic) on named loaders -> results dict.

    The one evaluation of the library: evaluate() (notebook 06, the CLI), the trainer's periodic
    evaluation (ssim_on=False, details=False) and notebook 02's CRNN gap (model None) all call it.
    crnn_on: which images the CRNN reads ("sr": the final SR, "lr_bicubic", "hr").
    bf16: run STIRER's forward under bfloat16 autocast (an option: it changes the numbers slightly; the SR images
    are scored in float32 and the CRNN reads in float32; docs/EXPERIMENTS.md, "Where a CPU step's time goes").
    Returns {"splits": {name: {...}}, "mean_of_splits": {...}, "over_all": {...}, "conventions", "meta"};
    each split has n (images scored) and skipped (records left out, by reason).
    """
    from tqdm.auto import tqdm

    device = (
        torch.device(device)
        if device is not None
        else (next(model.parameters()).device if model is not None else torch.device("cpu"))
    )
    was_training = {m: m.training for m in (model, crnn) if m is not None}
    model = model.to(device).eval() if model is not None else None
    crnn = crnn.to(device).eval() if crnn is not None else None
    t0 = time.time()
    results: dict[str, dict] = {}
    try:
        for name, loader in loaders.items():
            rec = _SplitRecorder()
            for batch in tqdm(loader, desc=f"eval {name}", disable=not progress, leave=False):
                rec.unreadable += int(batch.get("skipped", 0))
                if not batch["labels"]:
                    continue
                hr, lr = batch["hr"].to(device), batch["lr"].to(device)
                steps = _model_steps(model, lr, bf16) if model is not None else []
                rec.add(
                    score_batch(
                        list(batch["labels"]),
                        hr,
                        lr,
                        steps,
                        crnn,
                        ssim_on=ssim_on,
                        with_skimage=with_skimage,
                        crnn_on=crnn_on,
                    )
                )
            if not rec.batches:
                raise DataError(
                    f"evaluation split {name!r} has no readable record ({getattr(loader.dataset, 'root', name)})"
                )
            path = getattr(getattr(loader.dataset, "dataset", loader.dataset), "root", name)
            results[name] = rec.result(path, label_skips(loader), details)
    finally:
        for m, mode in was_training.items():
            m.train(mode)
    cfg = getattr(model, "config", None)
    return {
        "splits": results,
        "mean_of_splits": summarise(results, weighted=False),
        "over_all": summarise(results, weighted=True),
        "conventions": CONVENTIONS,
        "meta": {
            "splits": list(loaders),
            "device": str(device),
            "seconds": round(time.time() - t0, 2),
            "crnn": crnn is not None,
            "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
            "bf16": bool(bf16),
        },
    }


def evaluate(
    model: nn.Module | str | os.PathLike | dict | None,
    data_root: str | os.PathLike,
    crnn: nn.Module | str | os.PathLike | dict | None = None,
    device: str | torch.device | None = None,
    batch_size: int = 64,
    max_images: int | None = None,
    progress: bool = True,
    splits: tuple[str, ...] = TEST_SPLITS,
    with_skimage: bool = False,
    bf16: bool = False,
) -> dict:
    """Evaluate STIRER (and a CRNN on its SR images) on ROOT's TextZoom test splits -> results dict.

    data_root: the textzoom folder (holding test/) or the data ROOT (holding textzoom/test).
    max_images: the first N images of each split (record order). with_skimage: also scikit-image's SSIM.
    bf16: STIRER's forward under bfloat16 autocast (evaluate_loaders).
    """
    loaders = test_loaders(data_root, batch_size, max_images, splits)
    device = torch.device(device) if device is not None else default_device()
    res = evaluate_loaders(_as_model(model), loaders, _as_crnn(crnn), device, progress, with_skimage, bf16=bf16)
    res["meta"].update(data=str(find_test_dir(data_root)), max_images=max_images, batch_size=batch_size)
    return res


def seen_unseen(results: dict, seen: Collection[str]) -> dict:
    """Accuracy on the test words seen in training and on the unseen ones (`data.training_words`), per split and
    the mean of splits: the final decoder, and the CRNN on the SR and HR images where it read them. From the
    results' per-image predictions (an evaluation with details)."""
    out: dict[str, Any] = {}
    for split, r in results["splits"].items():
        if "predictions" not in r:
            raise ValueError("seen_unseen needs per-image predictions: evaluate with details (the default)")
        labels = [p["label"] for p in r["predictions"]]
        finals = [p["pred"] for p in r["predictions"]]
        readers = {"acc": None if None in finals else finals, "crnn_acc": r.get("crnn_preds") or None}
        readers["crnn_acc_hr"] = r.get("crnn_preds_hr") or None
        out[split] = {}
        for part, keep in (("seen", True), ("unseen", False)):
            idx = [i for i, t in enumerate(labels) if (t in seen) is keep]
            row: dict[str, Any] = {"n": len(idx)}
            for key, preds in readers.items():
                row[key] = (
                    percent(correct([preds[i] for i in idx], [labels[i] for i in idx])) if preds and idx else None
                )
            out[split][part] = row
    out["mean_of_splits"] = {
        part: {
            "n": sum(out[s][part]["n"] for s in results["splits"]),
            **{k: _mean([out[s][part][k] for s in results["splits"]]) for k in ("acc", "crnn_acc", "crnn_acc_hr")},
        }
        for part in ("seen", "unseen")
    }
    return out


def seen_unseen_lines(split: dict) -> str:
    """The seen / unseen accuracies as printed lines (one per split and the mean)."""
    lines = ["words seen / not seen in training: n, final decoder %, CRNN on SR %, CRNN on HR %"]
    for name, parts in split.items():
        cells = [
            f"{part} {p['n']}: {_fmt(p['acc'])} / {_fmt(p['crnn_acc'])} / {_fmt(p['crnn_acc_hr'])}"
            for part, p in parts.items()
        ]
        lines.append(f"{name:<15} " + "   ".join(cells))
    return "\n".join(lines) + "\n"


def is_better(new: dict, best: dict | None) -> bool:
    """Higher mean-of-splits final-step accuracy wins; PSNR breaks ties (for the trainer's best.pt)."""
    if best is None:
        return True
    key = lambda r: tuple(
        -1.0 if v is None or math.isnan(v) else v  # noqa: E731
        for v in (r["mean_of_splits"]["acc"], r["mean_of_splits"]["psnr"])
    )
    return key(new) > key(best)


def compact(results: dict) -> dict:
    """The results without per-image lists (what the trainer logs to metrics.jsonl)."""
    per_image = (
        "predictions",
        "step_predictions",
        "crnn_preds",
        "crnn_preds_hr",
        "crnn_preds_lr_bicubic",
        "psnr_per_image",
        "ssim_per_image",
        "bicubic_per_image",
    )
    return {
        **results,
        "splits": {k: {kk: vv for kk, vv in v.items() if kk not in per_image} for k, v in results["splits"].items()},
    }


def _cell(v: float | None, width: int, digits: int = 2) -> str:
    return f"{v:{width}.{digits}f}" if v is not None and not math.isnan(v) else f"{'n/a':>{width}}"


def results_table(runs: dict[str, dict]) -> str:
    """One text table for one or more evaluations {name: results}: the final step's accuracy per split
    and as mean of splits, PSNR and SSIM (mean of splits), the CRNN on SR; then the bicubic LR row
    (PSNR, SSIM, the CRNN on bicubic LR) and each evaluation's mean accuracy per step."""
    first = next(iter(runs.values()))
    splits = list(first["splits"])
    lines = [
        f"{'model':<22}" + "".join(f"{s:>9}" for s in splits) + f"{'mean':>9}{'PSNR':>8}{'SSIM':>8}{'CRNN(SR)':>10}"
    ]
    for name, r in runs.items():
        m = r["mean_of_splits"]
        lines.append(
            f"{name:<22}"
            + "".join(_cell(r["splits"][s]["steps"][-1]["acc"] if r["splits"][s]["steps"] else None, 9) for s in splits)
            + _cell(m["acc"], 9)
            + _cell(m["psnr"], 8)
            + _cell(m["ssim"], 8, 4)
            + _cell(m["crnn_acc"], 10)
        )
    m = first["mean_of_splits"]
    lines.append(
        f"{'bicubic LR':<22}"
        + " " * (9 * len(splits) + 9)
        + _cell(m["bicubic"]["psnr"], 8)
        + _cell(m["bicubic"]["ssim"], 8, 4)
        + _cell(m["crnn_acc_lr_bicubic"], 10)
    )
    n_steps = len(m["steps"])
    if n_steps:
        names = [f"mini decoder {k + 1}" for k in range(n_steps - 1)] + ["final decoder"]
        lines += ["", "mean-of-splits accuracy (%) per step (" + ", ".join(names) + "):"]
        lines += [
            f"  {name:<20}" + "  ".join(_cell(s["acc"], 6) for s in r["mean_of_splits"]["steps"])
            for name, r in runs.items()
        ]
    return "\n".join(lines)


def _fmt(v: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v * scale:.{digits}f}"


def format_official(results: dict) -> str:
    """The official test.py printout (STEP lines per split, CRNN Acc, Avg CRNN Acc, Final line), then
    a labelled block with both averaging conventions and the baselines.

    Verified against the release log in the official README: SSIM x100 with 2 decimals on STEP
    lines, 0-1 with 4 decimals on the Final line; "Final" = mean of the split means of the last step;
    "Avg CRNN Acc" = over all images. The "Evaluating" line names our LMDB path, not the official one.
    """
    mapper = {i + 1: c for i, c in enumerate(CHARSET)}
    mapper[0] = ""
    lines = ["----------------<Evaluation>----------------", str(mapper)]
    for name, r in results["splits"].items():
        lines.append(f"Evaluating {r.get('path', name).rstrip('/')}/")
        for i, s in enumerate(r["steps"]):
            lines.append(f"STEP {i} Acc {_fmt(s['acc'])} PSNR {_fmt(s['psnr'])} SSIM {_fmt(s['ssim'], 100)}")
        lines.append(f"CRNN Acc {_fmt(r['crnn_acc'])}")
    skipped = {name: r["skipped"] for name, r in results["splits"].items() if r.get("skipped")}
    m, a = results["mean_of_splits"], results["over_all"]
    lines.append(f"Avg CRNN Acc {_fmt(a['crnn_acc'])}")
    lines.append(f"Final Acc {_fmt(m['acc'])} Final PSNR {_fmt(m['psnr'])} SSIM {_fmt(m['ssim'], digits=4)}")
    lines += ["", "# both averaging conventions (docs/DESIGN.md section 2)"]
    for key, r in (("mean_of_splits", m), ("over_all", a)):
        lines.append(
            f"# {key:<15} n={r['n']:<5} Acc {_fmt(r['acc'])} PSNR {_fmt(r['psnr'])} "
            f"SSIM {_fmt(r['ssim'], digits=4)} | CRNN on SR {_fmt(r['crnn_acc'])} "
            f"on bicubic LR {_fmt(r['crnn_acc_lr_bicubic'])} on HR {_fmt(r['crnn_acc_hr'])} | "
            f"bicubic PSNR {_fmt(r['bicubic']['psnr'])} SSIM {_fmt(r['bicubic']['ssim'], digits=4)}"
        )
    for key, text in results.get("conventions", CONVENTIONS).items():
        lines.append(f"# {key}: {text}")
    lines.append(
        "# scored: "
        + ", ".join(f"{name} {r['n']}" for name, r in results["splits"].items())
        + "; skipped (not scored): "
        + (
            "; ".join(f"{name}: " + ", ".join(f"{v} {k}" for k, v in d.items()) for name, d in skipped.items())
            or "none"
        )
    )
    return "\n".join(lines) + "\n"


def _json_safe(obj: Any) -> Any:
    """NaN -> None (JSON has no NaN); inf stays (Python's json writes Infinity, the official PSNR of equal images)."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def save_results(results: dict, json_path: str | os.PathLike) -> tuple[Path, Path]:
    """Write results as JSON and the official printout as .txt beside it; returns both paths."""
    json_path = Path(json_path)
    txt_path = json_path.with_suffix(".txt")
    atomic_write_text(json.dumps(_json_safe(results), indent=1), json_path)
    atomic_write_text(format_official(results), txt_path)
    return json_path, txt_path


def load_results(json_path: str | os.PathLike) -> dict:
    """Read a results.json written by save_results (FileNotFoundError says how to make one)."""
    p = Path(json_path)
    if not p.is_file():
        raise DataError(
            f"no evaluation results at {p}; run notebook 06 or "
            "`python -m stirer_lib.evaluation --stirer CKPT --data ROOT --json OUT`"
        )
    return json.loads(p.read_text())


def find_checkpoints(run_dir: str | os.PathLike, ckpt_dir: str | os.PathLike) -> dict[str, Path | None]:
    """Which weights notebook 06 evaluates: {"ours": RUN/finetune/best.pt (else last.pt) or None,
    "release": ckpt/STIRER_Final_Release.pth or None, "crnn": ckpt/crnn.pth (the paper's judge),
    else RUN/crnn/crnn.pt, or None}."""
    run, ck = Path(run_dir), Path(ckpt_dir)
    first = lambda *ps: next((p for p in ps if p.is_file()), None)  # noqa: E731
    return {
        "ours": best_or_last(run / "finetune"),
        "release": first(ck / "STIRER_Final_Release.pth"),
        "crnn": first(ck / "crnn.pth", run / "crnn" / "crnn.pt"),
    }


# ----------------------------------------------------------------------------- the command line


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m stirer_lib.evaluation",
        description="The TextZoom evaluation of a STIRER checkpoint: the official test.py "
        "printout, then both averaging conventions",
    )
    p.add_argument("--stirer", required=True, help="STIRER checkpoint: ours ({'model','config',...}) or the release")
    p.add_argument("--crnn", default=None, help="CRNN checkpoint (crnn.pytorch's crnn.pth or RUN/crnn/crnn.pt)")
    p.add_argument("--data", required=True, help="the textzoom folder (holding test/) or the data ROOT")
    p.add_argument("--json", default=None, help="write results here (and the printout beside it as .txt)")
    p.add_argument("--device", default=None, choices=("cpu", "cuda"), help="default: cuda when available")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-images", type=int, default=None, help="only the first N images of each split")
    p.add_argument("--splits", default=",".join(TEST_SPLITS), help="comma-separated subset of easy,medium,hard")
    p.add_argument("--inference-only", action="store_true", help="the checkpoint has no mini decoders")
    p.add_argument("--skimage", action="store_true", help="also compute scikit-image's SSIM")
    p.add_argument(
        "--bf16",
        action="store_true",
        help="STIRER's forward under bfloat16 autocast (faster on CPUs with "
        "AVX512-BF16 / AMX and on GPUs; changes the numbers slightly: docs/EXPERIMENTS.md)",
    )
    p.add_argument(
        "--seen-in",
        nargs="+",
        default=None,
        metavar="ROOT",
        help="the data ROOTs the model trained on: also report accuracy on the test words seen / not seen there",
    )
    p.add_argument("--no-progress", action="store_true")
    return p


def _main(argv: list[str] | None = None) -> int:
    """Parse arguments, evaluate, print and save; user errors end in one line and exit code 2 (run_cli)."""
    args = build_parser().parse_args(argv)
    for flag, path in (("--stirer", args.stirer), ("--crnn", args.crnn), ("--data", args.data)):
        if path is not None and not Path(path).exists():
            raise DataError(f"{flag} {path} does not exist")
    seen = training_words(*args.seen_in) if args.seen_in else None
    if args.device == "cuda" and not torch.cuda.is_available():
        raise DataError("--device cuda but CUDA is not available; use --device cpu")
    if args.batch_size < 1 or (args.max_images is not None and args.max_images < 1):
        raise DataError("--batch-size and --max-images must be at least 1")
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    bad = [s for s in splits if s not in TEST_SPLITS]
    if bad or not splits:
        raise DataError(f"--splits {args.splits!r}: choose from {','.join(TEST_SPLITS)}")
    model = load_stirer(args.stirer, inference_only=args.inference_only)
    crnn = load_crnn(args.crnn) if args.crnn else None
    results = evaluate(
        model,
        args.data,
        crnn=crnn,
        device=args.device,
        batch_size=args.batch_size,
        max_images=args.max_images,
        progress=not args.no_progress,
        splits=splits,
        with_skimage=args.skimage,
        bf16=args.bf16,
    )
    results["meta"]["stirer"] = str(args.stirer)
    results["meta"]["crnn_path"] = args.crnn
    print(format_official(results), end="")
    if seen is not None:
        results["seen_unseen"] = seen_unseen(results, seen)
        print(seen_unseen_lines(results["seen_unseen"]), end="")
    if args.json:
        js, txt = save_results(results, args.json)
        print(f"wrote {js} and {txt}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line: a user error ends in one line on stderr and exit code 2 (stirer_lib.errors.run_cli)."""
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
