"""Figures of notebook 01 (stirer_lib.viz.data) build from real data-set objects."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from stirer_lib.data import TextZoomDataset  # noqa: E402
from stirer_lib.data.camera import capture, sample_params  # noqa: E402
from stirer_lib.data.lmdb_io import describe_lmdb  # noqa: E402
from stirer_lib.data.render import render_scene  # noqa: E402
from stirer_lib.viz import data as vdata  # noqa: E402


@pytest.fixture(scope="module")
def mini(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TextZoomDataset(fixtures_dir / "textzoom_mini")


def test_sample_grid_and_label_figures(mini):
    fig = vdata.sample_grid({"mini": mini, "again": mini}, n=3)
    assert len(fig.axes) == 2 * 3 * 3
    stats = vdata.label_stats(mini.labels, mini.raw_labels())
    assert stats["n"] == 10 and stats["max length"] == 30 and stats["raw with punctuation"] > 0
    assert len(vdata.label_statistics({"mini": mini.labels}).axes) == 2
    plt.close("all")


def test_degradation_figures_and_explorer():
    rng = np.random.default_rng(0)
    scene = render_scene("word", rng)
    steps = capture(scene, sample_params("hard", rng), rng)
    assert len(vdata.degradation_steps(steps, sample_params("easy", rng).as_dict()).axes) == len(steps)
    static = vdata.degradation_explorer(scene, interactive=False)
    assert isinstance(static, plt.Figure) and len(static.axes) == 7
    box = vdata.degradation_explorer(scene, interactive=True)
    sliders = [s for row in box.children[:2] for s in row.children]
    assert [s.description for s in sliders] == ["blur sigma", "scale", "noise sigma", "JPEG q"]
    sliders[1].value = 4.0  # redraws without error
    stats = {"easy": {"psnr": 22.0, "ssim": 0.8}}
    assert len(vdata.bicubic_bars(stats, {"easy": (22.35, 0.788)}).axes) == 2
    plt.close("all")


def test_describe_lmdb(fixtures_dir):
    rows = dict(describe_lmdb(fixtures_dir / "textzoom_mini", records=3))
    assert rows["num-samples"] == "11" and rows["label-000000003"] == "'gray'"
    assert rows["image_hr-000000003"].startswith("PNG L 128x32")
