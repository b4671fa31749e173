"""Compiled inner loops (numba) of the near-duplicate stage: normalised bytes → word hashes →
shingle hashes → one-permutation signatures → LSH band keys.

Why compiled: the vectorised numpy/polars formulation materialises a Python-visible string per
word and a full-size temporary array per step; these loops make one pass over the bytes and
keep each document in cache. Every function here computes exactly the definition documented in
:mod:`synth_pipeline.dedup.shingles` and :mod:`synth_pipeline.dedup.near_duplicates` (the tests
compare them with independent pure-Python references and with the ``xxhash`` library), so
signatures stored by earlier versions stay comparable.

All functions release the GIL (``nogil``), so the stage's worker threads run them in parallel,
and are cached on disk after the first compilation (``cache=True``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from synth_pipeline.text.hashing import ASCII_LOWER, IDENTITY, XXH3_MAX_SHORT, fmix64, utf8_code_point, xxh3_64

_U = np.uint64
_EMPTY32 = np.uint32(0xFFFFFFFF)
_M32 = _U(0xFFFFFFFF)
_BAND_SALT = _U(0x2545F4914F6CDD1D)

# Word bytes of the ASCII path: \w restricted to ASCII (lowercasing maps A-Z to a-z).
_ASCII_WORD = np.zeros(256, dtype=np.bool_)
_ASCII_WORD[[*range(48, 58), *range(65, 91), *range(97, 123), 95]] = True


@nb.njit(inline="always")
def _put_utf8(out, at, cp):
    """Write code point ``cp`` as UTF-8 at ``out[at:]``; the position after it."""
    if cp < 0x80:
        out[at] = cp
        return at + 1
    if cp < 0x800:
        out[at], out[at + 1] = 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)
        return at + 2
    if cp < 0x10000:
        out[at], out[at + 1], out[at + 2] = 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
        return at + 3
    out[at], out[at + 1] = 0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F)
    out[at + 2], out[at + 3] = 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
    return at + 4


@nb.njit(nogil=True, cache=True)
def encode_code_points(cps):
    """UTF-8 bytes and int64 offsets of one single-character string per code point (no
    Python object per character: the tables below cover 1.1M code points)."""
    offsets = np.zeros(len(cps) + 1, dtype=np.int64)
    data = np.empty(4 * len(cps), dtype=np.uint8)
    at = 0
    for i in range(len(cps)):
        at = _put_utf8(data, at, cps[i])
        offsets[i + 1] = at
    return data[:at], offsets


@nb.njit(nogil=True, cache=True)
def single_code_points(data, offsets):
    """Per string: its code point if it is exactly one character, else -1."""
    out = np.full(len(offsets) - 1, -1, dtype=np.int32)
    for i in range(len(offsets) - 1):
        lo, hi = offsets[i], offsets[i + 1]
        if hi - lo == 1:  # one byte: an ASCII character
            out[i] = data[lo]
        elif hi - lo > 1:
            cp, width = utf8_code_point(data, _U(lo))
            if np.int64(width) == hi - lo:
                out[i] = cp
    return out


@nb.njit(nogil=True, cache=True)
def split_hash(data, offsets, is_word, lower):
    """Words of the UTF-8 texts ``data[offsets[i]:offsets[i+1]]``, lowercased, → flat XXH3-64
    hashes of the lowercased words' UTF-8, words per text, whether each text was split, and
    the flat index, start and length (raw bytes) of every word whose lowercased form is
    longer than ``XXH3_MAX_SHORT`` bytes (hash slot left 0 for the caller).

    ``lower[cp]``: the lowercase code point of ``cp``, or -1 where lowercasing is not one
    context-free code point (İ, Σ): a text holding one comes back not ``done``, no words.
    ``is_word[cp]``: whether the (lowercased) code point is a word character. A word is a
    maximal run of word characters. An all-ASCII word is hashed in place (A-Z read as a-z);
    another is first written lowercased into a scratch buffer."""
    n_docs = len(offsets) - 1
    total = offsets[n_docs] - offsets[0]
    hashes = np.empty((total + n_docs) // 2 + 1, dtype=np.uint64)
    counts = np.zeros(n_docs, dtype=np.int64)
    done = np.ones(n_docs, dtype=np.bool_)
    long_cap = total // (XXH3_MAX_SHORT + 1) + 1
    long_at = np.empty(long_cap, dtype=np.int64)
    long_start = np.empty(long_cap, dtype=np.int64)
    long_len = np.empty(long_cap, dtype=np.int64)
    scratch = np.empty(XXH3_MAX_SHORT + 4, dtype=np.uint8)
    one = _U(1)
    k = 0
    n_long = 0
    for d in range(n_docs):
        k0, n_long0 = k, n_long
        # unsigned positions: indexing without negative-index wrap-around checks
        i, end = _U(offsets[d]), _U(offsets[d + 1])
        ok = True
        while i < end and ok:
            c = data[i]
            width = one
            if c < 128:
                if not _ASCII_WORD[c]:
                    i += one
                    continue
            else:
                cp, width = utf8_code_point(data, i)
                low = lower[cp]
                if low < 0:
                    ok = False
                    break
                if not is_word[low]:
                    i += width
                    continue
            start = i
            ascii_word = c < 128
            i += width
            while i < end:
                c = data[i]
                if c < 128:
                    if not _ASCII_WORD[c]:
                        break
                    i += one
                else:
                    cp, width = utf8_code_point(data, i)
                    low = lower[cp]
                    if low < 0:
                        ok = False
                        break
                    if not is_word[low]:
                        break
                    ascii_word = False
                    i += width
            if not ok:
                break
            length = np.int64(i - start)
            if not ascii_word:  # lowercase into the scratch buffer (its length may change)
                j, length = start, 0
                while j < i:
                    c = data[j]
                    if c < 128:
                        if length < XXH3_MAX_SHORT:
                            scratch[length] = ASCII_LOWER[c]
                        length += 1
                        j += one
                    else:
                        cp, width = utf8_code_point(data, j)
                        if length < XXH3_MAX_SHORT:
                            length = _put_utf8(scratch, length, lower[cp])
                        else:
                            length += 4  # over the limit either way: hashed by the caller
                        j += width
            if length > XXH3_MAX_SHORT:
                hashes[k] = 0
                long_at[n_long], long_start[n_long], long_len[n_long] = k, np.int64(start), np.int64(i - start)
                n_long += 1
            elif ascii_word:
                hashes[k] = xxh3_64(data, np.int64(start), length, ASCII_LOWER)
            else:
                hashes[k] = xxh3_64(scratch, 0, length, IDENTITY)
            k += 1
        if ok:
            counts[d] = k - k0
        else:
            done[d] = False
            k, n_long = k0, n_long0
    return hashes[:k], counts, done, long_at[:n_long].copy(), long_start[:n_long].copy(), long_len[:n_long].copy()


@nb.njit(nogil=True, cache=True)
def shingle_hashes(tok, offsets, n, whole_short, mults):
    """Flat shingle hashes and offsets: fmix64(sum_j tok[i+j] * mults[j]) for every start i of
    an n-word window; a text of 1..n-1 words has one shingle of all its words if
    ``whole_short``."""
    n_docs = len(offsets) - 1
    sh_offsets = np.zeros(n_docs + 1, dtype=np.int64)
    for d in range(n_docs):
        length = offsets[d + 1] - offsets[d]
        cnt = length - n + 1 if length >= n else (1 if (whole_short and length > 0) else 0)
        sh_offsets[d + 1] = sh_offsets[d] + cnt
    out = np.empty(sh_offsets[n_docs], dtype=np.uint64)
    un = _U(n)
    for d in range(n_docs):
        s, length, k = offsets[d], offsets[d + 1] - offsets[d], sh_offsets[d]
        if length >= n:
            words = tok[s : s + length]
            shingles = out[k : k + length - n + 1]
            for i in range(_U(length - n + 1)):  # unsigned: no negative-index checks
                acc = _U(0)
                for j in range(un):
                    acc += words[i + j] * mults[j]
                shingles[i] = fmix64(acc)
        elif whole_short and length > 0:
            acc = _U(0)
            for j in range(length):
                acc += tok[s + j] * mults[j]
            out[k] = fmix64(acc)
    return out, sh_offsets


@nb.njit(nogil=True, cache=True)
def oph_signatures(sh, sh_offsets, bins, bits, probes):
    """(n_docs, 2 * bins) densified one-permutation signatures, two sketches from disjoint bits
    of each shingle hash (see ``near_duplicates.oph_signatures``); ``probes`` is the
    (rounds, bins) probe table of optimal densification."""
    n_docs = len(sh_offsets) - 1
    sig = np.full((n_docs, 2 * bins), _EMPTY32, dtype=np.uint32)
    shift0, shift1 = _U(64 - bits), _U(64 - 2 * bits)
    bin_mask = _U(bins - 1)
    orig = np.empty(bins, dtype=np.uint32)
    rounds = probes.shape[0]
    ubins = _U(bins)
    for d in range(n_docs):
        row = sig[d]
        for h in sh[sh_offsets[d] : sh_offsets[d + 1]]:
            c0 = h >> shift0  # unsigned bin indices: no negative-index checks
            row[c0] = min(row[c0], np.uint32(h & _M32))
            c1 = ubins + ((h >> shift1) & bin_mask)
            row[c1] = min(row[c1], np.uint32((h >> _U(32)) & _U(0xFFFFF)))
        for base in (0, bins):
            any_filled = False
            for j in range(bins):
                orig[j] = row[base + j]
                any_filled |= orig[j] != _EMPTY32
            if not any_filled:
                continue
            for j in range(bins):
                if orig[j] != _EMPTY32:
                    continue
                done = False
                for t in range(rounds):
                    src = probes[t, j]
                    if orig[src] != _EMPTY32:
                        row[base + j] = orig[src]
                        done = True
                        break
                if not done:  # very short texts: rotate to the next originally filled bin
                    for off in range(1, bins):
                        src = (j + off) & (bins - 1)
                        if orig[src] != _EMPTY32:
                            row[base + j] = orig[src]
                            break
    return sig


@nb.njit(nogil=True, cache=True)
def band_keys(sig, bands, rows, mults):
    """(n, bands) keys: fmix64(sum_r sig[b*rows + r] * mults[r] + (b + 1) * salt)."""
    n = sig.shape[0]
    out = np.empty((n, bands), dtype=np.uint64)
    for d in range(n):
        for b in range(bands):
            acc = _U(0)
            for r in range(rows):
                acc += _U(sig[d, b * rows + r]) * mults[r]
            acc += _U(b + 1) * _BAND_SALT
            out[d, b] = fmix64(acc)
    return out
