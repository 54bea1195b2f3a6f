"""stirer_lib.losses against the official train.py loss on the fixture's stored outputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from stirer_lib import losses
from stirer_lib.text import ctc_encode, encode_decoder_labels

REL = 1e-4


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(torch.allclose(a.float().cpu(), b.float().cpu(), rtol=REL, atol=0))


@pytest.fixture(scope="module")
def fx(load_fixture, to_device):
    """The fixture's outputs and batch on the test device; the expected loss values `t` stay on the CPU."""
    d = load_fixture("official_stirer_seed0.pt")
    t = d["train_py_losses_evalmode"]
    d = to_device({k: v for k, v in d.items() if k not in ("state_dict", "train_py_losses_evalmode")})
    out = SimpleNamespace(
        sr=d["sr"],
        srs=list(d["srs_intermediate"]),
        ctc_logits=list(d["logits_intermediate"]),
        ar_logits=d["t5_logits_teacher_forced"],
    )
    targets, lengths = to_device(ctc_encode(d["labels"]))
    # the fixture's T5 loss used the official training labels (EOS overwritten below 15 chars)
    batch = {
        "hr": d["hr"],
        "lr": d["lr"],
        "labels": d["labels"],
        "ctc_targets": targets,
        "ctc_lengths": lengths,
        "decoder_labels": d["label_ce"],
    }
    return d, t, out, batch


def test_ctc_targets_match_official_collation(fx):
    _, t, _, batch = fx
    assert torch.equal(batch["ctc_targets"].cpu(), t["label_tensors"])
    assert torch.equal(batch["ctc_lengths"].cpu(), t["length_tensors"])
    assert torch.equal(encode_decoder_labels(fx[0]["labels"], keep_eos=False), fx[0]["label_ce"].cpu())


def test_gradient_profile_loss_per_image(fx):
    d, t, out, _ = fx
    expected = t["image_loss_per_sr(ImageLoss.mean)"]
    for k, sr in enumerate([*out.srs, out.sr]):
        per_image = losses.gradient_profile_loss(sr, d["hr"])
        assert per_image.shape == (4,)
        assert _close(per_image.mean(), expected[k]), (k, per_image.mean(), expected[k])


def test_gradient_prior_is_rgb_only(fx):
    d, t, out, _ = fx
    # the mask channel enters the MSE but not the gradient prior: a 4-channel prior misses the fixture
    full = (
        20 * (out.sr - d["hr"]).pow(2).mean()
        + 1e-2 * (losses.gradient_map(out.sr) - losses.gradient_map(d["hr"])).abs().mean()
    )
    assert not _close(full, t["image_loss_per_sr(ImageLoss.mean)"][3])


def test_ctc_per_stage(fx):
    _, t, out, batch = fx
    ctc, ce = losses.rec_terms(out, batch)
    assert _close(torch.stack(ctc), t["ctc_per_stage"])
    assert _close(ce, fx[0]["t5_loss_teacher_forced"])


def test_eq7_eq8_eq9(fx):
    _, t, out, batch = fx
    assert _close(losses.sr_loss(out, batch["hr"]), t["loss_sr(weighted 1..4)"])
    assert _close(losses.rec_loss(out, batch), t["loss_rec(4*t5 + weighted ctc 1..3)"])
    parts = losses.stirer_loss(out, batch, alpha=0.5)
    assert _close(parts["total"], t["loss_total(alpha=0.5)"])
    assert _close(parts["l_sr"], t["loss_sr(weighted 1..4)"])
    assert set(parts) >= {"gp_1", "gp_4", "ctc_1", "ctc_3", "ce"}


def test_eos_kept_labels_give_the_eos_kept_t5_loss(fx, to_device):
    d, _, out, batch = fx
    out2 = SimpleNamespace(**{**vars(out), "ar_logits": d["t5_logits_teacher_forced_eos_kept"]})
    batch2 = {**batch, "decoder_labels": to_device(encode_decoder_labels(d["labels"], keep_eos=True))}
    assert torch.equal(batch2["decoder_labels"], d["label_ce_eos_kept"])
    assert _close(losses.decoder_ce(out2, batch2["decoder_labels"]), d["t5_loss_teacher_forced_eos_kept"])


def test_losses_backpropagate_and_handle_ablations():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 4, 32, 128, generator=g)
    sr = torch.rand(2, 4, 32, 128, generator=g, requires_grad=True)
    logits = torch.randn(2, 32, 37, generator=g, requires_grad=True)
    targets, lengths = ctc_encode(["ab", "aaaaaaaaaaaaaaaaaaaa"])  # the second needs 39 frames: infinite
    batch = {
        "hr": hr,
        "ctc_targets": targets,
        "ctc_lengths": lengths,
        "decoder_labels": encode_decoder_labels(["ab", "aaaaaaaaaaaaaaaaaaaa"]),
    }
    out = SimpleNamespace(sr=sr, srs=[], ctc_logits=[logits], ar_logits=None)
    parts = losses.stirer_loss(out, batch)
    assert torch.isfinite(parts["total"])
    parts["total"].backward()
    assert sr.grad.abs().sum() > 0 and logits.grad.abs().sum() > 0
    # no STISR decoder and no mini decoders: L_SR is zero, L_Rec is the CE alone with weight 1
    ar = torch.randn(2, 31, 38, generator=g)
    out = SimpleNamespace(sr=None, srs=[], ctc_logits=[], ar_logits=ar)
    parts = losses.stirer_loss(out, batch, alpha=0.25)
    assert parts["l_sr"].item() == 0.0
    assert torch.allclose(parts["total"], 0.75 * parts["ce"])
    with pytest.raises(ValueError, match="one shape"):
        losses.gradient_profile_loss(sr[:, :3], hr)
    with pytest.raises(ValueError, match="alpha"):
        losses.stirer_loss(out, batch, alpha=2.0)


def test_the_model_computes_no_loss_and_decoder_ce_is_t5s_own():
    """STIRER's output holds logits, no loss; decoder_ce of its ar_logits is the loss transformers'
    T5ForConditionalGeneration computes from the same labels, -100 (ignored) positions included."""
    import dataclasses

    from stirer_lib.models import build_stirer
    from stirer_lib.models.decoders import str_encode

    torch.manual_seed(0)
    model = build_stirer("small").eval()
    lr = torch.rand(2, 4, 16, 64)
    labels = encode_decoder_labels(["abc", "hello"])
    for y in (labels, labels.masked_fill(labels == 0, -100)):
        with torch.no_grad():
            out = model(lr, labels=y, generate=False)
            t5 = model.decoder(inputs_embeds=str_encode(model, lr, out.features), labels=y)
        assert not any("loss" in f.name or "labels" in f.name for f in dataclasses.fields(out))
        torch.testing.assert_close(out.ar_logits, t5.logits)
        torch.testing.assert_close(losses.decoder_ce(out, y), t5.loss)
    with pytest.raises(ValueError, match="do not match"):
        losses.decoder_ce(out, labels[:, :30])


def test_ctc_loss_is_torchs_mean_reduction():
    """The hand-made mean (per word / its length, then the batch mean) equals torch's reduction="mean"."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 32, 37, generator=g)
    targets, lengths = ctc_encode(["ab", "hello", "aaaaaaaaaaaaaaaaaaaa"])  # the last: infinite, zeroed
    ref = torch.nn.functional.ctc_loss(
        logits.log_softmax(-1).transpose(0, 1),
        targets.long(),
        torch.full((3,), 32),
        lengths.long(),
        reduction="mean",
        zero_infinity=True,
    )
    assert torch.equal(losses.ctc_loss(logits, targets, lengths), ref)
