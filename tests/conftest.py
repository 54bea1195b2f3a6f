"""Shared test helpers: where the reference fixtures of the official code live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("STIRER_FIXTURES", REPO.parent / "shared" / "fixtures"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """../shared/fixtures (or $STIRER_FIXTURES); skip when a user's clone lacks it."""
    if not (FIXTURES / "README.md").exists():
        pytest.skip(f"reference fixtures not found at {FIXTURES} (set STIRER_FIXTURES to their folder)")
    return FIXTURES


@pytest.fixture(scope="session")
def load_fixture(fixtures_dir):
    """Load one fixture file with torch.load(weights_only=False), as fixtures/README.md says."""
    import torch

    def _load(name: str):
        return torch.load(fixtures_dir / name, weights_only=False, map_location="cpu")

    return _load


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a test module (`pytestmark = pytest.mark.usefixtures("one_thread")`):
    on a shared 2-core machine more threads only contend."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


TEST_DEVICE = os.environ.get("STIRER_TEST_DEVICE", "cpu")  # cuda: the fixture tests on a GPU (tools/gpu_check.sh)


@pytest.fixture(scope="session")
def device():
    """The device of the fixture-equivalence tests: $STIRER_TEST_DEVICE, cpu unless set. On cuda TF32 is
    switched off, so float32 is float32 and the CPU tolerances hold; bf16 tests state their own."""
    import torch

    dev = torch.device(TEST_DEVICE)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            pytest.fail(f"STIRER_TEST_DEVICE={TEST_DEVICE} but torch finds no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return dev


@pytest.fixture(scope="session")
def to_device(device):
    """Move a tensor, or the tensors inside a dict / list / tuple, to the test device."""
    import torch

    def _move(obj):
        if isinstance(obj, torch.Tensor):
            return obj.to(device)
        if isinstance(obj, dict):
            return {k: _move(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return type(obj)(_move(v) for v in obj)
        return obj

    return _move
