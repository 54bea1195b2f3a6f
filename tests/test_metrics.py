"""PSNR / SSIM against the official utils/ssim_psnr.py values (fixtures/official_metrics.pt)."""

from __future__ import annotations

import math

import pytest
import torch

from stirer_lib.metrics import gaussian_window, psnr, ssim, ssim_skimage


@pytest.fixture(scope="module")
def metrics_fixture(load_fixture):
    return load_fixture("official_metrics.pt")


def test_psnr_matches_official(metrics_fixture):
    d = metrics_fixture
    ours, ref = psnr(d["a"], d["b"]), d["official_psnr"].double()
    finite = torch.isfinite(ref)
    assert torch.allclose(ours[finite].double(), ref[finite], atol=1e-4, rtol=0)
    assert (torch.isinf(ours) == ~finite).all()  # the identical pair gives inf, as the official code


def test_ssim_matches_official(metrics_fixture):
    d = metrics_fixture
    assert torch.allclose(ssim(d["a"], d["b"]).double(), d["official_ssim"].double(), atol=2e-5, rtol=0)


def test_ssim_skimage_matches_and_differs_from_textzoom(metrics_fixture):
    d = metrics_fixture
    sk = ssim_skimage(d["a"], d["b"])
    assert torch.allclose(sk, d["skimage_ssim"].double(), atol=1e-6, rtol=0)
    gap = (sk - ssim(d["a"], d["b"]).double()).abs().max().item()
    assert gap > 0.1  # zero padding vs reflect-and-crop: the conventions are not interchangeable


def test_four_channel_case_uses_rgb_only(metrics_fixture):
    f = metrics_fixture["four_channel_case"]
    assert psnr(f["a"], f["b"]).item() == pytest.approx(f["official_psnr"], abs=1e-4)
    assert ssim(f["a"], f["b"]).item() == pytest.approx(f["official_ssim"], abs=2e-5)
    other_mask = f["b"].clone()
    other_mask[:, 3] = 1 - other_mask[:, 3]
    assert psnr(f["a"], other_mask).item() == psnr(f["a"], f["b"]).item()


def test_batch_case_per_image_not_pooled(metrics_fixture):
    c = metrics_fixture["batch_case"]
    per_image = psnr(c["A"], c["B"])
    assert per_image.mean().item() == pytest.approx(c["mean_of_per_image_psnr"], abs=1e-4)
    assert ssim(c["A"], c["B"]).mean().item() == pytest.approx(c["mean_of_per_image_ssim"], abs=2e-5)
    # the official batch call pools the squared error: one wide image reproduces it, and it differs
    pooled = psnr(torch.cat(list(c["A"]), -1)[None], torch.cat(list(c["B"]), -1)[None]).item()
    assert pooled == pytest.approx(c["official_psnr_batch2"], abs=1e-4)
    assert abs(pooled - per_image.mean().item()) > 1.0


def test_identical_images():
    x = torch.rand(3, 4, 32, 128)
    assert torch.isinf(psnr(x, x)).all()
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-6)
    assert gaussian_window().sum().item() == pytest.approx(1.0, abs=1e-6)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.rand(1, 3, 32, 128), torch.rand(1, 3, 16, 64))
    with pytest.raises(ValueError, match="C >= 3"):
        ssim(torch.rand(1, 1, 32, 128), torch.rand(1, 1, 32, 128))
    with pytest.raises(ValueError, match="batch dimension"):
        psnr(torch.rand(3, 32, 128), torch.rand(3, 32, 128))
    assert not math.isnan(psnr(torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)).item())


def test_edge_gain_finds_where_sr_helps():
    """A vertical stroke: SR that restores only its edges puts all of its gain on the edge pixels."""
    from stirer_lib.metrics import edge_gain, edge_mask, error_reduction

    hr = torch.zeros(1, 3, 32, 128)
    hr[..., 40:60] = 1.0  # a bright stroke: its edges are columns 39-40 and 59-60
    bic = hr.clone()
    bic[..., 38:42], bic[..., 58:62] = 0.5, 0.5  # blurred edges
    sr = hr.clone()
    edges = edge_mask(hr, share=0.05)
    assert edges[0, 0, :, 40].all() and not edges[0, 0, :, 10].any()
    gain = error_reduction(sr, bic, hr)
    assert gain.min() >= 0 and gain[0, 0, :, 10].abs().max() == 0
    g = edge_gain(sr, bic, hr, share=0.05)
    assert g["edges"] > 0 and g["elsewhere"] >= 0  # the blur spans 4 columns per edge, 2 of them edge pixels
    assert g["edge_share_of_gain"] == pytest.approx(0.5) and g["edge_share_of_pixels"] < 0.05
    assert g["edge_share_of_pixels"] <= 0.05  # the stroke has fewer changing pixels than asked for: those only
