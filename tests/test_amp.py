"""Mixed precision proven on a CPU (and on CUDA with STIRER_TEST_DEVICE=cuda): bf16 autocast of the train step,
losses in float32."""

from __future__ import annotations

import pytest
import torch

from stirer_lib.data import collate_train
from stirer_lib.losses import stirer_loss
from stirer_lib.models import build_stirer, load_stirer
from stirer_lib.training.trainer import amp_dtype

pytestmark = pytest.mark.usefixtures("one_thread")
BF16_LOSS_RTOL = 0.005  # measured on the fixture batch (release model, seeds 0-2): |bf16 - fp32| / fp32 = 0.013-0.031 %


def _batch(fixture: dict) -> dict:
    return collate_train([(fixture["hr"][i], fixture["lr"][i], s) for i, s in enumerate(fixture["labels"])])


def _loss(model, batch, dtype):
    kind = batch["lr"].device.type
    ctx = torch.autocast(kind, dtype=dtype) if dtype is not None else torch.autocast(kind, enabled=False)
    with ctx:
        out = model(batch["lr"], labels=batch["decoder_labels"])
    return stirer_loss(out, batch)  # the losses cast the outputs to float32


def test_amp_modes_pick_the_dtype_per_device():
    cpu = torch.device("cpu")
    assert amp_dtype("auto", cpu) is None and amp_dtype("off", cpu) is None
    assert amp_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(ValueError, match="needs a CUDA device"):
        amp_dtype("fp16", cpu)
    if torch.cuda.is_available():
        assert amp_dtype("auto", torch.device("cuda")) in (torch.bfloat16, torch.float16)


def test_bf16_train_loss_is_finite_float32_and_close(load_fixture, device, to_device):
    fx = load_fixture("official_stirer_seed0.pt")
    model = load_stirer(fx["state_dict"]).train().to(device)
    batch = to_device(_batch(fx))
    torch.manual_seed(0)
    ref = _loss(model, batch, None)
    torch.manual_seed(0)
    bf = _loss(model, batch, torch.bfloat16)
    for k in ("total", "l_sr", "l_rec"):
        assert bf[k].dtype == torch.float32 and torch.isfinite(bf[k])
        assert bf[k].item() == pytest.approx(ref[k].item(), rel=BF16_LOSS_RTOL), k
    bf["total"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


def test_a_few_bf16_steps_reduce_the_loss(load_fixture, device, to_device):
    fx = load_fixture("official_stirer_seed0.pt")
    torch.manual_seed(0)
    model = build_stirer("small").train().to(device)
    batch = to_device(_batch(fx))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(6):
        parts = _loss(model, batch, torch.bfloat16)
        opt.zero_grad()
        parts["total"].backward()
        opt.step()
        losses.append(parts["total"].item())
    assert losses[-1] < 0.8 * losses[0], losses
