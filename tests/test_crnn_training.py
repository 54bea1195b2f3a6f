"""CRNN training with CTC, the checkpoint round trip, the accuracy helper and the CTC picture."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from stirer_lib.checkpoint import read
from stirer_lib.evaluation import evaluate_loaders
from stirer_lib.losses import ctc_loss
from stirer_lib.models.crnn import CRNN, load_crnn
from stirer_lib.scoring import bicubic_upsample, crnn_read
from stirer_lib.training.crnn import accuracy_gap, eval_loader, gap_readings, gap_table, save_crnn, train_crnn
from stirer_lib.training.settings import CrnnSettings
from stirer_lib.viz.ctc import (
    collapse_steps,
    frame_symbols,
    misread_indices,
    plot_accuracy_gap,
    plot_crnn_history,
    plot_ctc_alignment,
    plot_misreads,
)

SIZES = {"train1": 2, "train2": 2, "easy": 6, "medium": 2, "hard": 2, "pretrain": 8}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from stirer_lib.data.synth import ensure_data

    root = tmp_path_factory.mktemp("crnn_data") / "root"
    return ensure_data(root, synthetic=True, sizes=SIZES, seed=0, workers=1)


def _train(root, run_dir, **crnn):
    cfg = CrnnSettings(**{"max_steps": 8, "batch_size": 8, "lr": 1e-3, "eval_every": 0, "log_every": 1, **crnn})
    return train_crnn(cfg, run_dir, root, progress=False)


@pytest.fixture(scope="module")
def trained(data_root, tmp_path_factory):
    torch.manual_seed(0)
    run = tmp_path_factory.mktemp("run")
    crnn, history = _train(data_root, run)
    return crnn, history, run


def test_ctc_loss_matches_torch():
    torch.manual_seed(0)
    scores = torch.randn(33, 2, 37)
    targets, lengths = torch.tensor([5, 6, 7, 1, 2], dtype=torch.int32), torch.tensor([3, 2], dtype=torch.int32)
    ref = torch.nn.CTCLoss(blank=0)(scores.log_softmax(2), targets.long(), torch.tensor([33, 33]), lengths.long())
    torch.testing.assert_close(ctc_loss(scores.transpose(0, 1), targets, lengths), ref)  # [B,T,C]


def test_few_steps_lower_the_ctc_loss(trained):
    crnn, history, _ = trained
    assert not crnn.training
    assert [h["step"] for h in history] == list(range(1, 9))
    first, last = history[0]["loss"], history[-1]["loss"]
    assert last < 0.7 * first, f"CTC loss did not drop enough on 8 repeated words: {first:.2f} -> {last:.2f}"


def test_checkpoint_reloads_and_resumes(trained, data_root):
    crnn, history, run = trained
    path = run / "crnn" / "crnn.pt"
    ckpt = read(path)
    assert ckpt["step"] == 8 and ckpt["config"] is None and ckpt["history"] == history
    assert list(ckpt["model"]) == list(CRNN().state_dict())  # crnn.pytorch's layout
    x = torch.rand(2, 3, 32, 128)
    with torch.no_grad():
        torch.testing.assert_close(load_crnn(path)(x), crnn(x))
    same, hist = _train(data_root, run)  # already done: no training
    assert hist == history
    more, hist = _train(data_root, run, max_steps=10)
    assert [h["step"] for h in hist] == list(range(1, 11))
    assert read(path)["step"] == 10
    assert not list(path.parent.glob(".*tmp*")), "atomic save left a temporary file"


def test_the_history_starts_with_the_untrained_crnns_reading(data_root, tmp_path):
    torch.manual_seed(0)
    cfg = CrnnSettings(max_steps=4, batch_size=8, lr=1e-3, eval_every=2, log_every=2)
    loaders = {"easy": eval_loader(data_root, "easy", 8, max_images=8)}
    _, history = train_crnn(cfg, tmp_path, data_root, eval_loaders=loaders, progress=False)
    assert [h["step"] for h in history] == [0, 2, 4]
    assert "loss" not in history[0] and history[0]["acc_easy"] is not None  # nothing trained yet: no loss
    assert all(h["acc_easy"] is not None for h in history)
    fig = plot_crnn_history(history)  # the loss panel draws the logged steps only
    assert list(fig.axes[0].lines[0].get_xdata()) == [2, 4]
    plt.close(fig)


def test_save_is_atomic_replacement(tmp_path):
    path = tmp_path / "crnn" / "crnn.pt"
    save_crnn(path, CRNN(), 1, [{"step": 1}])
    save_crnn(path, CRNN(), 2, [{"step": 2}])
    assert read(path)["step"] == 2
    assert [p.name for p in path.parent.iterdir()] == ["crnn.pt"]


def test_bicubic_upsample_is_torch_bicubic_clamped():
    lr = torch.rand(2, 4, 16, 64)
    up = bicubic_upsample(lr)
    assert up.shape == (2, 4, 32, 128) and up.min() >= 0 and up.max() <= 1
    ref = F.interpolate(lr, size=(32, 128), mode="bicubic", align_corners=False).clamp(0, 1)
    torch.testing.assert_close(up, ref)


def test_crnn_only_evaluation_reads_hr_and_lr_in_percent(trained, data_root):
    from stirer_lib.data import TextZoomDataset, collate_eval, split_dir

    crnn = trained[0]
    ds = TextZoomDataset(split_dir(data_root, "easy"))
    loader = DataLoader(ds, batch_size=4, collate_fn=collate_eval)
    batch = collate_eval([ds[i] for i in range(len(ds))])
    res = evaluate_loaders(None, {"easy": loader}, crnn)  # the one evaluation, without a STIRER
    assert res["splits"]["easy"]["steps"] == [] and res["splits"]["easy"]["crnn_acc"] is None
    for source, images in (("hr", batch["hr"]), ("lr_bicubic", bicubic_upsample(batch["lr"]))):
        r = gap_readings(res, "easy", source)
        assert r["n"] == len(ds) and r["labels"] == batch["labels"]
        assert r["preds"] == crnn_read(crnn, images)
        assert r["accuracy"] == 100 * sum(p == g for p, g in zip(r["preds"], r["labels"])) / len(ds)


def test_ctc_collapse_and_picture(trained):
    assert collapse_steps(list("--hh-e-ll-ll-oo-")) == ("--hh-e-ll-ll-oo-", "-h-e-l-l-o-", "hello")
    scores = torch.full((5, 37), -5.0)
    for t, c in enumerate([0, 8, 8, 0, 8]):  # '-', 7, 7, '-', 7
        scores[t, c] = 5.0
    assert collapse_steps(frame_symbols(scores))[2] == "77"
    fig = plot_ctc_alignment(trained[0], torch.rand(4, 32, 128), label="abc")
    assert len(fig.axes) == 3  # image, heat map, colour bar
    assert "label 'abc'" in fig.axes[0].get_title()


def test_accuracy_gap_table_and_figures(trained, data_root):
    crnn, history, _ = trained
    gap = accuracy_gap(crnn, data_root, batch_size=4)
    assert list(gap) == ["easy", "medium", "hard"]
    assert [gap[s]["hr"]["n"] for s in gap] == [6, 2, 2]
    table = gap_table(gap).splitlines()
    assert table[0].split() == ["split", "n", "HR", "(%)", "LR", "bicubic", "(%)", "gap"] and table[-1].split()[:2] == [
        "all",
        "10",
    ]
    assert eval_loader(data_root, "easy", 4, max_images=3).dataset.__len__() == 3
    hr = {"correct": [True, True, False, True], "preds": ["a", "b", "x", "d"]}
    lr = {"correct": [False, True, False, False], "preds": ["z", "b", "y", "q"]}
    assert misread_indices(hr, lr, n=3) == [0, 3, 2]  # HR right + LR wrong first, then other LR misreads
    ds = eval_loader(data_root, "easy", 4).dataset
    fig = plot_misreads(ds, gap["easy"]["hr"], gap["easy"]["lr_bicubic"], n=2)
    shown = (
        misread_indices(gap["easy"]["hr"], gap["easy"]["lr_bicubic"], n=2) if any(gap["easy"]["hr"]["correct"]) else []
    )
    assert len(fig.axes) == 2 * len(shown)  # a CRNN that reads no HR word has no misreads to show (said in words)
    assert len(plot_accuracy_gap(gap).axes) == 1
    assert len(plot_crnn_history(history + [{"step": 9, "loss": 1.0, "acc_easy": 50.0}]).axes) == 2


def test_narrow_crnn_trains_saves_its_width_and_loads_strictly(data_root, tmp_path):
    """The cpu profile's CRNN (width 0.5, hidden 128, beta1 0.5): its checkpoint records the width, load_crnn
    rebuilds it, and the released layout keeps config None."""
    torch.manual_seed(0)
    crnn, _ = _train(data_root, tmp_path, max_steps=2, width=0.5, hidden=128, beta1=0.5)
    ckpt = read(tmp_path / "crnn" / "crnn.pt")
    assert ckpt["config"] == {"width": 0.5, "nh": 128, "nc": 1}
    assert ckpt["model"]["cnn.conv0.weight"].shape[0] == 32 and ckpt["model"]["cnn.conv6.weight"].shape[0] == 256
    assert ckpt["optimizer"]["param_groups"][0]["betas"][0] == 0.5
    loaded = load_crnn(tmp_path / "crnn" / "crnn.pt")
    assert (loaded.width, loaded.nh) == (0.5, 128)
    x = torch.rand(2, 4, 32, 128)
    torch.testing.assert_close(loaded(x), crnn.eval()(x))
    assert load_crnn(CRNN().state_dict()).width == 1.0  # a plain crnn.pytorch state_dict: the released layout


def test_narrow_state_dict_without_its_config_is_refused_with_the_keys(tmp_path):
    from stirer_lib.errors import CheckpointError

    with pytest.raises(
        CheckpointError, match=r"other shapes \(45\): cnn.batchnorm2.bias \(file \(128,\), model \(256,\)\)"
    ):
        load_crnn({"model": CRNN(width=0.5, nh=128).state_dict(), "config": None})
