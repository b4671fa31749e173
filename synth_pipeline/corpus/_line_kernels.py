"""Compiled byte scans (numba) of the corpus readers: line boundaries and UTF-8 validity.

Why compiled: a JSONL file is read at hundreds of MB/s; finding every line, checking its UTF-8
and noticing blank lines in one pass over the bytes keeps Python out of the per-line path.
Cached on disk after the first compilation (``cache=True``) and GIL-free (``nogil``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

LINE_OK = 0
LINE_BLANK = 1  # only ASCII whitespace
LINE_INVALID_UTF8 = 2


@nb.njit(inline="always")
def _is_cont(b):
    return (b & 0xC0) == 0x80


@nb.njit(inline="always")
def _utf8_width(data, i, end):
    """Length of the valid UTF-8 sequence starting with a non-ASCII byte at ``i``, 0 if invalid
    (overlong forms, surrogates and code points above U+10FFFF are invalid, as in Python)."""
    b = data[i]
    if 0xC2 <= b <= 0xDF:
        if i + 1 < end and _is_cont(data[i + 1]):
            return 2
        return 0
    if 0xE0 <= b <= 0xEF:
        if i + 2 >= end:
            return 0
        c1 = data[i + 1]
        if b == 0xE0:
            ok = 0xA0 <= c1 <= 0xBF
        elif b == 0xED:
            ok = 0x80 <= c1 <= 0x9F
        else:
            ok = _is_cont(c1)
        if ok and _is_cont(data[i + 2]):
            return 3
        return 0
    if 0xF0 <= b <= 0xF4:
        if i + 3 >= end:
            return 0
        c1 = data[i + 1]
        if b == 0xF0:
            ok = 0x90 <= c1 <= 0xBF
        elif b == 0xF4:
            ok = 0x80 <= c1 <= 0x8F
        else:
            ok = _is_cont(c1)
        if ok and _is_cont(data[i + 2]) and _is_cont(data[i + 3]):
            return 4
        return 0
    return 0


@nb.njit(nogil=True, cache=True)
def scan_lines(data):
    """Lines of ``data``: ``starts`` (line i is ``data[starts[i]:starts[i+1]]``, its newline
    included) and a kind per line (LINE_OK, LINE_BLANK, LINE_INVALID_UTF8). A final segment
    without a newline is a line only if it is not empty."""
    n = len(data)
    n_lines = 0
    for i in range(n):
        if data[i] == 10:
            n_lines += 1
    if n > 0 and data[n - 1] != 10:
        n_lines += 1
    starts = np.empty(n_lines + 1, dtype=np.int64)
    kinds = np.zeros(n_lines, dtype=np.uint8)
    starts[0] = 0
    line = 0
    blank = True
    valid = True
    i = 0
    while i < n:
        b = data[i]
        if b < 0x80:
            if b == 10:
                kinds[line] = LINE_INVALID_UTF8 if not valid else (LINE_BLANK if blank else LINE_OK)
                line += 1
                starts[line] = i + 1
                blank = True
                valid = True
            elif blank and not (b == 32 or b == 9 or b == 13 or b == 11 or b == 12):
                blank = False
            i += 1
        else:
            blank = False
            width = _utf8_width(data, i, n)
            if width == 0:
                valid = False
                i += 1
            else:
                i += width
    if line < n_lines:
        kinds[line] = LINE_INVALID_UTF8 if not valid else (LINE_BLANK if blank else LINE_OK)
        starts[line + 1] = n
    return starts, kinds


@nb.njit(nogil=True, cache=True)
def utf8_valid_values(data, offsets):
    """Per value ``data[offsets[i]:offsets[i+1]]`` of a binary column: whether it is UTF-8."""
    out = np.ones(len(offsets) - 1, dtype=np.bool_)
    for v in range(len(offsets) - 1):
        i = offsets[v]
        end = offsets[v + 1]
        while i < end:
            if data[i] < 0x80:
                i += 1
                continue
            width = _utf8_width(data, i, end)
            if width == 0:
                out[v] = False
                break
            i += width
    return out
