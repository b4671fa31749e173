"""Vectorised document preparation: normalise, count, hash and quality-check a whole column.

The scalar functions in ``synth_pipeline.text`` and ``quality_failure`` stay the reference;
this module is tested equal to them on the built-in corpus and on hostile text. There is no
Python call per document: the character-level work is compiled loops (numba) over the Arrow
UTF-8 buffers, since a regex costs per match (per word) and does not parallelise within a
column (SHA-256 too: twice as fast as DuckDB's); the quality rules are polars expressions.

The loops classify characters with tables built from Python's own ``unicodedata``, so they
follow the reference exactly. NFC (polars) and the line rules' literal counts agree with it
for every character assigned in Unicode 14.0 (Python 3.11's tables); for characters assigned
only later NFC may compose where Python does not. That is the one known difference.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np
import polars as pl
import pyarrow as pa

from synth_pipeline.corpus.quality import GOPHER_STOPWORDS, line_stats, quality_rule
from synth_pipeline.text.buffers import utf8_buffers
from synth_pipeline.text.hashing import utf8_code_point

DOCUMENT_COLUMNS = {
    "doc_id": pl.String,
    "n_words": pl.Int64,
    "n_tokens": pl.Int64,
    "dedup_hash": pl.String,
    "quality_rule": pl.String,
    "quality_detail": pl.String,
}

# --- character tables (from Python's unicodedata, built once per process) -------------------
SPACE, WORD_CHAR, ALPHA, COLLAPSED_SPACE, NFC_UNSAFE = 1, 2, 4, 8, 16
# normalize_text's _WS class (U+000B/U+000C never reach it: they are control characters)
_COLLAPSED = [0x20, 0x09, 0x0B, 0x0C, 0xA0, *range(0x2000, 0x200C), 0x3000]
# Unicode 14 assigns nothing else outside the private use planes (tested).
_ASSIGNED = (range(0x323B0), range(0xE0000, 0xE1000))


@functools.cache
def char_classes() -> np.ndarray:
    """Bits per code point: SPACE (str.isspace), WORD_CHAR (Python's \\w: isalnum or "_"),
    ALPHA (str.isalpha), COLLAPSED_SPACE (normalize_text's runs) and NFC_UNSAFE.

    A text none of whose characters is NFC_UNSAFE is already NFC (the quick-check rule): the
    unsafe ones change under NFC alone, have a non-zero combining class, or can be the second
    half of a canonical composition (including Hangul vowel and trailing jamo).
    """
    table = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    for cp in itertools.chain(*_ASSIGNED):
        ch = chr(cp)
        bits = (SPACE * ch.isspace()) | (WORD_CHAR * (ch.isalnum() or ch == "_")) | (ALPHA * ch.isalpha())
        if unicodedata.combining(ch) or unicodedata.normalize("NFC", ch) != ch:
            bits |= NFC_UNSAFE
        table[cp] = bits
        decomposition = unicodedata.decomposition(ch).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            table[int(decomposition[1], 16)] |= NFC_UNSAFE
    table[0x1161:0x1176] |= NFC_UNSAFE
    table[0x11A8:0x11C3] |= NFC_UNSAFE
    table[_COLLAPSED] |= COLLAPSED_SPACE
    return table


@functools.cache
def casefold_table() -> tuple[np.ndarray, np.ndarray]:
    """(start, code points): the case folding of code point c is cps[start[c]:start[c + 1]]."""
    lengths = np.ones(sys.maxunicode + 1, dtype=np.int64)
    folds = {}
    for cp in range(_ASSIGNED[0].stop):
        folded = chr(cp).casefold()
        if folded != chr(cp):
            folds[cp] = folded
            lengths[cp] = len(folded)
    start = np.zeros(sys.maxunicode + 2, dtype=np.int64)
    np.cumsum(lengths, out=start[1:])
    cps = np.arange(sys.maxunicode + 1, dtype=np.int64).repeat(lengths)
    for cp, folded in folds.items():
        cps[start[cp] : start[cp + 1]] = [ord(c) for c in folded]
    return start, cps


_STOPWORDS = sorted(GOPHER_STOPWORDS)
_STOPWORD_TABLE = np.zeros((len(_STOPWORDS), 4), dtype=np.uint8)
for _i, _w in enumerate(_STOPWORDS):
    _STOPWORD_TABLE[_i, : len(_w)] = np.frombuffer(_w.encode(), dtype=np.uint8)
_STOPWORD_LENGTHS = np.array([len(w) for w in _STOPWORDS], dtype=np.int64)
_APOSTROPHE, _RIGHT_QUOTE = 0x27, 0x2019


# --- compiled loops --------------------------------------------------------------------------
@nb.njit(inline="always")
def _char_at(data, i, table):
    """(class bits, code point, byte width) of the character starting at data[i]."""
    b = np.int64(data[i])
    if b < 0x80:
        return np.int64(table[b]), b, np.int64(1)
    cp, width = utf8_code_point(data, i)
    return np.int64(table[cp]), np.int64(cp), np.int64(width)


@nb.njit(inline="always")
def _put_utf8(out, o, cp):
    """Write code point ``cp`` at out[o]; returns the new end."""
    if cp < 0x80:
        out[o] = cp
        return o + 1
    if cp < 0x800:
        out[o], out[o + 1] = 0xC0 | (cp >> 6), 0x80 | (cp & 0x3F)
        return o + 2
    if cp < 0x10000:
        out[o], out[o + 1], out[o + 2] = 0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
        return o + 3
    out[o], out[o + 1] = 0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F)
    out[o + 2], out[o + 3] = 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F)
    return o + 4


@nb.njit(nogil=True, cache=True)
def _needs_nfc(data, offsets, table):
    """Per text: does it hold a character that NFC could change?"""
    n = offsets.shape[0] - 1
    out = np.zeros(n, dtype=np.bool_)
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        while i < end:
            if data[i] < 0x80:
                i += 1
                continue
            cls, _, width = _char_at(data, i, table)
            if cls & NFC_UNSAFE:
                out[r] = True
                break
            i += width
    return out


@nb.njit(nogil=True, cache=True)
def _normalize_layout(data, offsets, table):
    """normalize_text after NFC, per text: newlines, control characters, space runs, line
    stripping, at most one blank line, outer strip. Never longer than its input."""
    n = offsets.shape[0] - 1
    out = np.empty(max(1, offsets[n] - offsets[0]), dtype=np.uint8)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    o = 0
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        have_content = line_has_content = in_run = False
        breaks = 0  # line breaks since the last non-empty line
        content_end = o  # end of the line's last character that is not whitespace
        while i < end:
            b = data[i]
            if b == 10 or b == 13:  # "\r\n", "\r" and "\n" each end a line
                i += 2 if (b == 13 and i + 1 < end and data[i + 1] == 10) else 1
                if line_has_content:
                    o = content_end
                breaks += 1
                line_has_content = in_run = False
                continue
            if b < 32 and b != 9:  # control characters are dropped before runs are collapsed
                i += 1
                continue
            cls, _, width = _char_at(data, i, table)
            if cls & COLLAPSED_SPACE:
                if line_has_content and not in_run:
                    out[o] = 32
                    o += 1
                in_run = True
            else:
                if not cls & SPACE and not line_has_content:
                    if have_content:
                        out[o] = 10
                        o += 1
                        if breaks > 1:
                            out[o] = 10
                            o += 1
                    have_content = line_has_content = True
                    breaks = 0
                if line_has_content:
                    for j in range(width):
                        out[o + j] = data[i + j]
                    o += width
                    if not cls & SPACE:
                        content_end = o
                in_run = False
            i += width
        if line_has_content:
            o = content_end
        out_offsets[r + 1] = o
    return out[:o], out_offsets


@nb.njit(inline="always")
def _stopword_bit(data, start, end, stopwords, lengths):
    """The bit of the stop word that data[start:end] lower-cases to, else 0. ASCII case is
    enough: no other character lower-cases to one of their letters (tested)."""
    n = end - start
    for k in range(stopwords.shape[0]):
        if lengths[k] != n:
            continue
        same = True
        for j in range(n):
            b = data[start + j]
            if 65 <= b <= 90:
                b += 32
            if b != stopwords[k, j]:
                same = False
                break
        if same:
            return np.int64(1) << k
    return np.int64(0)


# One pass over the bytes per text, as the kernels in _line_kernels.py: kept in one loop
# (no helper call per character), hence above the complexity bar.
@nb.njit(nogil=True, cache=True)
def _word_counts(data, offsets, table, stopwords, lengths):  # noqa: C901
    """Per text: split() tokens, their characters, those holding a letter, count_tokens, and
    the set of stop words among ``words`` (bits)."""
    n = offsets.shape[0] - 1
    out = np.zeros((n, 5), dtype=np.int64)
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        n_split = token_chars = alpha_tokens = n_tokens = stop_bits = 0
        in_split = split_alpha = in_run = in_word = apostrophe_pending = False
        word_start = word_end = 0
        while i < end:
            cls, cp, width = _char_at(data, i, table)
            if cls & SPACE:
                if in_split and split_alpha:
                    alpha_tokens += 1
                in_split = False
            else:
                token_chars += 1
                if not in_split:
                    n_split += 1
                    in_split = True
                    split_alpha = False
                if cls & ALPHA:
                    split_alpha = True
            if cls & WORD_CHAR:  # count_tokens: a run of word characters is one token ...
                if not in_run:
                    n_tokens += 1
                in_run = True
            else:  # ... and so is every other character that is not a space
                in_run = False
                if not cls & SPACE:
                    n_tokens += 1
            # words(): runs of word characters joined across single apostrophes
            if cls & WORD_CHAR:
                if not in_word and not apostrophe_pending:
                    word_start = i
                in_word = True
                apostrophe_pending = False
                word_end = i + width
            elif (cp == _APOSTROPHE or cp == _RIGHT_QUOTE) and in_word:  # noqa: SIM109 (numba: no `in` on tuples)
                in_word = False
                apostrophe_pending = True
            elif in_word or apostrophe_pending:
                if word_end - word_start <= 4:
                    stop_bits |= _stopword_bit(data, word_start, word_end, stopwords, lengths)
                in_word = apostrophe_pending = False
            i += width
        if in_split and split_alpha:
            alpha_tokens += 1
        if (in_word or apostrophe_pending) and word_end - word_start <= 4:
            stop_bits |= _stopword_bit(data, word_start, word_end, stopwords, lengths)
        out[r, 0], out[r, 1], out[r, 2], out[r, 3], out[r, 4] = n_split, token_chars, alpha_tokens, n_tokens, stop_bits
    return out


@nb.njit(inline="always")
def _key_step(out, o, c, cls, in_word, pending, first):
    """One case-folded character of ``_dedup_keys``: returns the new (o, in_word, pending, first)."""
    if cls & WORD_CHAR:
        if pending:
            o = _put_utf8(out, o, pending)
        elif not in_word:
            if not first:
                out[o] = 32
                o += 1
            first = False
        o = _put_utf8(out, o, c)
        return o, True, np.int64(0), first
    if (c == _APOSTROPHE or c == _RIGHT_QUOTE) and in_word:  # noqa: SIM109 (numba: no `in` on tuples)
        return o, False, np.int64(c), first
    return o, False, np.int64(0), first


@nb.njit(nogil=True, cache=True)
def _dedup_keys(data, offsets, table, fold_start, fold_cps):
    """``" ".join(words(text.casefold()))`` per text, as UTF-8 bytes and offsets. Words are
    found in the case-folded character stream, as the reference does."""
    n = offsets.shape[0] - 1
    out = np.empty(max(16, offsets[n] - offsets[0] + 16), dtype=np.uint8)
    out_offsets = np.zeros(n + 1, dtype=np.int64)
    o = 0
    for r in range(n):
        i, end = offsets[r], offsets[r + 1]
        # Case folding lengthens a text by at most 3 times (e.g. U+0390: 2 bytes to 6).
        if out.shape[0] < o + 3 * (end - i) + 16:
            grown = np.empty(2 * out.shape[0] + 3 * (end - i) + 16, dtype=np.uint8)
            grown[:o] = out[:o]
            out = grown
        first = True
        in_word = False
        pending = np.int64(0)  # an apostrophe after a word: kept only if a word character follows
        while i < end:
            b = np.int64(data[i])
            if b < 0x80:  # ASCII folds to ASCII: skip the table of folds
                c = b + 32 if 65 <= b <= 90 else b
                o, in_word, pending, first = _key_step(out, o, c, table[c], in_word, pending, first)
                i += 1
                continue
            _, cp, width = _char_at(data, i, table)
            for f in range(fold_start[cp], fold_start[cp + 1]):
                c = fold_cps[f]
                o, in_word, pending, first = _key_step(out, o, c, table[c], in_word, pending, first)
            i += width
        out_offsets[r + 1] = o
    return out[:o], out_offsets


_XP1, _XP2, _XP3 = np.uint64(0x9E3779B185EBCA87), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9)
_XP4, _XP5 = np.uint64(0x85EBCA77C2B2AE63), np.uint64(0x27D4EB2F165667C5)
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@nb.njit(inline="always")
def _rotl(x, r):
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@nb.njit(inline="always")
def _read64(b, p):
    v = np.uint64(0)
    for k in range(8):
        v |= np.uint64(b[p + k]) << np.uint64(8 * k)
    return v


@nb.njit(inline="always")
def _round(acc, lane):
    return _rotl(acc + lane * _XP2, 31) * _XP1


@nb.njit(inline="always")
def _merge(acc, v):
    return (acc ^ _round(np.uint64(0), v)) * _XP1 + _XP4


@nb.njit(inline="always")
def _xxh64(b, p, end):
    """XXH64 with seed 0 of b[p:end], equal to ``xxhash.xxh64_intdigest``."""
    length = end - p
    if length >= 32:
        v1, v2, v3, v4 = _XP1 + _XP2, _XP2, np.uint64(0), np.uint64(0) - _XP1
        while p + 32 <= end:
            v1 = _round(v1, _read64(b, p))
            v2 = _round(v2, _read64(b, p + 8))
            v3 = _round(v3, _read64(b, p + 16))
            v4 = _round(v4, _read64(b, p + 24))
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(_merge(_merge(_merge(h, v1), v2), v3), v4)
    else:
        h = _XP5
    h += np.uint64(length)
    while p + 8 <= end:
        h = _rotl(h ^ _round(np.uint64(0), _read64(b, p)), 27) * _XP1 + _XP4
        p += 8
    if p + 4 <= end:
        v = np.uint64(0)
        for k in range(4):
            v |= np.uint64(b[p + k]) << np.uint64(8 * k)
        h = _rotl(h ^ (v * _XP1), 23) * _XP2 + _XP3
        p += 4
    while p < end:
        h = _rotl(h ^ (np.uint64(b[p]) * _XP5), 11) * _XP1
        p += 1
    h ^= h >> np.uint64(33)
    h *= _XP2
    h ^= h >> np.uint64(29)
    h *= _XP3
    h ^= h >> np.uint64(32)
    return h


@nb.njit(nogil=True, cache=True)
def _xxh64_hex(data, offsets):
    """16 lower-case hex digits of XXH64 per string, as one buffer of 16 bytes each."""
    n = offsets.shape[0] - 1
    out = np.empty(16 * n, dtype=np.uint8)
    for r in range(n):
        h = _xxh64(data, offsets[r], offsets[r + 1])
        for k in range(16):
            out[16 * r + k] = _HEX[np.int64((h >> np.uint64(60 - 4 * k)) & np.uint64(15))]
    return out


_K = np.array(
    [
        0x428A2F98,
        0x71374491,
        0xB5C0FBCF,
        0xE9B5DBA5,
        0x3956C25B,
        0x59F111F1,
        0x923F82A4,
        0xAB1C5ED5,
        0xD807AA98,
        0x12835B01,
        0x243185BE,
        0x550C7DC3,
        0x72BE5D74,
        0x80DEB1FE,
        0x9BDC06A7,
        0xC19BF174,
        0xE49B69C1,
        0xEFBE4786,
        0x0FC19DC6,
        0x240CA1CC,
        0x2DE92C6F,
        0x4A7484AA,
        0x5CB0A9DC,
        0x76F988DA,
        0x983E5152,
        0xA831C66D,
        0xB00327C8,
        0xBF597FC7,
        0xC6E00BF3,
        0xD5A79147,
        0x06CA6351,
        0x14292967,
        0x27B70A85,
        0x2E1B2138,
        0x4D2C6DFC,
        0x53380D13,
        0x650A7354,
        0x766A0ABB,
        0x81C2C92E,
        0x92722C85,
        0xA2BFE8A1,
        0xA81A664B,
        0xC24B8B70,
        0xC76C51A3,
        0xD192E819,
        0xD6990624,
        0xF40E3585,
        0x106AA070,
        0x19A4C116,
        0x1E376C08,
        0x2748774C,
        0x34B0BCB5,
        0x391C0CB3,
        0x4ED8AA4A,
        0x5B9CCA4F,
        0x682E6FF3,
        0x748F82EE,
        0x78A5636F,
        0x84C87814,
        0x8CC70208,
        0x90BEFFFA,
        0xA4506CEB,
        0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)
_H0 = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19], dtype=np.uint32
)


# SHA-256 (FIPS 180-4): round constants and initial state
@nb.njit(inline="always")
def _rotr(x, n):
    return np.uint32((x >> np.uint32(n)) | np.uint32(x << np.uint32(32 - n)))


@nb.njit(inline="always")
def _compress(h, block, p, w, k):
    """One 64-byte block block[p:p+64] into the state ``h``."""
    for t in range(16):
        w[t] = (
            (np.uint32(block[p + 4 * t]) << np.uint32(24))
            | (np.uint32(block[p + 4 * t + 1]) << np.uint32(16))
            | (np.uint32(block[p + 4 * t + 2]) << np.uint32(8))
            | np.uint32(block[p + 4 * t + 3])
        )
    for t in range(16, 64):
        x, y = w[t - 15], w[t - 2]
        s0 = np.uint32(_rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint32(3)))
        s1 = np.uint32(_rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint32(10)))
        w[t] = np.uint32(w[t - 16] + s0 + w[t - 7] + s1)
    a, b, c, d, e, f, g, hh = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    for t in range(64):
        S1 = np.uint32(_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25))
        ch = np.uint32((e & f) ^ (np.uint32(~e) & g))
        t1 = np.uint32(hh + S1 + ch + k[t] + w[t])
        S0 = np.uint32(_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22))
        mj = np.uint32((a & b) ^ (a & c) ^ (b & c))
        t2 = np.uint32(S0 + mj)
        hh, g, f, e, d, c, b, a = g, f, e, np.uint32(d + t1), c, b, a, np.uint32(t1 + t2)
    h[0] = np.uint32(h[0] + a)
    h[1] = np.uint32(h[1] + b)
    h[2] = np.uint32(h[2] + c)
    h[3] = np.uint32(h[3] + d)
    h[4] = np.uint32(h[4] + e)
    h[5] = np.uint32(h[5] + f)
    h[6] = np.uint32(h[6] + g)
    h[7] = np.uint32(h[7] + hh)


@nb.njit(nogil=True, cache=True)
def _sha256_hex16(data, offsets, k, h0, hexdigits):
    """The first 16 hex digits of SHA-256 per string: ``text.content_hash``."""
    n = offsets.shape[0] - 1
    out = np.empty(16 * n, dtype=np.uint8)
    w = np.empty(64, dtype=np.uint32)
    h = np.empty(8, dtype=np.uint32)
    tail = np.zeros(128, dtype=np.uint8)
    for r in range(n):
        h[:] = h0
        p, end = offsets[r], offsets[r + 1]
        length = end - p
        while p + 64 <= end:
            _compress(h, data, p, w, k)
            p += 64
        rest = end - p
        tail[:] = 0
        for j in range(rest):
            tail[j] = data[p + j]
        tail[rest] = 0x80
        blocks = 1 if rest < 56 else 2
        bits = np.uint64(length) * np.uint64(8)
        for j in range(8):
            tail[64 * blocks - 1 - j] = np.uint8((bits >> np.uint64(8 * j)) & np.uint64(0xFF))
        for blk in range(blocks):
            _compress(h, tail, 64 * blk, w, k)
        for j in range(16):
            word = h[j // 8]
            out[16 * r + j] = hexdigits[(word >> np.uint32(28 - 4 * (j % 8))) & np.uint32(15)]
    return out


# --- column functions ----------------------------------------------------------------------
_MIN_BYTES_PER_THREAD = 1 << 20


def _row_slices(offsets: np.ndarray) -> list[np.ndarray]:
    """``offsets`` cut into one slice per core, about equal in bytes (the loops release the GIL)."""
    total = int(offsets[-1] - offsets[0])
    parts = max(1, min(os.cpu_count() or 1, total // _MIN_BYTES_PER_THREAD))
    if parts == 1:
        return [offsets]
    cuts = np.searchsorted(offsets, offsets[0] + np.arange(1, parts) * (total // parts))
    bounds = np.unique(np.concatenate([[0], cuts, [len(offsets) - 1]]))
    return [offsets[a : b + 1] for a, b in itertools.pairwise(bounds)]


def _per_row(kernel, data: np.ndarray, offsets: np.ndarray, *args) -> np.ndarray:
    """``kernel(data, offsets, *args)`` for a kernel with one result per row, in parallel."""
    slices = _row_slices(offsets)
    if len(slices) == 1:
        return kernel(data, offsets, *args)
    with ThreadPoolExecutor(len(slices)) as pool:
        return np.concatenate(list(pool.map(lambda o: kernel(data, o, *args), slices)))


def _per_row_strings(kernel, data: np.ndarray, offsets: np.ndarray, *args) -> tuple[np.ndarray, np.ndarray]:
    """``kernel(data, offsets, *args)`` for a kernel writing one string per row, in parallel."""
    slices = _row_slices(offsets)
    if len(slices) == 1:
        return kernel(data, offsets, *args)
    with ThreadPoolExecutor(len(slices)) as pool:
        parts = list(pool.map(lambda o: kernel(data, o, *args), slices))
    shifts = np.cumsum([0] + [len(chunk) for chunk, _ in parts[:-1]])
    joined_offsets = np.concatenate(
        [parts[0][1][:1]] + [o[1:] + shift for (_, o), shift in zip(parts, shifts, strict=True)]
    )
    return np.concatenate([chunk for chunk, _ in parts]), joined_offsets


def _arrow_strings(data: np.ndarray, offsets: np.ndarray) -> pa.LargeStringArray:
    """The loops' output as an Arrow array, without copying."""
    return pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(offsets), pa.py_buffer(data))


def _normalized_buffers(raw: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes and offsets of ``text.normalize_text`` of every text. Polars' NFC rewrites
    every string it is given, so it only sees the texts holding a character NFC could change
    (few, in practice)."""
    raw = raw.cast(pl.String)
    table = char_classes()
    data, offsets = utf8_buffers(raw)
    unsafe = np.flatnonzero(_per_row(_needs_nfc, data, offsets, table))
    if unsafe.size:
        raw = raw.clone().scatter(unsafe, raw.gather(unsafe).str.normalize("NFC"))
        data, offsets = utf8_buffers(raw)
    return _per_row_strings(_normalize_layout, data, offsets, table)


def normalized_text(raw: pl.Series) -> pl.Series:
    """``text.normalize_text`` of every text."""
    return pl.Series(raw.name, _arrow_strings(*_normalized_buffers(raw)), dtype=pl.String)


def _dedup_hex(data: np.ndarray, offsets: np.ndarray) -> pa.LargeStringArray:
    keys, key_offsets = _per_row_strings(_dedup_keys, data, offsets, char_classes(), *casefold_table())
    hexes = _per_row(_xxh64_hex, keys, key_offsets)
    return _arrow_strings(hexes, np.arange(0, hexes.size + 1, 16, dtype=np.int64))


def dedup_keys(texts: pl.Series) -> pl.Series:
    """``text.dedup_key`` of every text: the case-folded words joined by single spaces."""
    data, offsets = utf8_buffers(texts)
    keys = _per_row_strings(_dedup_keys, data, offsets, char_classes(), *casefold_table())
    return pl.Series(texts.name, _arrow_strings(*keys), dtype=pl.String)


def dedup_hashes(texts: pl.Series) -> pl.Series:
    """``f"{text.stable_hash(text.dedup_key(t)):016x}"`` of every text (null stays null):
    exact duplicates, and only they (up to 64-bit collisions), share it; XXH64 is a fixed
    algorithm, so the value is the same in every process and library version."""
    hashed = pl.Series(texts.name, _dedup_hex(*utf8_buffers(texts)), dtype=pl.String)
    return hashed if not texts.has_nulls() else pl.select(pl.when(texts.is_not_null()).then(hashed)).to_series()


def dedup_hash_expr(text: pl.Expr) -> pl.Expr:
    """``dedup_hashes`` as an expression (compiled loops per batch, not per row)."""
    return text.map_batches(dedup_hashes, return_dtype=pl.String)


def _word_columns(data: np.ndarray, offsets: np.ndarray) -> pl.DataFrame:
    """n_words, n_tokens and the word-level counts ``quality_rule`` reads (``_q_*``)."""
    counts = _per_row(_word_counts, data, offsets, char_classes(), _STOPWORD_TABLE, _STOPWORD_LENGTHS)
    return pl.DataFrame(
        {
            "n_words": counts[:, 0],
            "n_tokens": counts[:, 3],
            "_q_n": counts[:, 0],
            "_q_token_chars": counts[:, 1],
            "_q_alpha": counts[:, 2],
            "_q_stopwords": np.bitwise_count(counts[:, 4]).astype(np.int64),
        }
    )


def _content_hashes(data: np.ndarray, offsets: np.ndarray) -> pl.Series:
    """``text.content_hash`` of every text."""
    hexes = _per_row(_sha256_hex16, data, offsets, _K, _H0, _HEX)
    return pl.Series(_arrow_strings(hexes, np.arange(0, hexes.size + 1, 16, dtype=np.int64)), dtype=pl.String)


def prepare_documents(records: pl.DataFrame) -> pl.DataFrame:
    """Normalise ``text`` and add doc_id, n_words, n_tokens, dedup_hash, quality_rule/detail.

    Same rows in the same order, other columns unchanged. ``doc_id`` is
    ``content_hash(normalize_text(raw))`` (a stored lineage key: SHA-256, tested against
    hashlib); ``dedup_hash`` is
    ``dedup_hashes`` (16 hex digits); the quality columns are ``quality_failure(normalised)``
    split at ": " (detail "" for empty_text, both null when the document passes).
    """
    data, offsets = _normalized_buffers(records.get_column("text"))
    text = pl.Series("text", _arrow_strings(data, offsets), dtype=pl.String)
    checked = (
        _word_columns(data, offsets)
        .with_columns(text)
        .with_columns(line_stats(pl.col("text")))
        .with_columns(quality_rule())
    )
    return records.with_columns(
        text,
        _content_hashes(data, offsets).alias("doc_id"),
        checked.get_column("n_words"),
        checked.get_column("n_tokens"),
        pl.Series("dedup_hash", _dedup_hex(data, offsets), dtype=pl.String),
        checked.get_column("quality_rule"),
        checked.get_column("quality_detail"),
    )
