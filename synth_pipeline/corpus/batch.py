"""Build one partition's batch of real documents: allocate, read, normalise, filter, deduplicate.

1. Under the corpus lock (one builder at a time, so two partitions never take the same
   records), the partition's record ranges are read from the registry or, on its first
   build, allocated: the files are listed, changed files detected, new files staged.
2. The ranges are read from the staged snapshots (only the row groups that hold them).
3. Readable records are normalised and scored by the vectorised rules
   (:mod:`synth_pipeline.corpus.documents`); exact duplicates are removed within the
   partition (first record wins) and against partitions built earlier.

Every record of every range ends as one document or one row reject; a file that cannot
be read at all is one file reject in the partition that first met it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from filelock import FileLock

from synth_pipeline.corpus import allocation, registry, staging
from synth_pipeline.corpus.documents import prepare_documents
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse

DOCUMENT_SCHEMA = {
    "doc_id": pl.Utf8,
    "source": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
    "text": pl.Utf8,
    "n_words": pl.Int64,
    "n_tokens": pl.Int64,
    "generation_depth": pl.Int64,
    "file_id": pl.Int64,
    "record_no": pl.Int64,
    "source_id": pl.Utf8,
    "input_note": pl.Utf8,
    "dedup_hash": pl.Utf8,
}
REJECT_SCHEMA = pl.Schema(
    {
        "source": pl.Utf8,
        "source_file": pl.Utf8,
        "source_row": pl.Int64,
        "doc_id": pl.Utf8,
        "scope": pl.Utf8,
        "reason": pl.Utf8,
        "detail": pl.Utf8,
        "text_preview": pl.Utf8,
        "file_id": pl.Int64,
        "record_no": pl.Int64,
    }
)
PREVIEW_CHARS = 200


@dataclass
class CorpusBatch:
    documents: pl.DataFrame  # accepted documents of this partition
    rejects: pl.DataFrame  # every record of this partition that was not accepted, and file rejects
    allocations: pl.DataFrame  # the files and record ranges the partition took
    newly_allocated: bool  # False when the partition re-read ranges recorded by an earlier build

    @property
    def records(self) -> int:
        return int(self.allocations.get_column("records").sum() or 0)


def build_corpus_batch(settings: Settings, warehouse: Warehouse, partition_key: str) -> CorpusBatch:
    settings.home.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.home / "corpus.lock"), timeout=-1):
        allocations, files, newly, unresolved = allocation.allocate(settings, warehouse, partition_key)
        records = _read_allocations(allocations, files)
        documents, rejects = _documents_and_rejects(settings, warehouse, partition_key, records)
    file_rejects = _file_rejects(files, allocations, unresolved)
    return CorpusBatch(
        documents=documents.select(list(DOCUMENT_SCHEMA)),
        rejects=pl.concat([rejects, file_rejects]).select(list(REJECT_SCHEMA)),
        allocations=_allocation_frame(allocations, files),
        newly_allocated=newly,
    )


# --- reading the ranges ---------------------------------------------------------------
def _read_allocations(allocations: list[registry.Allocation], files: pl.DataFrame) -> pl.DataFrame:
    by_id = {row["file_id"]: row for row in files.iter_rows(named=True)}  # one row per file, not per record
    parts = []
    for a in allocations:
        if a.record_to <= a.record_from:
            continue
        f = by_id[a.file_id]
        # A damaged stage returning fewer records is caught by the accounting check on raw_corpus.
        part = staging.read_range(Path(f["staged_path"]), a.record_from, a.record_to)
        parts.append(
            part.with_columns(
                pl.lit(a.file_id, pl.Int64).alias("file_id"),
                pl.lit(f["source"]).alias("source"),
                # The built-in corpus is one registered file; its records name their own module.
                (pl.col("source_id") if f["format"] == "builtin" else pl.lit(f["path"])).alias("source_file"),
            )
        )
    schema = pl.Schema(
        {
            "file_id": pl.Int64,
            "source": pl.Utf8,
            "source_file": pl.Utf8,
            "record_no": pl.Int64,
            "source_row": pl.Int64,
            "text": pl.Utf8,
            "source_id": pl.Utf8,
            "reason": pl.Utf8,
            "detail": pl.Utf8,
            "preview": pl.Utf8,
        }
    )
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat([p.select(list(schema)).cast(schema) for p in parts]).sort("file_id", "record_no")


# --- 3. documents and rejects -------------------------------------------------------------
def _documents_and_rejects(
    settings: Settings, warehouse: Warehouse, partition: str, records: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    unreadable = records.filter(pl.col("text").is_null())
    readable = records.filter(pl.col("text").is_not_null()).rename({"detail": "input_note"})
    prepared = prepare_documents(readable.drop("reason", "preview"))
    quality_failed = prepared.filter(pl.col("quality_rule").is_not_null())
    passed = prepared.filter(pl.col("quality_rule").is_null())
    first = passed.filter(pl.col("dedup_hash").is_first_distinct())
    within = passed.filter(~pl.col("dedup_hash").is_first_distinct()).join(
        first.select("dedup_hash", pl.col("doc_id").alias("first_doc_id")), on="dedup_hash", how="left"
    )
    with warehouse.connect() as con:
        earlier = registry.earlier_dedup_keys(con, partition, first.get_column("dedup_hash"))
        accepted = first.join(earlier.select("dedup_hash"), on="dedup_hash", how="anti")
        registry.replace_dedup_keys(con, partition, accepted)
    across = first.join(earlier, on="dedup_hash", how="inner")

    documents = accepted.with_columns(pl.lit(0, pl.Int64).alias("generation_depth"))
    rejects = pl.concat(
        [
            _rejects(
                unreadable, reason=pl.col("reason"), detail=pl.col("detail"), preview=pl.col("preview"), doc_id=None
            ),
            _rejects(
                quality_failed,
                reason=pl.lit("quality:") + pl.col("quality_rule"),
                detail=pl.col("quality_detail"),
                preview=pl.col("text").str.slice(0, PREVIEW_CHARS),
                doc_id=pl.col("doc_id"),
            ),
            _rejects(
                within,
                reason=pl.lit("exact_duplicate"),
                detail=pl.lit("duplicate of ") + pl.col("first_doc_id"),
                preview=pl.col("text").str.slice(0, PREVIEW_CHARS),
                doc_id=pl.col("doc_id"),
            ),
            _rejects(
                across,
                reason=pl.lit("exact_duplicate"),
                detail=pl.format("duplicate of {} (partition {})", pl.col("first_doc_id"), pl.col("first_partition")),
                preview=pl.col("text").str.slice(0, PREVIEW_CHARS),
                doc_id=pl.col("doc_id"),
            ),
        ]
    )
    return documents, rejects


def _rejects(
    frame: pl.DataFrame, *, reason: pl.Expr, detail: pl.Expr, preview: pl.Expr, doc_id: pl.Expr | None
) -> pl.DataFrame:
    return frame.select(
        pl.col("source"),
        pl.col("source_file"),
        pl.col("source_row"),
        (doc_id if doc_id is not None else pl.lit(None, pl.Utf8)).alias("doc_id"),
        pl.lit("row").alias("scope"),
        reason.alias("reason"),
        detail.cast(pl.Utf8).alias("detail"),
        preview.cast(pl.Utf8).alias("text_preview"),
        pl.col("file_id"),
        pl.col("record_no"),
    ).cast(REJECT_SCHEMA)


def _file_rejects(
    files: pl.DataFrame, allocations: list[registry.Allocation], unresolved: list[tuple[str, str, str]]
) -> pl.DataFrame:
    """Files nothing could be read of, reported by the partition that first met them."""
    rejected = files.filter(pl.col("status") != "staged")
    rows = [
        {
            "source": r["source"],
            "source_file": r["path"],
            "scope": "file",
            "reason": r["reason"],
            "detail": r["detail"],
            "file_id": r["file_id"],
        }
        for r in rejected.iter_rows(named=True)  # one row per rejected file
    ]
    rows += [
        {"source": s, "source_file": s, "scope": "file", "reason": reason, "detail": detail}
        for s, reason, detail in unresolved
    ]
    return pl.DataFrame(rows, schema=REJECT_SCHEMA) if rows else pl.DataFrame(schema=REJECT_SCHEMA)


def _allocation_frame(allocations: list[registry.Allocation], files: pl.DataFrame) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            {"file_id": a.file_id, "record_from": a.record_from, "record_to": a.record_to, "readable": a.readable}
            for a in allocations
        ],
        schema={"file_id": pl.Int64, "record_from": pl.Int64, "record_to": pl.Int64, "readable": pl.Int64},
    )
    return frame.join(files.select("file_id", "path", "status"), on="file_id", how="left").with_columns(
        (pl.col("record_to") - pl.col("record_from")).alias("records")
    )
