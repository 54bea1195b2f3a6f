"""STIRER model: equivalence with the official implementation (fixtures), strict loading, sizes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from stirer_lib.losses import decoder_ce
from stirer_lib.models import (
    StirerConfig,
    build_stirer,
    config_from_name,
    count_parameters,
    is_mini_decoder_key,
    load_stirer,
    predictions,
    save_checkpoint,
)
from stirer_lib.models.config import ABLATIONS
from stirer_lib.text import ctc_greedy_decode, decode_ids, encode_decoder_labels

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-5
BF16_ATOL = 0.03  # bf16 autocast vs the float32 fixture, SR pixels and CTC scores (measured on a CPU: 0.0033, 0.0078)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ref(load_fixture):
    return load_fixture("official_stirer_seed0.pt")


@pytest.fixture(scope="module")
def keys_json(fixtures_dir):
    return json.loads((fixtures_dir / "official_stirer_keys.json").read_text())


@pytest.fixture(scope="module")
def model(ref, device):
    return load_stirer(ref["state_dict"]).to(device)


@pytest.fixture(scope="module")
def out(model, ref, to_device):
    with torch.no_grad():
        return model(to_device(ref["lr"]), labels=to_device(ref["label_ce_eos_kept"]))


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.cpu() - b.cpu()).abs().max().item()


def test_state_dict_layout_is_official(keys_json):
    sd = build_stirer().state_dict()
    assert list(sd) == [e["key"] for e in keys_json["keys"]]
    for e in keys_json["keys"]:
        assert list(sd[e["key"]].shape) == e["shape"], e["key"]


def test_parameter_counts_match_official(fixtures_dir):
    ref_numbers = json.loads((fixtures_dir / "official_reference_numbers.json").read_text())
    full, lean = build_stirer(), build_stirer(StirerConfig(mini_decoders=False))
    assert (
        count_parameters(full)
        == ref_numbers["counts_is_eval_False_release_config"]["params_total(named_parameters, tied counted once)"]
        == 13_047_345
    )
    assert (
        count_parameters(lean)
        == ref_numbers["counts_is_eval_True"]["params_total(named_parameters, tied counted once)"]
        == 4_030_338
    )


def test_fixture_encoder_and_sr(out, ref):
    assert out.sr.shape == (4, 4, 32, 128)
    assert _maxdiff(out.features, ref["encoder_features"]) < TOL
    assert _maxdiff(out.sr, ref["sr"]) < TOL
    assert len(out.srs) == len(out.ctc_logits) == 3
    for ours, theirs in zip(out.srs, ref["srs_intermediate"]):
        assert _maxdiff(ours, theirs) < TOL
    for ours, theirs in zip(out.ctc_logits, ref["logits_intermediate"]):
        assert _maxdiff(ours, theirs) < TOL


def test_fixture_str_decoder(model, out, ref, to_device):
    with torch.no_grad():
        z = model.vit(torch.cat([out.features, to_device(ref["lr"])], 1))
        enc = model.decoder.encoder(inputs_embeds=z).last_hidden_state
    assert _maxdiff(z, ref["vit_out"]) < TOL
    assert _maxdiff(enc, ref["t5_encoder_out"]) < TOL
    assert torch.equal(out.text_ids.cpu(), ref["generated_ids"])
    assert _maxdiff(out.text_scores, ref["generated_scores"]) < TOL


@pytest.mark.parametrize("keep_eos", [True, False])
def test_fixture_teacher_forcing(model, ref, keep_eos, to_device):
    suffix = "_eos_kept" if keep_eos else ""
    labels = ref["label_ce" + suffix]
    assert torch.equal(encode_decoder_labels(ref["labels"], keep_eos=keep_eos), labels)
    with torch.no_grad():
        o = model(to_device(ref["lr"]), labels=to_device(labels), generate=False)
    assert o.text_ids is None
    assert _maxdiff(o.ar_logits, ref["t5_logits_teacher_forced" + suffix]) < TOL
    assert abs(decoder_ce(o, to_device(labels)).item() - ref["t5_loss_teacher_forced" + suffix].item()) < TOL


def test_fixture_under_bf16_autocast(model, ref, device, to_device):
    """bf16 autocast (STAGE.amp=bf16, evaluate --bf16) keeps the SR images and CTC scores near the float32 fixture."""
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        o = model(to_device(ref["lr"]))
    assert o.sr.dtype == torch.bfloat16  # autocast really ran
    theirs = [ref["sr"], *ref["srs_intermediate"], *ref["logits_intermediate"]]
    for ours, expected in zip([o.sr, *o.srs, *o.ctc_logits], theirs, strict=True):
        assert _maxdiff(ours.float(), expected) < BF16_ATOL


def test_predictions_match_official_evaluation(model, load_fixture, fixtures_dir, to_device):
    batch = load_fixture("official_collate_eval.pt")
    official = json.loads((fixtures_dir / "official_eval_seed0_textzoom_mini.json").read_text())
    with torch.no_grad():
        preds = predictions(model(to_device(batch["images_lr"])))
    assert preds == official["splits"]["textzoom_mini"]["preds"]


def test_predictions_helper(out):
    steps = predictions(out)
    assert len(steps) == 4
    assert steps[:3] == [ctc_greedy_decode(lo) for lo in out.ctc_logits]
    assert steps[3] == decode_ids(out.text_ids)


def test_inference_only_drops_exactly_the_mini_decoders(ref, keys_json, out, device):
    lean = load_stirer(ref["state_dict"], inference_only=True).to(device)
    kept = {e["key"] for e in keys_json["keys"] if e["present_when_is_eval_True"]}
    assert set(lean.state_dict()) == kept
    assert {k for k in ref["state_dict"] if not is_mini_decoder_key(k)} == kept
    assert count_parameters(lean) == 4_030_338
    with torch.no_grad():
        o = lean(ref["lr"].to(device))
    assert o.srs == [] and o.ctc_logits == []
    assert _maxdiff(o.sr, out.sr) < TOL and torch.equal(o.text_ids, out.text_ids)


def test_strict_loading_lists_missing_and_unexpected(ref):
    sd = dict(ref["state_dict"])
    del sd["layers.1.gru.gru2.gru.weight_hh_l0"]
    sd["layers.9.extra.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"missing keys \(1\).*layers\.1\.gru\.gru2\.gru\.weight_hh_l0") as e:
        load_stirer(sd)
    assert re.search(r"unexpected keys \(1\).*layers\.9\.extra\.weight", str(e.value))
    sd = dict(ref["state_dict"])
    sd["conv_first.bias"] = torch.zeros(7)
    with pytest.raises(ValueError, match=r"conv_first\.bias \(file \(7,\), model \(48,\)\)"):
        load_stirer(sd)
    with pytest.raises(ValueError, match="missing keys"):  # a training-build load of an inference-only file
        load_stirer({k: v for k, v in ref["state_dict"].items() if not is_mini_decoder_key(k)})


def test_checkpoint_round_trip_and_errors(tmp_path):
    cfg = StirerConfig.small()
    torch.manual_seed(0)
    m = build_stirer(cfg).eval()
    path = tmp_path / "s.pt"
    save_checkpoint(m, path, step=3)
    loaded = load_stirer(path)
    assert loaded.config == cfg and not loaded.training
    lr = torch.rand(2, 4, 16, 64)
    with torch.no_grad():
        a, b = m(lr), loaded(lr)
    assert torch.equal(a.sr, b.sr) and torch.equal(a.text_ids, b.text_ids)
    dp = {"module." + k: v for k, v in m.state_dict().items()}  # DataParallel prefix
    assert torch.equal(load_stirer(dp, config=cfg).conv_first.weight, m.conv_first.weight)
    with pytest.raises(FileNotFoundError, match="ckpt/STIRER_Final_Release.pth"):
        load_stirer(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="missing keys"):  # a small checkpoint is not a release one
        load_stirer(m.state_dict())
    with pytest.raises(ValueError, match="unknown StirerConfig keys"):
        load_stirer({"model": m.state_dict(), "config": {**cfg.to_dict(), "bogus": 1}})


def test_config_names_and_validation():
    assert config_from_name("release") == StirerConfig()
    assert config_from_name("small") == StirerConfig.small()
    with pytest.raises(ValueError, match="unknown STIRER config"):
        config_from_name("huge")
    with pytest.raises(ValueError, match="multiple of window_size"):
        StirerConfig(img_size=(16, 63))
    with pytest.raises(ValueError, match="STIRER expects LR images"):
        build_stirer("small")(torch.rand(1, 3, 16, 64))


def test_small_config_is_documented_and_smaller():
    import stirer_lib.models.config as config_module

    small, small_lean = build_stirer("small"), build_stirer(StirerConfig.small(mini_decoders=False))
    doc = config_module.__doc__.replace(",", "")
    assert f"{count_parameters(small)} (training build)" in doc
    assert f"{count_parameters(small_lean)} (inference build)" in doc
    assert count_parameters(small) < count_parameters(build_stirer()) / 10


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_ablation_forward_backward(name):
    kw = ABLATIONS[name]
    torch.manual_seed(0)
    model = build_stirer(StirerConfig.small(**kw)).train()
    full = build_stirer(StirerConfig.small())
    assert count_parameters(model) < count_parameters(full)
    lr = torch.rand(2, 4, 16, 64)
    labels = encode_decoder_labels(["abc", "hello"])
    o = model(lr, labels=labels)
    loss = torch.zeros(())
    if o.sr is not None:
        loss = loss + o.sr.square().mean()
    for t in o.srs + o.ctc_logits:
        loss = loss + t.square().mean()
    if o.ar_logits is not None:
        loss = loss + decoder_ce(o, labels)
    loss.backward()
    assert model.conv_first.weight.grad is not None and model.conv_first.weight.grad.abs().sum() > 0
    assert o.text_ids is None  # train mode: no generation
    n_blocks = 0 if kw.get("use_pstst") is False else 3
    assert len(model.layers) == n_blocks
    assert len(o.srs) == len(o.ctc_logits) == (n_blocks if kw.get("mini_decoders", True) else 0)
    assert (o.sr is None) == (kw.get("stisr_decoder") is False)
    assert (o.ar_logits is None) == (kw.get("str_decoder") is False)
    if kw.get("use_stl") is False:
        assert all(len(layer.residual_group.blocks) == 0 for layer in model.layers)
    if kw.get("use_bigru") is False:
        assert not any("gru" in n for n, _ in model.named_parameters())


def test_train_mode_stochastic_and_generate_on_request():
    torch.manual_seed(0)
    model = build_stirer(StirerConfig.small(t5_dropout=0.1, drop_path_rate=0.5)).train()
    lr = torch.rand(2, 4, 16, 64)
    a, b = model(lr), model(lr)
    assert a.text_ids is None and not torch.equal(a.sr, b.sr)  # drop-path active in training
    g = model(lr, generate=True)
    assert g.text_ids.shape == (2, 21) and (g.text_ids[:, 0] == 0).all()
    assert model.decoder.training  # generation switched T5 to eval only for its duration
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(lr).sr, model(lr).sr)


def test_t5_init_choice():
    torch.manual_seed(0)
    rel = build_stirer(StirerConfig.small())
    torch.manual_seed(0)
    t5 = build_stirer(StirerConfig.small(t5_init="t5"))
    assert rel.state_dict().keys() == t5.state_dict().keys()
    k = "decoder.encoder.block.0.layer.0.SelfAttention.k.weight"
    # release: trunc-normal 0.02 everywhere; transformers' T5 init: d_model ** -0.5 for k (0.125 at 64)
    assert rel.state_dict()[k].std() < 0.03 < 0.1 < t5.state_dict()[k].std() < 0.15
    assert all(v.std() < 0.03 for n, v in t5.state_dict().items() if n.endswith("qkv.weight"))  # the ViTs: release init
    with pytest.raises(ValueError, match="t5_init"):
        StirerConfig.small(t5_init="xavier")


def test_generation_that_stops_early_is_padded_to_21():
    torch.manual_seed(0)
    model = build_stirer("small").eval()
    bonus = torch.zeros(38)
    bonus[37] = 1e4  # EOS wins every step: generate() stops after one token
    model.decoder.lm_head.register_forward_hook(lambda mod, inp, logits: logits + bonus)
    with torch.no_grad():
        o = model(torch.rand(3, 4, 16, 64))
    assert o.text_ids.shape == (3, 21) and o.text_ids[:, 1].eq(37).all() and o.text_ids[:, 2:].eq(0).all()
    assert o.text_scores.shape == (3, 20, 38) and o.text_scores[:, 1:].isnan().all()
    assert predictions(o)[-1] == ["", "", ""]


def test_swin_buffers_and_attention_match(ref):
    from stirer_lib.models.swin import SwinTransformerLayer, window_softmax_attention

    sd = ref["state_dict"]
    layer = SwinTransformerLayer(48, (16, 64), (16, 2), 6, shifted=True)
    assert torch.equal(layer.attn_mask, sd["layers.0.residual_group.blocks.1.attn_mask"].float())
    assert torch.equal(
        layer.attn.relative_position_index, sd["layers.0.residual_group.blocks.1.attn.relative_position_index"]
    )
    m1 = layer.mask_for((16, 32), torch.device("cpu"))
    assert m1.shape == (16, 32, 32) and layer.mask_for((16, 32), torch.device("cpu")) is m1  # cached
    assert layer(torch.rand(1, 16 * 32, 48), (16, 32)).shape == (1, 512, 48)
    with pytest.raises(ValueError, match="full height"):  # [H, W/32] windows only
        SwinTransformerLayer(48, (16, 64), (8, 2), 6, shifted=True)
    with pytest.raises(ValueError, match="16 rows high"):
        layer(torch.rand(1, 8 * 64, 48), (8, 64))
    q, k, v = torch.randn(3, 2, 6, 32, 8).unbind(0)
    bias = torch.randn(6, 32, 32)
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    assert _maxdiff(window_softmax_attention(q, k, v, bias), fused) < TOL


def test_efficiency_matches_official_counts():
    from stirer_lib.models.efficiency import OFFICIAL_COUNTS, PAPER_TABLE5, component_costs, efficiency_table

    rows = {r.name: r for r in component_costs(build_stirer())}
    for name, (params, macs) in OFFICIAL_COUNTS.items():
        assert rows[name].params == params, name
        assert abs(rows[name].macs - macs) <= 0.01 * macs, (name, rows[name].macs, macs)
    for name, (params, macs) in PAPER_TABLE5.items():  # 2 decimals; its STISR decoder says 0.13 for 0.12
        assert abs(rows[name].params - params) <= 0.011e6 and abs(rows[name].macs - macs) <= 0.011e9, name
    assert rows["encoder"].macs_all > rows["encoder"].macs  # the window attention products
    table = efficiency_table(StirerConfig.small(mini_decoders=False))
    assert "stisr_decoder" in table and "0.52M" in table and "mini_decoders" not in table


def test_flop_counting_leaves_torch_registry_alone():
    """Importing the models registers nothing with torch's FLOP counter; efficiency counts the CPU attention
    kernel through its own counters only (a fresh interpreter: this one imported the models already)."""
    code = (
        "import torch.utils.flop_counter as f; before = dict(f.flop_registry)\n"
        "from stirer_lib.models import build_stirer, efficiency, swin\n"
        "assert dict(f.flop_registry) == before, 'import'\n"
        "enc = efficiency.component_costs(build_stirer('small'))[0]\n"
        "assert dict(f.flop_registry) == before, 'counting'\n"
        "assert enc.name == 'encoder' and enc.macs_all > enc.macs, enc\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert r.returncode == 0, r.stderr[-2000:]


def test_bench_prints_figures(capsys):
    from stirer_lib.bench.model import main

    assert main(["--configs", "small", "--batch-sizes", "2", "--reps", "1", "--devices", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].split()[:4] == ["small", f"{count_parameters(build_stirer('small')):,}", "cpu", "2"]
    assert float(lines[-1].split()[4]) > 0 and float(lines[-1].split()[5]) > 0


def test_bench_writes_json(tmp_path, capsys):
    from stirer_lib.bench.model import main

    out = tmp_path / "bench.json"
    assert (
        main(
            [
                "--configs",
                "small",
                "--batch-sizes",
                "1",
                "--reps",
                "1",
                "--devices",
                "cpu",
                "--no-train",
                "--bf16",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text())
    assert figures["torch"] == torch.__version__ and figures["bf16"] is True
    (row,) = figures["rows"]
    assert row["config"] == "small" and row["batch"] == 1 and row["eval_img_s"] > 0 and row["eval_bf16_img_s"] > 0
    assert row["train_img_s"] is None and row["eval_peak_mib"] is None  # peak memory is measured on CUDA only
    assert "small" in capsys.readouterr().out


def test_sr_residual_adds_bicubic_to_every_sr_output():
    """sr_residual (the cpu profile, not the release): every SR output = the same model's output + bicubic(LR)."""
    from stirer_lib.models import build_stirer, config_from_name
    from stirer_lib.scoring import bicubic_upsample

    torch.manual_seed(0)
    plain = build_stirer(config_from_name("small")).eval()
    resid = build_stirer(config_from_name("small", sr_residual=True)).eval()
    resid.load_state_dict(plain.state_dict())  # same parameters: the switch adds none
    lr = torch.rand(2, 4, 16, 64)
    with torch.no_grad():
        a, b = plain(lr, generate=False), resid(lr, generate=False)
    base = bicubic_upsample(lr)
    torch.testing.assert_close(b.sr, a.sr + base)
    for x, y in zip(a.srs, b.srs):
        torch.testing.assert_close(y, x + base)
    assert config_from_name("release").sr_residual is False
