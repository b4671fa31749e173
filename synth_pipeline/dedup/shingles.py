"""Words and word n-gram shingles for duplicate detection, vectorised over many documents.

The normaliser (one definition for near-duplicate detection and decontamination):

* lowercase the text (Unicode lowercase, as polars ``str.to_lowercase``),
* words are the maximal runs of the regex ``\\w+`` (Unicode letters, digits, underscore),
  everything else (punctuation, whitespace) is a separator.

So ``"Hello, World!"`` and ``"hello world"`` have the same words ``["hello", "world"]``.

A word's hash is ``xxh3_64`` of its UTF-8 bytes (seed 0): stable across processes, machines
and library versions, which matters because signatures persist in the warehouse. One
compiled pass (:mod:`synth_pipeline.dedup._kernels`) lowercases, splits and hashes the words
(see :func:`token_hashes`). A shingle is ``n`` consecutive words; its 64-bit hash mixes the ``n``
word hashes with position-dependent odd multipliers and a final avalanche (murmur3
``fmix64``). A document with
fewer than ``n`` words (but at least one) has exactly one shingle: all of its words.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl
import pyarrow as pa
import xxhash

from synth_pipeline.dedup import _kernels
from synth_pipeline.text.buffers import utf8_buffers

WORD_PATTERN = r"\w+"
# a run of non-word, non-space characters with at most one adjacent space on each side
_NOT_WORD_OR_SPACE = r" ?[^\w ]+ ?"

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
# Odd 64-bit multipliers (from splitmix64 / murmur constants and golden ratio), one per
# position inside a shingle; positions beyond the table reuse it rotated by a different shift.
_POS_MULT = np.array(
    [
        0x9E3779B97F4A7C15,
        0xBF58476D1CE4E5B9,
        0x94D049BB133111EB,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0xD6E8FEB86659FD93,
        0xA0761D6478BD642F,
        0xE7037ED1A0B428DB,
    ],
    dtype=np.uint64,
)


def fmix64(h: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """murmur3's 64-bit finaliser (a bijection of uint64 with full avalanche)."""
    if not inplace or h.dtype != np.uint64:
        h = h.astype(np.uint64, copy=True)
    tmp = np.empty_like(h)
    for mult in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, None):
        np.right_shift(h, np.uint64(33), out=tmp)
        np.bitwise_xor(h, tmp, out=h)
        if mult is not None:
            np.multiply(h, np.uint64(mult), out=h)
    return h


def word_lists(texts: pl.Series) -> pl.Series:
    """List of normalised words per text.

    Lowercase, then each run of characters that are neither word characters nor a space
    (with one adjacent space on either side) becomes one space, so splitting on spaces
    yields exactly the ``\\w+`` runs (plus empty strings where separators were adjacent,
    dropped); ~1.5x cheaper than ``str.extract_all(r"\\w+")``, whose cost is per match."""
    spaced = texts.cast(pl.String).fill_null("").str.to_lowercase().str.replace_all(_NOT_WORD_OR_SPACE, " ")
    return spaced.str.split(" ").list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))


def words(text: str) -> list[str]:
    """Normalised words of one text (same definition as :func:`word_lists`)."""
    return word_lists(pl.Series([text]))[0].to_list()


@functools.cache
def unicode_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per Unicode code point, from polars itself (built once per process, ~0.1 s), so the
    compiled splitter agrees with :func:`word_lists` whatever Unicode version polars ships:

    * ``is_word``: the code point is a word character (``\\w`` of polars' regex engine);
    * ``lower``: its lowercase (polars ``to_lowercase``) when that is one code point and does
      not depend on context, else -1 (İ becomes two code points; Σ is σ or final ς);
    * ``lowered``: the identity, for text that polars has already lowercased.
    """
    cps = np.r_[0:0xD800, 0xE000:0x110000].astype(np.int64)
    data, offsets = _kernels.encode_code_points(cps)
    chars = pl.Series(pa.LargeStringArray.from_buffers(len(cps), pa.py_buffer(offsets), pa.py_buffer(data)))
    is_word = np.zeros(0x110000, dtype=np.bool_)
    is_word[cps] = chars.str.contains(r"^\w$").to_numpy()
    lower = np.full(0x110000, -1, dtype=np.int32)
    lower[cps] = _kernels.single_code_points(*utf8_buffers(chars.str.to_lowercase()))
    lower[ord("Σ")] = -1
    return is_word, lower, np.arange(0x110000, dtype=np.int32)


# Stand-ins for the code-point tables when every byte is ASCII (the loop never reads them).
_NO_TABLES = (np.zeros(1, dtype=np.bool_), np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int32))


def _split_and_hash(data: np.ndarray, offsets: np.ndarray, lowered: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the compiled splitter (``lowered``: polars has lowercased the text already); hash
    its over-long words with the library."""
    ascii_only = not (data[offsets[0] : offsets[-1]] >= 128).any()
    is_word, lower, identity = _NO_TABLES if ascii_only else unicode_tables()
    lower = identity if lowered else lower
    hashes, counts, done, long_at, long_start, long_len = _kernels.split_hash(data, offsets, is_word, lower)
    for at, start, length in zip(long_at.tolist(), long_start.tolist(), long_len.tolist(), strict=True):
        word = data[start : start + length].tobytes()
        if not word.isascii():
            word = "".join(chr(lower[ord(ch)]) for ch in word.decode("utf-8")).encode("utf-8")
        hashes[at] = xxhash.xxh3_64_intdigest(word.lower())
    return hashes, counts, done


def token_hashes(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 word hashes (xxh3_64 of each word's UTF-8 bytes) of all texts and int64
    offsets (len(texts)+1).

    One compiled pass lowercases (per code point), splits and hashes every text. The rare
    text holding a character whose lowercase depends on context or is several code points
    (Σ, İ) is lowercased by polars first, then split by the same pass. Both give the words
    of :func:`word_lists`."""
    raw = texts.cast(pl.String).fill_null("")
    hashes, counts, done = _split_and_hash(*utf8_buffers(raw), lowered=False)
    if not done.all():
        other = np.flatnonzero(~done)
        u_hashes, u_counts, _ = _split_and_hash(*utf8_buffers(raw.gather(other).str.to_lowercase()), lowered=True)
        counts[other] = u_counts
        from_other = np.repeat(~done, counts)
        merged = np.empty(len(from_other), dtype=np.uint64)
        merged[~from_other] = hashes
        merged[from_other] = u_hashes
        hashes = merged
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return hashes, offsets


def shingle_hashes(
    tok: np.ndarray, offsets: np.ndarray, n: int, *, whole_short: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of all word n-grams of every document, flat, with int64 offsets.

    Document i has ``len_i - n + 1`` shingles if ``len_i >= n``. A shorter document with at
    least one word has one shingle (all its words) if ``whole_short``, else none.
    """
    if n < 1:
        raise ValueError("shingle size must be >= 1")
    mults = np.array([_mult(j) for j in range(n)], dtype=np.uint64)
    return _kernels.shingle_hashes(
        np.ascontiguousarray(tok, dtype=np.uint64), np.ascontiguousarray(offsets, dtype=np.int64), n, whole_short, mults
    )


def _mult(j: int) -> np.uint64:
    return _POS_MULT[j % len(_POS_MULT)] + np.uint64(2 * (j // len(_POS_MULT)))
