"""LMDB access shared by the data sets: layout helpers, lazy per-process opening, clear errors.

An lmdb.Environment cannot be pickled or shared across fork, so each process (the main one and
every DataLoader worker) opens its own, read-only, on first use (docs/DESIGN.md section 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import lmdb

from ..errors import DataError

TEST_SPLITS = ("easy", "medium", "hard")
TRAIN_SPLITS = ("train1", "train2")

HOW_TO_GET_DATA = (
    "Generate the synthetic default with `python -m stirer_lib.data.synth --out DIR --profile smoke|cpu|gpu` "
    "(notebooks do it on first use), or download the real TextZoom / MJSynth / SynthText LMDBs as described "
    "in data/README.md, section 'Real data'."
)


def textzoom_dir(root: str | os.PathLike) -> Path:
    """ROOT/textzoom: holds train1, train2 and test/{easy,medium,hard}."""
    return Path(root) / "textzoom"


def pretrain_dir(root: str | os.PathLike) -> Path:
    """ROOT/pretrain: holds MJSynth / SynthText-format LMDBs at any depth."""
    return Path(root) / "pretrain"


def split_dir(root: str | os.PathLike, split: str) -> Path:
    """The LMDB folder of a TextZoom split: 'train1', 'train2', 'easy', 'medium' or 'hard'."""
    if split in TEST_SPLITS:
        return textzoom_dir(root) / "test" / split
    if split in TRAIN_SPLITS:
        return textzoom_dir(root) / split
    raise DataError(f"unknown TextZoom split {split!r}; choose one of {TRAIN_SPLITS + TEST_SPLITS}")


def find_lmdbs(directory: str | os.PathLike) -> list[Path]:
    """Every folder holding a data.mdb at or under `directory`, sorted (deterministic order)."""
    d = Path(directory)
    if not d.exists():
        raise DataError(f"no such data folder: {d}. {HOW_TO_GET_DATA}")
    return sorted(p.parent for p in d.rglob("data.mdb"))


def check_lmdb_path(path: str | os.PathLike) -> Path:
    """The folder of an LMDB, or FileNotFoundError naming it and how to get the data."""
    p = Path(path)
    if p.is_file() and p.name == "data.mdb":
        p = p.parent
    if not (p / "data.mdb").is_file():
        what = "folder does not exist" if not p.exists() else "folder has no data.mdb"
        raise DataError(f"LMDB not found at {p} ({what}). {HOW_TO_GET_DATA}")
    return p


def open_env(path: Path) -> lmdb.Environment:
    """Open an LMDB read-only the way DataLoader workers need it (no lock, no readahead)."""
    try:
        return lmdb.open(
            str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=1, subdir=True
        )
    except lmdb.Error as err:
        raise DataError(
            f"{Path(path) / 'data.mdb'} cannot be opened as an LMDB ({type(err).__name__}: "
            f"{str(err).split(': ')[-1]}); rebuild it, or point --data at a TextZoom / MJSynth / "
            f"SynthText LMDB folder. {HOW_TO_GET_DATA}"
        ) from None


_OPEN: dict[str, tuple[int, lmdb.Environment]] = {}  # path -> (pid, env): one env per path and process


def shared_env(path: Path) -> lmdb.Environment:
    """This process's environment for path; a copy inherited through fork is closed and reopened.

    py-lmdb refuses to open one path twice in a process (a forked DataLoader worker inherits the
    parent's registry), so environments are shared per path and replaced after a fork.
    """
    key, pid = str(Path(path).resolve()), os.getpid()
    hit = _OPEN.get(key)
    if hit is not None and hit[0] == pid:
        return hit[1]
    if hit is not None:
        hit[1].close()  # the parent's environment, inherited: unmap it in this process only
    env = open_env(Path(path))
    _OPEN[key] = (pid, env)
    return env


class LazyLmdb:
    """An LMDB opened on first use in each process; pickles as its path only."""

    def __init__(self, path: str | os.PathLike):
        self.path = check_lmdb_path(path)

    def env(self) -> lmdb.Environment:
        """This process's environment."""
        return shared_env(self.path)

    def get(self, key: bytes) -> bytes | None:
        """The value stored under key, or None."""
        with self.env().begin(write=False, buffers=False) as txn:
            return txn.get(key)

    def num_samples(self) -> int:
        """The `num-samples` record, or a ValueError naming the file."""
        raw = self.get(b"num-samples")
        if raw is None:
            raise DataError(
                f"{self.path / 'data.mdb'} has no 'num-samples' key: not a TextZoom / MJSynth / "
                f"SynthText LMDB (keys num-samples, label-%09d, image-... 1-based). {HOW_TO_GET_DATA}"
            )
        try:
            return int(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError) as e:
            raise DataError(f"{self.path / 'data.mdb'}: 'num-samples' is {raw[:20]!r}, not an integer") from e

    def labels(self, n: int) -> list[bytes | None]:
        """The raw label-%09d values of records 1..n (None when missing)."""
        return list(self.iter_labels(n))

    def iter_labels(self, n: int) -> Iterator[bytes | None]:
        """The raw label-%09d values of records 1..n in one read transaction, one at a time."""
        with self.env().begin(write=False, buffers=False) as txn:
            for i in range(1, n + 1):
                yield txn.get(b"label-%09d" % i)


def describe_lmdb(path: str | os.PathLike, records: int = 2) -> list[tuple[str, str]]:
    """(key, what its value is) for num-samples and the first records: the layout at a glance."""
    from io import BytesIO

    from PIL import Image

    db = LazyLmdb(path)
    out = [("num-samples", str(db.num_samples()))]
    with db.env().begin(write=False, buffers=False) as txn:
        for rec in range(1, records + 1):
            for name in ("label", "image_hr", "image_lr", "image"):
                key = f"{name}-{rec:09d}"
                value = txn.get(key.encode())
                if value is None:
                    continue
                if name == "label":
                    out.append((key, repr(value.decode("utf-8", "replace"))))
                    continue
                with Image.open(BytesIO(value)) as im:
                    out.append((key, f"{im.format} {im.mode} {im.size[0]}x{im.size[1]}, {len(value)} bytes"))
    return out
