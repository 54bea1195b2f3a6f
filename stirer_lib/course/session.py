"""What every notebook does first: read the profile, resolve paths, make sure the data exists."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..utils import default_device, seed_everything
from .profiles import get_profile


def repo_root() -> Path:
    """The course checkout: $STIRER_COURSE_ROOT, else the package's parent, else a parent of the cwd."""
    if os.environ.get("STIRER_COURSE_ROOT"):
        return Path(os.environ["STIRER_COURSE_ROOT"])
    here = Path(__file__).resolve().parents[2]
    if (here / "notebooks").is_dir():
        return here
    for d in (Path.cwd(), *Path.cwd().parents):
        if (d / "notebooks").is_dir() and (d / "stirer_lib").is_dir():
            return d
    return Path.cwd()


def resolve(path: str | os.PathLike) -> Path:
    """A path from a profile: absolute as given, else relative to the course checkout."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else repo_root() / p


def start(profile: str = "smoke", overrides: dict[str, Any] | None = None, data_root: str | None = None,
          run_dir: str | None = None, seed: int | None = None, ensure_data: bool = True) -> dict:
    """Load a profile for a notebook or a script and prepare its data and run directory.

    Returns the profile dict with absolute `data.root` and `run_dir`, plus `device`.
    Synthetic data is generated (deterministically) when the profile uses it and it is missing;
    a missing real data set raises FileNotFoundError naming the path and where to get it.
    """
    prof = get_profile(profile, overrides)
    if data_root:
        prof["data"]["root"] = str(data_root)
    if run_dir:
        prof["run_dir"] = str(run_dir)
    if seed is not None:
        prof["data"]["seed"] = seed
    prof["data"]["root"] = str(resolve(prof["data"]["root"]))
    prof["run_dir"] = str(resolve(prof["run_dir"]))
    Path(prof["run_dir"]).mkdir(parents=True, exist_ok=True)
    prof["device"] = str(default_device())
    seed_everything(prof["data"]["seed"])
    if ensure_data:
        from ..data.synth import ensure_profile_data
        ensure_profile_data(prof)
    return prof
