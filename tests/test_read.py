"""stirer_lib.read: any word image (mode, size, format) read as the data pipeline reads it; bad files skipped."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from stirer_lib.data.transforms import decode_image, lr_tensor
from stirer_lib.models import CRNN, build_stirer, config_from_name, load_stirer, predictions, save_checkpoint
from stirer_lib.read import comparison_image, main, read_images, view_size

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]


def word(size: tuple[int, int] = (120, 40), text: str = "cafe") -> Image.Image:
    """A dark word on a light background (RGB)."""
    im = Image.new("RGB", size, (235, 230, 220))
    ImageDraw.Draw(im).text((size[0] // 8, size[1] // 3), text, fill=(20, 20, 40))
    return im


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    """A random-weights small STIRER (with mini decoders) in our checkpoint format."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    save_checkpoint(build_stirer(config_from_name("small")), path)
    return path


@pytest.fixture(scope="module")
def model(ckpt):
    """The inference-only build of the small checkpoint."""
    return load_stirer(ckpt, inference_only=True)


@pytest.fixture(scope="module")
def full_model(ckpt):
    """The small checkpoint with its mini decoders."""
    return load_stirer(ckpt)


@pytest.fixture()
def mixed_dir(tmp_path) -> Path:
    """Two good images, a text file named .png, an empty file and a truncated PNG."""
    d = tmp_path / "crops"
    d.mkdir()
    word().save(d / "a_good.png")
    word((90, 30), "tea").save(d / "b_good.jpg")
    (d / "c_text.png").write_text("not an image")
    (d / "d_empty.png").write_bytes(b"")
    buf = (d / "a_good.png").read_bytes()
    (d / "e_trunc.png").write_bytes(buf[: len(buf) // 2])
    (d / "notes.txt").write_text("ignored: not an image extension")
    return d


def zero_png() -> bytes:
    """A PNG whose header says 0 x 0 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        """One PNG chunk: length, type, data, CRC."""
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_any_mode_and_size(tmp_path, model):
    """RGBA, LA, L, 1, P (+ transparency), CMYK, 16-bit, tiny and large images of several formats all read."""
    base = word()
    files = {
        "rgba.png": base.convert("RGBA"),
        "la.png": base.convert("LA"),
        "gray.jpg": base.convert("L"),
        "bilevel.bmp": base.convert("1"),
        "pal.gif": base.convert("P"),
        "cmyk.jpg": base.convert("CMYK"),
        "tiny.png": word((3, 1)),
        "large.tiff": word((2400, 600)),
        "web.webp": base,
        "deep.png": Image.fromarray(np.asarray(base.convert("L"), np.uint16) * 257),
    }
    pal = base.convert("P")
    pal.info["transparency"] = 0
    files["pal_t.png"] = pal
    for name, im in files.items():
        im.save(tmp_path / name)
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    results = read_images(model, sorted(tmp_path.iterdir()), batch_size=4)
    assert [Path(r.source).name for r in results] == sorted(files)
    for r in results:
        assert r.error is None, (r.source, r.error)
        assert r.sr.shape == (4, 32, 128) and r.lr.shape == (4, 16, 64)
        assert isinstance(r.text, str) and r.steps[-1] == r.text
    by = {Path(r.source).name: r for r in results}
    assert by["tiny.png"].size == (3, 1) and by["large.tiff"].size == (2400, 600)
    assert by["cmyk.jpg"].mode == "CMYK"


def test_16bit_gray_is_scaled_not_clipped(tmp_path, model):
    """A 16-bit gray word reads like its 8-bit version (PIL's plain convert would make it all white)."""
    gray = word().convert("L")
    Image.fromarray(np.asarray(gray, np.uint16) * 257).save(tmp_path / "deep.png")
    gray.save(tmp_path / "gray.png")
    deep, eight = read_images(model, [tmp_path / "deep.png", tmp_path / "gray.png"])
    assert torch.allclose(deep.lr, eight.lr, atol=1 / 255)


def test_transparency_on_white(model):
    """Black text on a transparent (black, alpha 0) background reads as black on white."""
    im = Image.new("RGBA", (120, 40), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((10, 12), "tea", fill=(0, 0, 0, 255))
    (r,) = read_images(model, im)
    assert r.lr[:3].mean() > 0.8
    assert 0 < r.lr[3].mean() < 0.5  # the mask marks the (dark) text, not the background


def test_same_as_data_pipeline(tmp_path, model, full_model):
    """A file's reading equals the model run on the data pipeline's tensor (decode_image + lr_tensor)."""
    path = tmp_path / "word.png"
    word((173, 47), "coffee").save(path)
    lr = lr_tensor(decode_image(path.read_bytes()))
    for m in (model, full_model):
        with torch.no_grad():
            out = m(lr[None])
        others = [word((60, 20), "x"), word((300, 90), "yz")]
        r = read_images(m, [others[0], path, others[1]], batch_size=3)[1]
        assert torch.equal(r.lr, lr)
        assert torch.allclose(r.sr, out.sr[0], atol=1e-5)
        assert r.steps == [s[0] for s in predictions(out)]
        assert r.text == predictions(out)[-1][0]


def test_library_inputs(tmp_path, model):
    """PIL images, paths, str paths, bytes and a folder; a single input; 0 x 0 and bad inputs give errors."""
    word().save(tmp_path / "w.png")
    model.train()
    results = read_images(
        model,
        [
            word(),
            tmp_path / "w.png",
            str(tmp_path / "w.png"),
            (tmp_path / "w.png").read_bytes(),
            Image.new("RGB", (0, 0)),
            zero_png(),
            tmp_path / "missing.png",
        ],
    )
    assert model.training, "the model's mode is restored"
    assert [r.ok for r in results] == [True, True, True, True, False, False, False]
    assert results[1].text == results[2].text == results[3].text
    assert "0 x 0" in results[4].error and "not an image" in results[5].error
    assert "no such file" in results[6].error
    (one,) = read_images(model, word())
    assert one.sr_image().size == (128, 32) and one.lr_image().size == (64, 16)
    assert [r.source for r in read_images(model, tmp_path)] == [str(tmp_path / "w.png")]
    with pytest.raises(TypeError):
        read_images(model, [123])


def test_recursive(tmp_path, model):
    """Folders are read non-recursively unless recursive=True; a folder without images is one error."""
    (tmp_path / "sub").mkdir()
    word().save(tmp_path / "top.png")
    word().save(tmp_path / "sub" / "inner.png")
    assert [Path(r.source).name for r in read_images(model, tmp_path)] == ["top.png"]
    assert [Path(r.source).name for r in read_images(model, tmp_path, recursive=True)] == ["inner.png", "top.png"]
    (lean,) = read_images(model, tmp_path / "sub", keep_images=False)
    assert lean.ok and lean.sr is None and lean.lr is None
    empty = tmp_path / "empty"
    empty.mkdir()
    (res,) = read_images(model, empty)
    assert not res.ok and "without image files" in res.error


def test_cli_bad_files_one_line_each(mixed_dir, tmp_path, ckpt, capsys):
    """Each bad file and an empty folder: one stderr line; the good images are read; exit code 0."""
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    rc = main(["--stirer", str(ckpt), str(mixed_dir), str(empty), str(tmp_path / "nope.png"), "--device", "cpu"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert [line.split(": ")[0] for line in out.splitlines()] == [
        str(mixed_dir / "a_good.png"),
        str(mixed_dir / "b_good.jpg"),
    ]
    skipped = [line for line in err.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == len(err.splitlines()) == 5, err
    for name, why in (
        ("c_text.png", "not an image"),
        ("d_empty.png", "empty file"),
        ("e_trunc.png", "truncated"),
        ("empty_dir", "without image files"),
        ("nope.png", "no such file"),
    ):
        assert any(name in line and why in line for line in skipped), (name, err)


def test_cli_nothing_readable_exit_2(mixed_dir, ckpt, capsys):
    """Only bad files: one line each, then exit code 2."""
    bad = [str(mixed_dir / n) for n in ("c_text.png", "d_empty.png", "e_trunc.png")]
    assert main(["--stirer", str(ckpt), *bad, "--device", "cpu"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 4 and "Traceback" not in err


def test_cli_bad_checkpoints(tmp_path, ckpt, capsys):
    """Missing --stirer, a file that is no checkpoint, a CRNN as --stirer, bad --batch-size: one line, exit 2."""
    word().save(tmp_path / "w.png")
    (tmp_path / "text.pt").write_text("hello")
    (tmp_path / "notes.pt").write_text("this is not a checkpoint\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    torch.save(CRNN().state_dict(), tmp_path / "crnn.pt")
    cases = [
        (["--stirer", str(tmp_path / "missing.pt")], "no such file"),
        (["--stirer", str(tmp_path / "text.pt")], "--stirer"),
        (["--stirer", str(tmp_path / "notes.pt")], "--stirer"),
        (["--stirer", str(tmp_path / "empty.pt")], "--stirer"),
        (["--stirer", str(tmp_path / "crnn.pt")], "--stirer"),
        (["--stirer", str(ckpt), "--crnn", str(tmp_path / "text.pt")], "--crnn"),
        (["--stirer", str(ckpt), "--batch-size", "0"], "--batch-size"),
    ]
    for args, needle in cases:
        assert main([*args, str(tmp_path / "w.png"), "--device", "cpu"]) == 2, args
        out, err = capsys.readouterr()
        assert out == "" and len(err.splitlines()) == 1 and err.startswith("error: "), (args, err)
        assert needle in err and "Traceback" not in err, (args, err)


def test_cli_out_and_json(mixed_dir, tmp_path, ckpt, capsys):
    """--out: one viewable PNG per read image, never replacing a file unless --overwrite; --json parses."""
    out_dir, js = tmp_path / "views", tmp_path / "res" / "r.json"
    args = ["--stirer", str(ckpt), str(mixed_dir), "--device", "cpu", "--out", str(out_dir), "--json", str(js)]
    assert main(args) == 0
    pngs = sorted(p.name for p in out_dir.iterdir())
    assert pngs == ["a_good_sr.png", "b_good_sr.png"]
    for name in pngs:
        with Image.open(out_dir / name) as im:
            assert im.size == view_size() and im.mode == "RGB"
    data = json.loads(js.read_text())
    assert data["meta"]["read"] == 2 and data["meta"]["skipped"] == 3
    assert [r["error"] is None for r in data["results"]] == [True, True, False, False, False]
    assert data["results"][0]["out"] == str(out_dir / "a_good_sr.png")
    assert not [p for p in js.parent.iterdir() if p.name != "r.json"], "no temporary file left"
    capsys.readouterr()
    before = (out_dir / "a_good_sr.png").stat().st_mtime_ns
    assert main(args) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out_dir / "a_good_sr.png").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0
    assert main(["--stirer", str(ckpt), str(mixed_dir), "--device", "cpu", "--out", str(mixed_dir)]) == 2


def test_out_names_unique_within_run(tmp_path, ckpt, capsys):
    """Two inputs with the same stem get two pictures."""
    (tmp_path / "a").mkdir()
    word().save(tmp_path / "w.png")
    word().save(tmp_path / "a" / "w.jpg")
    assert (
        main(
            [
                "--stirer",
                str(ckpt),
                str(tmp_path / "w.png"),
                str(tmp_path / "a"),
                "--device",
                "cpu",
                "--out",
                str(tmp_path / "v"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["w_sr-2.png", "w_sr.png"]


def test_cli_verbose_steps_and_crnn(tmp_path, ckpt, capsys):
    """--verbose --full-model prints each step (3 mini decoders + the final); --crnn adds its reading of SR."""
    word().save(tmp_path / "w.png")
    crnn_path = tmp_path / "crnn.pt"
    torch.save({"model": CRNN().state_dict()}, crnn_path)
    js = tmp_path / "r.json"
    assert (
        main(
            [
                "--stirer",
                str(ckpt),
                str(tmp_path / "w.png"),
                "--device",
                "cpu",
                "--verbose",
                "--full-model",
                "--crnn",
                str(crnn_path),
                "--json",
                str(js),
            ]
        )
        == 0
    )
    out, _ = capsys.readouterr()
    (line,) = out.splitlines()
    assert "steps: " in line and len(line.split("steps: ")[1].split("  CRNN")[0].split(" | ")) == 4
    assert "CRNN(SR): " in line
    res = json.loads(js.read_text())["results"][0]
    assert len(res["steps"]) == 4 and isinstance(res["crnn_text"], str)
    assert main(["--stirer", str(ckpt), str(tmp_path / "w.png"), "--device", "cpu", "--verbose"]) == 0
    out, err = capsys.readouterr()
    assert "steps:" not in out and "--full-model" in err


def test_cli_official_release_layout(tmp_path, load_fixture, capsys):
    """The release's plain state_dict (official layout): the 4.03 M build by default, 4 steps with --full-model."""
    torch.save(load_fixture("official_stirer_seed0.pt")["state_dict"], tmp_path / "release.pth")
    word().save(tmp_path / "w.png")
    js = tmp_path / "r.json"
    base = ["--stirer", str(tmp_path / "release.pth"), str(tmp_path / "w.png"), "--device", "cpu", "--json", str(js)]
    assert main(base) == 0
    meta = json.loads(js.read_text())["meta"]
    assert meta["config"]["embed_dim"] == 48 and meta["full_model"] is False
    assert len(json.loads(js.read_text())["results"][0]["steps"]) == 1
    assert main([*base, "--full-model"]) == 0
    assert len(json.loads(js.read_text())["results"][0]["steps"]) == 4
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_comparison_image_layout():
    """LR bicubic over SR, x4 nearest: the top half is the upsampled LR."""
    lr = torch.zeros(4, 16, 64)
    sr = torch.ones(4, 32, 128)
    im = comparison_image(lr, sr, "abc")
    assert im.size == view_size()
    a = np.asarray(im)
    assert a[:128].max() == 0 and a[136:264].min() == 255


def test_module_entry_point(tmp_path):
    """`python -m stirer_lib.read` with a file that is no checkpoint: one line, exit 2, no traceback."""
    (tmp_path / "x.pt").write_text("hello")
    word().save(tmp_path / "w.png")
    proc = subprocess.run(
        [sys.executable, "-m", "stirer_lib.read", "--stirer", str(tmp_path / "x.pt"), str(tmp_path / "w.png")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
