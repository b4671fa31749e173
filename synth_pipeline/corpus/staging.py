"""Stage each corpus file once: an immutable Parquet snapshot of its records.

Why a snapshot: a partition's documents are decided once and must come back identical on
every re-run, whatever happens to the source afterwards (it grows, is rewritten, is
deleted). The first partition that needs a file streams it through the readers once
(bounded memory) into ``$SYNTH_HOME/corpus_stage/<content hash>.parquet``, small row
groups sorted by ``record_no``; every later read of a record range touches only the row
groups that hold it, so a partition costs O(its records), not O(corpus).
"""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from synth_pipeline.corpus import builtin, readers
from synth_pipeline.storage.warehouse import one_row

ROW_GROUP_RECORDS = 4096  # small groups: a 2,000-record range reads one or two of them
_HASH_CHUNK = 8 << 20


@dataclass(frozen=True)
class StagedFile:
    """What the registry records about one staged file."""

    content_hash: str
    staged_path: Path
    records: int
    readable: int


def file_content_hash(path: Path) -> str:
    """XXH3-128 of the file's bytes, streamed: identifies the content whatever its name or mtime."""
    digest = xxhash.xxh3_128()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def stage_file(path: Path, content_hash: str, options: readers.ReadOptions, stage_dir: Path) -> StagedFile:
    """Stream ``path`` through its reader into the stage; raises ``readers.FileRejected``.

    The snapshot is named by the content and the reading options (another text field reads
    other records out of the same bytes); a complete snapshot already there is reused.
    """
    tag = xxhash.xxh3_64_hexdigest(repr(options).encode())
    name = f"{content_hash}-{tag}"
    existing = stage_dir / f"{name}.parquet"
    if existing.exists():
        return _existing_stage(existing, content_hash)
    return _write_stage(readers.read_records(path, options), name, stage_dir, content_hash)


def _existing_stage(staged: Path, content_hash: str) -> StagedFile:
    """Counts of a finished snapshot from its footer (snapshots are renamed into place whole)."""
    meta = pq.ParquetFile(staged).metadata
    text = readers.RECORD_SCHEMA.get_field_index("text")
    nulls = sum(meta.row_group(i).column(text).statistics.null_count for i in range(meta.num_row_groups))
    return StagedFile(content_hash, staged, meta.num_rows, meta.num_rows - nulls)


def stage_builtin(cache_dir: Path, stage_dir: Path) -> tuple[str, StagedFile]:
    """The built-in corpus as one staged file, in a fixed shuffled order.

    Partitions take consecutive records, and the built-in corpus is sorted by module; the
    seeded shuffle keeps every partition a mix of reference topics and modules. Its
    identity includes the Python version: another interpreter ships other docstrings,
    which is another file (whose repeats exact dedup removes), never a changed one.
    """
    frame = builtin.load_builtin_python_docs(cache_dir)
    order = list(range(frame.height))
    random.Random(20240101).shuffle(order)
    frame = frame[order]
    digest = xxhash.xxh3_128()
    for text in frame.get_column("text").to_list():  # once per interpreter version, cached below
        digest.update(text.encode("utf-8", "surrogatepass"))
    content_hash = digest.hexdigest()
    staged = stage_dir / f"{content_hash}.parquet"
    n = frame.height
    if staged.exists():
        return content_hash, StagedFile(content_hash, staged, n, n)
    table = pa.table(
        {
            "record_no": pa.array(range(n), pa.int64()),
            "source_row": frame.get_column("source_row").to_arrow().cast(pa.int64()),
            "text": frame.get_column("text").to_arrow().cast(pa.large_string()),
            "source_id": frame.get_column("source_file").to_arrow().cast(pa.large_string()),
            "reason": pa.nulls(n, pa.string()),
            "detail": pa.nulls(n, pa.string()),
            "preview": pa.nulls(n, pa.string()),
        },
        schema=readers.RECORD_SCHEMA,
    )
    return content_hash, _write_stage(iter(table.to_batches(ROW_GROUP_RECORDS)), content_hash, stage_dir, content_hash)


def _write_stage(batches, name: str, stage_dir: Path, content_hash: str) -> StagedFile:
    stage_dir.mkdir(parents=True, exist_ok=True)
    final = stage_dir / f"{name}.parquet"
    tmp = final.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    records = readable = 0
    writer = pq.ParquetWriter(tmp, readers.RECORD_SCHEMA, compression="zstd")
    try:
        for batch in batches:
            expected = pa.array(range(records, records + batch.num_rows), pa.int64())
            if not batch.column("record_no").equals(expected):
                raise RuntimeError(f"reader broke record numbering at record {records}")
            writer.write_batch(batch, row_group_size=ROW_GROUP_RECORDS)
            records += batch.num_rows
            readable += batch.num_rows - batch.column("text").null_count
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    writer.close()
    tmp.replace(final)
    return StagedFile(content_hash, final, records, readable)


def range_end(staged_path: Path, start: int, total: int, wanted: int) -> tuple[int, int]:
    """(end, readable): the smallest end after ``start`` whose range holds ``wanted`` readable
    records; the file's end instead when no readable record would be left after it, so a
    file's trailing rejects go with its last documents."""
    with duckdb.connect() as con:
        last, readable = one_row(
            con.execute(
                "SELECT max(record_no), count(*) FROM (SELECT record_no FROM read_parquet(?) "
                "WHERE record_no >= ? AND text IS NOT NULL ORDER BY record_no LIMIT ?)",
                [str(staged_path), start, wanted + 1],
            )
        )
    if readable <= wanted:
        return total, int(readable)
    # ``last`` is the first readable record beyond the wanted ones: the range stops before it.
    return int(last), wanted


def read_range(staged_path: Path, start: int, end: int) -> pl.DataFrame:
    """Records ``start <= record_no < end`` of a staged file (row-group pruned)."""
    table = pq.read_table(staged_path, filters=[("record_no", ">=", start), ("record_no", "<", end)])
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)  # a Table converts to a frame (a Series only from an Array)
    return frame
