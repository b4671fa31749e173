"""Heuristic flags on a generated sample: cheap signals a judge model can miss.

They catch the failure modes that grading by a model is known to overlook or to
reward: refusals, chat boilerplate, degenerate repetition, verbatim copying of the
source, text that tries to instruct the judge, and personal data.
"""

from __future__ import annotations

import re

from synth_pipeline.text import ngrams, words

REFUSAL = re.compile(r"\b(I('m| am) (sorry|unable)|I can(not|'t) (help|assist|provide)|as an AI( language model)?)\b", re.I)
BOILERPLATE = re.compile(r"\b(I hope this helps|feel free to ask|let me know if you have any (other )?questions|certainly! here)\b", re.I)
INJECTION = re.compile(
    r"\b(ignore (all |the )?(previous|prior|above) (instructions|rules)|disregard (the|your) (rubric|instructions)|system prompt|give (this|me) (a )?(score|grade) of)\b",
    re.I,
)
EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
PHONE = re.compile(r"(?<!\w)(\+?\d{1,3}[ .-]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\w)")
CARD = re.compile(r"\b(?:\d[ -]?){13,16}\b")

BLOCKING_FLAGS = frozenset({"refusal", "prompt_injection", "pii", "empty", "repetition", "truncated"})
REPEATED_TRIGRAM_SHARE = 0.3  # degenerate loops repeat most of their trigrams
COPY_SPAN = 13  # the n-gram length published decontamination uses for "copied"
COPY_SHARE = 0.9  # flag only near-total copying: grounded samples quote their passage


def heuristic_flags(sample: str, passage: str = "", finish_reason: str | None = None) -> list[str]:
    """Sorted flag names that apply to ``sample`` (empty list when clean)."""
    flags: set[str] = set()
    tokens = [w.lower() for w in words(sample)]
    if not tokens:
        return ["empty"]
    if len(tokens) < 20:
        flags.add("too_short")
    if finish_reason == "length":
        flags.add("truncated")
    if REFUSAL.search(sample):
        flags.add("refusal")
    if BOILERPLATE.search(sample):
        flags.add("boilerplate")
    if INJECTION.search(sample):
        flags.add("prompt_injection")
    if EMAIL.search(sample) or PHONE.search(sample) or CARD.search(sample):
        flags.add("pii")
    trigrams = ngrams(tokens, 3)
    if len(trigrams) >= 10 and 1 - len(set(trigrams)) / len(trigrams) > REPEATED_TRIGRAM_SHARE:
        flags.add("repetition")
    if passage and copied_share(sample, passage) >= COPY_SHARE:
        flags.add("verbatim_copy")
    return sorted(flags)


def copied_share(sample: str, passage: str, span: int = COPY_SPAN) -> float:
    """Share of the sample's words inside a ``span``-word run that also appears in the passage."""
    tokens = [w.lower() for w in words(sample)]
    if len(tokens) < span:
        return 0.0
    source = set(ngrams([w.lower() for w in words(passage)], span))
    covered = [False] * len(tokens)
    for i, gram in enumerate(ngrams(tokens, span)):
        if gram in source:
            covered[i : i + span] = [True] * span
    return sum(covered) / len(tokens)
