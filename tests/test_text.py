import torch

from stirer_lib import text


def test_filter_label_matches_official_order():
    assert text.filter_label("Hello, World!") == "helloworld"
    assert text.filter_label("café") == "caf"  # official: filter before normalisation
    assert text.filter_label("") == ""


def test_ctc_encode_matches_official_collation(load_fixture):
    c = load_fixture("official_collate_eval.pt")
    items = [s for i, s in enumerate(c["label_strs"]) if i != 5]  # item 5 is the reader's duplicate
    t, n = text.ctc_encode(c["label_strs"])
    assert torch.equal(t, c["label_tensors"]) and torch.equal(n, c["length_tensors"])
    assert len(items) == 10


def test_decoder_labels_both_collations(load_fixture):
    c = load_fixture("official_collate_eval.pt")
    assert torch.equal(text.encode_decoder_labels(c["label_strs"], keep_eos=False), c["label_ce_train_collate"])
    s = load_fixture("official_stirer_seed0.pt")
    assert torch.equal(text.encode_decoder_labels(s["labels"]), s["label_ce_eos_kept"].long())
    assert torch.equal(text.encode_decoder_labels(s["labels"], keep_eos=False), s["label_ce"].long())


def test_ctc_greedy_decode_collapses_repeats_and_blanks():
    ids = torch.tensor([[0, 18, 18, 0, 15, 22, 0, 22, 25, 25]])
    logits = torch.nn.functional.one_hot(ids, 37).float()
    assert text.ctc_greedy_decode(logits) == ["hello"]
    assert text.ctc_greedy_decode(logits.transpose(0, 1), time_major=True) == ["hello"]


def test_decode_ids_stops_at_eos():
    assert text.decode_ids(torch.tensor([[0, 18, 15, 0, 22, 37, 5, 5]])) == ["hel"]
    assert text.decode_ids([[0, 37, 1]]) == [""]


def test_ctc_encode_rejects_unfiltered():
    import pytest

    with pytest.raises(ValueError, match="filter_label"):
        text.ctc_encode(["Hello"])
