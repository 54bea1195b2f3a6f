"""What every notebook and command does first: read the profile, resolve paths, make sure the data exists."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..data.synth import ensure_data
from ..utils import default_device, seed_everything
from .profiles import Profile, get_profile


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


def ensure_profile_data(prof: Profile, user_root: bool = False) -> Path:
    """Generate the profile's synthetic data when missing, or check that its real data is there.

    user_root: the folder was named by the user (--data): it is never regenerated in place."""
    d = prof.data
    return ensure_data(
        d.root, synthetic=d.synthetic, sizes=d.sizes, seed=d.seed, style=d.style, replace_outdated=not user_root
    )


OOD_TRAIN_SIZE = 8  # the out-of-distribution and held-out sets are for testing: their training parts are token-sized


def _test_set(prof: Profile, n: int, root_setting: str, suffix: str, style: str, camera: str) -> Path | None:
    """A test-only synthetic set (n images per test split) at root_setting, else ROOT<suffix> beside the data
    root; made from data.seed when missing; None when n is 0 or the profile uses real data."""
    if n <= 0 or not prof.data.synthetic:
        return None
    sizes = {
        "train1": OOD_TRAIN_SIZE,
        "train2": OOD_TRAIN_SIZE,
        "easy": n,
        "medium": n,
        "hard": n,
        "pretrain": OOD_TRAIN_SIZE,
    }
    root = resolve(root_setting) if root_setting else Path(prof.data.root).with_name(Path(prof.data.root).name + suffix)
    return ensure_data(root, synthetic=True, sizes=sizes, seed=prof.data.seed, style=style, test_camera=camera)


OOD_STYLE = "full"  # the out-of-distribution test set's data style (notebook 06): TextZoom-like words and fonts


def ensure_ood_data(prof: Profile) -> Path | None:
    """The profile's out-of-distribution test set (notebook 06): `full`-style synthetic words and fonts, made
    from data.seed when missing; None when the profile has none (eval.ood_images = 0 or real data)."""
    return _test_set(prof, prof.eval.ood_images, prof.eval.ood_root, "-ood", OOD_STYLE, "course")


def ensure_heldout_data(prof: Profile) -> Path | None:
    """The profile's held-out camera test set (notebook 06): the profile's words and fonts captured by the
    "heldout" camera (camera.py), made from data.seed when missing; None when eval.heldout_images = 0 or real data."""
    return _test_set(prof, prof.eval.heldout_images, prof.eval.heldout_root, "-heldout", prof.data.style, "heldout")


def prepare(
    profile: str,
    overrides: dict[str, Any] | list[str] | None = None,
    data_root: str | None = None,
    run_dir: str | None = None,
    seed: int | None = None,
) -> tuple[Profile, bool]:
    """The profile with overrides and absolute paths; returns (profile, data root given by the user)."""
    prof = get_profile(profile, overrides)
    default_root = resolve(prof.data.root)
    prof.data.root = str(resolve(data_root) if data_root else default_root)
    prof.run_dir = str(resolve(run_dir or prof.run_dir))
    if seed is not None:
        prof.seed = int(seed)
    return prof, Path(prof.data.root) != default_root


def start(
    profile: str = "smoke",
    overrides: dict[str, Any] | None = None,
    data_root: str | None = None,
    run_dir: str | None = None,
    seed: int | None = None,
    ensure_data: bool = True,
) -> Profile:
    """Load a profile for a notebook or a script and prepare its data and run directory.

    Returns the Profile with absolute `data.root` and `run_dir`, and `device` set. Synthetic data is
    generated (deterministically, from data.seed) when the profile uses it and it is missing; a missing
    real data set raises DataError naming the path and where to get it. `seed` is the run's seed.
    """
    prof, user_root = prepare(profile, overrides, data_root, run_dir, seed)
    Path(prof.run_dir).mkdir(parents=True, exist_ok=True)
    prof.device = str(default_device())
    seed_everything(prof.seed)
    if ensure_data:
        ensure_profile_data(prof, user_root)
    return prof
