"""Text primitives every stage shares: normalisation, words, sentences, token counts.

One definition of "a word" and "a token" keeps the synthetic-share cap honest: real
and synthetic items are counted the same way whatever backend produced them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import xxhash

_WS = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_WORD = re.compile(r"\w+(?:['’]\w+)*", re.UNICODE)
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\n\t")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves may must also use used using one two see e g eg ie etc""".split()
)


def normalize_text(text: str) -> str:
    """NFC, no control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_CONTROL)
    lines = [_WS.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def dedup_key(text: str) -> str:
    """Exact-duplicate key: case-folded, punctuation-insensitive word sequence."""
    return " ".join(words(text.casefold()))


def content_hash(text: str, length: int = 16) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def count_tokens(text: str) -> int:
    """Words and punctuation marks: a tokenizer-free proxy, identical for real and synthetic."""
    return len(_TOKEN.findall(text))


def sentences(text: str) -> list[str]:
    out: list[str] = []
    for para in text.split("\n\n"):
        para = para.replace("\n", " ").strip()
        if para:
            out.extend(s.strip() for s in _SENTENCE_END.split(para) if s.strip())
    return out


def content_words(text: str) -> list[str]:
    return [w for w in (t.lower() for t in words(text)) if w not in STOPWORDS and not w.isdigit() and len(w) > 2]


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def stable_hash(text: str) -> int:
    """A 64-bit hash that is the same in every process and run (unlike ``hash``)."""
    return xxhash.xxh64_intdigest(text.encode("utf-8", "surrogatepass"))
