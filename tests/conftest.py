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
