"""The synthetic generator, ensure_data and the degradations."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from stirer_lib.course.profiles import SMOKE_SIZES
from stirer_lib.data import TEST_SPLITS, TextZoomDataset, find_lmdbs, pretrain_set, synth, textzoom_split
from stirer_lib.data.camera import SEVERITIES, capture, sample_params
from stirer_lib.data.degradation import (
    bicubic_shrink,
    jpeg,
    motion_blur,
    official_lr,
    poisson_noise,
    random_shrink_factor,
)
from stirer_lib.data.render import render_scene, render_word_natural
from stirer_lib.data.words import sample_label
from stirer_lib.text import filter_label

TINY = {"train1": 6, "train2": 4, "easy": 3, "medium": 3, "hard": 3, "pretrain": 8}


def lmdb_digest(path) -> str:
    """SHA-256 over every (key, value) of an LMDB in key order: equal digests, equal records."""
    import hashlib

    from stirer_lib.data.lmdb_io import check_lmdb_path, shared_env

    h = hashlib.sha256()
    with shared_env(check_lmdb_path(path)).begin(write=False, buffers=False) as txn:
        for key, value in txn.cursor():
            h.update(len(key).to_bytes(4, "little") + key + len(value).to_bytes(8, "little") + value)
    return h.hexdigest()


def digests(root) -> dict[str, str]:
    return {str(p.relative_to(root)): lmdb_digest(p) for p in find_lmdbs(root)}


@pytest.fixture(scope="module")
def smoke_root(tmp_path_factory):
    """The smoke profile's data set, generated in one process."""
    root = tmp_path_factory.mktemp("gen") / "a"
    synth.generate(root, SMOKE_SIZES, seed=0, workers=1, verbose=False)
    return root


def test_generator_layout_and_sizes(smoke_root):
    sizes = SMOKE_SIZES
    for split in ("train1", "train2", *TEST_SPLITS):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # every generated label is usable: no skip warning
            ds = textzoom_split(smoke_root, split, train=False)
        assert len(ds) == sizes[split]
    hr, lr, label = ds[0]
    assert hr.shape == (4, 32, 128) and lr.shape == (4, 16, 64) and label
    pre = pretrain_set(smoke_root, max_len=None)
    assert len(pre) == sizes["pretrain"] and pre[0][0].shape == (4, 32, 128)
    raw = [lab for split in ("train1", "train2") for lab in textzoom_split(smoke_root, split).db.labels(96)]
    raw = [r.decode() for r in raw]
    assert any(r != r.lower() for r in raw) and any(not r.isalnum() for r in raw)  # case + punctuation kept
    assert any(any(c.isdigit() for c in r) for r in raw)


def test_generator_same_seed_same_bytes_any_workers(smoke_root, tmp_path):
    again = tmp_path / "b"
    synth.generate(again, SMOKE_SIZES, seed=0, workers=2, verbose=False)
    assert digests(again) == digests(smoke_root)
    other = tmp_path / "c"
    synth.generate(other, TINY, seed=1, workers=1, verbose=False)
    first = synth.make_pair(0, "easy", 0)
    assert synth.make_pair(1, "easy", 0) != first and synth.make_pair(0, "easy", 0) == first


def test_generator_stats_are_in_the_textzoom_range(smoke_root):
    import json

    info = json.loads((smoke_root / synth.MARKER).read_text())
    for split in TEST_SPLITS:  # loose bounds: 24 images per split; the tuned values are in the report
        assert 15 < info["bicubic"][split]["psnr"] < 28 and 0.4 < info["bicubic"][split]["ssim"] < 0.95
    assert info["bicubic"]["easy"]["psnr"] > info["bicubic"]["medium"]["psnr"]


def test_ensure_data_generates_once(tmp_path, capsys):
    root = tmp_path / "synth" / "smoke"
    assert synth.ensure_data(root, synthetic=True, sizes=TINY, seed=0, workers=1) == root
    assert not list(tmp_path.glob("synth/*.tmp-*"))
    stamp = (root / synth.MARKER).stat().st_mtime_ns
    synth.ensure_data(root, synthetic=True, sizes=TINY, seed=0)
    assert (root / synth.MARKER).stat().st_mtime_ns == stamp  # complete: not regenerated
    assert len(TextZoomDataset(root / "textzoom" / "test" / "hard")) == 3
    bigger = dict(TINY, easy=4)
    synth.ensure_data(root, synthetic=True, sizes=bigger, seed=0, workers=1)  # other sizes: regenerated
    assert len(TextZoomDataset(root / "textzoom" / "test" / "easy")) == 4
    assert "easy" in capsys.readouterr().out  # the PSNR / SSIM table


def test_ensure_data_interrupted_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "write_lmdb", boom)
    root = tmp_path / "synth"
    with pytest.raises(KeyboardInterrupt):
        synth.ensure_data(root, synthetic=True, sizes=TINY, seed=0, workers=1)
    assert not root.exists() and not list(tmp_path.iterdir())


def test_ensure_data_real_missing_explains(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"textzoom/train1.*TextZoom.*MJSynth.*data/README\.md"):
        synth.ensure_data(tmp_path / "data", synthetic=False, sizes=TINY, seed=0)


def test_ensure_data_refuses_foreign_partial_folder(tmp_path):
    (tmp_path / "root" / "textzoom").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="not made by the generator, so it is left alone.*--out"):
        synth.ensure_data(tmp_path / "root", synthetic=True, sizes=TINY, seed=0)
    assert (tmp_path / "root" / "textzoom").is_dir()


def test_a_users_data_is_never_deleted_or_regenerated(tmp_path, capsys):
    """A user's file in a data folder survives another seed (the run seed is not the data seed)."""
    root = tmp_path / "mine"
    synth.ensure_data(root, synthetic=True, sizes=TINY, seed=0, workers=1)
    (root / "my_notes.txt").write_text("keep me")
    stamp = (root / synth.MARKER).stat().st_mtime_ns
    assert synth.ensure_data(root, synthetic=True, sizes=TINY, seed=1, workers=1) == root  # other data seed
    assert (root / "my_notes.txt").read_text() == "keep me" and (root / synth.MARKER).stat().st_mtime_ns == stamp
    assert "--seed 1" in capsys.readouterr().out  # the command that makes a matching set
    (root / "my_notes.txt").unlink()  # now only generated content, but named by the user (--data):
    synth.ensure_data(root, synthetic=True, sizes=TINY, seed=1, workers=1, replace_outdated=False)
    assert (root / synth.MARKER).stat().st_mtime_ns == stamp  # still not regenerated in place
    from stirer_lib.train import main as train_main

    (root / "my_notes.txt").write_text("keep me")
    assert (
        train_main(
            [
                "--stage",
                "pretrain",
                "--profile",
                "smoke",
                "--run-dir",
                str(tmp_path / "run" / "pretrain"),
                "--data",
                str(root),
                "--seed",
                "1",
                "--no-progress",
                "--set",
                "pretrain.max_steps=1",
                "--set",
                "pretrain.batch_size=2",
                "--set",
                "pretrain.eval_every=-1",
            ]
        )
        == 0
    )
    assert (root / "my_notes.txt").read_text() == "keep me" and (root / synth.MARKER).stat().st_mtime_ns == stamp


def test_cli_writes_a_set(tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["--out", str(out), "--profile", "smoke", "--workers", "1"] + [f"--size={k}={v}" for k, v in TINY.items()]
    assert synth.main(args) == 0
    assert (out / synth.MARKER).exists() and "hard" in capsys.readouterr().out
    assert synth.main(["--out", str(out)]) == 2  # exists: one line, exit 2
    assert "exists" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# words, rendering, degradations


def test_labels_filter_to_charset():
    rng = np.random.default_rng(0)
    labels = [sample_label(rng) for _ in range(300)]
    assert all(filter_label(s) for s in labels)
    assert len(set(labels)) > 150


def test_render_shapes():
    rng = np.random.default_rng(0)
    scene = render_scene("Hello!", rng)
    assert scene.shape == (64, 256, 3) and scene.min() >= 0 and scene.max() <= 255
    word = render_word_natural("hello", rng)
    assert word.size[1] == 32 and 16 <= word.size[0] <= 256


@pytest.mark.parametrize("severity", SEVERITIES)
def test_camera_steps(severity):
    rng = np.random.default_rng(1)
    scene = render_scene("camera", rng)
    steps = capture(scene, sample_params(severity, rng), rng)
    assert [n for n, _ in steps][0] == "scene" and steps[-1][1].shape == (16, 64, 3)
    assert all(img.ndim == 3 and img.shape[-1] == 3 for _, img in steps)


def test_harder_severity_is_worse_on_average():
    rng = np.random.default_rng(2)
    scenes = [render_scene(w, rng) for w in ("alpha", "Bravo", "CHARLIE", "delta", "echo42", "Fox")]
    from stirer_lib.data.camera import degrade
    from stirer_lib.data.quality import bicubic_baseline
    from stirer_lib.data.render import to_hr
    from stirer_lib.data.transforms import hr_tensor, lr_tensor

    hr = torch.stack([hr_tensor(to_hr(s)) for s in scenes])
    score = {}
    for sev in ("easy", "hard"):
        lr = torch.stack([lr_tensor(degrade(s, sample_params(sev, rng), rng)) for s in scenes])
        score[sev] = bicubic_baseline(hr, lr)[1].mean().item()
    assert score["easy"] > score["hard"]


def test_official_degradation_ops():
    rng = np.random.default_rng(0)
    img = Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 100, 3), dtype=np.uint8))
    assert motion_blur(img, 7, 30.0, 0.5).size == img.size
    assert poisson_noise(img, 21, rng).size == img.size and jpeg(img, 50).size == img.size
    assert bicubic_shrink(img, 3).size == (33, 10)
    assert random_shrink_factor(Image.new("RGB", (20, 10)), rng) == 1
    assert {random_shrink_factor(Image.new("RGB", (64, 16)), rng) for _ in range(200)} == {1, 2, 3}
    assert {random_shrink_factor(img, rng) for _ in range(200)} == {1, 2, 3, 4}
    sizes = {official_lr(img, rng).size for _ in range(100)}
    assert sizes == {(100, 32), (50, 16), (33, 10), (25, 8)}


def test_lesson_style_draws_frequent_words_in_plain_fonts(monkeypatch):
    from stirer_lib.data import fonts, render
    from stirer_lib.data.style import STYLES, get_style
    from stirer_lib.data.words import vocabulary

    lesson = get_style("lesson")
    common = {w.lower() for w in vocabulary()[: lesson.vocab_size]}
    labels = [filter_label(synth.make_pair(0, "train1", i, "lesson")["label"].decode()) for i in range(60)]
    in_vocab = sum(lab in common for lab in labels)
    assert in_vocab >= 50, labels  # the rest are codes (p_code = 5 %)
    used = []
    monkeypatch.setattr(render, "load_font", lambda path, *a: used.append(path) or fonts.load_font(path, *a))
    for i in range(30):
        synth.make_word(0, "pretrain", i, "lesson")
    assert used and {p.rsplit("/", 1)[-1] for p in used} <= set(fonts.PLAIN_FONTS)
    assert synth.make_pair(0, "easy", 0, "lesson") != synth.make_pair(0, "easy", 0, "full")
    assert set(STYLES) == {"full", "lesson", "open", "rare"}
    with pytest.raises(ValueError, match="unknown synthetic style 'fancy'.*full, lesson"):
        get_style("fancy")


def test_ensure_data_regenerates_on_another_style(tmp_path):
    import json

    import lmdb

    def first_hr(root):  # a fresh environment (shared_env caches one per path)
        env = lmdb.open(str(root / "textzoom" / "test" / "easy"), readonly=True, lock=False)
        with env.begin() as txn:
            val = txn.get(b"image_hr-000000001")
        env.close()
        return val

    root = tmp_path / "synth"
    synth.ensure_data(root, synthetic=True, sizes=TINY, seed=0, workers=1, style="full")
    full = first_hr(root)
    synth.ensure_data(root, synthetic=True, sizes=TINY, seed=0, workers=1, style="lesson")
    assert json.loads((root / synth.MARKER).read_text())["style"]["name"] == "lesson"
    assert first_hr(root) == synth.make_pair(0, "easy", 0, "lesson")["image_hr"] != full


# ---------------------------------------------------------------------------------------------
# the ceiling: a perfect restoration cannot undo the capture's misalignment and exposure (issue 12)


def _hr_image(word: str = "ceiling", seed: int = 3):
    from stirer_lib.data.render import to_hr

    return to_hr(render_scene(word, np.random.default_rng(seed)))


def test_misalign_only_identity_and_shift():
    from stirer_lib.data.camera import CameraParams, misalign_only
    from stirer_lib.data.quality import ceiling_quality, mean_quality

    hr = _hr_image()
    assert np.array_equal(np.asarray(misalign_only(hr, CameraParams())), np.asarray(hr))
    shifts = [CameraParams(), CameraParams(shift=(0.5, 0.0)), CameraParams(shift=(1.5, 0.0))]
    p, s = ceiling_quality([hr] * 3, shifts)
    assert torch.isinf(p[0]) and s[0] == pytest.approx(1.0, abs=1e-5)
    assert 10 < p[2] < p[1] < 60 and s[2] < s[1] < 1  # a larger shift costs more
    dark = ceiling_quality([hr], [CameraParams(brightness=-20.0)])[0]
    assert dark[0] < 30  # a 20-level exposure change alone caps PSNR below 30 dB
    assert mean_quality(p, s)["psnr"] == pytest.approx(float(p[1:].mean())) and mean_quality(p, s)["n"] == 3


def test_ceiling_is_stored_and_printed_per_split(smoke_root, tmp_path, capsys):
    import json

    info = json.loads((smoke_root / synth.MARKER).read_text())
    assert info["format_version"] == synth.FORMAT_VERSION
    table = synth.quality_table({k: info[k] for k in ("bicubic", "ceiling")})
    for split in TEST_SPLITS:
        c, b = info["ceiling"][split], info["bicubic"][split]
        assert c["n"] == b["n"] == SMOKE_SIZES[split]
        assert b["psnr"] < c["psnr"] < 60 and b["ssim"] < c["ssim"] <= 1
        row = next(line for line in table.splitlines() if line.startswith(split))
        assert f"{c['psnr']:.2f}" in row and f"{c['ssim']:.4f}" in row and f"{b['psnr']:.2f}" in row
    synth.generate(tmp_path / "v", TINY, seed=0, workers=1, verbose=True)
    out = capsys.readouterr().out
    assert "ceiling PSNR" in out and all(f"\n{s} " in out for s in TEST_SPLITS)


def test_retuned_camera_keeps_shifts_small_and_the_ceiling_high():
    from stirer_lib.data.camera import RANGES
    from stirer_lib.data.quality import ceiling_quality, mean_quality
    from stirer_lib.data.transforms import decode_image

    assert max(RANGES[sev]["shift"][1] for sev in SEVERITIES) <= 0.8  # was 1.2-2.0 px on medium
    for split in TEST_SPLITS:  # 48 records per split (the measured 300 are in the report)
        pairs = [synth.capture_pair(0, split, i, "lesson") for i in range(48)]
        lo, hi = RANGES[split]["shift"]
        mags = [float(np.hypot(*p.shift)) for _, p in pairs]
        assert lo - 1e-9 <= min(mags) and max(mags) <= hi + 1e-9
        hr = [decode_image(r["image_hr"]) for r, _ in pairs]
        ceiling = mean_quality(*ceiling_quality(hr, [p for _, p in pairs]))["psnr"]
        assert ceiling >= synth.RELEASE_PSNR[split] + 1.0, (split, ceiling)
    assert synth.capture_pair(0, "easy", 0)[0] == synth.make_pair(0, "easy", 0)


def test_an_interrupted_generations_leftover_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f"root.tmp-{int(dead.stdout)}"
    (left / "textzoom").mkdir(parents=True)
    other = tmp_path / "root.tmp-notapid"
    other.mkdir()
    assert synth.remove_stale_generations(tmp_path / "root") == [left]
    assert not left.exists() and other.exists()


def test_test_splits_keep_the_course_camera_and_training_splits_use_the_wide_one():
    from stirer_lib.data.camera import CAMERAS

    assert CAMERAS == ("course", "wide", "heldout")
    rng = np.random.default_rng(5)
    widened = [sample_params("medium", np.random.default_rng(i), "wide") for i in range(40)]
    assert {p.kernel for p in widened} == {"gaussian", "disk"}  # half the captures vary the optics
    assert {p.sampling for p in widened} > {"box"} and {p.codec for p in widened} == {"jpeg"}
    assert all(p.rotation == 0 and p.shot_noise == 0 for p in widened)  # never what the held-out camera uses
    course = sample_params("medium", np.random.default_rng(3))
    assert (course.kernel, course.sampling, course.codec) == ("gaussian", "box", "jpeg")
    held = sample_params("hard", rng, "heldout")
    assert held.kernel == "motion" and held.sampling in ("lanczos", "hamming") and held.codec == "webp"
    assert held.noise == 0 and held.shot_noise > 0 and held.rotation != 0
    with pytest.raises(ValueError, match="unknown camera"):
        sample_params("easy", rng, "phone")


@pytest.mark.parametrize("camera", ["wide", "heldout"])
def test_every_camera_captures_a_16x64_image(camera):
    rng = np.random.default_rng(7)
    scene = render_scene("optics", rng)
    for seed in range(6):
        p = sample_params("medium", np.random.default_rng(seed), camera)
        steps = capture(scene, p, rng)
        assert steps[-1][1].shape == (16, 64, 3) and np.isfinite(steps[-1][1]).all()


def test_a_heldout_set_differs_from_the_course_set_only_in_its_test_camera(tmp_path):
    a, b = tmp_path / "course", tmp_path / "held"
    synth.generate(a, TINY, seed=0, workers=1, verbose=False)
    info = synth.generate(b, TINY, seed=0, workers=1, verbose=False, test_camera="heldout")
    assert info["test_camera"] == "heldout" and synth.is_complete(b, TINY, 0, test_camera="heldout")
    assert not synth.is_complete(b, TINY, 0)  # a course-camera profile does not take it for its own
    da, db = digests(a), digests(b)
    assert da["textzoom/train1"] == db["textzoom/train1"] and da["pretrain/synth"] == db["pretrain/synth"]
    assert all(da[f"textzoom/test/{s}"] != db[f"textzoom/test/{s}"] for s in TEST_SPLITS)


def test_the_open_style_draws_strings_no_dictionary_holds_and_rare_only_unseen_words():
    from stirer_lib.data.style import ADDED_FIELDS, get_style
    from stirer_lib.data.words import vocabulary

    # the older styles' synth.json entries do not change (their sets stay valid), the new ones store their fields
    assert not set(ADDED_FIELDS) & (set(get_style("full").as_dict()) | set(get_style("lesson").as_dict()))
    assert get_style("open").as_dict()["p_random"] == 0.3 and get_style("rare").as_dict()["min_rank"] == 30000
    known = {w.lower() for w in vocabulary()}
    labels = [filter_label(synth.make_word(0, "pretrain", i, "open")["label"].decode()) for i in range(120)]
    unknown = [lab for lab in labels if lab not in known and not lab.isdigit()]
    assert 15 <= len(unknown) <= 70, labels  # about 30 % random strings (and some codes)
    assert labels == [filter_label(synth.make_word(0, "pretrain", i, "open")["label"].decode()) for i in range(120)]
    rare = [filter_label(synth.make_pair(0, "easy", i, "rare")["label"].decode()) for i in range(60)]
    assert rare and not set(rare) & known, set(rare) & known  # ranks 30,000-60,000: no word of the other styles


def test_slanted_and_thin_glyphs():
    from stirer_lib.data.render import text_mask

    plain = text_mask("Hello", np.random.default_rng(1), 0.0, 0.0, "plain")
    slanted = text_mask("Hello", np.random.default_rng(1), 0.0, 0.0, "plain", p_slant=1.0)
    assert slanted.size != plain.size  # sheared: the box grows or shrinks in width, never the same glyphs
    ink = lambda im: np.asarray(im, dtype=float).sum()  # noqa: E731
    thin = [text_mask("Hello", np.random.default_rng(s), 0.0, 0.0, "plain", p_thin=1.0) for s in range(6)]
    base = [text_mask("Hello", np.random.default_rng(s), 0.0, 0.0, "plain") for s in range(6)]
    assert sum(ink(t) < ink(b) for t, b in zip(thin, base)) >= 3  # eroded unless the bold stroke was drawn
