"""Render seed prompts: each document's passages paired with varied tasks, audiences, styles.

Assignment is a seeded shuffle per document, so a re-run renders the same prompts and
the whole partition covers the task x audience x style grid evenly instead of
repeating one favourite combination.
"""

from __future__ import annotations

import itertools
import json
import random

import polars as pl


from synth_pipeline.prompts.passages import split_passages
from synth_pipeline.prompts.templates import AUDIENCES, STYLES, TEMPLATES
from synth_pipeline.text import content_hash, stable_hash

PROMPT_SCHEMA = {
    "prompt_id": pl.Utf8,
    "doc_id": pl.Utf8,
    "passage_index": pl.Int64,
    "passage": pl.Utf8,
    "task": pl.Utf8,
    "audience": pl.Utf8,
    "style": pl.Utf8,
    "template_version": pl.Utf8,
    "messages": pl.Utf8,  # JSON list of {role, content}, exactly what the generator is sent
    "generation_depth": pl.Int64,
}
_GRID = list(itertools.product(range(len(TEMPLATES)), range(len(AUDIENCES)), range(len(STYLES))))


def build_seed_prompts(
    documents: pl.DataFrame, *, prompts_per_document: int, passage_words: int, max_depth: int, seed: int
) -> tuple[pl.DataFrame, int]:
    """Prompts for ``documents``; also returns how many were refused for exceeding ``max_depth``."""
    rows = []
    refused = 0
    for doc in documents.select("doc_id", "text", "generation_depth").iter_rows(named=True):
        depth = int(doc["generation_depth"] or 0)
        if depth > max_depth:
            # A prompt from text that is already synthetic at the limit would feed the
            # generator its own output once more: recursive self-consumption.
            refused += 1
            continue
        # Cut short documents finer so each prompt of a document gets its own passage:
        # two samples grounded in the same sentences would repeat each other.
        n_words = len(doc["text"].split())
        passages = split_passages(doc["text"], max(40, min(passage_words, n_words // prompts_per_document)))
        if not passages:
            continue
        rng = random.Random(stable_hash(f"{seed}:{doc['doc_id']}"))
        combos = rng.sample(_GRID, k=min(prompts_per_document, len(_GRID)))
        for i, (t, a, s) in enumerate(combos):
            template, audience, style = TEMPLATES[t], AUDIENCES[a], STYLES[s]
            passage_index = i % len(passages)
            passage = passages[passage_index]
            messages = template.render(passage, audience, style)
            rows.append(
                {
                    "prompt_id": content_hash(f"{doc['doc_id']}|{passage_index}|{template.version}|{audience}|{style}"),
                    "doc_id": doc["doc_id"],
                    "passage_index": passage_index,
                    "passage": passage,
                    "task": template.task,
                    "audience": audience,
                    "style": style,
                    "template_version": template.version,
                    "messages": json.dumps(messages, ensure_ascii=False),
                    "generation_depth": depth,
                }
            )
    return pl.DataFrame(rows, schema=PROMPT_SCHEMA).unique("prompt_id", keep="first", maintain_order=True), refused
