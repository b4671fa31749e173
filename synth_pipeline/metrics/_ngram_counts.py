"""Exact distinct n-gram counts of ``" ".join(texts).split(" ")`` in compiled loops (numba).

Why: ``ngram_diversity`` runs beside the level-9 gzip pass of ``compression_ratio``, which is
single-threaded and the slowest metric. Counting on one core, without polars' thread pool,
leaves the gzip thread a core of its own. Exactness:

* a token's id comes from a hash table whose entries are compared byte for byte, so two
  different tokens never share an id (the 64-bit hash only picks the slot);
* the id of the n-gram starting at ``i`` is the dense id of the pair
  (id of the (n-1)-gram at ``i``, id of token ``i+n-1``): injective, so distinct pairs are
  distinct n-grams, and every key fits in 64 bits (ids < 2**32).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import polars as pl

from synth_pipeline.fast_hash import IDENTITY, XXH3_MAX_SHORT, fmix64, xxh3_64
from synth_pipeline.string_buffers import utf8_buffers

_U = np.uint64


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


@nb.njit(nogil=True, cache=True)
def space_token_ids(data, offsets, n_tokens):
    """Dense int32 ids (first-seen order) of the tokens of every text split on the byte 0x20,
    texts concatenated: the tokens of ``" ".join(texts).split(" ")``. Returns (ids, V).

    A slot is one uint64 (top 32 bits of the token's hash, id + 1; 0 = free) so the table of
    a 100k-token vocabulary stays in L2 cache, and each distinct token's bytes are copied once
    into a compact arena for the byte-for-byte comparison."""
    ids = np.empty(n_tokens, dtype=np.int32)
    cap = 1 << 16
    slots = np.zeros(cap, dtype=np.uint64)
    rep_at = np.empty(cap // 2 + 1, dtype=np.int64)  # arena offset of each id's bytes
    rep_len = np.empty(cap // 2 + 1, dtype=np.int64)
    arena = np.empty(1 << 16, dtype=np.uint8)
    arena_used = 0
    n_ids = 0
    t = 0
    high = _U(0xFFFFFFFF00000000)
    for d in range(len(offsets) - 1):
        start, end = _U(offsets[d]), _U(offsets[d + 1])
        while True:
            stop = start
            while stop < end and data[stop] != 32:  # unsigned positions: no wrap-around checks
                stop += _U(1)
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
            if stop == end:
                break
            start = stop + _U(1)
    return ids, n_ids


_PART_BITS = 8  # 256 partitions: each one's hash table stays in the CPU's L2 cache


@nb.njit(nogil=True, cache=True)
def distinct_ngram_counts(ids, vocab, max_n):
    """Number of distinct n-grams of the id sequence for n = 1..max_n (n-grams cross texts,
    as in the reference).

    Order n labels each pair (label of the (n-1)-gram at i, token i+n-1), key
    ``prev * vocab + token``, with an injective label ``local * 256 + partition``: keys are
    radix-partitioned by 8 bits of their hash, then each partition is de-duplicated in its
    own small open-addressing table (cache-resident, unlike one table of the whole corpus)."""
    out = np.zeros(max_n, dtype=np.int64)
    n_tok = len(ids)
    if n_tok == 0:
        return out
    out[0] = vocab
    n_parts = 1 << _PART_BITS
    shift = _U(64 - _PART_BITS)
    prev = ids.astype(np.int64)
    part_keys = np.empty(n_tok, dtype=np.uint64)
    part_pos = np.empty(n_tok, dtype=np.int64)
    empty = _U(0xFFFFFFFFFFFFFFFF)  # keys are < 2**63: labels < 2**31, vocab < 2**32
    uv = _U(vocab)
    for n in range(2, max_n + 1):
        m = n_tok - n + 1
        if m <= 0:
            break
        fill = np.zeros(n_parts + 1, dtype=np.int64)
        for i in range(m):
            fill[(fmix64(_U(prev[i]) * uv + _U(ids[i + n - 1])) >> shift) + 1] += 1
        biggest = 0
        for p in range(n_parts):
            biggest = max(biggest, fill[p + 1])
            fill[p + 1] += fill[p]
        starts = fill[:n_parts].copy()
        for i in range(m):
            key = _U(prev[i]) * uv + _U(ids[i + n - 1])
            p = fmix64(key) >> shift
            part_keys[fill[p]], part_pos[fill[p]] = key, i
            fill[p] += 1
        cap = 1
        while cap < 2 * biggest:
            cap *= 2
        keys = np.empty(cap, dtype=np.uint64)
        vals = np.empty(cap, dtype=np.int64)
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
                        label = d * n_parts + p
                        keys[slot], vals[slot] = key, label
                        d += 1
                        break
                    slot = (slot + _U(1)) & mask
                prev[part_pos[j]] = label
            total += d
        out[n - 1] = total
    return out


def space_ngram_counts(texts: pl.Series, max_n: int) -> list[tuple[int, int]]:
    """[(distinct, total)] n-grams, n = 1..max_n, of ``" ".join(texts).split(" ")``."""
    data, offsets = utf8_buffers(texts)
    n_texts = len(offsets) - 1
    n_tokens = n_texts + int(np.count_nonzero(data[offsets[0] : offsets[-1]] == 32))
    if n_texts == 0:
        return [(0, 0)] * max_n
    ids, vocab = space_token_ids(data, offsets, n_tokens)
    distinct = distinct_ngram_counts(ids, vocab, max_n)
    return [(int(distinct[n - 1]), max(n_tokens - n + 1, 0)) for n in range(1, max_n + 1)]
