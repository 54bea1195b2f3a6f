"""The README's picture: LR / SR / HR of a few test words and what is read in each, by the shipped cpu reference model.

    .venv/bin/python tools/readme_figure.py [--data ROOT] [--out docs/img/lr_sr_hr.png]

Without --data it generates a small lesson-style test set first (`python -m stirer_lib.data.synth --profile smoke
--style lesson`, 24 words per split, a few seconds) in a temporary folder. The words shown are the first two of each
test split (easy, medium, hard), not chosen by result. The model is reference/cpu/finetune.pt (the cpu course's
fine-tuning of the cpu-open run's stage 1, trained by `make course`, see reference/cpu/results.json), the reader
of the LR and HR images the course's CRNN (reference/cpu/crnn.pt).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stirer_lib.data.lmdb_sets import textzoom_split  # noqa: E402
from stirer_lib.metrics import psnr  # noqa: E402
from stirer_lib.models import load_stirer  # noqa: E402
from stirer_lib.models.crnn import load_crnn  # noqa: E402
from stirer_lib.models.stirer import predictions  # noqa: E402
from stirer_lib.scoring import bicubic_upsample, crnn_read  # noqa: E402
from stirer_lib.text import filter_label  # noqa: E402

SPLITS = ("easy", "medium", "hard")


def make_data(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "stirer_lib.data.synth", "--out", str(out), "--profile", "smoke", "--style", "lesson"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out


def draw(data: Path, out_png: Path, per_split: int = 2) -> Path:
    torch.manual_seed(0)
    model = load_stirer(ROOT / "reference" / "cpu" / "finetune.pt", inference_only=True)
    crnn = load_crnn(ROOT / "reference" / "cpu" / "crnn.pt")
    items = [(split, *textzoom_split(data, split)[i]) for split in SPLITS for i in range(per_split)]
    hr = torch.stack([it[1] for it in items])
    lr = torch.stack([it[2] for it in items])
    labels = [filter_label(it[3]) for it in items]
    with torch.no_grad():
        out = model(lr)
    sr = out.sr.clamp(0, 1)
    stirer_reads = predictions(out)[-1]
    up = bicubic_upsample(lr)
    crnn_lr, crnn_sr, crnn_hr = crnn_read(crnn, up), crnn_read(crnn, sr), crnn_read(crnn, hr)

    def rgb(x: torch.Tensor):
        return x[:3].permute(1, 2, 0).numpy()

    def said(text: str, label: str) -> str:
        return f"'{text or '(nothing)'}' " + ("\u2713" if text == label else "\u2717")

    fig, axes = plt.subplots(len(items), 3, figsize=(7.2, 1.05 * len(items) + 0.2), squeeze=False)
    for i, (split, *_rest) in enumerate(items):
        p_lr, p_sr = psnr(up[i : i + 1], hr[i : i + 1]).item(), psnr(sr[i : i + 1], hr[i : i + 1]).item()
        axes[i, 0].imshow(rgb(up[i]))
        axes[i, 0].set_title(
            f"LR, bicubic x2 ({split}): {p_lr:.1f} dB\nCRNN reads {said(crnn_lr[i], labels[i])}", fontsize=7.5
        )
        axes[i, 1].imshow(rgb(sr[i]))
        axes[i, 1].set_title(
            f"SR (STIRER): {p_sr:.1f} dB\nSTIRER reads {said(stirer_reads[i], labels[i])}, "
            f"CRNN {said(crnn_sr[i], labels[i])}",
            fontsize=7.5,
        )
        axes[i, 2].imshow(rgb(hr[i]))
        axes[i, 2].set_title(f"HR\nlabel '{labels[i]}', CRNN {said(crnn_hr[i], labels[i])}", fontsize=7.5)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout(h_pad=0.6, w_pad=0.4)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    fig.savefig(buf, dpi=90)
    plt.close(fig)
    buf.seek(0)  # a 256-colour palette: the README's picture stays under 150 KB
    Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(out_png, optimize=True)
    return out_png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", help="a data ROOT with textzoom/test/{easy,medium,hard} (default: generate a small one)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "lr_sr_hr.png"))
    a = ap.parse_args(argv)
    if a.data:
        png = draw(Path(a.data), Path(a.out))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            png = draw(make_data(Path(tmp) / "data"), Path(a.out))
    print(f"wrote {png} ({png.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
