"""Words for the synthetic data: English words from `wordfreq` plus digit / alphanumeric codes.

Stored labels keep case and punctuation as TextZoom's do ('Hello,', 'SALE!', 'No.5'); the
training label is their stirer_lib.text.filter_label.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..text import filter_label

VOCAB_SIZE = 30000
MAX_WORD_LEN = 14  # rendered words; TextZoom words are short (median ~5 characters)
PUNCT_AFTER = list(".,!?:;'\")")
PUNCT_BEFORE = list("\"'(#$")
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@lru_cache(maxsize=4)
def vocabulary(size: int = VOCAB_SIZE) -> tuple[str, ...]:
    """The `size` most frequent English words of wordfreq, letters only, 1-14 characters (in frequency order, so
    vocabulary(n) begins with vocabulary(m) for m < n)."""
    from wordfreq import top_n_list

    words = [w for w in top_n_list("en", size) if w.isascii() and w.isalpha() and len(w) <= MAX_WORD_LEN]
    if not words:
        raise RuntimeError("wordfreq returned no English words; reinstall the `wordfreq` package")
    return tuple(words)


def _case(word: str, rng: np.random.Generator) -> str:
    """lower 40 %, Title 30 %, UPPER 25 %, rAndom 5 %."""
    r = rng.random()
    if r < 0.40:
        return word.lower()
    if r < 0.70:
        return word.capitalize()
    if r < 0.95:
        return word.upper()
    return "".join(c.upper() if rng.random() < 0.5 else c for c in word)


def _code(rng: np.random.Generator) -> str:
    """A number, price, year, phone-like or alphanumeric code."""
    kind = int(rng.integers(6))
    digits = lambda n: "".join(str(int(d)) for d in rng.integers(0, 10, size=n))  # noqa: E731
    if kind == 0:
        return str(int(rng.integers(0, 1000)))
    if kind == 1:
        return f"{int(rng.integers(1, 100))}.{digits(2)}"
    if kind == 2:
        return str(int(rng.integers(1950, 2030)))
    if kind == 3:
        return f"{digits(3)}-{digits(4)}"
    letters = "".join(UPPER[int(i)] for i in rng.integers(0, 26, size=int(rng.integers(1, 4))))
    if kind == 4:
        return letters + digits(int(rng.integers(1, 4)))
    return digits(int(rng.integers(1, 3))) + letters.lower() if rng.random() < 0.5 else letters + "-" + digits(3)


CLUSTERS = ["bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sh", "sk", "sl", "sp", "st", "th"]
ONSETS = [*"bcdfghjklmnprstvwz", *CLUSTERS, "str", "tr"]
VOWELS = [*"aeiouy", "ai", "ea", "ee", "oo", "ou", "ie"]
CODAS = ["", "", "", "n", "r", "s", "t", "l", "m", "ck", "ng", "st", "x"]


def random_string(rng: np.random.Generator) -> str:
    """A string no dictionary holds: a pseudo-word of 1-4 syllables (half), else 2-10 random letters and digits."""
    if rng.random() < 0.5:
        syllables = int(rng.integers(1, 5))
        parts = [
            ONSETS[int(rng.integers(len(ONSETS)))] * int(rng.random() < 0.85)
            + VOWELS[int(rng.integers(len(VOWELS)))]
            + CODAS[int(rng.integers(len(CODAS)))]
            for _ in range(syllables)
        ]
        return _case("".join(parts)[:MAX_WORD_LEN], rng)
    chars = "abcdefghijklmnopqrstuvwxyz" * 3 + "0123456789"
    text = "".join(chars[int(i)] for i in rng.integers(0, len(chars), size=int(rng.integers(2, 11))))
    return _case(text, rng)


def sample_label(
    rng: np.random.Generator,
    p_code: float = 0.2,
    p_punct: float = 0.15,
    vocab_size: int | None = None,
    p_random: float = 0.0,
    min_rank: int = 0,
) -> str:
    """One raw label (case and punctuation kept) whose filtered form is non-empty.

    vocab_size: draw words only from the vocab_size most frequent ones (None: the whole vocabulary); min_rank:
    only from those of rank min_rank and above (the 'rare' test style); p_random: the share of random strings.
    """
    if min_rank:
        vocab = vocabulary(vocab_size or VOCAB_SIZE)[len(vocabulary(min_rank)) :]
    else:
        vocab = vocabulary()[:vocab_size] if vocab_size else vocabulary()
    if rng.random() < p_code:
        text = _code(rng)
    elif p_random and rng.random() < p_random:
        text = random_string(rng)
    else:
        # favour frequent words: a log-uniform rank over the vocabulary
        rank = int(np.exp(rng.uniform(0, np.log(len(vocab))))) - 1
        text = _case(vocab[min(rank, len(vocab) - 1)], rng)
    if rng.random() < p_punct:
        text = text + PUNCT_AFTER[int(rng.integers(len(PUNCT_AFTER)))]
    elif rng.random() < p_punct / 3:
        text = PUNCT_BEFORE[int(rng.integers(len(PUNCT_BEFORE)))] + text
    assert filter_label(text), text
    return text
