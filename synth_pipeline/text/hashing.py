"""Compiled 64-bit hashes and UTF-8 decoding shared by the near-duplicate stage and the
metrics (numba).

``xxh3_64`` is XXH3-64 (seed 0, default secret) for inputs of at most 240 bytes, equal to
``xxhash.xxh3_64_intdigest`` (tested for every length); longer inputs use XXH3's striped
path, which callers hash with the ``xxhash`` library. Each input byte is read through a
256-entry table, so a caller can hash the ASCII-lowercased bytes of a word without copying
it. ``fmix64`` is murmur3's 64-bit finaliser. All are plain ``njit`` functions meant to be
inlined into other compiled loops.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_U = np.uint64
_M32 = _U(0xFFFFFFFF)

# XXH3's default secret (xxhash.h, ``XXH3_kSecret``); inputs of <= 240 bytes read its first 136.
_SECRET = np.frombuffer(
    bytes.fromhex(
        "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
        "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
        "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
        "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
        "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    ),
    dtype=np.uint8,
)
XXH3_MAX_SHORT = 240  # longer inputs use XXH3's striped long-input path: hashed by the caller

IDENTITY = np.arange(256, dtype=np.uint8)
ASCII_LOWER = IDENTITY.copy()
ASCII_LOWER[65:91] += 32

_P64_1, _P64_2, _P64_3 = _U(0x9E3779B185EBCA87), _U(0xC2B2AE3D27D4EB4F), _U(0x165667B19E3779F9)
_PMX1, _PMX2 = _U(0x165667919E3779F9), _U(0x9FB21C651E98DF25)
_FMIX1, _FMIX2 = _U(0xFF51AFD7ED558CCD), _U(0xC4CEB9FE1A85EC53)


@nb.njit(inline="always")
def _le(b, p, nbytes, tbl):
    """Little-endian integer of the ``nbytes`` bytes b[p:p+nbytes], each mapped through
    ``tbl``."""
    v = _U(0)
    for i in range(nbytes):
        v |= _U(tbl[b[p + i]]) << _U(8 * i)
    return v


@nb.njit(inline="always")
def _secret64(s):
    return _le(_SECRET, s, 8, IDENTITY)


@nb.njit(inline="always")
def _bswap64(x):
    v = _U(0)
    for i in range(8):
        v = (v << _U(8)) | ((x >> _U(8 * i)) & _U(0xFF))
    return v


@nb.njit(inline="always")
def _mul128_fold64(a, b):
    """Low xor high 64 bits of the 128-bit product a * b."""
    a_lo, a_hi, b_lo, b_hi = a & _M32, a >> _U(32), b & _M32, b >> _U(32)
    lo_lo, hi_lo, lo_hi, hi_hi = a_lo * b_lo, a_hi * b_lo, a_lo * b_hi, a_hi * b_hi
    cross = (lo_lo >> _U(32)) + (hi_lo & _M32) + lo_hi
    upper = (hi_lo >> _U(32)) + (cross >> _U(32)) + hi_hi
    lower = (cross << _U(32)) | (lo_lo & _M32)
    return lower ^ upper


@nb.njit(inline="always")
def _xxh64_avalanche(h):
    h ^= h >> _U(33)
    h *= _P64_2
    h ^= h >> _U(29)
    h *= _P64_3
    return h ^ (h >> _U(32))


@nb.njit(inline="always")
def _xxh3_avalanche(h):
    h ^= h >> _U(37)
    h *= _PMX1
    return h ^ (h >> _U(32))


@nb.njit(inline="always")
def _mix16(b, p, s, tbl):
    lo = _le(b, p, 8, tbl) ^ _secret64(s)
    hi = _le(b, p + 8, 8, tbl) ^ _secret64(s + 8)
    return _mul128_fold64(lo, hi)


@nb.njit(inline="always")
def fmix64(h):
    """murmur3's 64-bit finaliser (same as :func:`synth_pipeline.dedup.shingles.fmix64`)."""
    h ^= h >> _U(33)
    h *= _FMIX1
    h ^= h >> _U(33)
    h *= _FMIX2
    return h ^ (h >> _U(33))


@nb.njit(nogil=True, cache=True)
def xxh3_64(b, p, n, tbl):
    """XXH3-64 (seed 0, default secret) of the ``n`` <= 240 bytes ``tbl[b[p:p+n]]``."""
    un = _U(n)
    if n <= 16:
        if n > 8:
            lo = _le(b, p, 8, tbl) ^ (_secret64(24) ^ _secret64(32))
            hi = _le(b, p + n - 8, 8, tbl) ^ (_secret64(40) ^ _secret64(48))
            return _xxh3_avalanche(un + _bswap64(lo) + hi + _mul128_fold64(lo, hi))
        if n >= 4:
            x = (_le(b, p + n - 4, 4, tbl) + (_le(b, p, 4, tbl) << _U(32))) ^ (_secret64(8) ^ _secret64(16))
            x ^= ((x << _U(49)) | (x >> _U(15))) ^ ((x << _U(24)) | (x >> _U(40)))
            x *= _PMX2
            x ^= (x >> _U(35)) + un
            x *= _PMX2
            return x ^ (x >> _U(28))
        if n > 0:
            combined = (
                (_U(tbl[b[p]]) << _U(16)) | (_U(tbl[b[p + (n >> 1)]]) << _U(24)) | _U(tbl[b[p + n - 1]]) | (un << _U(8))
            )
            return _xxh64_avalanche(combined ^ (_le(_SECRET, 0, 4, IDENTITY) ^ _le(_SECRET, 4, 4, IDENTITY)))
        return _xxh64_avalanche(_secret64(56) ^ _secret64(64))
    acc = un * _P64_1
    if n <= 128:
        if n > 32:
            if n > 64:
                if n > 96:
                    acc += _mix16(b, p + 48, 96, tbl)
                    acc += _mix16(b, p + n - 64, 112, tbl)
                acc += _mix16(b, p + 32, 64, tbl)
                acc += _mix16(b, p + n - 48, 80, tbl)
            acc += _mix16(b, p + 16, 32, tbl)
            acc += _mix16(b, p + n - 32, 48, tbl)
        acc += _mix16(b, p, 0, tbl)
        acc += _mix16(b, p + n - 16, 16, tbl)
        return _xxh3_avalanche(acc)
    for i in range(8):
        acc += _mix16(b, p + 16 * i, 16 * i, tbl)
    acc_end = _mix16(b, p + n - 16, 136 - 17, tbl)
    acc = _xxh3_avalanche(acc)
    for i in range(8, n // 16):
        acc_end += _mix16(b, p + 16 * i, 16 * (i - 8) + 3, tbl)
    return _xxh3_avalanche(acc + acc_end)


@nb.njit(inline="always")
def utf8_code_point(data, i):
    """Code point and byte width of the (valid) UTF-8 character starting at data[i]."""
    b = _U(data[i])
    if b < 0xE0:
        return ((b & _U(0x1F)) << _U(6)) | (_U(data[i + _U(1)]) & _U(0x3F)), _U(2)
    c1, c2 = _U(data[i + _U(1)]) & _U(0x3F), _U(data[i + _U(2)]) & _U(0x3F)
    if b < 0xF0:
        return ((b & _U(0x0F)) << _U(12)) | (c1 << _U(6)) | c2, _U(3)
    return ((b & _U(0x07)) << _U(18)) | (c1 << _U(12)) | (c2 << _U(6)) | (_U(data[i + _U(3)]) & _U(0x3F)), _U(4)
