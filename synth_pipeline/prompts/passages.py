"""Cut documents into passages of whole sentences, about ``target_words`` long."""

from __future__ import annotations

from synth_pipeline.text import sentences


def split_passages(text: str, target_words: int) -> list[str]:
    """Greedy sentence packing; a passage never splits a sentence and is never empty."""
    passages: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in sentences(text):
        n = len(sentence.split())
        if current and count + n > target_words * 1.3:
            passages.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += n
        if count >= target_words:
            passages.append(" ".join(current))
            current, count = [], 0
    if current:
        # A short tail joins the previous passage rather than becoming a thin prompt.
        if passages and count < target_words // 3:
            passages[-1] = passages[-1] + " " + " ".join(current)
        else:
            passages.append(" ".join(current))
    return passages
