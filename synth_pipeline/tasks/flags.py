"""Heuristic flags on a generated sample: cheap signals a judge model can miss.

They catch the failure modes that grading by a model is known to overlook or to
reward: refusals, chat boilerplate, degenerate repetition, verbatim copying of the
source, text that tries to instruct the judge, and personal data.

Every sample of a partition is flagged, so the work is done per batch
(:func:`flag_batch`): words and n-grams in polars and numpy, and each pattern first as a
Rust regex over the whole batch, then Python's ``re`` (the definition below) only on the
texts it may match. :func:`heuristic_flags` and :func:`copied_share` are the one-text forms.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from synth_pipeline.text.frames import ngram_keys, series, word_frame

REFUSAL = re.compile(
    r"\b(I('m| am) (sorry|unable)|I can(not|'t) (help|assist|provide)|as an AI( language model)?)\b", re.I
)
BOILERPLATE = re.compile(
    r"\b(I hope this helps|feel free to ask|let me know if you have any (other )?questions|certainly! here)\b", re.I
)
INJECTION = re.compile(
    r"\b(ignore (all |the )?(previous|prior|above) (instructions|rules)"
    r"|disregard (the|your) (rubric|instructions)|system prompt|give (this|me) (a )?(score|grade) of)\b",
    re.I,
)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
PHONE = re.compile(r"(?<!\w)(\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\w)")
CARD = re.compile(r"\b(?:\d[ -]?){13,16}\b")

BLOCKING_FLAGS = frozenset({"refusal", "prompt_injection", "pii", "empty", "repetition", "truncated"})
REPEATED_TRIGRAM_SHARE = 0.3  # degenerate loops repeat most of their trigrams
COPY_SPAN = 13  # the n-gram length published decontamination uses for "copied"
COPY_SHARE = 0.9  # flag only near-total copying: grounded samples quote their passage

# Necessary conditions in Rust's regex dialect (no look-around), so Python's ``re`` only
# runs on the few texts that can match.
_PREFILTERS = {
    "refusal": (r"(?i)i('m| am) (sorry|unable)|i can(not|'t) (help|assist|provide)|as an ai", (REFUSAL,)),
    "boilerplate": (
        r"(?i)i hope this helps|feel free to ask|let me know if you have any|certainly! here",
        (BOILERPLATE,),
    ),
    "prompt_injection": (r"(?i)ignore |disregard |system prompt|give (this|me) ", (INJECTION,)),
    "pii": (r"@|\d{3}\)?[ .-]\d{3}[ .-]\d{4}|(?:\d[ -]?){13}", (EMAIL, PHONE, CARD)),
}


@dataclass(frozen=True)
class FlagBatch:
    flags: list[list[str]]  # sorted flag names per sample
    copied_share: np.ndarray  # float64 per sample, see copied_share
    n_words: np.ndarray  # int64 per sample: ``text.words`` count
    words: pl.DataFrame | None  # the samples' words, see text_frames.word_frame
    source_words: pl.DataFrame | None  # the passages' words


# Key of ``GradeResult.extra`` under which a judge that already ran :func:`flag_batch` on
# a sample and its passage (the offline judge) returns its flags, so grading does not
# flag every sample twice.
HEURISTIC_FLAGS = "heuristic_flags"
CHUNK = 20_000  # samples per vectorised pass: bounds the memory of the word frames


def flag_batch(
    samples: Sequence[str] | pl.Series,
    passages: Sequence[str] | pl.Series | None = None,
    finish_reasons: Sequence[str | None] | None = None,
) -> FlagBatch:
    """:func:`heuristic_flags` of every sample (with its passage and finish reason), in one pass.

    Batches above :data:`CHUNK` samples are flagged chunk by chunk; their word frames are
    then not kept (``words`` and ``source_words`` are None).
    """
    texts = series(samples)
    if len(texts) > CHUNK:
        source = series(passages) if passages is not None else None
        parts = [
            flag_batch(
                texts.slice(start, CHUNK),
                source.slice(start, CHUNK) if source is not None else None,
                finish_reasons[start : start + CHUNK] if finish_reasons is not None else None,
            )
            for start in range(0, len(texts), CHUNK)
        ]
        return FlagBatch(
            flags=[f for part in parts for f in part.flags],
            copied_share=np.concatenate([part.copied_share for part in parts]),
            n_words=np.concatenate([part.n_words for part in parts]),
            words=None,
            source_words=None,
        )
    n = len(texts)
    words = word_frame(texts)
    row = words["row"].to_numpy()
    pos = words["pos"].to_numpy()
    n_words = np.bincount(row, minlength=n).astype(np.int64)
    token_hash = words["word"].hash(seed=0).to_numpy()
    found: dict[str, np.ndarray] = {"too_short": n_words < 20}
    found["truncated"] = (
        np.array([r == "length" for r in finish_reasons], dtype=bool)
        if finish_reasons is not None
        else np.zeros(n, bool)
    )
    for name, (rust, patterns) in _PREFILTERS.items():
        maybe = np.flatnonzero(texts.str.contains(rust).fill_null(False).to_numpy())
        hit = np.zeros(n, dtype=bool)
        for i in maybe:
            hit[i] = any(p.search(texts[int(i)]) for p in patterns)
        found[name] = hit
    trigram_key, valid = ngram_keys(token_hash, row, pos, n_words, 3)
    unique = pl.DataFrame({"row": row[valid], "key": trigram_key[valid]}).group_by("row").agg(pl.col("key").n_unique())
    n_unique = np.zeros(n, dtype=np.int64)
    n_unique[unique["row"].to_numpy()] = unique["key"].to_numpy()
    n_trigrams = np.maximum(n_words - 2, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        found["repetition"] = (n_trigrams >= 10) & (1 - n_unique / np.maximum(n_trigrams, 1) > REPEATED_TRIGRAM_SHARE)
    source_words = None
    copied = np.zeros(n)
    if passages is not None:
        source = series(passages)
        source_words = word_frame(source)
        copied = _copied_shares(row, pos, n_words, token_hash, source_words, COPY_SPAN)
        found["verbatim_copy"] = (source.str.len_bytes().to_numpy() > 0) & (copied >= COPY_SHARE)
    names = sorted(found)
    columns = np.stack([found[name] for name in names], axis=1)
    empty = n_words == 0
    flags = [
        ["empty"] if e else [name for name, on in zip(names, hits, strict=True) if on]
        for e, hits in zip(empty, columns.tolist(), strict=True)
    ]
    return FlagBatch(flags=flags, copied_share=copied, n_words=n_words, words=words, source_words=source_words)


def heuristic_flags(sample: str, passage: str = "", finish_reason: str | None = None) -> list[str]:
    """Sorted flag names that apply to ``sample`` (empty list when clean)."""
    return flag_batch([sample], [passage], [finish_reason]).flags[0]


def copied_share(sample: str, passage: str, span: int = COPY_SPAN) -> float:
    """Share of the sample's words inside a ``span``-word run that also appears in the passage."""
    words = word_frame(series([sample]))
    row, pos = words["row"].to_numpy(), words["pos"].to_numpy()
    n_words = np.bincount(row, minlength=1).astype(np.int64)
    source = word_frame(series([passage]))
    return float(_copied_shares(row, pos, n_words, words["word"].hash(seed=0).to_numpy(), source, span)[0])


def _copied_shares(
    row: np.ndarray, pos: np.ndarray, n_words: np.ndarray, token_hash: np.ndarray, source: pl.DataFrame, span: int
) -> np.ndarray:
    """Per sample: the share of its words covered by a ``span``-gram that also occurs in its passage."""
    n = len(n_words)
    out = np.zeros(n)
    eligible = np.flatnonzero(n_words >= span)
    if not len(eligible):
        return out
    source = source.filter(pl.col("row").is_in(pl.Series(eligible, dtype=pl.UInt32).implode()))
    source_row = source["row"].to_numpy()
    source_len = np.bincount(source_row, minlength=n).astype(np.int64)
    source_key, source_valid = ngram_keys(
        source["word"].hash(seed=0).to_numpy(), source_row, source["pos"].to_numpy(), source_len, span
    )
    key, valid = ngram_keys(token_hash, row, pos, n_words, span)
    match = valid & pl.Series(key).is_in(pl.Series(source_key[source_valid]).implode()).to_numpy()
    # A word is covered when a matching n-gram starts at most span - 1 words before it.
    # Matches never start within span - 1 words of their row's end, so none spills over.
    starts = np.concatenate(([0], np.cumsum(match)))
    t = np.arange(len(match))
    covered = starts[t + 1] - starts[np.maximum(t - span + 1, 0)] > 0
    out[eligible] = np.bincount(row, weights=covered, minlength=n)[eligible] / n_words[eligible]
    return out
