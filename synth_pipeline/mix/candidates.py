"""Every real document and every synthetic sample of a partition, as a mix candidate.

A candidate either stays eligible (``exclusion_reason`` null) or carries the reason it
cannot enter the mix and, for duplicates, the item it duplicates. The SQL model
``deduplicated_mix`` then assembles the eligible ones under the synthetic-ratio cap,
and ``mix_exclusions`` lists the rest: every candidate ends in exactly one of the two.

Which item of a duplicate cluster survives is fixed: real over synthetic, then the
higher grade, then the earlier item (by source position, then id).
"""

from __future__ import annotations

import polars as pl

from synth_pipeline.corpus.documents import dedup_hash_expr

CANDIDATE_SCHEMA = {
    "item_id": pl.Utf8,
    "origin": pl.Utf8,
    "text": pl.Utf8,
    "n_tokens": pl.Int64,
    "doc_id": pl.Utf8,
    "prompt_id": pl.Utf8,
    "sample_id": pl.Utf8,
    "task": pl.Utf8,
    "audience": pl.Utf8,
    "template_version": pl.Utf8,
    "model": pl.Utf8,
    "score": pl.Float64,
    "priority": pl.Int64,  # 0 survives first
    "exclusion_reason": pl.Utf8,
    "duplicate_of": pl.Utf8,
    "similarity": pl.Float64,
}


def build_candidates(documents: pl.DataFrame, samples: pl.DataFrame, grades: pl.DataFrame) -> pl.DataFrame:
    real = documents.select(
        pl.concat_str(pl.lit("real:"), pl.col("doc_id")).alias("item_id"),
        pl.lit("real").alias("origin"),
        "text",
        "n_tokens",
        "doc_id",
        pl.lit(None, pl.Utf8).alias("prompt_id"),
        pl.lit(None, pl.Utf8).alias("sample_id"),
        pl.lit("real_document").alias("task"),
        pl.lit(None, pl.Utf8).alias("audience"),
        pl.lit(None, pl.Utf8).alias("template_version"),
        pl.lit(None, pl.Utf8).alias("model"),
        pl.lit(None, pl.Float64).alias("score"),
        pl.lit(None, pl.Utf8).alias("exclusion_reason"),
    )
    synthetic = samples.join(
        grades.select("sample_id", "score", "accepted", "rejection_reason"), on="sample_id", how="left"
    ).select(
        pl.concat_str(pl.lit("synthetic:"), pl.col("sample_id")).alias("item_id"),
        pl.lit("synthetic").alias("origin"),
        pl.col("text").fill_null(""),
        "n_tokens",
        "doc_id",
        "prompt_id",
        "sample_id",
        "task",
        "audience",
        "template_version",
        "model",
        pl.col("score").cast(pl.Float64),
        pl.when(pl.col("accepted").fill_null(False))
        .then(pl.lit(None, pl.Utf8))
        .otherwise(pl.concat_str(pl.lit("not_accepted:"), pl.col("rejection_reason").fill_null("ungraded")))
        .alias("exclusion_reason"),
    )
    frame = pl.concat([real, synthetic], how="vertical_relaxed")
    # Survival priority: real first, then higher grade, then earlier (stable id order).
    frame = (
        frame.sort(
            [pl.col("origin") != "real", pl.col("score").fill_null(10.0), "item_id"],
            descending=[False, True, False],
        )
        .with_row_index("priority")
        .with_columns(pl.col("priority").cast(pl.Int64))
    )
    return _mark_exact_duplicates(frame)


def _mark_exact_duplicates(frame: pl.DataFrame) -> pl.DataFrame:
    """Same normalised word sequence as a higher-priority eligible item: ``exact_duplicate``."""
    keyed = frame.with_columns(dedup_hash_expr(pl.col("text")).alias("_key"))
    eligible = keyed.filter(pl.col("exclusion_reason").is_null())
    first = eligible.group_by("_key").agg(pl.col("item_id").sort_by("priority").first().alias("_first"))
    keyed = keyed.join(first, on="_key", how="left")
    is_dup = (
        pl.col("exclusion_reason").is_null() & pl.col("_first").is_not_null() & (pl.col("_first") != pl.col("item_id"))
    )
    return (
        keyed.with_columns(
            pl.when(is_dup)
            .then(pl.lit("exact_duplicate"))
            .otherwise(pl.col("exclusion_reason"))
            .alias("exclusion_reason"),
            pl.when(is_dup).then(pl.col("_first")).otherwise(pl.lit(None, pl.Utf8)).alias("duplicate_of"),
            pl.when(is_dup).then(pl.lit(1.0)).otherwise(pl.lit(None, pl.Float64)).alias("similarity"),
        )
        .select(list(CANDIDATE_SCHEMA))
        .sort("priority")
    )


def apply_removals(frame: pl.DataFrame, removals: pl.DataFrame) -> pl.DataFrame:
    """Mark eligible candidates named in ``removals`` (item_id, reason, duplicate_of, similarity)."""
    if removals.is_empty():
        return frame
    marked = frame.join(
        removals.select(
            "item_id",
            pl.col("reason").alias("_r"),
            pl.col("duplicate_of").alias("_d"),
            pl.col("similarity").cast(pl.Float64).alias("_s"),
        ),
        on="item_id",
        how="left",
    )
    hit = pl.col("exclusion_reason").is_null() & pl.col("_r").is_not_null()
    return marked.with_columns(
        pl.when(hit).then(pl.col("_r")).otherwise(pl.col("exclusion_reason")).alias("exclusion_reason"),
        pl.when(hit).then(pl.col("_d")).otherwise(pl.col("duplicate_of")).alias("duplicate_of"),
        pl.when(hit).then(pl.col("_s")).otherwise(pl.col("similarity")).alias("similarity"),
    ).drop("_r", "_d", "_s")


def already_in_mix(frame: pl.DataFrame, earlier_ids: pl.Series) -> pl.DataFrame:
    """Removals for eligible candidates whose id an earlier partition already holds."""
    repeated = frame.filter(pl.col("exclusion_reason").is_null() & pl.col("item_id").is_in(earlier_ids.implode()))
    return repeated.select(
        "item_id",
        pl.lit("exact_duplicate_earlier_partition").alias("reason"),
        pl.col("item_id").alias("duplicate_of"),
        pl.lit(1.0).alias("similarity"),
    )
