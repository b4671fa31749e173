"""Vectorised tokenisation and exact n-gram keys shared by every metric module.

One tokenisation for the project's own metrics
----------------------------------------------
``words``: the text lower-cased (Unicode lower-casing), then every maximal run of Unicode
word characters (regex ``\\w+``: letters, digits, marks, connector punctuation such as ``_``).
Punctuation and whitespace separate words and are dropped; "don't" gives ``don``, ``t``.
N-grams never cross a document boundary.

Three other tokenisations exist only where a reference implementation must be matched
value for value (see ``docs/metrics.md``):

``space``
    ``" ".join(texts).split(" ")`` as ``diversity.ngram_diversity_score`` does: case and
    punctuation kept, empty strings for repeated spaces, n-grams crossing documents
    (counted by compiled loops in ``_ngram_counts.py``).
``whitespace``
    ``str.split()`` per document, as ``diversity.self_repetition_score`` does (split on
    ``str.isspace`` characters by compiled loops in ``_ngram_counts.py``).
``13a``
    sacrebleu's default BLEU tokeniser (``synth_pipeline.metrics.diversity._tokenize_13a``).

N-gram identity
---------------
Tokens are mapped to dense integer ids through a private polars categorical mapping;
n-gram keys for n <= 4 are injective integer combinations of those ids (u64 for
bigrams, u128 above), so distinct counts are exact (no hashing, no collisions) for any
vocabulary below 2**32 words. Long n-grams (leakage, n = 13) use a 64-bit hash of the
id tuple instead (see ``leakage.py`` for the false-positive bound).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
import polars as pl

WORD_PATTERN = r"\w+"


def text_series(texts: Sequence[str] | pl.Series) -> pl.Series:
    if isinstance(texts, pl.Series):
        return texts.cast(pl.String)
    return pl.Series("text", list(texts), dtype=pl.String)


def word_lists(texts: Sequence[str] | pl.Series) -> pl.Series:
    """Per-document list of lower-cased ``\\w+`` words (the project tokenisation)."""
    s = text_series(texts).fill_null("")
    return s.str.to_lowercase().str.extract_all(WORD_PATTERN)


def word_counts(texts: Sequence[str] | pl.Series) -> np.ndarray:
    """Words per document (int64), equal to ``word_lists(texts).list.len()`` without
    building the lists: counting the matches costs a fraction of extracting them."""
    return (
        text_series(texts).fill_null("").str.to_lowercase().str.count_matches(WORD_PATTERN).to_numpy().astype(np.int64)
    )


def explode_tokens(lists: pl.Series) -> pl.DataFrame:
    """Flatten per-document token lists into ``doc`` (u32 document index) and ``tok``.

    Documents without tokens contribute no row.
    """
    df = pl.DataFrame({"tok": lists}).with_row_index("doc")
    df = df.explode("tok")
    return df.filter(pl.col("tok").is_not_null())


def explode_ids(lists: pl.Series, categories: pl.Categories | None = None) -> tuple[pl.DataFrame, pl.Series]:
    """Per-document token lists → a frame of ``doc`` (u32 document index) and ``id`` (dense
    u64 token id, first-seen order), and the
    vocabulary (``vocab[id]`` is the token). Tokens are encoded inside each list before it
    is flattened, so no exploded string column is built: the peak memory of a 20M-token
    corpus drops by about 400 MiB. Documents without tokens contribute no row.

    Calls given the same ``categories`` share one id space (ids continue in first-seen
    order), so several corpora can be encoded one at a time, each list freed before the
    next is built; the vocabulary returned covers every call so far. The caller must
    keep a column of that categorical type alive between the calls (polars drops a
    mapping nothing uses)."""
    categories = pl.Categories.random() if categories is None else categories  # private mapping
    encoded = lists.cast(pl.List(pl.Categorical(categories)))
    inner = cast(pl.List, encoded.dtype).inner  # the cast above made a list of categoricals
    vocab = cast(pl.Categorical, inner).categories.to_series()
    df = pl.DataFrame({"id": encoded.list.eval(pl.element().to_physical())}).with_row_index("doc").explode("id")
    df = df.filter(pl.col("id").is_not_null()).with_columns(pl.col("id").cast(pl.UInt64))
    return df, vocab


_TWO64 = pl.lit(2**64, dtype=pl.UInt128)


def ngram_key_exprs(id_col: str, vocab_size: int, max_n: int) -> list[pl.Expr]:
    """Expressions for exact keys of the n-gram starting at each row, n = 1..max_n (<= 4).

    ``id_col`` holds dense token ids in ``[0, vocab_size)``. While ``vocab_size**n < 2**64``
    the key is the base-V number ``((id0*V + id1)*V + id2)...`` (u64); above that,
    n=3 is ``k2 * 2**64 + id2`` and n=4 is ``k2 * 2**64 + k2'`` (u128), ``k2 = id0*V + id1``.
    Either way the key is an injective function of the n ids, so distinct counts are
    exact. Rows whose n-gram runs past the end of the frame get null; document
    boundaries are handled by :func:`valid_expr`.
    """
    if max_n > 4:
        raise ValueError("exact keys are built for n <= 4; use ngram_keys_hashed")
    v = max(int(vocab_size), 1)
    if v >= 2**32:
        raise ValueError("vocabulary too large for exact 64-bit bigram keys")
    tok = pl.col(id_col).cast(pl.UInt64)
    keys = [tok]
    k2 = tok * pl.lit(v, dtype=pl.UInt64) + tok.shift(-1)
    keys.append(k2)
    if max_n >= 3:
        if v**3 < 2**64:
            keys.append(k2 * pl.lit(v, dtype=pl.UInt64) + tok.shift(-2))
        else:
            keys.append(k2.cast(pl.UInt128) * _TWO64 + tok.shift(-2).cast(pl.UInt128))
    if max_n >= 4:
        if v**4 < 2**64:
            keys.append(k2 * pl.lit(v * v, dtype=pl.UInt64) + k2.shift(-2))
        else:
            keys.append(k2.cast(pl.UInt128) * _TWO64 + k2.shift(-2).cast(pl.UInt128))
    return [k.alias(f"k{n}") for n, k in enumerate(keys[:max_n], start=1)]


def valid_expr(n: int, doc_col: str = "doc") -> pl.Expr:
    """True where the n-gram starting at this row stays inside its document."""
    if n == 1:
        return pl.lit(True)
    return (pl.col(doc_col).shift(-(n - 1)) == pl.col(doc_col)).fill_null(False)


def ngram_keys(ids: pl.Series, max_n: int) -> list[pl.Series]:
    """Eager version of :func:`ngram_key_exprs` over one id series."""
    v = int(cast(int, ids.max())) + 1 if len(ids) else 1
    out = pl.DataFrame({"id": ids}).select(ngram_key_exprs("id", v, max_n))
    return [out[c] for c in out.columns]


def ngram_keys_hashed(ids: pl.Series, n: int, seed: int = 0) -> pl.Series:
    """64-bit hash keys of n-grams (for long n where exact chaining costs n ranks)."""
    df = pl.DataFrame({"id": ids})
    cols = [pl.col("id").shift(-k).alias(f"c{k}") for k in range(n)]
    return df.select(pl.when(pl.col("id").shift(-(n - 1)).is_not_null()).then(pl.struct(cols).hash(seed)).alias("k"))[
        "k"
    ]


def valid_mask(doc: pl.Series, n: int) -> pl.Series:
    """True where the n-gram starting at this position stays inside its document."""
    if n == 1:
        return doc.is_not_null()
    return (doc.shift(-(n - 1)) == doc).fill_null(False)
