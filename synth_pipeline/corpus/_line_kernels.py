"""Compiled byte scans (numba) of the corpus readers: JSON lines and UTF-8 validity.

Why compiled: a JSONL file is read at hundreds of MB/s; validating each line's UTF-8 and JSON
and finding its fields in one pass over the bytes keeps Python out of the per-line path.
Cached on disk after the first compilation (``cache=True``, about 12 s of CPU once per machine)
and GIL-free (``nogil``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

LINE_OK = 0
LINE_BLANK = 1  # only JSON whitespace (space, tab, CR, LF)
LINE_INVALID_UTF8 = 2


@nb.njit(nogil=True)
def _is_cont(b):
    return (b & 0xC0) == 0x80


@nb.njit(nogil=True)
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


# ------------------------------------------------------------------ JSON lines

MAX_DEPTH = 512  # deeper nesting is rejected as malformed (Python's json allows ~1000)
LINE_MALFORMED = 3
LINE_NOT_OBJECT = 4

# type of the value found at a path
ABSENT, STRING, NUMBER, BOOLEAN, NULL, OBJECT, ARRAY = 0, 1, 2, 3, 4, 5, 6
TYPE_NAMES = ("absent", "string", "number", "boolean", "null", "object", "array")


# bytes that can be passed over inside a JSON string without a closer look
_PLAIN_STRING_BYTE = np.zeros(256, dtype=np.bool_)
_PLAIN_STRING_BYTE[32:128] = True
_PLAIN_STRING_BYTE[[34, 92]] = False


@nb.njit(nogil=True)
def _skip_ws(data, i, end):
    while i < end:
        b = data[i]
        if b == 32 or b == 9 or b == 13 or b == 10:
            i += 1
        else:
            break
    return i


@nb.njit(nogil=True)
def _is_hex(b):
    return (48 <= b <= 57) or (65 <= b <= 70) or (97 <= b <= 102)


@nb.njit(nogil=True)
def _scan_string(data, i, end):
    """From the byte after an opening quote: (index of the closing quote, has escapes);
    index -1 for bad syntax, -2 for bytes that are not UTF-8."""
    escaped = False
    while i < end:
        while i < end and _PLAIN_STRING_BYTE[data[i]]:
            i += 1
        if i >= end:
            break
        b = data[i]
        if b == 34:
            return i, escaped
        if b == 92:
            escaped = True
            if i + 1 >= end:
                return -1, escaped
            c = data[i + 1]
            if c == 117:
                if i + 5 >= end:
                    return -1, escaped
                for k in range(2, 6):
                    if not _is_hex(data[i + k]):
                        return -1, escaped
                i += 6
            elif c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114 or c == 116:
                i += 2
            else:
                return -1, escaped
        elif b < 32:
            return -1, escaped
        elif b < 0x80:
            i += 1
        else:
            width = _utf8_width(data, i, end)
            if width == 0:
                return -2, escaped
            i += width
    return -1, escaped


@nb.njit(nogil=True)
def _scan_number(data, i, end):
    """End of the JSON number starting at ``i``; -1 if it is not one."""
    if data[i] == 45:
        i += 1
    if i >= end:
        return -1
    if data[i] == 48:
        i += 1
    elif 49 <= data[i] <= 57:
        while i < end and 48 <= data[i] <= 57:
            i += 1
    else:
        return -1
    if i < end and data[i] == 46:
        i += 1
        if i >= end or not (48 <= data[i] <= 57):
            return -1
        while i < end and 48 <= data[i] <= 57:
            i += 1
    if i < end and (data[i] == 101 or data[i] == 69):
        i += 1
        if i < end and (data[i] == 43 or data[i] == 45):
            i += 1
        if i >= end or not (48 <= data[i] <= 57):
            return -1
        while i < end and 48 <= data[i] <= 57:
            i += 1
    return i


@nb.njit(nogil=True)
def _literal(data, i, end, word):
    if i + len(word) > end:
        return -1
    for k in range(len(word)):
        if data[i + k] != word[k]:
            return -1
    return i + len(word)


@nb.njit(nogil=True)
def _valid_utf8(data, i, end):
    while i < end:
        if data[i] < 0x80:
            i += 1
            continue
        width = _utf8_width(data, i, end)
        if width == 0:
            return False
        i += width
    return True


@nb.njit(nogil=True)
def _key_equals(data, lo, hi, escaped, keys, ks, ke):
    """Whether the JSON key contents ``data[lo:hi]`` spell ``keys[ks:ke]``."""
    if escaped:
        decoded = np.empty(hi - lo, dtype=np.uint8)
        n = _unescape_into(data, lo, hi, decoded, 0)
        if n != ke - ks:
            return False
        for k in range(n):
            if decoded[k] != keys[ks + k]:
                return False
        return True
    if hi - lo != ke - ks:
        return False
    for k in range(ke - ks):
        if data[lo + k] != keys[ks + k]:
            return False
    return True


@nb.njit(nogil=True)
def _parse_one(
    data, s, e, keys, key_starts, key_ends, path_len, types, spans, escapes, line, stack, chain, pend, tdepth
):
    """Validate one JSON line and locate the values at the two key paths; the line's status."""
    i = _skip_ws(data, s, e)
    if i >= e:
        return LINE_BLANK
    root = data[i]
    for p in range(2):
        pend[p] = 2 if path_len[p] > 0 else 0
        tdepth[p] = -1
    depth = 0
    state = 0  # 0 value, 1 key, 2 after a value
    while True:
        i = _skip_ws(data, i, e)
        if state == 0:
            if i >= e:
                break
            c = data[i]
            if c == 123 or c == 91:
                if depth == MAX_DEPTH:
                    break
                stack[depth] = c
                depth += 1
                for p in range(2):
                    chain[p, depth] = c == 123 and pend[p] == 2
                    if pend[p] == 1:
                        types[p, line] = OBJECT if c == 123 else ARRAY
                        spans[p, line, 0] = i
                        tdepth[p] = depth
                    pend[p] = 0
                i = _skip_ws(data, i + 1, e)
                if i < e and data[i] == c + 2:  # '}' = '{' + 2, ']' = '[' + 2
                    for p in range(2):
                        if tdepth[p] == depth:
                            spans[p, line, 1] = i + 1
                            tdepth[p] = -1
                    depth -= 1
                    i += 1
                    state = 2
                else:
                    state = 1 if c == 123 else 0
                continue
            kind = ABSENT
            start = i
            if c == 34:
                j, esc = _scan_string(data, i + 1, e)
                if j < 0:
                    break
                kind = STRING
                start = i + 1
                end = j
                i = j + 1
            elif c == 45 or 48 <= c <= 57:
                j = _scan_number(data, i, e)
                if j < 0:
                    break
                kind, end, esc, i = NUMBER, j, False, j
            elif c == 116 or c == 102 or c == 110:
                if c == 116:
                    j = _literal(data, i, e, b"true")
                elif c == 102:
                    j = _literal(data, i, e, b"false")
                else:
                    j = _literal(data, i, e, b"null")
                if j < 0:
                    break
                kind = NULL if c == 110 else BOOLEAN
                end, esc, i = j, False, j
            else:
                break
            for p in range(2):
                if pend[p] == 1:
                    types[p, line] = kind
                    spans[p, line, 0] = start
                    spans[p, line, 1] = end
                    escapes[p, line] = esc
                pend[p] = 0
            state = 2
        elif state == 1:
            if i >= e or data[i] != 34:
                break
            j, esc = _scan_string(data, i + 1, e)
            if j < 0:
                break
            for p in range(2):
                if chain[p, depth] and depth <= path_len[p]:
                    same = _key_equals(data, i + 1, j, esc, keys, key_starts[p, depth - 1], key_ends[p, depth - 1])
                    if same:  # a repeated key overrides what an earlier one held
                        pend[p] = 1 if depth == path_len[p] else 2
                        types[p, line] = ABSENT
            i = _skip_ws(data, j + 1, e)
            if i >= e or data[i] != 58:
                break
            i += 1
            state = 0
        else:
            if depth == 0:
                if i == e:
                    return LINE_OK if root == 123 else LINE_NOT_OBJECT
                break
            if i >= e:
                break
            c = data[i]
            top = stack[depth - 1]
            if c == 44:
                i += 1
                state = 1 if top == 123 else 0
            elif c == top + 2:
                for p in range(2):
                    if tdepth[p] == depth:
                        spans[p, line, 1] = i + 1
                        tdepth[p] = -1
                depth -= 1
                i += 1
            else:
                break
    for p in range(2):
        types[p, line] = ABSENT
    return LINE_MALFORMED if _valid_utf8(data, s, e) else LINE_INVALID_UTF8


@nb.njit(nogil=True, cache=True)
def parse_json_lines(data, starts, keys, key_starts, key_ends, path_len):
    """Validate every line ``data[starts[i]:starts[i+1]]`` as one JSON value and find the
    values at two key paths (0: text, 1: id; ``path_len[p]`` keys, 0 = no path). Returns the
    status per line (LINE_*), the type per path and line, the value spans (string contents
    without quotes, other values raw) and whether a string has escapes. Like Python's json,
    the last of duplicate keys wins; unlike it, NaN/Infinity are not JSON."""
    n = len(starts) - 1
    status = np.zeros(n, dtype=np.uint8)
    types = np.zeros((2, n), dtype=np.uint8)
    spans = np.zeros((2, n, 2), dtype=np.int64)
    escapes = np.zeros((2, n), dtype=np.bool_)
    stack = np.zeros(MAX_DEPTH, dtype=np.uint8)
    chain = np.zeros((2, MAX_DEPTH + 1), dtype=np.bool_)
    pend = np.zeros(2, dtype=np.int64)
    tdepth = np.zeros(2, dtype=np.int64)
    for line in range(n):
        status[line] = _parse_one(
            data,
            starts[line],
            starts[line + 1],
            keys,
            key_starts,
            key_ends,
            path_len,
            types,
            spans,
            escapes,
            line,
            stack,
            chain,
            pend,
            tdepth,
        )
    return status, types, spans, escapes


@nb.njit(nogil=True)
def _put_utf8(out, at, cp):
    if cp < 0x80:
        out[at] = cp
        return at + 1
    if cp < 0x800:
        out[at] = 0xC0 | (cp >> 6)
        out[at + 1] = 0x80 | (cp & 0x3F)
        return at + 2
    if cp < 0x10000:
        out[at] = 0xE0 | (cp >> 12)
        out[at + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[at + 2] = 0x80 | (cp & 0x3F)
        return at + 3
    out[at] = 0xF0 | (cp >> 18)
    out[at + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[at + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[at + 3] = 0x80 | (cp & 0x3F)
    return at + 4


@nb.njit(nogil=True)
def _hex4(data, i):
    v = 0
    for k in range(4):
        b = data[i + k]
        if b <= 57:
            d = b - 48
        elif b <= 70:
            d = b - 55
        else:
            d = b - 87
        v = v * 16 + d
    return v


@nb.njit(nogil=True)
def _unescape_into(data, lo, hi, out, at):
    """Decode the JSON string contents ``data[lo:hi]`` (already validated) into ``out[at:]``;
    a lone surrogate becomes U+FFFD. Returns the position after it."""
    j = lo
    while j < hi:
        b = data[j]
        if b != 92:
            out[at] = b
            at += 1
            j += 1
            continue
        c = data[j + 1]
        if c == 117:
            cp = _hex4(data, j + 2)
            j += 6
            if 0xD800 <= cp < 0xDC00:
                if j + 5 < hi and data[j] == 92 and data[j + 1] == 117 and 0xDC00 <= _hex4(data, j + 2) < 0xE000:
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (_hex4(data, j + 2) - 0xDC00)
                    j += 6
                else:
                    cp = 0xFFFD
            elif 0xDC00 <= cp < 0xE000:
                cp = 0xFFFD
            at = _put_utf8(out, at, cp)
        else:
            if c == 98:
                out[at] = 8
            elif c == 102:
                out[at] = 12
            elif c == 110:
                out[at] = 10
            elif c == 114:
                out[at] = 13
            elif c == 116:
                out[at] = 9
            else:
                out[at] = c
            at += 1
            j += 2
    return at


@nb.njit(nogil=True)
def _is_space_cp(cp):
    """Python's str.isspace() for one code point."""
    if cp < 0x80:
        return cp == 32 or 9 <= cp <= 13 or 28 <= cp <= 31
    return (
        cp == 0x85
        or cp == 0xA0
        or cp == 0x1680
        or 0x2000 <= cp <= 0x200A
        or cp == 0x2028
        or cp == 0x2029
        or cp == 0x202F
        or cp == 0x205F
        or cp == 0x3000
    )


@nb.njit(nogil=True, cache=True)
def gather_values(data, keep, spans, escapes, unescape):
    """The kept spans copied into one UTF-8 buffer (JSON string escapes decoded when
    ``unescape``; a lone surrogate becomes U+FFFD): bytes, int64 offsets, and whether each
    value is empty or whitespace only (Python's definition)."""
    n = len(keep)
    total = 0
    for i in range(n):
        if keep[i]:
            total += spans[i, 1] - spans[i, 0]
    out = np.empty(total, dtype=np.uint8)
    offsets = np.zeros(n + 1, dtype=np.int64)
    blank = np.zeros(n, dtype=np.bool_)
    at = 0
    for i in range(n):
        if keep[i]:
            lo, hi = spans[i, 0], spans[i, 1]
            begin = at
            if unescape and escapes[i]:
                at = _unescape_into(data, lo, hi, out, at)
            else:
                out[at : at + hi - lo] = data[lo:hi]
                at += hi - lo
            is_blank = True
            k = begin
            while k < at:
                b = out[k]
                if b < 0x80:
                    cp = np.int64(b)
                    k += 1
                elif b < 0xE0:
                    cp = ((np.int64(b) & 0x1F) << 6) | (out[k + 1] & 0x3F)
                    k += 2
                elif b < 0xF0:
                    cp = ((np.int64(b) & 0x0F) << 12) | ((np.int64(out[k + 1]) & 0x3F) << 6) | (out[k + 2] & 0x3F)
                    k += 3
                else:
                    cp = 0x10000
                    k += 4
                if not _is_space_cp(cp):
                    is_blank = False
                    break
            blank[i] = is_blank
        offsets[i + 1] = at
    return out[:at], offsets, blank


# ------------------------------------------------------------------ CSV record boundaries


@nb.njit(nogil=True, cache=True)
def csv_record_end(data, delimiter, quote, first_only):
    """Index just after the last (or, with ``first_only``, the first) newline of ``data`` that
    ends a CSV record, -1 if none. Mirrors pyarrow's parser: a quote opens a quoted field only
    at the start of a field, a doubled quote inside one is a literal quote, and elsewhere a
    quote is an ordinary character; ``quote`` < 0 turns quoting off."""
    state = 0  # 0 field start, 1 unquoted field, 2 quoted field, 3 quote seen inside a quoted field
    last = -1
    for i in range(len(data)):
        b = data[i]
        if state == 2:
            if b == quote:
                state = 3
            continue
        if state == 3:
            if b == quote:
                state = 2
                continue
            state = 1
        if b == delimiter:
            state = 0
        elif b == 10:
            state = 0
            last = i + 1
            if first_only:
                return last
        elif b == quote and state == 0:
            state = 2
        else:
            state = 1
    return last
