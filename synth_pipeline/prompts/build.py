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
from synth_pipeline.prompts.templates import AUDIENCES, STYLES, SYSTEM, TEMPLATES
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


def _json_string(column: str) -> pl.Expr:
    """``json.dumps(value, ensure_ascii=False)`` of a string column, computed by polars."""
    return pl.struct(column).struct.json_encode().str.slice(len(column) + 4).str.strip_suffix("}")


def build_seed_prompts(
    documents: pl.DataFrame, *, prompts_per_document: int, passage_words: int, max_depth: int, seed: int
) -> tuple[pl.DataFrame, int]:
    """Prompts for ``documents``; also returns how many were refused for exceeding ``max_depth``.

    Passages and the seeded task/audience/style draw stay per document; the prompts are
    built as columns and rendered by polars (no dict and no JSON string per prompt in
    Python: at 100k documents that was seconds and hundreds of MiB).
    """
    columns: dict[str, list] = {
        k: [] for k in ("prompt_id", "doc_id", "passage_index", "passage", "t", "a", "s", "generation_depth")
    }
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
            passage_index = i % len(passages)
            columns["prompt_id"].append(
                content_hash(f"{doc['doc_id']}|{passage_index}|{TEMPLATES[t].version}|{AUDIENCES[a]}|{STYLES[s]}")
            )
            columns["doc_id"].append(doc["doc_id"])
            columns["passage_index"].append(passage_index)
            columns["passage"].append(passages[passage_index])
            columns["t"].append(t)
            columns["a"].append(a)
            columns["s"].append(s)
            columns["generation_depth"].append(depth)
    frame = pl.DataFrame(
        columns,
        schema={
            **{k: PROMPT_SCHEMA[k] for k in ("prompt_id", "doc_id", "passage_index", "passage", "generation_depth")},
            "t": pl.Int64,
            "a": pl.Int64,
            "s": pl.Int64,
        },
    )

    def pick(values: list[str], index: str) -> pl.Expr:
        return pl.lit(pl.Series(values, dtype=pl.String)).gather(pl.col(index))

    # TaskTemplate.render: the user text is the template with audience, style and passage
    # filled in (the passage last, so text inside it is never taken for a placeholder).
    user = (
        pick([t.user for t in TEMPLATES], "t")
        .str.replace_all("{audience}", pl.col("audience"), literal=True)
        .str.replace_all("{style}", pl.col("style"), literal=True)
        .str.replace_all("{passage}", pl.col("passage"), literal=True)
    )
    system = json.dumps(SYSTEM, ensure_ascii=False)
    frame = (
        frame.with_columns(
            pick([t.task for t in TEMPLATES], "t").alias("task"),
            pick(list(AUDIENCES), "a").alias("audience"),
            pick(list(STYLES), "s").alias("style"),
            pick([t.version for t in TEMPLATES], "t").alias("template_version"),
        )
        .with_columns(user.alias("user"))
        .with_columns(
            pl.concat_str(
                pl.lit(f'[{{"role": "system", "content": {system}}}, {{"role": "user", "content": '),
                _json_string("user"),
                pl.lit("}]"),
            ).alias("messages")
        )
        .select(list(PROMPT_SCHEMA))
    )
    return frame.unique("prompt_id", keep="first", maintain_order=True), refused
