"""The speed-ups keep the numbers: one train step's gradients equal those of commit be7bf5b; bench CLI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GRAD_REF = REPO / "tests" / "data" / "grad_reference_be7bf5b.pt"
REL = 1e-4

pytestmark = pytest.mark.usefixtures("one_thread")


def _tool():
    spec = importlib.util.spec_from_file_location("make_grad_reference", REPO / "tools" / "make_grad_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-12)).item()


def _close(a: torch.Tensor, b: torch.Tensor, scale: float) -> bool:
    """|a - b| <= 1e-4 |b| + 1e-6 scale: relative, with a floor for gradients that cancel to float noise
    (conv biases before train-mode BatchNorm, the ViT's pos_embed summed over the batch). be7bf5b itself
    run on 2 threads instead of 1 moves vit.pos_embed's gradient by 1.8e-4 relative."""
    return (a - b).norm().item() <= REL * b.norm().item() + 1e-6 * scale


def test_train_step_gradients_match_be7bf5b(fixtures_dir):
    ref = torch.load(GRAD_REF, weights_only=True)
    ours = _tool().train_step_gradients(fixtures_dir)
    for k, v in ref["loss"].items():
        assert _rel(ours["loss"][k], v) < REL, k
    assert set(ours["grad_norm"]) == set(ref["grad_norm"])
    names = sorted(ref["grad_norm"])
    a, b = (torch.stack([d["grad_norm"][n] for n in names]) for d in (ours, ref))
    scale = b.norm().item()  # the norm of the whole gradient
    assert _close(a, b, 0.0)
    bad = [n for n in names if not _close(ours["grad_norm"][n], ref["grad_norm"][n], scale)]
    assert not bad, bad
    bad = [n for n, g in ref["grad_full"].items() if not _close(ours["grad_full"][n], g, scale)]
    assert not bad, bad


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stirer_lib.bench", *args], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_bench_help_and_bad_arguments():
    for args in (["--help"], ["compare", "--help"], ["model", "--help"], ["data", "--help"]):
        r = _cli(*args)
        assert r.returncode == 0 and "usage" in r.stdout.lower(), (args, r.stderr)
    for args in ([], ["nonsense"], ["compare", "--reps", "x"], ["model", "--bogus"]):
        r = _cli(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_bench_compare_tiny_runs_both_sides():
    """The compare path in a tiny configuration against this same tree (batch 1, one repetition), once in
    fp32 eager and once with the bf16 + torch.compile flags of the CUDA runs (eager backend: no codegen)."""
    r = _cli("compare", "--against", str(REPO), "--cases", "eval:small:1,crnn_train:1", "--reps", "1", "--warmup", "0")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith(("eval:", "crnn_"))]
    assert [row[0] for row in rows] == ["eval:small:1", "crnn_train:1"]
    assert all(float(row[1]) > 0 and float(row[2]) > 0 and row[3].endswith("x") for row in rows)
    r = _cli(
        "compare",
        "--against",
        str(REPO),
        "--cases",
        "train:small:1",
        "--reps",
        "1",
        "--warmup",
        "0",
        "--bf16",
        "--compile",
        "--compile-backend",
        "eager",
        "--device",
        "cpu",
    )
    assert r.returncode == 0, r.stderr
    assert "bf16, compile[eager]" in r.stdout and "train:small:1" in r.stdout


def test_bench_model_prints_bf16_ratio():
    r = _cli(
        "model", "--configs", "small", "--batch-sizes", "1", "--reps", "1", "--no-train", "--bf16", "--devices", "cpu"
    )
    assert r.returncode == 0, r.stderr
    row = [line.split() for line in r.stdout.splitlines() if line.startswith("small")][0]
    assert row[2:4] == ["cpu", "1"] and float(row[4]) > 0 and float(row[6]) > 0 and row[7].endswith("x"), row


def test_compare_checks_out_a_commit_as_a_worktree():
    from stirer_lib.bench.compare import BenchError, baseline_tree

    if subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("not a git checkout")
    with baseline_tree("HEAD", REPO) as (tree, label):
        assert (tree / "stirer_lib" / "models" / "stirer.py").exists() and len(label) == 10
    assert not tree.exists()
    with pytest.raises(BenchError, match="neither a directory"), baseline_tree("no-such-commit-xyz", REPO):
        pass


def _generate_reference(t5, z: torch.Tensor, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What greedy_generate must equal: transformers' generate() on the same T5, padded as greedy_generate pads
    (ids with 0, scores with NaN, to 1 + steps). transformers 5 sizes T5's decoder cache from the encoder depth;
    an EncoderDecoderCache of two DynamicCaches grows with the real decoder depth instead (transformers >= 5.24
    names that argument `cache`, `past_key_values` before)."""
    import inspect

    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    name = "cache" if "cache" in inspect.signature(type(t5).forward).parameters else "past_key_values"
    with torch.no_grad():
        gen = t5.generate(
            inputs_embeds=z,
            max_new_tokens=steps,
            min_new_tokens=0,
            num_beams=1,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            **{name: EncoderDecoderCache(DynamicCache(), DynamicCache())},
        )
    ids, scores = gen.sequences, torch.stack(gen.scores, 1)
    short = 1 + steps - ids.shape[1]  # every row stopped before the limit
    ids = torch.cat([ids, ids.new_zeros(ids.shape[0], short)], 1)
    scores = torch.cat([scores, scores.new_full((scores.shape[0], short, scores.shape[2]), float("nan"))], 1)
    return ids, scores


@pytest.mark.parametrize("eos_bonus", [0.0, 3.0])
def test_greedy_loop_equals_transformers_generate(eos_bonus):
    from stirer_lib.models import build_stirer
    from stirer_lib.models.decoders import greedy_generate

    torch.manual_seed(1)
    model = build_stirer("small").eval()
    bonus = torch.zeros(38)
    bonus[37] = eos_bonus  # some rows stop early, others run to the limit
    model.decoder.lm_head.register_forward_hook(lambda mod, inp, logits: logits + bonus)
    z = torch.randn(12, 32, 64)
    ids, scores = greedy_generate(model, z, 20)
    ref_ids, ref_scores = _generate_reference(model.decoder, z, 20)
    assert torch.equal(ids, ref_ids)
    assert torch.allclose(scores, ref_scores, atol=1e-5, equal_nan=True)


def test_swin_column_path_equals_row_path():
    from stirer_lib.models.swin import SwinTransformerLayer, cols_to_rows, rows_to_cols

    torch.manual_seed(0)
    for shifted in (False, True):
        layer = SwinTransformerLayer(48, (16, 64), (16, 2), 6, shifted=shifted).eval()
        x = torch.randn(2, 16 * 64, 48)
        with torch.no_grad():
            cols = cols_to_rows(layer(rows_to_cols(x, (16, 64)), (16, 64)), (16, 64))
            ref = _row_path(layer, x, (16, 64))
        assert (cols - ref).abs().max() < 1e-5


def _row_path(layer, x, size):
    """The released computation on row-major tokens: roll, partition, attention with the official index and
    mask, reverse, roll back."""
    from stirer_lib.models.swin import window_partition

    ws = (16, 2)
    h, w = size
    b, _, c = x.shape
    y = layer.norm1(x).view(b, h, w, c)
    if layer.shift != (0, 0):
        y = torch.roll(y, shifts=(-layer.shift[0], -layer.shift[1]), dims=(1, 2))
    y = layer.attn(window_partition(y, ws), layer.attn.relative_position_index, layer.attn_mask)
    y = y.view(b, h // ws[0], w // ws[1], ws[0], ws[1], c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
    if layer.shift != (0, 0):
        y = torch.roll(y, shifts=layer.shift, dims=(1, 2))
    x = x + y.reshape(b, h * w, c)
    return x + layer.mlp(layer.norm2(x))


def test_gru_loop_equals_nn_gru_forward_and_gradients():
    """The CPU time loop and nn.GRU (what CUDA runs: cuDNN) compute the same outputs and gradients."""
    from stirer_lib.models.pstst import bidirectional_gru, bidirectional_gru_loop

    torch.manual_seed(0)
    gru = torch.nn.GRU(8, 4, bidirectional=True, batch_first=True).double()
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    grads = []
    for path in (bidirectional_gru_loop, lambda x, g: g(x)[0]):
        gru.zero_grad()
        x.grad = None
        out = path(x, gru)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads.append((out.detach(), x.grad.clone(), [p.grad.clone() for p in gru.parameters()]))
    (o1, gx1, gp1), (o2, gx2, gp2) = grads
    assert (o1 - o2).abs().max() < 1e-6
    assert (gx1 - gx2).abs().max() < 1e-6
    assert max((a - b).abs().max() for a, b in zip(gp1, gp2)) < 1e-6
    assert torch.equal(bidirectional_gru(x, gru), bidirectional_gru_loop(x, gru))  # CPU tensors take the loop


def test_forward_leaves_the_thread_count_alone():
    """No forward (training, evaluation, greedy decoding) changes torch's process-wide thread count."""
    from stirer_lib.models import build_stirer
    from stirer_lib.models.config import config_from_name

    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        model = build_stirer(config_from_name("small", use_bigru=True))
        x = torch.rand(2, 4, 16, 64)
        seen = []
        hook = lambda *a: seen.append(torch.get_num_threads())  # noqa: E731
        for module in model.modules():  # the GRUs, the T5's layers in greedy decoding, every other part
            module.register_forward_pre_hook(hook)
        model.eval()
        with torch.no_grad():
            model(x)
        model.train()
        model(x)
        assert seen and set(seen) == {2}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(old)
