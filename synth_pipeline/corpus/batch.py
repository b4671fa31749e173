"""Build one partition's batch of real documents: slice, normalise, filter, deduplicate.

The slice is deterministic and content-addressed: a document belongs to the partition
whose day index matches the hash of its exact-duplicate key, modulo the number of
slices the corpus holds. Exact duplicates therefore always meet in the same partition
(where the first one wins), consecutive partitions take disjoint slices, and a
re-run of a partition takes exactly the same documents.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import polars as pl


from synth_pipeline.corpus.quality import quality_failure
from synth_pipeline.corpus.sources import read_sources, split_sources
from synth_pipeline.settings import Settings
from synth_pipeline.text import content_hash, count_tokens, dedup_key, normalize_text, stable_hash

DOCUMENT_COLUMNS = ["doc_id", "source", "source_file", "source_row", "text", "n_words", "n_tokens", "generation_depth"]


@dataclass
class CorpusBatch:
    documents: pl.DataFrame  # accepted documents of this partition
    rejects: pl.DataFrame  # every input of this partition that was not accepted, with a reason
    slice_index: int
    slice_count: int
    inputs: int  # inputs that belong to this partition (documents + row-level rejects)


def _bucket(key: str, count: int) -> int:
    return stable_hash(key) % count


def corpus_sources(settings: Settings) -> list[str]:
    """Configured sources, plus the landing folder where the sensor's new files arrive."""
    sources = split_sources(settings.corpus)
    if settings.landing_dir and settings.landing_dir.is_dir():
        sources.append(str(settings.landing_dir))
    return sources


def build_corpus_batch(settings: Settings, partition_key: str, start_date: dt.date) -> CorpusBatch:
    read = read_sources(corpus_sources(settings), settings.corpus_text_field, settings.cache_dir)
    documents, source_rejects = read.frames()

    normalised = [normalize_text(t) for t in documents.get_column("text").to_list()]
    keys = [dedup_key(t) for t in normalised]
    slice_count = max(1, math.ceil(len(documents) / settings.docs_per_partition))
    slice_index = (dt.date.fromisoformat(partition_key) - start_date).days % slice_count

    documents = documents.with_columns(
        pl.Series("text", normalised),
        pl.Series("dedup_key", keys),
        pl.Series("bucket", [_bucket(k, slice_count) for k in keys], dtype=pl.Int64),
    ).filter(pl.col("bucket") == slice_index)

    # Row-level rejects (a malformed line) belong to the slice their location hashes to;
    # file-level rejects (nothing of the file could be read) are reported in every slice.
    located = source_rejects.with_columns(
        pl.struct("source_file", "source_row")
        .map_elements(lambda r: _bucket(f"{r['source_file']}:{r['source_row']}", slice_count), return_dtype=pl.Int64)
        .alias("bucket")
    )
    row_rejects = located.filter((pl.col("scope") == "row") & (pl.col("bucket") == slice_index)).drop("bucket")
    file_rejects = located.filter(pl.col("scope") == "file").drop("bucket")

    accepted, rejected = [], []
    seen: dict[str, str] = {}
    for row in documents.sort("source", "source_file", "source_row").iter_rows(named=True):
        doc_id = content_hash(row["text"])
        base = {"source": row["source"], "source_file": row["source_file"], "source_row": row["source_row"], "doc_id": doc_id}
        failure = quality_failure(row["text"])
        if failure:
            rule, _, detail = failure.partition(": ")
            rejected.append({**base, "scope": "row", "reason": f"quality:{rule}", "detail": detail, "text_preview": row["text"][:200]})
            continue
        if row["dedup_key"] in seen:
            rejected.append({**base, "scope": "row", "reason": "exact_duplicate", "detail": f"duplicate of {seen[row['dedup_key']]}", "text_preview": row["text"][:200]})
            continue
        seen[row["dedup_key"]] = doc_id
        accepted.append({
            **base,
            "text": row["text"],
            "n_words": len(row["text"].split()),
            "n_tokens": count_tokens(row["text"]),
            "generation_depth": 0,
        })

    reject_schema = {
        "source": pl.Utf8, "source_file": pl.Utf8, "source_row": pl.Int64, "doc_id": pl.Utf8,
        "scope": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8, "text_preview": pl.Utf8,
    }
    rejects = pl.concat(
        [
            pl.DataFrame(rejected, schema=reject_schema),
            row_rejects.with_columns(pl.lit(None, pl.Utf8).alias("doc_id"), pl.lit(None, pl.Utf8).alias("text_preview")).select(list(reject_schema)),
            file_rejects.with_columns(pl.lit(None, pl.Utf8).alias("doc_id"), pl.lit(None, pl.Utf8).alias("text_preview")).select(list(reject_schema)),
        ]
    )
    doc_schema = {
        "doc_id": pl.Utf8, "source": pl.Utf8, "source_file": pl.Utf8, "source_row": pl.Int64, "text": pl.Utf8,
        "n_words": pl.Int64, "n_tokens": pl.Int64, "generation_depth": pl.Int64,
    }
    return CorpusBatch(
        documents=pl.DataFrame(accepted, schema=doc_schema),
        rejects=rejects,
        slice_index=slice_index,
        slice_count=slice_count,
        inputs=documents.height + row_rejects.height,
    )
