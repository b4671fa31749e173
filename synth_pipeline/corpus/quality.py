"""Heuristic document quality rules in the style of Gopher (Rae et al. 2021, App. A) and C4.

Each rule returns a reason string when a document fails, so rejects say *why*. The
thresholds are the published ones except where noted: documentation text is shorter
than web pages, so the minimum length is 30 words instead of Gopher's 50.

The rules exist twice from the same constants: ``quality_failure`` checks one string and
is the reference; ``quality_rule`` expresses them as polars expressions over per-document
counts (``word_stats``/``line_stats``, or the compiled pass in ``documents``: the ingestion
hot path), tested equal to the reference. ``with_quality`` is the all-polars route.
"""

from __future__ import annotations

import polars as pl

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

QUALITY_RULES = (
    "empty_text",
    "broken_encoding",
    "too_short",
    "too_long",
    "mean_word_length",
    "symbol_ratio",
    "alpha_word_share",
    "stopwords",
    "ellipsis_lines",
    "duplicate_lines",
    "c4_phrase",
)


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


# --- the same rules as polars expressions --------------------------------------------------
# Python's str.isspace is Unicode White_Space (Rust regex \s) plus U+001C..U+001F; Python's
# \w is letters, numbers and "_" (Rust's \w adds marks and connector punctuation instead).
PY_SPACE = r"\s\x1c-\x1f"
PY_WORD_CHAR = r"\p{L}\p{N}_"
_APOSTROPHES = "'\u2019"


def ascii_caseless(phrase: str) -> str:
    """A regex matching exactly the strings whose Python ``lower()`` is ``phrase`` (ASCII).

    Not ``(?i)``: Rust's case folding also matches e.g. U+017F for "s", which Python's
    ``lower()`` keeps as it is. Among non-ASCII characters only U+212A lowers to ASCII ("k";
    U+0130 lowers to two characters), which the tests check.
    """
    out = []
    for ch in phrase:
        if ch.isalpha():
            out.append(f"[{ch}{ch.upper()}{chr(0x212A) if ch == 'k' else ''}]")
        else:
            out.append("\\" + ch if not ch.isalnum() and ch != " " else ch)
    return "".join(out)


def standalone_word(word: str) -> str:
    """A regex for ``word`` appearing as a whole item of ``text.words`` (caseless).

    ``words`` joins runs of word characters across single apostrophes, so a word starts
    after a non-word character that is not an apostrophe, or after an apostrophe that does
    not follow a word character; symmetrically at its end.
    """
    nw, nwa, apo = f"[^{PY_WORD_CHAR}]", f"[^{PY_WORD_CHAR}{_APOSTROPHES}]", f"[{_APOSTROPHES}]"
    before = f"(?:^|{nwa}|(?:^|{nw}){apo})"
    after = f"(?:$|{nwa}|{apo}(?:$|{nw}))"
    return before + ascii_caseless(word) + after


def python_fixed(num: pl.Expr, den: pl.Expr, decimals: int) -> pl.Expr:
    """``f"{num / den:.{decimals}f}"`` for integers 0 <= num, 0 < den < 2**26, digit for digit.

    Python rounds the float quotient half-to-even on its exact binary value. The integer
    quotient decides every case except an exact decimal tie; there the float's side of the
    true quotient decides, found exactly by splitting it into two halves whose products with
    ``den`` are exact (Veltkamp/Dekker).
    """
    scale = 10**decimals
    den = pl.max_horizontal(den, pl.lit(1)).cast(pl.Int64)
    scaled = num.cast(pl.Int64) * scale
    q = scaled // den
    twice_rem = 2 * (scaled % den)
    x = num.cast(pl.Float64) / den.cast(pl.Float64)
    c = x * 134217729.0
    hi = c - (c - x)
    lo = x - hi
    d = den.cast(pl.Float64)
    float_above_exact = (d * hi - num.cast(pl.Float64)) + d * lo
    round_up = (twice_rem > den) | (
        (twice_rem == den) & ((float_above_exact > 0) | ((float_above_exact == 0) & (q % 2 == 1)))
    )
    digits = q + round_up.cast(pl.Int64)
    return pl.format("{}.{}", digits // scale, (digits % scale).cast(pl.String).str.zfill(decimals))


def word_stats(text: pl.Expr) -> list[pl.Expr]:
    """The word-level counts the rules need, as regex counts (``_q_n``, ``_q_token_chars``,
    ``_q_alpha``, ``_q_stopwords``). ``documents`` computes the same four in one compiled pass.

    The regex classes use polars' Unicode tables: equal to Python's for every character
    assigned in Unicode 14.0 (Python 3.11, tested), possibly not for characters added later."""
    whitespace = (
        text.str.count_matches(" ", literal=True)
        + text.str.count_matches("\n", literal=True)
        + text.str.count_matches(f"[{PY_SPACE}&&[^ \\n]]")
    ).cast(pl.Int64)
    return [
        text.str.count_matches(f"[^{PY_SPACE}]+").cast(pl.Int64).alias("_q_n"),
        (text.str.len_chars().cast(pl.Int64) - whitespace).alias("_q_token_chars"),
        text.str.count_matches(f"[^{PY_SPACE}\\p{{L}}]*\\p{{L}}[^{PY_SPACE}]*").cast(pl.Int64).alias("_q_alpha"),
        pl.sum_horizontal(
            [text.str.contains(standalone_word(w)).cast(pl.Int64) for w in sorted(GOPHER_STOPWORDS)]
        ).alias("_q_stopwords"),
    ]


def line_stats(text: pl.Expr) -> list[pl.Expr]:
    """Character, symbol, line and phrase counts the rules need, as columns ``_q_*``.

    They assume normalised text (``normalize_text``): lines are already stripped and the
    only empty lines are single blank lines between paragraphs.
    """

    def count(s: str) -> pl.Expr:
        return text.str.count_matches(s, literal=True).cast(pl.Int64)

    blank_lines = count("\n\n")
    first_c4_phrase = pl.lit(None, pl.String)
    for phrase in reversed(C4_BAD_PHRASES):
        first_c4_phrase = (
            pl.when(text.str.contains(ascii_caseless(phrase))).then(pl.lit(repr(phrase))).otherwise(first_c4_phrase)
        )
    return [
        count("\ufffd").alias("_q_replacement"),
        text.str.len_chars().cast(pl.Int64).alias("_q_chars"),
        (count("#") + count("...") + count("\u2026")).alias("_q_symbols"),
        (count("\n") + 1 - blank_lines).alias("_q_lines"),
        text.str.count_matches("(?m)(?:\\.\\.\\.|\u2026)$").cast(pl.Int64).alias("_q_ellipsis"),
        (text.str.split("\n").list.n_unique().cast(pl.Int64) - (blank_lines > 0).cast(pl.Int64)).alias(
            "_q_unique_lines"
        ),
        first_c4_phrase.alias("_q_c4"),
    ]


def quality_rule() -> list[pl.Expr]:
    """``quality_rule`` and ``quality_detail`` from the ``_q_*`` columns, first failing rule wins.

    ``quality_detail`` is null when the document passes and "" for ``empty_text`` (which
    ``quality_failure`` reports without a detail).
    """
    c = pl.col
    n = c("_q_n")
    lines = c("_q_lines")
    dup = lines - c("_q_unique_lines")
    checks: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("empty_text", n == 0, pl.lit("")),
        (
            "broken_encoding",
            c("_q_replacement") > pl.max_horizontal(pl.lit(1.0), c("_q_chars") * MAX_REPLACEMENT_CHAR_SHARE),
            pl.lit("replacement characters"),
        ),
        ("too_short", n < MIN_WORDS, pl.format("{} words < {}", n, pl.lit(MIN_WORDS))),
        ("too_long", n > MAX_WORDS, pl.format("{} words > {}", n, pl.lit(MAX_WORDS))),
        (
            "mean_word_length",
            ~(c("_q_token_chars") / n).is_between(*MEAN_WORD_LENGTH),
            pl.format("{} outside {}", python_fixed(c("_q_token_chars"), n, 1), pl.lit(str(MEAN_WORD_LENGTH))),
        ),
        (
            "symbol_ratio",
            c("_q_symbols") / n > MAX_SYMBOL_WORD_RATIO,
            pl.format("{} > {}", python_fixed(c("_q_symbols"), n, 2), pl.lit(str(MAX_SYMBOL_WORD_RATIO))),
        ),
        (
            "alpha_word_share",
            c("_q_alpha") / n < MIN_ALPHA_WORD_SHARE,
            pl.format("{} < {}", python_fixed(c("_q_alpha"), n, 2), pl.lit(str(MIN_ALPHA_WORD_SHARE))),
        ),
        (
            "stopwords",
            c("_q_stopwords") < MIN_STOPWORD_HITS,
            pl.lit(f"fewer than {MIN_STOPWORD_HITS} common English stop words"),
        ),
        (
            "ellipsis_lines",
            c("_q_ellipsis") / lines > MAX_ELLIPSIS_LINE_SHARE,
            pl.format("{} > {}", python_fixed(c("_q_ellipsis"), lines, 2), pl.lit(str(MAX_ELLIPSIS_LINE_SHARE))),
        ),
        (
            "duplicate_lines",
            dup / lines > MAX_DUPLICATE_LINE_SHARE,
            pl.format("{} > {}", python_fixed(dup, lines, 2), pl.lit(str(MAX_DUPLICATE_LINE_SHARE))),
        ),
        ("c4_phrase", c("_q_c4").is_not_null(), c("_q_c4")),
    ]
    rule = pl.lit(None, pl.String)
    detail = pl.lit(None, pl.String)
    for name, failed, why in reversed(checks):
        rule = pl.when(failed).then(pl.lit(name)).otherwise(rule)
        detail = pl.when(failed).then(why).otherwise(detail)
    return [rule.alias("quality_rule"), detail.alias("quality_detail")]


def with_quality(frame: pl.DataFrame, text: str = "text") -> pl.DataFrame:
    """``frame`` plus ``quality_rule`` and ``quality_detail`` for its (normalised) ``text``."""
    stats = word_stats(pl.col(text)) + line_stats(pl.col(text))
    names = [s.meta.output_name() for s in stats]
    return frame.with_columns(stats).with_columns(quality_rule()).drop(names)
