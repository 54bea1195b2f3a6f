"""Figures and tables of notebook 06 (viz/evaluation.py) on a stand-in model over textzoom_mini."""

from __future__ import annotations

import json

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from test_evaluation import ConstantReader  # noqa: E402

from stirer_lib.data import TextZoomDataset  # noqa: E402
from stirer_lib.evaluation import evaluate  # noqa: E402
from stirer_lib.viz import evaluation as vz  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def mini(fixtures_dir):
    with pytest.warns(UserWarning, match="empty label"):
        return TextZoomDataset(fixtures_dir / "textzoom_mini")


@pytest.fixture(scope="module")
def results(fixtures_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("tzv")
    (root / "test").mkdir()
    (root / "test" / "easy").symlink_to(fixtures_dir / "textzoom_mini", target_is_directory=True)
    with pytest.warns(UserWarning):
        return evaluate(ConstantReader(), root, device="cpu", progress=False, splits=("easy",))


def test_examples_figure_rows(mini):
    ex = vz.collect_examples(ConstantReader(), mini, [0, 1, 2])
    assert [name for name, _, _ in ex["steps"]] == ["step 0 (block 1)", "step 1 (block 2)", "step 2 (final)"]
    assert ex["steps"][-1][2] == ["hello"] * 3 and ex["labels"][0] == "hello"
    fig = vz.examples_figure(ex)
    assert len(fig.axes) == (1 + 3 + 1) * 3  # LR, three steps, HR
    assert fig.axes[3 * 3].get_title() == "hello"  # final step of the first item: 'hello' (correct)


def test_tables(results, tmp_path):
    text = vz.comparison_table(results, name="stand-in")
    lines = text.splitlines()
    assert lines[2].startswith("stand-in (mean of splits | over all)") and "10.00" in lines[2]
    assert any(ln.startswith("release log (official README)") and "73.91" in ln for ln in lines)
    assert any(ln.startswith("STIRER (S+L), paper") and "74.8" in ln for ln in lines)
    assert vz.ablation_results(tmp_path) == {}
    d = tmp_path / "ablations" / "no_stl" / "eval"
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps(results))
    abl = vz.ablation_results(tmp_path)
    table = vz.ablation_table(abl).splitlines()
    row = next(ln for ln in table if ln.startswith("no_stl"))
    assert row.split()[1:] == ["10.00", f"{results['over_all']['psnr']:.2f}", "72.7", "22.13"]


def test_figures(results):
    fig = vz.accuracy_vs_macs([vz.Point("ours", 0.2, 10.0, "test")])
    paper, ours = fig.axes  # the paper's TextZoom points and the course's, each on its own labelled axis
    assert len(paper.collections) == len(vz.FIGURE3_POINTS) and len(ours.collections) == 1
    assert "TextZoom" in paper.get_title() and "synthetic" in ours.get_title()
    fig = vz.step_bars(results)
    assert len(fig.axes[0].patches) == 3  # one split x three steps


def test_browser_headless_and_interactive(mini):
    fig = vz.image_browser(mini, ConstantReader(), interactive=False, static_items=2)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 5 * 2
    box = vz.image_browser(mini, ConstantReader(), interactive=True)
    slider = box.children[0]
    assert slider.max == len(mini) - 1
    slider.value = 3  # redraws without error


def test_failures_are_counted_from_the_results(mini):
    """Disagreements between the final decoder and the minis, and the character confusions, from the results."""
    labels = ["cat", "dog", "sun", "map"]
    res = {
        "splits": {
            "easy": {
                "predictions": [{"label": t, "pred": p} for t, p in zip(labels, ["cat", "dgg", "sun", "nap"])],
                "step_predictions": [["cot", "dog", "sun", "nap"], ["cat", "dgg", "sun", "nap"]],
            }
        }
    }
    assert vz.disagreements(res, "easy") == [0, 1]  # final right where a mini is wrong, then the reverse
    assert vz.char_confusions(res) == [("o", "g", 1), ("m", "n", 1)]
    fig = vz.failure_gallery(mini, {"splits": {"easy": {**res["splits"]["easy"]}}}, "easy", [0, 1])
    assert len(fig.axes) == 2 and "final: dgg x" in fig.axes[1].get_title()


def test_cross_attention_per_generated_letter():
    """The STR decoder's cross-attention: one distribution over the 32 column tokens per generated token, the
    greedy ids unchanged, the model left as it was (attention implementation and train / eval mode)."""
    from stirer_lib.models import build_stirer
    from stirer_lib.models.decoders import cross_attention

    torch.manual_seed(0)
    model = build_stirer("small").train()
    lr = torch.rand(2, 4, 16, 64)
    ids, weights = cross_attention(model, lr)
    assert ids.shape == (2, 21) and weights.shape == (2, 20, 32)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 20), atol=1e-4)
    assert model.training and model.decoder.config._attn_implementation != "eager"
    with torch.no_grad():
        assert torch.equal(model.eval()(lr).text_ids, ids)
    right = torch.zeros(1, 20, 32)
    right[0, torch.arange(20), torch.arange(20)] = 1.0  # each letter one column further right
    assert vz.attention_moves_right(torch.full((1, 21), 5), right) == 1.0
    fig = vz.cross_attention_figure(lr, ids, weights, ["ab", "cd"])
    assert len(fig.axes) == 4
