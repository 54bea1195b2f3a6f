"""Notebook 06's "what this run shows" box, the scaling lesson and the field table (viz/claims, scaling, field)."""

from __future__ import annotations

import json

import matplotlib
import pytest

matplotlib.use("Agg")

from stirer_lib.viz.claims import claims_box, paper_claims  # noqa: E402
from stirer_lib.viz.field import FIELD, field_rows, stirer_sr_rank  # noqa: E402
from stirer_lib.viz.scaling import RELEASE_IMAGES, run_curve, scaling_figure, scaling_sentences, stage_points  # noqa: E402


def averaged(final, minis, crnn_sr, crnn_lr, psnr, bic_psnr, ssim=0.70, bic_ssim=0.69):
    steps = [{"acc": a, "psnr": psnr, "ssim": ssim} for a in minis] + [{"acc": final, "psnr": psnr, "ssim": ssim}]
    return {
        "n": 300,
        "acc": final,
        "psnr": psnr,
        "ssim": ssim,
        "crnn_acc": crnn_sr,
        "crnn_acc_lr_bicubic": crnn_lr,
        "crnn_acc_hr": 80.0,
        "bicubic": {"psnr": bic_psnr, "ssim": bic_ssim},
        "steps": steps,
    }


def results_of(final, minis, crnn_sr, crnn_lr, split_gains):
    splits = {}
    for s, g in split_gains.items():  # a split's results keep the SR numbers per step only, as evaluation writes them
        split = averaged(final, minis, crnn_sr, crnn_lr, 20.0 + g, 20.0)
        splits[s] = {k: v for k, v in split.items() if k not in ("acc", "psnr", "ssim")}
    mean = sum(split_gains.values()) / len(split_gains)
    return {"splits": splits, "mean_of_splits": averaged(final, minis, crnn_sr, crnn_lr, 20.0 + mean, 20.0)}


def test_the_box_says_which_claims_a_run_shows_from_its_numbers():
    cpu_like = results_of(23.2, [5.0, 5.4, 3.2], 41.9, 14.6, {"easy": 0.6, "medium": 0.7, "hard": 0.7})
    claims = {c.claim: c for c in paper_claims(cpu_like)}
    reader = claims["STIRER's own reader beats a CRNN reading its SR images"]
    assert reader.shown is False and reader.verdict == "fails" and "mean 23.2 vs 41.9 %" in reader.here
    assert claims["the final decoder reads best of all steps"].shown
    assert claims["the CRNN reads STIRER's SR images better than bicubic LR"].verdict == "holds"
    text = claims_box(list(claims.values()), run="this run")
    assert "| **fails** |" in text and "does not show everywhere: STIRER's own reader beats" in text
    paperlike = results_of(74.0, [60.0, 65.0, 66.0], 38.0, 27.0, {"easy": 2.0, "medium": 1.5, "hard": 1.0})
    assert all(c.shown for c in paper_claims(paperlike))
    assert "shows every claim above on every split" in claims_box(paper_claims(paperlike))


def test_a_claim_is_checked_per_split_and_on_every_test_set():
    res = results_of(60.0, [30.0], 40.0, 20.0, {"easy": -0.1, "medium": 0.5, "hard": 0.4})
    res["splits"]["easy"]["steps"][0]["acc"] = 70.0  # on easy a mini decoder reads more than the final decoder
    held = results_of(10.0, [5.0], 20.0, 10.0, {"easy": -0.5, "medium": -0.2, "hard": -0.3})
    claims = {(c.claim, c.test_set): c for c in paper_claims(res, heldout=held)}
    sr = claims["SR beats bicubic interpolation (PSNR)", "the course's test splits"]
    assert sr.verdict == "holds on 3 of 4" and "easy -0.10 dB" in sr.here and not sr.shown
    best = claims["the final decoder reads best of all steps", "the course's test splits"]
    assert best.verdict == "holds on 3 of 4" and "easy 60.0 vs best mini 70.0 %" in best.here
    assert claims["SR beats bicubic interpolation (PSNR)", "held-out camera"].verdict == "fails"
    assert claims["the final decoder reads best of all steps", "held-out camera"].verdict == "holds"
    assert "on the held-out camera (fails" in claims_box(list(claims.values()))


def write_log(path, batch, evals, last_step):
    lines = [{"kind": "start", "step": 0, "batch_size": batch, "world": 1}]
    for step, acc, psnr in evals:
        lines.append(
            {"kind": "eval", "step": step, "mean_of_splits": {"acc": acc, "psnr": psnr, "bicubic": {"psnr": 20.0}}}
        )
    lines.append({"kind": "train", "step": last_step})
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")


def test_scaling_points_count_images_and_start_fine_tuning_after_pretraining(tmp_path):
    write_log(tmp_path / "pre.jsonl", 8, [(100, 1.0, 20.2), (200, 5.0, 20.4)], 250)
    write_log(tmp_path / "fine.jsonl", 4, [(50, 20.0, 20.8)], 50)
    points, end = stage_points(tmp_path / "pre.jsonl")
    assert points[0][0] == 800 and end == 2000
    curve = run_curve("run", tmp_path / "pre.jsonl", tmp_path / "fine.jsonl")
    assert curve.images == [800, 1600, 2200] and curve.finetune_from == 2000
    assert curve.acc[-1] == 20.0 and curve.gain[-1] == pytest.approx(0.8)
    other = run_curve("from another pretraining", None, tmp_path / "fine.jsonl", finetune_offset=10_000)
    assert other.images == [10_200]
    text = scaling_sentences([curve, other])
    assert "run saw 2,200 training images: its final decoder reads 20.0 %" in text
    assert f"{RELEASE_IMAGES / 10_200:,.0f} times the images of from another pretraining" in text
    fig = scaling_figure([curve, other])
    assert len(fig.axes) == 2 and fig.axes[0].get_xscale() == "log"


def test_a_segment_on_another_data_style_counts_its_images_but_draws_no_point(tmp_path):
    """A stage trained in segments, the last on another style (joined by continued_log with style=...): on a curve
    of the first style its evaluations, which read other test words, are left out; its images still count."""
    from stirer_lib.course.reference import continued_log

    write_log(tmp_path / "seg1.jsonl", 8, [(100, 40.0, 20.5)], 100)
    write_log(tmp_path / "seg2.jsonl", 8, [(0, 30.0, 20.4), (50, 35.0, 20.6)], 50)
    joined = continued_log(tmp_path / "seg1.jsonl", tmp_path / "seg2.jsonl", tmp_path / "joined.jsonl", style="open")
    starts = [json.loads(line) for line in joined.read_text().splitlines() if '"start"' in line]
    assert starts[1]["continues"] == 100 and starts[1]["data_style"] == "open" and "data_style" not in starts[0]
    points, end = stage_points(joined, style="full")
    assert [p[:2] for p in points] == [(800, 40.0)] and end == 1200
    assert [p[1] for p in stage_points(joined)[0]] == [40.0, 30.0, 35.0]  # no style asked: every evaluation
    assert [p[1] for p in stage_points(joined, style="open")[0]] == [40.0, 30.0, 35.0]  # unmarked: assumed alike


def test_the_shipped_references_logs_draw_a_scaling_curve():
    from stirer_lib.course.reference import reference_dir

    ref = reference_dir("cpu")
    curve = run_curve("cpu reference", ref / "pretrain_metrics.jsonl", ref / "finetune_metrics.jsonl")
    assert len(curve.images) >= 2 and curve.images == sorted(curve.images) and curve.finetune_from


def test_the_field_table_keeps_the_recogniser_and_source_of_every_row():
    rows, headers = field_rows()
    assert headers[:2] == ["method", "read by"] and len(rows) == len(FIELD)
    assert all(r.source and r.checked in ("read", "secondary", "paper") for r in FIELD)
    for r in FIELD:  # every average agrees with its splits, weighted by TextZoom's test sizes
        weighted = (1619 * r.easy + 1411 * r.medium + 1343 * r.hard) / 4373
        assert abs(weighted - r.average) < 0.15, r
    assert {r.method for r in FIELD} >= {"TSRN", "TATT", "C3-STISR", "LEMMA", "PEAN", "STIRER"}
    crnn_rows, _ = field_rows("CRNN")
    assert all(r[1].startswith("CRNN") or r[0] == "STIRER" for r in crnn_rows)
    assert stirer_sr_rank("CRNN").startswith("read by CRNN, STIRER's SR images (38.1 %) rank below")


def test_duration_words_quote_the_shipped_files(monkeypatch, tmp_path):
    """Notebook 06 quotes how long a reference run trained from its files: the stages' logs, the CRNN's notebook
    minutes, the notebooks' total (left out for a resumed run, whose notebook minutes say nothing)."""
    from stirer_lib.course import reference

    ref_dir = tmp_path / "reference" / "toy"
    ref_dir.mkdir(parents=True)
    for part in reference.PARTS.values():
        (ref_dir / part).write_bytes(b"")
    log = [
        {"kind": "start", "step": 0},
        {"kind": "train", "step": 10, "time_s": 120.0},
        {"kind": "start", "step": 10},
        {"kind": "train", "step": 20, "time_s": 60.0},
    ]
    for name in reference.METRICS.values():
        (ref_dir / name).write_text("".join(json.dumps(r) + "\n" for r in log))
    results = {
        "provenance": {"command": "python -m stirer_lib.course --profile toy", "machine": "2 CPUs (x86_64), no GPU"},
        "minutes": {reference.NOTEBOOK_OF["crnn"]: 9.39},
        "total_minutes": 25.74,
    }
    (ref_dir / reference.RESULTS).write_text(json.dumps(results))
    monkeypatch.setattr(reference, "reference_dir", lambda profile: tmp_path / "reference" / profile)
    words = reference.duration_words("toy")
    assert words.startswith("trained on 2 CPUs (") and words.endswith(")")
    assert "the CRNN: this notebook took 9.4 minutes" in words
    assert words.count("training took 3.0 minutes") == 2  # 120 s + 60 s after the resume
    assert words.endswith("the six notebooks ran 25.7 minutes in all)")
    results["provenance"]["command"] += " --resume"
    (ref_dir / reference.RESULTS).write_text(json.dumps(results))
    resumed = reference.duration_words("toy")
    assert "CRNN" not in resumed and "in all" not in resumed and resumed.count("training took 3.0 minutes") == 2
    assert reference.duration_words("absent") is None
