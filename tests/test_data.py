"""The LMDB data sets, the transform and the collation."""

from __future__ import annotations

import pickle
import warnings
from io import BytesIO
from pathlib import Path

import lmdb
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from stirer_lib.data import SynthTextLmdbDataset, TextZoomDataset, collate_eval, collate_train, find_lmdbs, hr_tensor
from stirer_lib.data.transforms import binary_mask
from stirer_lib.text import EOS


def png(img: Image.Image) -> bytes:
    buf = BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def word_image(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """A random-ish image with a dark bar (so the mask has both values)."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(120, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    arr[size[1] // 3 : 2 * size[1] // 3, size[0] // 4 : 3 * size[0] // 4] = 20
    img = Image.fromarray(arr)
    if mode == "L":
        return img.convert("L")
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(Image.linear_gradient("L").resize(size))
    return img


def write_lmdb(path: Path, records: list[dict[str, bytes]], num_samples: int | None = -1) -> Path:
    """records[i] -> keys '<name>-%09d' (1-based); num_samples=-1 writes len(records), None omits it."""
    path.mkdir(parents=True)
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, rec in enumerate(records, start=1):
            for k, v in rec.items():
                txn.put(f"{k}-{i:09d}".encode(), v)
        if num_samples is not None:
            txn.put(b"num-samples", str(len(records) if num_samples == -1 else num_samples).encode())
    env.close()
    return path


def pair(label: str, hr_size=(128, 32), lr_size=(64, 16), mode="RGB", seed=0) -> dict[str, bytes]:
    return {
        "label": label.encode(),
        "image_hr": png(word_image(hr_size, mode, seed)),
        "image_lr": png(word_image(lr_size, mode, seed + 1)),
    }


# ---------------------------------------------------------------------------------------------
# the official evaluation collation, bit-exact (fixtures/README.md)


def test_collate_eval_matches_official_fixture(load_fixture, fixtures_dir):
    ref = load_fixture("official_collate_eval.pt")
    with pytest.warns(UserWarning, match="skipped 1 of 11 records .1 empty label"):
        ds = TextZoomDataset(fixtures_dir / "textzoom_mini")
    keep = [i for i in range(11) if i != 5]  # index 5 is the official reader's duplicate of record 8
    assert [ref["per_index"][i]["record"] for i in keep] == ds.records.tolist()
    batch = collate_eval([ds[i] for i in range(len(ds))])
    assert torch.equal(batch["hr"], ref["images_hr"][keep])
    assert torch.equal(batch["lr"], ref["images_lr"][keep])
    assert batch["labels"] == [ref["label_strs"][i] for i in keep]
    lengths = ref["length_tensors"]
    starts = torch.cat([torch.zeros(1, dtype=torch.long), lengths.long().cumsum(0)])
    targets = torch.cat([ref["label_tensors"][starts[i] : starts[i + 1]] for i in keep])
    assert batch["ctc_targets"].dtype == torch.int32 and torch.equal(batch["ctc_targets"], targets)
    assert batch["ctc_lengths"].dtype == torch.int32 and torch.equal(batch["ctc_lengths"], lengths[keep])
    # the decoder labels keep the EOS the official training collation overwrites (label_ce_train_collate)
    official = ref["label_ce_train_collate"][keep]
    ours = batch["decoder_labels"]
    assert ours.dtype == torch.long and ours.shape == (10, 31)
    for b, n in enumerate(lengths[keep].tolist()):
        assert torch.equal(ours[b, :n], official[b, :n]) and ours[b, n] == EOS and not ours[b, n + 1 :].any()


def test_train_mode_drops_long_labels(fixtures_dir):
    with pytest.warns(UserWarning, match="1 empty label, 1 label too long"):
        ds = TextZoomDataset(fixtures_dir / "textzoom_mini", train=True)
    assert len(ds) == 9 and "abcdefghijklmnopqrstuvwxyz0123" not in ds.labels
    hr, lr, label = ds[0]
    assert hr.shape == (4, 32, 128) and lr.shape == (4, 16, 64) and label == "hello"


def test_lazy_open_and_dataloader_workers(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = TextZoomDataset(fixtures_dir / "textzoom_mini")
    ds[0]  # the main process holds an environment now; forked workers must open their own
    clone = pickle.loads(pickle.dumps(ds))
    assert clone.labels == ds.labels
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_eval)
    batches = list(loader)
    assert [s for b in batches for s in b["labels"]] == ds.labels
    full = collate_eval([ds[i] for i in range(len(ds))])
    assert torch.equal(torch.cat([b["hr"] for b in batches]), full["hr"])


def test_train_shrink_reproducible_with_workers(fixtures_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = TextZoomDataset(fixtures_dir / "textzoom_mini", train=True)

    def run() -> torch.Tensor:
        torch.manual_seed(3)
        return torch.cat([b["lr"] for b in DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate_train)])

    assert torch.equal(run(), run())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seeded = TextZoomDataset(fixtures_dir / "textzoom_mini", train=True, seed=5)
    assert torch.equal(seeded[2][1], seeded[2][1])


# ---------------------------------------------------------------------------------------------
# bad input


def test_missing_root_names_path_and_remedy(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*stirer_lib\.data\.synth.*data/README\.md"):
        TextZoomDataset(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_lmdbs(tmp_path / "nowhere")


def test_lmdb_without_num_samples(tmp_path):
    path = write_lmdb(tmp_path / "db", [pair("hello")], num_samples=None)
    with pytest.raises(ValueError, match=r"db/data\.mdb has no 'num-samples'"):
        TextZoomDataset(path)


def test_corrupt_image_is_replaced_in_training_and_counted(tmp_path):
    recs = [pair("one"), pair("two"), pair("three")]
    recs[1]["image_lr"] = b"not an image"
    path = write_lmdb(tmp_path / "db", recs)
    ds = TextZoomDataset(path, train=True, random_shrink=False)
    assert len(ds) == 3
    with pytest.warns(UserWarning, match=r"record 2 could not be read.*next record"):
        items = [ds[i] for i in range(3)]
    assert [it[2] for it in items] == ["one", "three", "three"]  # training: record 2 replaced by the next one
    with pytest.raises(IndexError):
        ds[3]
    assert ds.num_bad_reads == 1 and ds.bad_records == [2]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        ds[1]
    assert ds.num_bad_reads == 2


def test_evaluation_skips_and_counts_a_corrupt_image_never_scoring_a_record_twice(tmp_path):
    recs = [pair("one"), pair("two"), pair("three")]
    recs[1]["image_hr"] = b"not an image"
    path = write_lmdb(tmp_path / "db", recs)
    ds = TextZoomDataset(path)  # train=False: evaluation
    with pytest.warns(UserWarning, match=r"record 2 could not be read.*skipped"):
        items = [ds[i] for i in range(3)]
    assert items[1] is None and ds.num_bad_reads == 1
    with pytest.raises(IndexError):
        ds[3]
    batch = collate_eval(items)
    assert batch["labels"] == ["one", "three"] and batch["skipped"] == 1 and batch["hr"].shape[0] == 2
    empty = collate_eval([None, None])
    assert empty["labels"] == [] and empty["skipped"] == 2 and empty["hr"].shape == (0, 4, 32, 128)


def test_all_images_corrupt_raises(tmp_path):
    path = write_lmdb(tmp_path / "db", [{"label": b"x", "image_hr": b"?", "image_lr": b"?"}] * 3)
    ds = TextZoomDataset(path, train=True)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="could not be decoded"):
        ds[0]


def test_no_usable_record_raises(tmp_path):
    path = write_lmdb(tmp_path / "db", [pair(""), pair("!!")])
    with pytest.raises(ValueError, match="none of its 2 records is usable"):
        TextZoomDataset(path)


@pytest.mark.parametrize(
    "mode,hr_size,lr_size",
    [("L", (128, 32), (64, 16)), ("RGBA", (128, 32), (64, 16)), ("RGB", (131, 29), (33, 7)), ("RGB", (5, 3), (3, 2))],
)
def test_gray_rgba_odd_sizes(tmp_path, mode, hr_size, lr_size):
    path = write_lmdb(tmp_path / "db", [pair("Word!", hr_size, lr_size, mode)])
    hr, lr, label = TextZoomDataset(path)[0]
    assert hr.shape == (4, 32, 128) and lr.shape == (4, 16, 64) and label == "word"
    assert hr.dtype == torch.float32 and hr.min() >= 0 and hr.max() <= 1
    assert set(hr[3].unique().tolist()) <= {0.0, 1.0}
    if mode == "L":
        assert torch.equal(hr[0], hr[1]) and torch.equal(hr[1], hr[2])


def test_mask_rule_dark_pixels_are_one():
    img = word_image((128, 32))
    mask = binary_mask(img)
    gray = np.asarray(img.convert("L"))
    assert mask.dtype == np.float32 and mask[16, 64] == 1 and mask[0, 0] == 0
    assert np.array_equal(mask == 1, gray <= gray.mean())
    assert torch.equal(hr_tensor(img)[3], torch.from_numpy(mask))


# ---------------------------------------------------------------------------------------------
# MJSynth / SynthText format


def mj_lmdb(tmp_path: Path, n: int = 6) -> Path:
    recs = [{"label": f"Word{i}".encode(), "image": png(word_image((100, 32), seed=i))} for i in range(n)]
    recs.append({"label": b"x" * 25, "image": png(word_image((100, 32)))})  # dropped: longer than 20
    return write_lmdb(tmp_path / "mj", recs)


def test_synthtext_dataset_items(tmp_path):
    with pytest.warns(UserWarning, match="1 label too long"):
        ds = SynthTextLmdbDataset(mj_lmdb(tmp_path))
    assert len(ds) == 6
    hr, lr, label = ds[0]
    assert hr.shape == (4, 32, 128) and lr.shape == (4, 16, 64) and label == "word0"
    batch = collate_train([ds[i] for i in range(4)])
    assert batch["hr"].shape == (4, 4, 32, 128) and batch["ctc_lengths"].tolist() == [5] * 4
    assert batch["decoder_labels"][:, 5].tolist() == [EOS] * 4


def test_synthtext_lr_reproducible(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = SynthTextLmdbDataset(mj_lmdb(tmp_path))
        fixed = SynthTextLmdbDataset(mj_lmdb(tmp_path / "b"), seed=7)
    assert torch.equal(fixed[1][1], fixed[1][1])  # seed: the same LR for an index every time

    def epoch() -> torch.Tensor:
        return torch.cat([b["lr"] for b in DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_train)])

    torch.manual_seed(0)
    a1, a2 = epoch(), epoch()
    torch.manual_seed(0)
    b1, b2 = epoch(), epoch()
    assert torch.equal(a1, b1) and torch.equal(a2, b2)  # reproducible given the seed
    assert not torch.equal(a1, a2)  # fresh degradations every epoch
