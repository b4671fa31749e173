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

N-grams are compared by a 64-bit hash (polynomial hash of mixed word hashes; for
copying, mixed with the pair index). A false flag needs a collision between a sample
key and a source key: probability about m_samples * m_sources / 2**64 over the whole
call, 5e-6 for 10M n-grams on each side (100k samples of 100 words).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from ._tokens import explode_tokens, word_lists

_P = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the polynomial hash
_SEED = 0x5EED


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (bijective on 64 bits), vectorised."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _gram_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """(document index, 64-bit hash) of every word n-gram inside a document.

    Words are hashed by polars, mixed, and combined by a polynomial hash over the
    window (Horner's rule on shifted arrays, wrapping mod 2**64), then mixed again.
    """
    df = explode_tokens(word_lists(texts))
    size = df.height - n + 1
    if size <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    m = _mix(df["tok"].hash(_SEED).to_numpy().astype(np.uint64))
    h = m[:size].copy()
    with np.errstate(over="ignore"):
        for k in range(1, n):
            np.multiply(h, _P, out=h)
            np.add(h, m[k : k + size], out=h)
    h = _mix(h)
    doc = df["doc"].to_numpy().astype(np.int64)
    inside = doc[:size] == doc[n - 1 :]
    return doc[:size][inside], h[inside]


def _with_doc(doc: np.ndarray, h: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return _mix(h ^ _mix(doc.astype(np.uint64) * _P + np.uint64(1)))


def _flags(n_samples: int, hit_docs: np.ndarray) -> np.ndarray:
    flags = np.zeros(n_samples, dtype=bool)
    flags[hit_docs] = True
    return flags


def _in(keys: np.ndarray, pool: np.ndarray) -> np.ndarray:
    pool_s = pl.Series(pool, dtype=pl.UInt64).unique()
    return pl.Series(keys, dtype=pl.UInt64).is_in(pool_s.implode()).to_numpy()


def copy_leakage_flags(samples: Sequence[str], sources: Sequence[str], *, n: int = 13) -> np.ndarray:
    """Per sample: True when it shares an n-gram with ``sources[i]``."""
    if len(samples) != len(sources):
        raise ValueError(f"samples ({len(samples)}) and sources ({len(sources)}) must be aligned")
    doc_s, h_s = _gram_hashes(samples, n)
    doc_r, h_r = _gram_hashes(sources, n)
    hit = _in(_with_doc(doc_s, h_s), _with_doc(doc_r, h_r))
    return _flags(len(samples), doc_s[hit])


def copy_leakage(samples: Sequence[str], sources: Sequence[str], *, n: int = 13) -> float:
    """Share of samples sharing at least one n-gram with their own source passage."""
    if len(samples) == 0:
        return float("nan")
    return float(copy_leakage_flags(samples, sources, n=n).mean())


def contamination_flags(samples: Sequence[str], reference: Sequence[str], *, n: int = 13) -> np.ndarray:
    """Per sample: True when it shares an n-gram with any text of ``reference``."""
    doc_s, h_s = _gram_hashes(samples, n)
    _, h_r = _gram_hashes(reference, n)
    hit = _in(h_s, h_r)
    return _flags(len(samples), doc_s[hit])


def contamination_rate(samples: Sequence[str], reference: Sequence[str], *, n: int = 13) -> float:
    """Share of samples sharing at least one n-gram with the decontamination set."""
    if len(samples) == 0:
        return float("nan")
    return float(contamination_flags(samples, reference, n=n).mean())
