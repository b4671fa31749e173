"""The DuckDB warehouse: partition-safe writes that survive column changes.

Why our own layer instead of the stock polars type handler: it inserts by column
position, so a reordered frame lands silently in the wrong columns and a new column
fails the insert (dagster#17058, dagster#13098, duckdb#12363). Here every write

* adds columns the table lacks (``ALTER TABLE ADD COLUMN``) and widens none silently,
* replaces exactly one partition (``DELETE`` + ``INSERT ... BY NAME``) in one transaction,
* records which columns that partition was written with, so a read returns the frame
  as it was written, not columns a later or earlier code version added.

DuckDB allows one writing process per file. Every connection is short-lived and held
under an inter-process file lock, so parallel partition runs queue instead of failing
with "Could not set lock on file".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from filelock import FileLock

SCHEMA = "synth"
_COLUMNS_TABLE = f"{SCHEMA}._partition_columns"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
LOCK_TIMEOUT_S = float(os.environ.get("SYNTH_WAREHOUSE_LOCK_TIMEOUT_S", "600"))


def _quote(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def _as_date(partition: str | dt.date) -> dt.date:
    return partition if isinstance(partition, dt.date) else dt.date.fromisoformat(partition)


class Warehouse:
    """One DuckDB file under ``$SYNTH_HOME``; open it only through :meth:`connect`."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S)

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held under the inter-process lock, closed on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        asked = time.perf_counter()
        caller = sys._getframe(2).f_code.co_name if os.environ.get("SYNTH_WAREHOUSE_LOCK_LOG") else ""
        with self.lock:
            got = time.perf_counter()
            con = _open_waiting(self.path)
            try:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
                yield con
            finally:
                con.close()
                _log_lock_use(got - asked, time.perf_counter() - got, caller)

    # --- writes --------------------------------------------------------------
    def write_partition(self, table: str, partition: str | dt.date, frame: pl.DataFrame) -> int:
        """Replace one partition of ``synth.<table>`` with ``frame``; returns rows written."""
        with self.connect() as con:
            return write_partition(con, table, partition, frame)

    # --- reads ---------------------------------------------------------------
    def read_partitions(self, table: str, partitions: Sequence[str | dt.date] | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return read_partitions(con, table, partitions)

    def query(self, sql: str, params: Sequence[object] | dict | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).pl()

    def table_exists(self, table: str) -> bool:
        with self.connect() as con:
            return _table_exists(con, table)


def _log_lock_use(waited_s: float, held_s: float, caller: str) -> None:
    """With ``SYNTH_WAREHOUSE_LOCK_LOG`` set, append ``pid waited held caller`` (seconds) to that file."""
    log = os.environ.get("SYNTH_WAREHOUSE_LOCK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {waited_s:.4f} {held_s:.4f} {caller or '?'}\n")


def _open_waiting(path: Path) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting (up to ``LOCK_TIMEOUT_S``) while a process outside our lock
    holds the file, such as a DuckDB shell or a notebook that opened it, even read-only."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def one_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    """The row of an executed query that always returns exactly one (an aggregate)."""
    row = result.fetchone()
    if row is None:
        raise RuntimeError("the query returned no row")
    return row


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        one_row(
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [SCHEMA, table],
            )
        )[0]
    )


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [SCHEMA, table],
    ).fetchall()
    return {name: dtype for name, dtype in rows}


def write_partition(con: duckdb.DuckDBPyConnection, table: str, partition: str | dt.date, frame: pl.DataFrame) -> int:
    """Replace one partition inside ``con`` (caller holds the lock); see module docstring."""
    partition_date = _as_date(partition)
    frame = frame.with_columns(pl.lit(partition_date, dtype=pl.Date).alias("partition_date"))
    qualified = f"{SCHEMA}.{_quote(table)}"
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {_COLUMNS_TABLE} "
        "(table_name VARCHAR, partition_date DATE, columns VARCHAR, PRIMARY KEY (table_name, partition_date))"
    )
    con.register("_incoming", frame)
    try:
        con.execute("BEGIN TRANSACTION")
        if not _table_exists(con, table):
            con.execute(f"CREATE TABLE {qualified} AS SELECT * FROM _incoming LIMIT 0")
        existing = _table_columns(con, table)
        incoming = _incoming_types(con)
        for name, dtype in incoming.items():
            if name not in existing:
                con.execute(f"ALTER TABLE {qualified} ADD COLUMN {_quote(name)} {dtype}")
            elif existing[name] != dtype and dtype != '"NULL"':
                # A changed type converts the stored column; one DuckDB cannot convert
                # is a clear error, never a silent misplacement.
                try:
                    con.execute(f"ALTER TABLE {qualified} ALTER {_quote(name)} TYPE {dtype}")
                except duckdb.Error as exc:
                    raise TypeError(
                        f"synth.{table}.{name} is {existing[name]} in the warehouse but the new code "
                        f"writes {dtype}; DuckDB cannot convert it: {exc}"
                    ) from exc
        con.execute(f"DELETE FROM {qualified} WHERE partition_date = ?", [partition_date])
        if frame.height:
            con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM _incoming")
        con.execute(
            f"INSERT OR REPLACE INTO {_COLUMNS_TABLE} VALUES (?, ?, ?)",
            [table, partition_date, json.dumps(frame.columns)],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("_incoming")
    return frame.height


def _incoming_types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = con.execute("DESCRIBE SELECT * FROM _incoming").fetchall()
    return {row[0]: row[1] for row in rows}


def read_partitions(
    con: duckdb.DuckDBPyConnection, table: str, partitions: Sequence[str | dt.date] | None = None
) -> pl.DataFrame:
    """Rows of the given partitions (all when None), with the columns they were written with."""
    qualified = f"{SCHEMA}.{_quote(table)}"
    if not _table_exists(con, table):
        raise LookupError(f"synth.{table} does not exist yet: materialise the asset {table!r} first")
    dates = [_as_date(p) for p in partitions] if partitions is not None else None
    columns = list(_table_columns(con, table))
    if dates:
        written = con.execute(
            f"SELECT columns FROM {_COLUMNS_TABLE} WHERE table_name = ? AND partition_date IN "
            f"({', '.join('?' for _ in dates)})",
            [table, *dates],
        ).fetchall()
        if written:
            # The union keeps a multi-partition read rectangular without inventing
            # columns that no requested partition was written with.
            wanted: list[str] = []
            for (cols,) in written:
                for c in json.loads(cols):
                    if c not in wanted and c in columns:
                        wanted.append(c)
            columns = wanted
        where = f"WHERE partition_date IN ({', '.join('?' for _ in dates)})"
        params: list[object] = list(dates)
    else:
        where, params = "", []
    select = ", ".join(_quote(c) for c in columns)
    return con.execute(f"SELECT {select} FROM {qualified} {where}", params).pl()


def read_partitions_before(con: duckdb.DuckDBPyConnection, table: str, partition: str | dt.date) -> pl.DataFrame | None:
    """All rows of partitions earlier than ``partition``; None while the table does not exist."""
    if not _table_exists(con, table):
        return None
    return con.execute(f"SELECT * FROM {SCHEMA}.{_quote(table)} WHERE partition_date < ?", [_as_date(partition)]).pl()
