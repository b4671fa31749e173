"""Exact n-gram statistics of the reference tokenisations in compiled loops (numba):
``ngram_diversity`` (tokens of ``" ".join(texts).split(" ")``) and ``self_repetition``
(``doc.split()`` per document).

Why: ``ngram_diversity`` runs beside the level-9 gzip pass of ``compression_ratio``, which is
single-threaded and the slowest metric; counting on one core, without polars' thread pool,
leaves the gzip thread a core of its own. Both metrics also need a fraction of the memory
of string and 128-bit key columns. Exactness:

* a token's id comes from a hash table whose entries are compared byte for byte, so two
  different tokens never share an id (the 64-bit hash only picks the slot);
* the label of the n-gram starting at ``i`` is the dense label of the pair
  (label of the (n-1)-gram at ``i``, id of token ``i+n-1``): injective, so distinct pairs
  are distinct n-grams, for any n, and every key fits in 64 bits (labels < 2**31).
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np
import polars as pl

from synth_pipeline.text.buffers import utf8_buffers
from synth_pipeline.text.hashing import IDENTITY, XXH3_MAX_SHORT, fmix64, utf8_code_point, xxh3_64

_U = np.uint64
_PART_BITS = 8  # 256 partitions: each one's hash table stays in the CPU's L2 cache


@functools.cache
def separators(kind: str) -> np.ndarray:
    """bool per code point: ``"space"`` is ``str.split(" ")`` (U+0020 only), ``"whitespace"``
    is ``str.split()`` (``str.isspace``: Unicode White_Space and \\x1c-\\x1f)."""
    table = np.zeros(0x110000, dtype=np.bool_)
    if kind == "space":
        table[32] = True
    else:
        table[[c for c in range(0x110000) if chr(c).isspace()]] = True
    return table


@nb.njit(inline="always")
def _token_hash(data, start, length):
    """Slot hash of a token: XXH3-64 of its first 240 bytes, mixed with its length."""
    return xxh3_64(data, start, min(length, XXH3_MAX_SHORT), IDENTITY) ^ fmix64(_U(length) + _U(1))


@nb.njit(inline="always")
def _same_bytes(data, at, arena, arena_at, length):
    for k in range(length):
        if data[at + k] != arena[arena_at + k]:
            return False
    return True


@nb.njit(inline="always")
def _separator_at(data, i, is_sep):
    """(is the character at data[i] a separator, its byte width)."""
    c = data[i]
    if c < 128:
        return is_sep[c], _U(1)
    cp, width = utf8_code_point(data, i)
    return is_sep[cp], width


@nb.njit(nogil=True, cache=True)
def token_ids(data, offsets, is_sep, keep_empty):
    """Dense int32 ids (first-seen order) of the tokens of every text, tokens per text, and
    the vocabulary size. ``keep_empty``: every separator ends a token (``split(" ")``: empty
    tokens between adjacent separators); else tokens are maximal separator-free runs
    (``split()``).

    A slot is one uint64 (top 32 bits of the token's hash, id + 1; 0 = free) so the table of
    a 100k-token vocabulary stays in L2 cache, and each distinct token's bytes are copied once
    into a compact arena for the byte-for-byte comparison."""
    n_docs = len(offsets) - 1
    ids = np.empty(offsets[n_docs] - offsets[0] + n_docs, dtype=np.int32)  # untouched pages stay virtual
    counts = np.zeros(n_docs, dtype=np.int64)
    cap = 1 << 16
    slots = np.zeros(cap, dtype=np.uint64)
    rep_at = np.empty(cap // 2 + 1, dtype=np.int64)  # arena offset of each id's bytes
    rep_len = np.empty(cap // 2 + 1, dtype=np.int64)
    arena = np.empty(1 << 16, dtype=np.uint8)
    arena_used = 0
    n_ids = 0
    t = 0
    high = _U(0xFFFFFFFF00000000)
    for d in range(n_docs):
        t0 = t
        # unsigned positions: indexing without negative-index wrap-around checks
        start, end = _U(offsets[d]), _U(offsets[d + 1])
        while True:
            if not keep_empty:  # skip a run of separators
                while start < end:
                    sep, width = _separator_at(data, start, is_sep)
                    if not sep:
                        break
                    start += width
                if start == end:
                    break
            stop, next_start = start, end
            while stop < end:
                sep, width = _separator_at(data, stop, is_sep)
                if sep:
                    next_start = stop + width
                    break
                stop += width
            length = np.int64(stop - start)
            h = _token_hash(data, np.int64(start), length)
            tag = h & high
            mask = _U(cap - 1)
            slot = h & mask
            while True:
                s = slots[slot]
                if s == 0:
                    if arena_used + length > len(arena):
                        grown = np.empty(2 * (len(arena) + length), dtype=np.uint8)
                        grown[:arena_used] = arena[:arena_used]
                        arena = grown
                    arena[arena_used : arena_used + length] = data[start:stop]
                    slots[slot] = tag | _U(n_ids + 1)
                    rep_at[n_ids], rep_len[n_ids] = arena_used, length
                    arena_used += length
                    ids[t] = n_ids
                    n_ids += 1
                    break
                if s & high == tag:
                    sid = np.int64(s & ~high) - 1
                    if rep_len[sid] == length and _same_bytes(data, np.int64(start), arena, rep_at[sid], length):
                        ids[t] = sid
                        break
                slot = (slot + _U(1)) & mask
            t += 1
            if 2 * n_ids > cap:  # keep the load at most 1/2: grow and re-insert
                cap *= 2
                old = slots
                slots = np.zeros(cap, dtype=np.uint64)
                for s in old:
                    if s != 0:
                        sid = np.int64(s & ~high) - 1
                        j = _token_hash(arena, rep_at[sid], rep_len[sid]) & _U(cap - 1)
                        while slots[j] != 0:
                            j = (j + _U(1)) & _U(cap - 1)
                        slots[j] = s
                grown_at = np.empty(cap // 2 + 1, dtype=np.int64)
                grown_len = np.empty(cap // 2 + 1, dtype=np.int64)
                grown_at[:n_ids], grown_len[:n_ids] = rep_at[:n_ids], rep_len[:n_ids]
                rep_at, rep_len = grown_at, grown_len
            if next_start == end and stop == end:
                break
            start = next_start
        counts[d] = t - t0
    return ids[:t], counts, n_ids


@nb.njit(nogil=True, cache=True)
def ngram_labels(ids, doc_offsets, vocab, max_n):
    """Dense int32 labels of the ``max_n``-grams starting at each token (-1 where the n-gram
    would leave its document), and per order n = 1..max_n the number of distinct n-grams and
    of n-grams inside documents.

    Order n gives each pair (label of the (n-1)-gram at i, token i+n-1), key
    ``prev * vocab + token``, a dense label: keys are radix-partitioned by 8 bits of their
    hash, then each partition is de-duplicated in its own small open-addressing table
    (cache-resident, unlike one table of the whole corpus); labels are numbered on from one
    partition to the next."""
    n_tok = len(ids)
    distinct = np.zeros(max_n, dtype=np.int64)
    totals = np.zeros(max_n, dtype=np.int64)
    prev = ids.astype(np.int32)
    distinct[0], totals[0] = vocab, n_tok
    n_parts = 1 << _PART_BITS
    shift = _U(64 - _PART_BITS)
    part_keys = np.empty(n_tok, dtype=np.uint64)
    part_pos = np.empty(n_tok, dtype=np.int32)
    empty = _U(0xFFFFFFFFFFFFFFFF)  # keys are < 2**63: labels < 2**31, vocab < 2**32
    uv = _U(vocab)
    for n in range(2, max_n + 1):
        # positions whose n-gram stays inside the document keep a label, the others get -1
        fill = np.zeros(n_parts + 1, dtype=np.int64)
        for d in range(len(doc_offsets) - 1):
            lo, hi = doc_offsets[d], doc_offsets[d + 1]
            for i in range(max(lo, hi - n + 1), hi):
                prev[i] = -1
            for i in range(lo, hi - n + 1):
                fill[(fmix64(_U(prev[i]) * uv + _U(ids[i + n - 1])) >> shift) + 1] += 1
        biggest = 0
        for p in range(n_parts):
            biggest = max(biggest, fill[p + 1])
            fill[p + 1] += fill[p]
        totals[n - 1] = fill[n_parts]
        starts = fill[:n_parts].copy()
        for d in range(len(doc_offsets) - 1):
            for i in range(doc_offsets[d], doc_offsets[d + 1] - n + 1):
                key = _U(prev[i]) * uv + _U(ids[i + n - 1])
                p = fmix64(key) >> shift
                part_keys[fill[p]], part_pos[fill[p]] = key, i
                fill[p] += 1
        cap = 1
        while cap < 2 * biggest:
            cap *= 2
        keys = np.empty(cap, dtype=np.uint64)
        vals = np.empty(cap, dtype=np.int32)
        total = 0
        for p in range(n_parts):
            lo, hi = starts[p], fill[p]
            size = 1
            while size < 2 * (hi - lo):
                size *= 2
            mask = _U(size - 1)
            keys[:size] = empty
            d = 0
            for j in range(lo, hi):
                key = part_keys[j]
                slot = (fmix64(key) >> _U(_PART_BITS)) & mask  # bits the partition did not use
                while True:
                    k = keys[slot]
                    if k == key:
                        label = vals[slot]
                        break
                    if k == empty:
                        label = total + d
                        keys[slot], vals[slot] = key, label
                        d += 1
                        break
                    slot = (slot + _U(1)) & mask
                prev[part_pos[j]] = label
            total += d
        distinct[n - 1] = total
    return prev, distinct, totals


@nb.njit(nogil=True, cache=True)
def _self_repetition(labels, doc_offsets, n_labels):
    """Mean over documents of log(1 + sum over the document's distinct n-grams of the number
    of other documents containing it); a document without n-grams contributes log(1) = 0."""
    n_docs = len(doc_offsets) - 1
    docs_with = np.zeros(n_labels, dtype=np.int32)
    last = np.full(n_labels, -1, dtype=np.int64)
    for d in range(n_docs):
        for i in range(doc_offsets[d], doc_offsets[d + 1]):
            lab = labels[i]
            if lab >= 0 and last[lab] != d:
                last[lab] = d
                docs_with[lab] += 1
    last[:] = -1
    total = 0.0
    for d in range(n_docs):
        others = 0
        for i in range(doc_offsets[d], doc_offsets[d + 1]):
            lab = labels[i]
            if lab >= 0 and last[lab] != d:
                last[lab] = d
                others += docs_with[lab] - 1
        total += np.log(others + 1.0)
    return total / n_docs


def _tokens(texts: pl.Series, kind: str, keep_empty: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """Token ids, int64 token offsets per text, and vocabulary size."""
    data, offsets = utf8_buffers(texts)
    ids, counts, vocab = token_ids(data, offsets, separators(kind), keep_empty)
    doc_offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=doc_offsets[1:])
    return ids, doc_offsets, int(vocab)


def space_ngram_counts(texts: pl.Series, max_n: int) -> list[tuple[int, int]]:
    """[(distinct, total)] n-grams, n = 1..max_n, of ``" ".join(texts).split(" ")`` (n-grams
    cross texts, as the joined string has no text boundaries)."""
    if len(texts) == 0:
        return [(0, 0)] * max_n
    ids, _, vocab = _tokens(texts, "space", keep_empty=True)
    _, distinct, totals = ngram_labels(ids, np.array([0, len(ids)], dtype=np.int64), vocab, max_n)
    return [(int(d), int(t)) for d, t in zip(distinct, totals, strict=True)]


def whitespace_self_repetition(texts: pl.Series, n: int) -> float:
    """``diversity.self_repetition_score`` on ``doc.split()`` tokens; NaN for no texts."""
    if len(texts) == 0:
        return float("nan")
    ids, doc_offsets, vocab = _tokens(texts, "whitespace", keep_empty=False)
    labels, distinct, _ = ngram_labels(ids, doc_offsets, vocab, n)
    return float(_self_repetition(labels, doc_offsets, int(distinct[n - 1])))
