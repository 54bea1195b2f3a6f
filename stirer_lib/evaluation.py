"""The TextZoom evaluation of STIRER: per split and per step, accuracy, PSNR and SSIM (DESIGN.md 1, 2, 4).

Steps follow the official test.py: step i < L pairs the i-th mini STR decoder (CTC, greedy) with
the i-th intermediate SR image; the last step pairs the STR decoder (T5, greedy) with the final
SR image. A CRNN reads the final SR image; the baselines are the CRNN on the bicubic-upsampled LR
and on the HR image, and the PSNR / SSIM of the bicubic LR.

Two averaging conventions (DESIGN.md section 2), both kept and labelled:
  "mean_of_splits": the mean of the three split means (what the official test.py prints: 73.91);
  "over_all":       the mean over all images of the three splits (what the paper reports: 74.8).
The official script averages the CRNN accuracy over all images ("Avg CRNN Acc").
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Subset

from .data import TEST_SPLITS, TextZoomDataset, collate_eval
from .data.transforms import HR_SIZE
from .metrics import finite_mean, psnr, ssim, ssim_skimage
from .text import CHARSET, ctc_greedy_decode, decode_ids, filter_label

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
    raise FileNotFoundError(f"no TextZoom test folder under {root}: expected {root}/test/{{easy,medium,hard}} or "
                            f"{root}/textzoom/test/{{easy,medium,hard}}. Generate synthetic data with "
                            "`python -m stirer_lib.data.synth --out DIR --profile smoke` or see data/README.md")


def split_loader(path: Path, batch_size: int, max_images: int | None = None) -> DataLoader:
    """A DataLoader over one test LMDB in record order (no shuffling), the first max_images items."""
    ds = TextZoomDataset(path, train=False)
    if max_images is not None:
        ds = Subset(ds, range(min(max_images, len(ds))))
    return DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=0, collate_fn=collate_eval)


def bicubic_upsample(lr: torch.Tensor) -> torch.Tensor:
    """[B,C,16,64] -> [B,C,32,128]: torch bicubic (align_corners=False), clamped to [0, 1]."""
    return F.interpolate(lr, size=(HR_SIZE[1], HR_SIZE[0]), mode="bicubic", align_corners=False).clamp(0, 1)


def step_outputs(out: Any) -> list[tuple[list[str] | None, torch.Tensor | None]]:
    """(predictions, SR image) per step: the mini decoders' (CTC, intermediate SR), then (T5, final SR).

    Parts removed by an ablation give None (no STR decoder -> no final predictions; no STISR
    decoder -> no final SR)."""
    steps: list[tuple[list[str] | None, torch.Tensor | None]] = []
    n_mini = max(len(out.ctc_logits), len(out.srs))
    for i in range(n_mini):
        preds = ctc_greedy_decode(out.ctc_logits[i]) if i < len(out.ctc_logits) else None
        steps.append((preds, out.srs[i] if i < len(out.srs) else None))
    if out.text_ids is not None or out.sr is not None:
        steps.append((decode_ids(out.text_ids) if out.text_ids is not None else None, out.sr))
    return steps


def crnn_read(crnn: nn.Module, images: torch.Tensor) -> list[str]:
    """CRNN greedy CTC reading of [B,C,32,128] images (filtered strings)."""
    return [filter_label(s) for s in ctc_greedy_decode(crnn(images), time_major=True)]


def _pct(flags: list[bool]) -> float | None:
    return 100.0 * sum(flags) / len(flags) if flags else None


class _SplitRecorder:
    """Collects per-image values of one split and summarises them."""

    def __init__(self) -> None:
        self.labels: list[str] = []
        self.step_preds: list[list[str] | None] = []
        self.step_psnr: list[list[float]] = []
        self.step_ssim: list[list[float]] = []
        self.step_ssim_sk: list[list[float]] = []
        self.crnn: dict[str, list[str]] = {"sr": [], "lr_bicubic": [], "hr": []}
        self.bicubic = {"psnr": [], "ssim": []}

    def add_batch(self, labels: list[str], steps, hr: torch.Tensor, lr: torch.Tensor, crnn: nn.Module | None,
                  with_skimage: bool) -> None:
        if not self.step_preds:
            self.step_preds = [[] if p is not None else None for p, _ in steps]
            self.step_psnr, self.step_ssim, self.step_ssim_sk = ([[] for _ in steps] for _ in range(3))
        if len(steps) != len(self.step_preds):
            raise RuntimeError("the model returned a different number of steps for another batch")
        self.labels += labels
        for k, (preds, sr) in enumerate(steps):
            if preds is not None:
                self.step_preds[k] += [filter_label(p) for p in preds]
            if sr is not None:
                self.step_psnr[k] += psnr(sr, hr).tolist()
                self.step_ssim[k] += ssim(sr, hr).tolist()
                if with_skimage:
                    self.step_ssim_sk[k] += ssim_skimage(sr, hr).tolist()
        bic = bicubic_upsample(lr)
        self.bicubic["psnr"] += psnr(bic, hr).tolist()
        self.bicubic["ssim"] += ssim(bic, hr).tolist()
        if crnn is not None:
            final_sr = steps[-1][1] if steps else None
            if final_sr is not None:
                self.crnn["sr"] += crnn_read(crnn, final_sr)
            self.crnn["lr_bicubic"] += crnn_read(crnn, bic)
            self.crnn["hr"] += crnn_read(crnn, hr)

    def correct(self, preds: list[str] | None) -> list[bool]:
        return [] if preds is None else [p == t for p, t in zip(preds, self.labels)]

    def result(self, path: Path) -> dict:
        steps = []
        for k, preds in enumerate(self.step_preds):
            s = {"acc": _pct(self.correct(preds)),
                 "psnr": finite_mean(self.step_psnr[k]) if self.step_psnr[k] else None,
                 "ssim": finite_mean(self.step_ssim[k]) if self.step_ssim[k] else None}
            if self.step_ssim_sk[k]:
                s["ssim_skimage"] = finite_mean(self.step_ssim_sk[k])
            steps.append(s)
        final = self.step_preds[-1] if self.step_preds else None
        return {
            "n": len(self.labels),
            "path": str(path),
            "steps": steps,
            "crnn_acc": _pct(self.correct(self.crnn["sr"])),
            "crnn_acc_lr_bicubic": _pct(self.correct(self.crnn["lr_bicubic"])),
            "crnn_acc_hr": _pct(self.correct(self.crnn["hr"])),
            "bicubic": {"psnr": finite_mean(self.bicubic["psnr"]), "ssim": finite_mean(self.bicubic["ssim"])},
            "predictions": [{"label": t, "pred": p}  # pred None: the model has no STR decoder
                            for t, p in zip(self.labels, final if final is not None else [None] * len(self.labels))],
            "step_predictions": self.step_preds,
            "crnn_preds": self.crnn["sr"],
            "psnr_per_image": self.step_psnr,
            "ssim_per_image": self.step_ssim,
            "bicubic_per_image": self.bicubic,
        }


def _mean(vals: list[float | None], weights: list[int] | None = None) -> float | None:
    """Mean (optionally weighted by n) of the values that exist; None when none does."""
    pairs = [(v, w) for v, w in zip(vals, weights or [1] * len(vals)) if v is not None]
    if not pairs:
        return None
    return math.fsum(v * w for v, w in pairs) / sum(w for _, w in pairs)


def summarise(splits: dict[str, dict], weighted: bool) -> dict:
    """Average split results: by split (weighted=False) or over all images (weighted=True)."""
    res = list(splits.values())
    w = [r["n"] for r in res] if weighted else None
    n_steps = len(res[0]["steps"])
    keys = sorted({k for r in res for s in r["steps"] for k in s})
    steps = [{k: _mean([r["steps"][i].get(k) for r in res], w) for k in keys} for i in range(n_steps)]
    out = {"n": sum(r["n"] for r in res), "steps": steps,
           "acc": steps[-1]["acc"] if steps else None,
           "psnr": steps[-1]["psnr"] if steps else None,
           "ssim": steps[-1]["ssim"] if steps else None}
    for k in ("crnn_acc", "crnn_acc_lr_bicubic", "crnn_acc_hr"):
        out[k] = _mean([r[k] for r in res], w)
    out["bicubic"] = {k: _mean([r["bicubic"][k] for r in res], w) for k in ("psnr", "ssim")}
    return out


def _as_model(model: nn.Module | str | os.PathLike | dict) -> nn.Module:
    if isinstance(model, nn.Module):
        return model
    from .models import load_stirer
    return load_stirer(model)


def _as_crnn(crnn: nn.Module | str | os.PathLike | dict | None) -> nn.Module | None:
    if crnn is None or isinstance(crnn, nn.Module):
        return crnn
    from .models import load_crnn
    return load_crnn(crnn)


@torch.no_grad()
def evaluate(model: nn.Module | str | os.PathLike | dict, data_root: str | os.PathLike,
             crnn: nn.Module | str | os.PathLike | dict | None = None, device: str | torch.device | None = None,
             batch_size: int = 64, max_images: int | None = None, progress: bool = True,
             splits: tuple[str, ...] = TEST_SPLITS, with_skimage: bool = False) -> dict:
    """Evaluate STIRER (and a CRNN on its SR images) on ROOT's TextZoom test splits -> results dict.

    data_root: the textzoom folder (holding test/) or the data ROOT (holding textzoom/test).
    max_images: the first N images of each split (record order). with_skimage: also scikit-image's SSIM.
    Returns {"splits": {split: {...}}, "mean_of_splits": {...}, "over_all": {...}, "conventions", "meta"}.
    """
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    root = find_test_dir(data_root)
    missing = [str(root / s) for s in splits if not (root / s / "data.mdb").is_file()]
    if missing:
        raise FileNotFoundError(f"test split LMDBs not found: {missing} (each needs a data.mdb); "
                                "check --data or pass splits=... for a subset")
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available()
                                                                           else "cpu")
    model = _as_model(model).to(device).eval()
    crnn = _as_crnn(crnn)
    if crnn is not None:
        crnn = crnn.to(device).eval()
    t0 = time.time()
    results: dict[str, dict] = {}
    for split in splits:
        loader = split_loader(root / split, batch_size, max_images)
        rec = _SplitRecorder()
        for batch in tqdm(loader, desc=f"eval {split}", disable=not progress, leave=False):
            hr, lr = batch["hr"].to(device), batch["lr"].to(device)
            out = model(lr, generate=True)
            rec.add_batch(list(batch["labels"]), step_outputs(out), hr, lr, crnn, with_skimage)
        results[split] = rec.result(root / split)
    cfg = getattr(model, "config", None)
    return {
        "splits": results,
        "mean_of_splits": summarise(results, weighted=False),
        "over_all": summarise(results, weighted=True),
        "conventions": CONVENTIONS,
        "meta": {"data": str(root), "splits": list(splits), "max_images": max_images, "device": str(device),
                 "batch_size": batch_size, "seconds": round(time.time() - t0, 2), "crnn": crnn is not None,
                 "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None},
    }


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
    m, a = results["mean_of_splits"], results["over_all"]
    lines.append(f"Avg CRNN Acc {_fmt(a['crnn_acc'])}")
    lines.append(f"Final Acc {_fmt(m['acc'])} Final PSNR {_fmt(m['psnr'])} SSIM {_fmt(m['ssim'], digits=4)}")
    lines += ["", "# both averaging conventions (DESIGN.md section 2)"]
    for key, r in (("mean_of_splits", m), ("over_all", a)):
        lines.append(f"# {key:<15} n={r['n']:<5} Acc {_fmt(r['acc'])} PSNR {_fmt(r['psnr'])} "
                     f"SSIM {_fmt(r['ssim'], digits=4)} | CRNN on SR {_fmt(r['crnn_acc'])} "
                     f"on bicubic LR {_fmt(r['crnn_acc_lr_bicubic'])} on HR {_fmt(r['crnn_acc_hr'])} | "
                     f"bicubic PSNR {_fmt(r['bicubic']['psnr'])} SSIM {_fmt(r['bicubic']['ssim'], digits=4)}")
    for key, text in results.get("conventions", CONVENTIONS).items():
        lines.append(f"# {key}: {text}")
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
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(_json_safe(results), indent=1))
    txt_path = json_path.with_suffix(".txt")
    txt_path.write_text(format_official(results))
    return json_path, txt_path


def load_results(json_path: str | os.PathLike) -> dict:
    """Read a results.json written by save_results (FileNotFoundError says how to make one)."""
    p = Path(json_path)
    if not p.is_file():
        raise FileNotFoundError(f"no evaluation results at {p}; run notebook 06 or "
                                "`python -m stirer_lib.evaluate --stirer CKPT --data ROOT --json OUT`")
    return json.loads(p.read_text())


def find_checkpoints(run_dir: str | os.PathLike, ckpt_dir: str | os.PathLike) -> dict[str, Path | None]:
    """Which weights notebook 06 evaluates: {"ours": RUN/finetune/best.pt (else last.pt) or None,
    "release": ckpt/STIRER_Final_Release.pth or None, "crnn": ckpt/crnn.pth (the paper's judge),
    else RUN/crnn/crnn.pt, or None}."""
    run, ck = Path(run_dir), Path(ckpt_dir)
    first = lambda *ps: next((p for p in ps if p.is_file()), None)
    return {"ours": first(run / "finetune" / "best.pt", run / "finetune" / "last.pt"),
            "release": first(ck / "STIRER_Final_Release.pth"),
            "crnn": first(ck / "crnn.pth", run / "crnn" / "crnn.pt")}
