"""The compiled loops of the near-duplicate stage against independent references: the
``xxhash`` library for word hashes, the polars regex normaliser (and Python's ``re``) for
words, and the documented shingle formula evaluated with Python integers."""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import polars as pl
import pytest
import xxhash

from synth_pipeline.dedup.shingles import _mult, shingle_hashes, token_hashes, word_lists
from synth_pipeline.text import hashing as fast_hash

pytestmark = pytest.mark.unit

_WORD = re.compile(r"\w+")
_M = (1 << 64) - 1


def test_xxh3_equals_the_library_for_every_short_length():
    rng = np.random.default_rng(0)
    for n in range(fast_hash.XXH3_MAX_SHORT + 1):
        for _ in range(5):
            buf = rng.integers(0, 256, n + 9, dtype=np.uint8)
            at = int(rng.integers(0, 9))
            expected = xxhash.xxh3_64_intdigest(buf[at : at + n].tobytes())
            assert fast_hash.xxh3_64(buf, at, n, fast_hash.IDENTITY) == expected, n
            lowered = xxhash.xxh3_64_intdigest(buf[at : at + n].tobytes().lower())
            assert fast_hash.xxh3_64(buf, at, n, fast_hash.ASCII_LOWER) == lowered, n


def _reference_token_hashes(texts: list[str | None]) -> list[list[int]]:
    """The library's hash of each word of the documented normaliser (polars' lowercase and
    regex ``\\w+``, see ``word_lists``), which is Python's ``re`` except that Rust's
    ``\\w`` also takes combining marks: checked against ``re`` where they do not occur."""
    lists = word_lists(pl.Series(texts, dtype=pl.String)).to_list()
    for t, words in zip(texts, lists, strict=True):
        if not any(unicodedata.category(ch).startswith("M") for ch in (t or "").lower()):
            assert words == _WORD.findall((t or "").lower())
    return [[xxhash.xxh3_64_intdigest(w.encode()) for w in words] for words in lists]


def test_word_hashes_match_the_regex_on_ascii_unicode_and_long_words():
    rng = np.random.default_rng(1)
    letters = list("abcXYZ019_ -,.;!?\n\t'\"") + ["é", "ß", "Ж", "東", "—", "’", "\u00a0", "😀"]
    texts: list[str | None] = ["".join(rng.choice(letters, int(rng.integers(0, 120)))) for _ in range(400)]
    texts += [
        None,
        "",
        "   ",
        "--!!--",
        "Hello, World!",
        "MiXeD CaSe_Words 42",
        "a" * 240 + " " + "B" * 241 + " c",  # both sides of the library fallback, ASCII path
        "é" * 130 + " x " + "Y" * 300,  # over-long words on the Unicode path
        "café naïve — Straße; TOKYO 東京",  # non-ASCII text next to ASCII ones
        "ΟΔΟΣ ΣΑΣ Σ. İstanbul KELVIN\u212a e\u0301té 😀x 𝒳y",  # final sigma, İ, combining mark, astral
    ]
    tok, offsets = token_hashes(pl.Series(texts, dtype=pl.String))
    got = [tok[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))]
    assert got == _reference_token_hashes(texts)


def test_shingle_hashes_follow_the_documented_formula():
    def fmix(h: int) -> int:
        h ^= h >> 33
        h = (h * 0xFF51AFD7ED558CCD) & _M
        h ^= h >> 33
        h = (h * 0xC4CEB9FE1A85EC53) & _M
        return h ^ (h >> 33)

    texts = ["one two three four five six seven", "only three words", "", "single", "a b c d e"]
    tok, offsets = token_hashes(pl.Series(texts))
    for n, whole_short in ((5, True), (5, False), (2, True), (13, False)):
        sh, sh_off = shingle_hashes(tok, offsets, n, whole_short=whole_short)
        for i in range(len(texts)):
            words = [int(x) for x in tok[offsets[i] : offsets[i + 1]]]
            starts = range(len(words) - n + 1) if len(words) >= n else ([0] if whole_short and words else [])
            width = min(n, len(words))
            expected = [fmix(sum(words[s + j] * int(_mult(j)) for j in range(width)) & _M) for s in starts]
            assert sh[sh_off[i] : sh_off[i + 1]].tolist() == expected, (n, whole_short, texts[i])
