"""Leakage: long n-gram overlap of synthetic samples with their sources or an eval set.

``copy_leakage``
    Share of samples that share at least one word n-gram (default n = 13) with their
    *own* source passage (``samples[i]`` vs ``sources[i]``): verbatim copying of the
    grounding passage instead of a rewrite.
``contamination_rate``
    Share of samples that share at least one word n-gram with *any* text of a
    decontamination (evaluation) set.

Words are the project tokenisation (lower-cased ``\\w+``; punctuation, case and
whitespace differences do not hide a copy). n = 13 follows the GPT-3 decontamination
study (Brown et al. 2020, appendix C). A sample or source with fewer than n words has no
n-gram and is never flagged; lower n for very short texts.

N-grams are compared by a 64-bit hash of their word-id tuple. A false match needs a
hash collision between two specific n-grams; with m n-grams on each side the chance is
about m**2 / 2**64 (below 1e-9 even for m = 100k per comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from ._tokens import explode_tokens, ngram_keys_hashed, token_ids, valid_mask, word_lists


def _grams(samples: Sequence[str], others: Sequence[str], n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Distinct (doc, key) n-grams of both lists with one shared vocabulary."""
    n_s = len(samples)
    df = explode_tokens(pl.concat([word_lists(samples), word_lists(others)]))
    if df.height == 0:
        empty = pl.DataFrame(schema={"doc": pl.UInt32, "key": pl.UInt64})
        return empty, empty
    key = ngram_keys_hashed(token_ids(df["tok"]), n)
    grams = (
        pl.DataFrame({"doc": df["doc"], "key": key})
        .filter(valid_mask(df["doc"], n))
        .unique()
    )
    s = grams.filter(pl.col("doc") < n_s)
    o = grams.filter(pl.col("doc") >= n_s).with_columns(doc=pl.col("doc") - n_s)
    return s, o


def _flags(n_samples: int, hit_docs: pl.Series) -> np.ndarray:
    flags = np.zeros(n_samples, dtype=bool)
    flags[hit_docs.unique().to_numpy().astype(np.int64)] = True
    return flags


def copy_leakage_flags(samples: Sequence[str], sources: Sequence[str], *, n: int = 13) -> np.ndarray:
    """Per sample: True when it shares an n-gram with ``sources[i]``."""
    if len(samples) != len(sources):
        raise ValueError(f"samples ({len(samples)}) and sources ({len(sources)}) must be aligned")
    s, o = _grams(samples, sources, n)
    hits = s.join(o, on=["doc", "key"], how="semi")["doc"]
    return _flags(len(samples), hits)


def copy_leakage(samples: Sequence[str], sources: Sequence[str], *, n: int = 13) -> float:
    """Share of samples sharing at least one n-gram with their own source passage."""
    if len(samples) == 0:
        return float("nan")
    return float(copy_leakage_flags(samples, sources, n=n).mean())


def contamination_flags(samples: Sequence[str], reference: Sequence[str], *, n: int = 13) -> np.ndarray:
    """Per sample: True when it shares an n-gram with any text of ``reference``."""
    s, o = _grams(samples, reference, n)
    hits = s.join(o.select("key").unique(), on="key", how="semi")["doc"]
    return _flags(len(samples), hits)


def contamination_rate(samples: Sequence[str], reference: Sequence[str], *, n: int = 13) -> float:
    """Share of samples sharing at least one n-gram with the decontamination set."""
    if len(samples) == 0:
        return float("nan")
    return float(contamination_flags(samples, reference, n=n).mean())
