"""Vectorised forms of ``text.py``'s words and sentences, for whole batches of texts.

The offline generator, the offline judge and the heuristic flags look at every sample
and passage of a partition; one Python call per text costs seconds at 10k documents.
These helpers explode a batch into one row per word or sentence (``row`` = index of the
text in the batch) so the work runs in polars and numpy. They follow ``text.words`` and
``text.sentences`` (same patterns, Rust's Unicode regex instead of Python's ``re``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from synth_pipeline.text import STOPWORDS

WORD = r"\w+(?:['’]\w+)*"  # text._WORD
# text._SENTENCE_END splits at whitespace after . ! ? when a capital, digit, quote or
# bracket follows. Rust's regex has no look-around: the boundary is marked instead (the
# two characters around it are kept, the whitespace becomes the mark) and then split on.
_SENTENCE_GAP = r"([.!?])\s+([A-Z0-9\"'(\[])"
_MARK = "\x00"  # normalised text never holds control characters
_STOPWORDS = pl.Series(sorted(STOPWORDS), dtype=pl.String)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def series(texts: Sequence[str] | pl.Series) -> pl.Series:
    if isinstance(texts, pl.Series):
        return texts.cast(pl.String).fill_null("")
    return pl.Series("text", list(texts), dtype=pl.String).fill_null("")


def word_frame(texts: pl.Series) -> pl.DataFrame:
    """``row`` (u32), ``pos`` (u32, word index in its text), ``word`` (lower-cased), in text order."""
    lists = texts.str.to_lowercase().str.extract_all(WORD)
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    return pl.DataFrame({"row": _rows(lengths), "pos": _positions(lengths), "word": lists.explode().drop_nulls()})


def _rows(lengths: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(lengths), dtype=np.uint32), lengths)


def _positions(lengths: np.ndarray) -> np.ndarray:
    starts = np.cumsum(lengths) - lengths
    return (np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(starts, lengths)).astype(np.uint32)


def content_mask(word: pl.Expr) -> pl.Expr:
    """``text.content_words``' filter on lower-cased words: no stopword, no number, > 2 characters."""
    return ~word.is_in(_STOPWORDS.implode()) & ~word.str.contains(r"^\d+$") & (word.str.len_chars() > 2)


def sentence_frame(texts: pl.Series) -> pl.DataFrame:
    """``row`` (u32), ``sent`` (u32, sentence index in its text), ``sentence``: ``text.sentences`` per text."""
    df = pl.DataFrame({"sentence": texts.str.split("\n\n")}).with_row_index("row").explode("sentence")
    df = df.with_columns(
        pl.col("sentence")
        .str.replace_all("\n", " ", literal=True)
        .str.strip_chars()
        .str.replace_all(_SENTENCE_GAP, "${1}" + _MARK + "${2}")
        .str.split(_MARK)
    ).explode("sentence")
    df = df.with_columns(pl.col("sentence").str.strip_chars()).filter(pl.col("sentence").str.len_bytes() > 0)
    return df.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).over("row").alias("sent"))


def rank_in_row(rows: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values of ``rows`` (a frame sorted by row)."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    start = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    lengths = np.diff(np.concatenate((start, [len(rows)])))
    return np.arange(len(rows)) - np.repeat(start, lengths)


def whitespace_word_counts(texts: pl.Series | pl.Expr):
    """``len(text.split())`` per text."""
    return texts.str.count_matches(r"\S+")


def mix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a well-spread 64-bit value from any 64-bit input."""
    z = x.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def uniform(base: np.ndarray, slot: int | np.ndarray) -> np.ndarray:
    """A uniform draw in [0, 1) per ``base`` for each ``slot``: the same (base, slot) always draws the same."""
    with np.errstate(over="ignore"):
        x = base.astype(np.uint64) + (np.asarray(slot, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    return (mix64(x) >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def ngram_keys(token_hash: np.ndarray, row: np.ndarray, pos: np.ndarray, row_len: np.ndarray, n: int):
    """64-bit key of the ``n``-gram starting at each token (also keyed by its row), and where one exists.

    ``row_len[row]`` is the number of tokens of the row; an n-gram never crosses rows.
    """
    total = len(token_hash)
    key = np.zeros(total, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            shifted = np.zeros(total, dtype=np.uint64)
            if j < total:
                shifted[: total - j] = token_hash[j:]
            key = key * _GOLDEN + shifted
        key = mix64(key ^ mix64(row.astype(np.uint64) + _GOLDEN))
    valid = pos.astype(np.int64) + n <= row_len[row]
    return key, valid
