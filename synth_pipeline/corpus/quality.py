"""Heuristic document quality rules in the style of Gopher (Rae et al. 2021, App. A) and C4.

Each rule returns a reason string when a document fails, so rejects say *why*. The
thresholds are the published ones except where noted: documentation text is shorter
than web pages, so the minimum length is 30 words instead of Gopher's 50.
"""

from __future__ import annotations

from synth_pipeline.text import words

MIN_WORDS = 30  # Gopher: 50; lowered for short reference docstrings.
MAX_WORDS = 100_000  # Gopher
MEAN_WORD_LENGTH = (3.0, 10.0)  # Gopher
MAX_SYMBOL_WORD_RATIO = 0.1  # Gopher: '#' and '...' per word
MAX_ELLIPSIS_LINE_SHARE = 0.3  # Gopher
MIN_ALPHA_WORD_SHARE = 0.8  # Gopher: 80 % of words contain a letter
MIN_STOPWORD_HITS = 2  # Gopher: at least two of these
GOPHER_STOPWORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})
MAX_DUPLICATE_LINE_SHARE = 0.3  # Gopher repetition rule (lines)
MAX_REPLACEMENT_CHAR_SHARE = 0.001  # broken encoding: U+FFFD per character
C4_BAD_PHRASES = ("lorem ipsum",)  # C4


def quality_failure(text: str) -> str | None:
    """The first rule ``text`` breaks, as ``rule: detail``; None when it passes."""
    if not text.strip():
        return "empty_text"
    if text.count("\ufffd") > max(1, len(text) * MAX_REPLACEMENT_CHAR_SHARE):
        return "broken_encoding: replacement characters"
    tokens = text.split()
    n = len(tokens)
    if n < MIN_WORDS:
        return f"too_short: {n} words < {MIN_WORDS}"
    if n > MAX_WORDS:
        return f"too_long: {n} words > {MAX_WORDS}"
    mean_len = sum(len(t) for t in tokens) / n
    if not MEAN_WORD_LENGTH[0] <= mean_len <= MEAN_WORD_LENGTH[1]:
        return f"mean_word_length: {mean_len:.1f} outside {MEAN_WORD_LENGTH}"
    symbols = text.count("#") + text.count("...") + text.count("\u2026")
    if symbols / n > MAX_SYMBOL_WORD_RATIO:
        return f"symbol_ratio: {symbols / n:.2f} > {MAX_SYMBOL_WORD_RATIO}"
    alpha = sum(1 for t in tokens if any(c.isalpha() for c in t))
    if alpha / n < MIN_ALPHA_WORD_SHARE:
        return f"alpha_word_share: {alpha / n:.2f} < {MIN_ALPHA_WORD_SHARE}"
    lowered = {w.lower() for w in words(text)}
    if len(GOPHER_STOPWORDS & lowered) < MIN_STOPWORD_HITS:
        return "stopwords: fewer than 2 common English stop words"
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if lines:
        ellipsis = sum(1 for line in lines if line.endswith(("...", "\u2026")))
        if ellipsis / len(lines) > MAX_ELLIPSIS_LINE_SHARE:
            return f"ellipsis_lines: {ellipsis / len(lines):.2f} > {MAX_ELLIPSIS_LINE_SHARE}"
        dup = len(lines) - len(set(lines))
        if dup / len(lines) > MAX_DUPLICATE_LINE_SHARE:
            return f"duplicate_lines: {dup / len(lines):.2f} > {MAX_DUPLICATE_LINE_SHARE}"
    lowered_text = text.lower()
    for phrase in C4_BAD_PHRASES:
        if phrase in lowered_text:
            return f"c4_phrase: {phrase!r}"
    return None
