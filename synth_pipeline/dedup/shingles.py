"""Words and word n-gram shingles for duplicate detection, vectorised over many documents.

The normaliser (one definition for near-duplicate detection and decontamination):

* lowercase the text (Unicode lowercase, as polars ``str.to_lowercase``),
* words are the maximal runs of the regex ``\\w+`` (Unicode letters, digits, underscore),
  everything else (punctuation, whitespace) is a separator.

So ``"Hello, World!"`` and ``"hello world"`` have the same words ``["hello", "world"]``.

A word's hash is ``xxh3_64`` of its UTF-8 bytes (seed 0): stable across processes, machines
and library versions, which matters because signatures persist in the warehouse. Polars
tokenises (regex replace + split, see :func:`_split_words`) and dictionary-encodes the words;
only the distinct words are hashed in Python. A shingle is ``n`` consecutive words; its 64-bit hash mixes the ``n`` word hashes with
position-dependent odd multipliers and a final avalanche (murmur3 ``fmix64``). A document with
fewer than ``n`` words (but at least one) has exactly one shingle: all of its words.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import xxhash

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


def _split_words(texts: pl.Series) -> pl.Series:
    """list[str] per text, with empty strings where separators were adjacent.

    Replacing each run of characters that are neither word characters nor a space (and one
    adjacent space on either side) by one space, then splitting on the space, yields exactly the
    ``\\w+`` runs (plus a few empty strings) and is ~1.5x cheaper than
    ``str.extract_all(r"\\w+")``, whose cost is per match."""
    return (
        texts.cast(pl.String)
        .fill_null("")
        .str.to_lowercase()
        .str.replace_all(_NOT_WORD_OR_SPACE, " ")
        .str.split(" ")
    )


def word_lists(texts: pl.Series) -> pl.Series:
    """List of normalised words per text."""
    return _split_words(texts).list.eval(pl.element().filter(pl.element().str.len_bytes() > 0))


def words(text: str) -> list[str]:
    """Normalised words of one text (same definition as :func:`word_lists`)."""
    return word_lists(pl.Series([text]))[0].to_list()


def _encode_words(words_flat: pl.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Dictionary-encode the words: codes per word, xxh3_64 per distinct word, distinct words."""
    cat = words_flat.cast(pl.Categorical(pl.Categories.random()))  # private dictionary
    codes = cat.to_physical().to_numpy()
    dwords = cat.dtype.categories.to_series().to_list()  # distinct words, indexed by code
    lut = np.fromiter(
        (xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in dwords), dtype=np.uint64, count=len(dwords)
    )
    return codes, lut, dwords


def hash_words(words_flat: pl.Series) -> np.ndarray:
    """xxh3_64 of each word (UTF-8, seed 0), computed once per distinct word."""
    if len(words_flat) == 0:
        return np.zeros(0, dtype=np.uint64)
    codes, lut, _ = _encode_words(words_flat)
    return lut[codes]


def token_hashes(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Flat uint64 word hashes of all texts and int64 offsets (len(texts)+1)."""
    lists = _split_words(texts)
    raw_lengths = lists.list.len().to_numpy().astype(np.int64)
    flat = lists.explode()
    if len(flat) == 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(len(raw_lengths) + 1, dtype=np.int64)
    codes, lut, dwords = _encode_words(flat)
    hashes = lut[codes]
    lengths = raw_lengths
    try:
        empty_code = dwords.index("")  # separators next to each other leave empty strings
    except ValueError:
        empty_code = -1
    if empty_code >= 0:
        empty = codes == empty_code
        raw_offsets = np.zeros(len(raw_lengths) + 1, dtype=np.int64)
        np.cumsum(raw_lengths, out=raw_offsets[1:])
        doc_of_empty = np.searchsorted(raw_offsets, np.flatnonzero(empty), side="right") - 1
        lengths = raw_lengths - np.bincount(doc_of_empty, minlength=len(raw_lengths))
        hashes = hashes[~empty]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return hashes, offsets


def shingle_hashes(tok: np.ndarray, offsets: np.ndarray, n: int, *, whole_short: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of all word n-grams of every document, flat, with int64 offsets.

    Document i has ``len_i - n + 1`` shingles if ``len_i >= n``. A shorter document with at
    least one word has one shingle (all its words) if ``whole_short``, else none.
    """
    if n < 1:
        raise ValueError("shingle size must be >= 1")
    lengths = np.diff(offsets)
    n_docs = len(lengths)
    total = len(tok)
    # Full n-gram starting at every position (garbage across document boundaries: filtered).
    m = max(total - n + 1, 0)
    acc = np.zeros(m, dtype=np.uint64)
    tmp = np.empty(m, dtype=np.uint64)
    for j in range(n):
        np.multiply(tok[j : j + m], _mult(j), out=tmp)
        np.add(acc, tmp, out=acc)
    del tmp
    # A start position is valid unless it is one of the last n-1 positions of its document.
    valid = np.ones(m, dtype=bool)
    for j in range(1, n):
        pos = offsets[1:] - j
        pos = pos[(pos >= offsets[:-1]) & (pos < m)]
        valid[pos] = False
    n_sh = np.where(lengths >= n, lengths - n + 1, np.minimum(lengths, 1) if whole_short else 0)
    sh_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(n_sh, out=sh_offsets[1:])
    short_docs = np.flatnonzero((lengths > 0) & (lengths < n))
    if len(short_docs) == 0 or not whole_short:
        return fmix64(acc[valid], inplace=True), sh_offsets
    out = np.empty(int(sh_offsets[-1]), dtype=np.uint64)
    is_full = np.ones(len(out), dtype=bool)
    is_full[sh_offsets[short_docs]] = False
    out[is_full] = acc[valid]
    # short documents: one shingle of all their (< n) words
    short_vals = np.zeros(len(short_docs), dtype=np.uint64)
    for j in range(n - 1):
        has = lengths[short_docs] > j
        short_vals[has] += tok[offsets[short_docs][has] + j] * _mult(j)
    out[~is_full] = short_vals
    return fmix64(out, inplace=True), sh_offsets


def _mult(j: int) -> np.uint64:
    return _POS_MULT[j % len(_POS_MULT)] + np.uint64(2 * (j // len(_POS_MULT)))
