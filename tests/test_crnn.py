"""CRNN (crnn.pytorch layout): fixture equivalence, strict loading, gray / RGB / RGB+mask input."""

from __future__ import annotations

import pytest
import torch

from stirer_lib.models.crnn import CRNN, load_crnn, to_gray


@pytest.fixture(scope="module")
def crnn_fixture(load_fixture):
    return load_fixture("official_crnn_seed0.pt")


@pytest.fixture(scope="module")
def official_crnn(crnn_fixture, device):
    return load_crnn(crnn_fixture["state_dict"]).to(device)


def test_layout_matches_official_keys(fixtures_dir):
    import json

    spec = json.loads((fixtures_dir / "official_crnn_keys.json").read_text())
    sd = CRNN(32, 1, 37, 256).state_dict()
    assert [k["key"] for k in spec["keys"]] == list(sd)
    assert all(list(sd[k["key"]].shape) == k["shape"] for k in spec["keys"])
    assert sum(p.numel() for p in CRNN().parameters()) == spec["params"] == 8331301


def test_same_init_as_official(crnn_fixture):
    torch.manual_seed(crnn_fixture["seed"])
    sd = CRNN(32, 1, 37, 256).state_dict()
    assert all(torch.equal(sd[k], v) for k, v in crnn_fixture["state_dict"].items())


def test_reproduces_official_output_rgb(crnn_fixture, official_crnn, device):
    assert not official_crnn.training
    with torch.no_grad():
        out = official_crnn(crnn_fixture["input"].to(device)).cpu()
    assert out.shape == (33, 2, 37)
    torch.testing.assert_close(out, crnn_fixture["output"], atol=1e-5, rtol=0)


def test_input_is_not_mean_shifted(crnn_fixture, official_crnn, device):
    """The official evaluation feeds [0, 1] gray; a [-1, 1] input would not match the fixture."""
    with torch.no_grad():
        shifted = official_crnn((crnn_fixture["input"] * 2 - 1).to(device)).cpu()
    assert (shifted - crnn_fixture["output"]).abs().max() > 1e-5


def test_gray_and_mask_channels(crnn_fixture, official_crnn, device):
    rgb = crnn_fixture["input"]
    gray = 0.299 * rgb[:, 0:1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:3]
    rgbm = torch.cat([rgb, (gray < gray.mean()).float()], 1)  # the mask channel is ignored
    with torch.no_grad():
        for x in (gray, rgbm):
            torch.testing.assert_close(official_crnn(x.to(device)).cpu(), crnn_fixture["output"], atol=1e-5, rtol=0)
    torch.testing.assert_close(to_gray(rgbm), gray)


def test_bad_input_shapes(official_crnn, device):
    with pytest.raises(ValueError, match="channels"):
        official_crnn(torch.rand(1, 2, 32, 128, device=device))
    with pytest.raises(ValueError, match="32, W"):
        official_crnn(torch.rand(1, 1, 64, 128, device=device))


def test_strict_load_lists_missing_and_unexpected(crnn_fixture):
    sd = dict(crnn_fixture["state_dict"])
    sd.pop("rnn.1.embedding.bias")
    sd["rnn.2.embedding.weight"] = torch.zeros(1)
    with pytest.raises(ValueError) as err:
        load_crnn(sd)
    msg = str(err.value)
    assert "missing keys (1): rnn.1.embedding.bias" in msg
    assert "unexpected keys (1): rnn.2.embedding.weight" in msg


def test_strict_load_reports_shape_mismatch(crnn_fixture):
    sd = dict(crnn_fixture["state_dict"])
    sd["rnn.1.embedding.weight"] = torch.zeros(95, 512)  # a 95-class CRNN
    with pytest.raises(ValueError, match=r"rnn.1.embedding.weight \(file \(95, 512\), model \(37, 512\)\)"):
        load_crnn(sd)


def test_load_variants(crnn_fixture, tmp_path, capsys):
    sd = crnn_fixture["state_dict"]
    x = crnn_fixture["input"]
    wrapped = {"model": sd, "config": None, "step": 3}
    dp = {"module." + k: v for k, v in sd.items()}
    torch.save(wrapped, tmp_path / "crnn.pt")
    for src in (wrapped, dp, tmp_path / "crnn.pt", str(tmp_path / "crnn.pt")):
        with torch.no_grad():
            torch.testing.assert_close(load_crnn(src)(x), crnn_fixture["output"], atol=1e-5, rtol=0)
    with pytest.raises(FileNotFoundError, match="notebook 02"):
        load_crnn(tmp_path / "nothing.pth")
    with pytest.raises(ValueError, match="state_dict"):
        load_crnn({"step": 3})
