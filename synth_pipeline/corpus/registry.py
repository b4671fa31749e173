"""The corpus registry: which files exist, what they held, and which records each partition took.

A partition's records are decided once, the first time it is built, and recorded:

* ``synth.corpus_files``: one row per file version seen: path, size, mtime, content hash
  (XXH3-128), format, record counts, where its staged snapshot lives, and its status:
  ``staged``, ``rejected`` (nothing of it could be read) or ``changed`` (the path now holds
  other bytes than the version already staged: reported, never mixed in).
* ``synth.corpus_partitions``: each built partition in the order it was first built.
* ``synth.corpus_allocations``: the record range ``[record_from, record_to)`` of each file
  a partition took. Ranges never overlap, so two partitions never share a record.

A new partition takes the next ``docs_per_partition`` readable records: first what is
left of files already registered (in registration order), then files not seen before (in
source order, paths sorted). Files that land later are therefore taken by the next
partition built after they land; a re-built partition reads exactly its recorded ranges.
When every file is used up, a new partition is empty.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from synth_pipeline.storage.warehouse import SCHEMA, one_row, partition_date

FILES = f"{SCHEMA}.corpus_files"
PARTITIONS = f"{SCHEMA}.corpus_partitions"
ALLOCATIONS = f"{SCHEMA}.corpus_allocations"
DEDUP_KEYS = f"{SCHEMA}.corpus_dedup_keys"

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {FILES} (
        file_id BIGINT PRIMARY KEY, source VARCHAR, path VARCHAR, size BIGINT, mtime_ns BIGINT,
        content_hash VARCHAR, format VARCHAR, records BIGINT, readable BIGINT, staged_path VARCHAR,
        status VARCHAR, reason VARCHAR, detail VARCHAR, registered_partition DATE, registered_at TIMESTAMP)""",
    f"""CREATE TABLE IF NOT EXISTS {PARTITIONS} (
        partition_date DATE PRIMARY KEY, build_order BIGINT, built_at TIMESTAMP, docs_per_partition BIGINT)""",
    f"""CREATE TABLE IF NOT EXISTS {ALLOCATIONS} (
        partition_date DATE, file_id BIGINT, record_from BIGINT, record_to BIGINT, readable BIGINT,
        PRIMARY KEY (partition_date, file_id))""",
    f"""CREATE TABLE IF NOT EXISTS {DEDUP_KEYS} (partition_date DATE, dedup_hash VARCHAR, doc_id VARCHAR)""",
)


@dataclass(frozen=True)
class RegisteredFile:
    file_id: int
    source: str
    path: str
    size: int
    mtime_ns: int
    content_hash: str
    status: str
    records: int
    readable: int
    staged_path: str | None


@dataclass(frozen=True)
class Allocation:
    file_id: int
    record_from: int
    record_to: int
    readable: int


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in _DDL:
        con.execute(ddl)


def partition_allocations(con: duckdb.DuckDBPyConnection, partition: str) -> list[Allocation] | None:
    """The recorded ranges of ``partition``; None if it was never built."""
    built = con.execute(f"SELECT 1 FROM {PARTITIONS} WHERE partition_date = ?", [partition_date(partition)]).fetchone()
    if not built:
        return None
    rows = con.execute(
        f"SELECT file_id, record_from, record_to, readable FROM {ALLOCATIONS} WHERE partition_date = ? ORDER BY "
        "file_id",
        [partition_date(partition)],
    ).fetchall()
    return [Allocation(*row) for row in rows]


def registered_files(con: duckdb.DuckDBPyConnection) -> list[RegisteredFile]:
    rows = con.execute(
        f"SELECT file_id, source, path, size, mtime_ns, content_hash, status, records, readable, staged_path "
        f"FROM {FILES} ORDER BY file_id"
    ).fetchall()
    return [RegisteredFile(*row) for row in rows]


def files_table(con: duckdb.DuckDBPyConnection, file_ids: list[int]) -> pl.DataFrame:
    return con.execute(f"SELECT * FROM {FILES} WHERE list_contains(?, file_id) ORDER BY file_id", [file_ids]).pl()


def taken_so_far(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[int, int]]:
    """Per file: (end of the last range taken, readable records taken); ranges of a file are consecutive."""
    rows = con.execute(f"SELECT file_id, max(record_to), sum(readable) FROM {ALLOCATIONS} GROUP BY file_id").fetchall()
    return {file_id: (int(end), int(readable)) for file_id, end, readable in rows}


def record_partition(
    con: duckdb.DuckDBPyConnection,
    partition: str,
    allocations: list[Allocation],
    docs_per_partition: int,
    new_files: list[dict[str, object]],
    touched: list[tuple[int, int, int]],
) -> None:
    """Write a first build's registry changes and ranges once, in one transaction: files seen
    for the first time, new stats of files whose bytes did not change, and the ranges."""
    day = partition_date(partition)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con.execute("BEGIN TRANSACTION")
    try:
        for fields in new_files:
            row = {**fields, "registered_partition": day, "registered_at": now}
            select = ", ".join(f'? AS "{name}"' for name in row)
            con.execute(f"INSERT INTO {FILES} BY NAME SELECT {select}", list(row.values()))
        for file_id, size, mtime_ns in touched:
            con.execute(f"UPDATE {FILES} SET size = ?, mtime_ns = ? WHERE file_id = ?", [size, mtime_ns, file_id])
        (order,) = one_row(con.execute(f"SELECT coalesce(max(build_order), 0) + 1 FROM {PARTITIONS}"))
        con.execute(f"INSERT INTO {PARTITIONS} VALUES (?, ?, ?, ?)", [day, order, now, docs_per_partition])
        for a in allocations:
            con.execute(
                f"INSERT INTO {ALLOCATIONS} VALUES (?, ?, ?, ?, ?)",
                [day, a.file_id, a.record_from, a.record_to, a.readable],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def replace_dedup_keys(con: duckdb.DuckDBPyConnection, partition: str, keys: pl.DataFrame) -> None:
    """The exact-duplicate keys the partition accepted, so later partitions reject repeats."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {DEDUP_KEYS} WHERE partition_date = ?", [partition_date(partition)])
        if keys.height:
            con.register("_keys", keys.select("dedup_hash", "doc_id"))
            con.execute(
                f"INSERT INTO {DEDUP_KEYS} SELECT ?::DATE, dedup_hash, doc_id FROM _keys", [partition_date(partition)]
            )
            con.unregister("_keys")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def earlier_dedup_keys(con: duckdb.DuckDBPyConnection, partition: str, hashes: pl.Series) -> pl.DataFrame:
    """Keys among ``hashes`` already accepted by partitions built before ``partition``."""
    con.register("_wanted", pl.DataFrame({"dedup_hash": hashes}))
    try:
        return con.execute(
            f"""SELECT k.dedup_hash, arg_min(k.doc_id, p.build_order) AS first_doc_id,
                       arg_min(k.partition_date, p.build_order) AS first_partition
                FROM {DEDUP_KEYS} k JOIN {PARTITIONS} p USING (partition_date)
                WHERE k.dedup_hash IN (SELECT dedup_hash FROM _wanted)
                  AND p.build_order < coalesce(
                      (SELECT build_order FROM {PARTITIONS} WHERE partition_date = ?), 9223372036854775807)
                GROUP BY k.dedup_hash""",
            [partition_date(partition)],
        ).pl()
    finally:
        con.unregister("_wanted")


def stat_of(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
