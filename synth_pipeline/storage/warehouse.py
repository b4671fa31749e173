"""The DuckDB warehouse: partition-safe writes that survive column changes.

Why our own layer instead of the stock polars type handler: it inserts by column
position, so a reordered frame lands silently in the wrong columns and a new column
fails the insert (dagster#17058, dagster#13098, duckdb#12363). Here every write

* adds columns the table lacks (``ALTER TABLE ADD COLUMN``), and refuses a type change that
  would rewrite earlier partitions' values (only lossless widenings apply, logged),
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
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from duckdb.sqltypes import DuckDBPyType
from filelock import FileLock

SCHEMA = "synth"
_COLUMNS_TABLE = f"{SCHEMA}._partition_columns"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# How long a connection waits for the lock, unless the warehouse resource says otherwise
# (its ``lock_timeout_s``, else $SYNTH_WAREHOUSE_LOCK_TIMEOUT_S, read when a run sets it up).
LOCK_TIMEOUT_S = 600.0


def _quote(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def partition_date(partition: str | dt.date) -> dt.date:
    """The ``partition_date`` DATE of a daily partition key (``YYYY-MM-DD``); the one conversion every table uses."""
    return partition if isinstance(partition, dt.date) else dt.date.fromisoformat(partition)


class Warehouse:
    """One DuckDB file under ``$SYNTH_HOME``; open it only through :meth:`connect`."""

    def __init__(
        self, path: str | Path, lock_timeout_s: float = LOCK_TIMEOUT_S, config: Mapping[str, Any] | None = None
    ):
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.config = dict(config or {})  # DuckDB connection options (the resource's connection_config)
        self.lock = FileLock(str(self.path) + ".lock", timeout=lock_timeout_s)

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held under the inter-process lock, closed on exit."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        asked = time.perf_counter()
        caller = sys._getframe(2).f_code.co_name if os.environ.get("SYNTH_WAREHOUSE_LOCK_LOG") else ""
        with self.lock:
            got = time.perf_counter()
            con = _open_waiting(self.path, self.lock_timeout_s, self.config)
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


def _open_waiting(
    path: Path, timeout_s: float = LOCK_TIMEOUT_S, config: Mapping[str, Any] | None = None
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting (up to ``timeout_s``) while a process outside our lock
    holds the file, such as a DuckDB shell or a notebook that opened it, even read-only."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), config=dict(config or {}))
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


def record_batches(result: duckdb.DuckDBPyConnection, rows_per_batch: int) -> Any:
    """An Arrow ``RecordBatchReader`` over an executed query, on DuckDB 1.4 and 1.5 alike.

    1.5 added ``to_arrow_reader`` and deprecates ``fetch_record_batch``, the only call 1.4 has
    (the release the DuckLake extension wheels need; README "DuckDB version").
    """
    reader = getattr(result, "to_arrow_reader", None)
    return reader(rows_per_batch) if reader is not None else result.fetch_record_batch(rows_per_batch)


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
    day = partition_date(partition)
    frame = frame.with_columns(pl.lit(day, dtype=pl.Date).alias("partition_date"))
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
            elif existing[name] != dtype:
                _reconcile_column(con, table, day, name, existing[name], dtype, frame.schema[name])
        con.execute(f"DELETE FROM {qualified} WHERE partition_date = ?", [day])
        if frame.height:
            con.execute(f"INSERT INTO {qualified} BY NAME SELECT * FROM _incoming")
        con.execute(
            f"INSERT OR REPLACE INTO {_COLUMNS_TABLE} VALUES (?, ?, ?)",
            [table, day, json.dumps(frame.columns)],
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


_log = logging.getLogger(__name__)


class SchemaChangeError(TypeError):
    """A partition would change the stored type of a column: earlier partitions' values would change.

    An error, not an automatic migration: the write cannot tell whether the stored values or
    the new code are wrong, and converting earlier partitions is a decision for whoever then
    rematerialises them.
    """


# (signed, value bits) of each integer type: the ranges a lossless widening compares.
_INTEGERS = {
    "tinyint": (True, 7),
    "smallint": (True, 15),
    "integer": (True, 31),
    "bigint": (True, 63),
    "hugeint": (True, 127),
    "utinyint": (False, 8),
    "usmallint": (False, 16),
    "uinteger": (False, 32),
    "ubigint": (False, 64),
    "uhugeint": (False, 128),
}
# Mantissa bits: every integer of at most this many value bits is exact in the float type.
_FLOAT_MANTISSA = {"float": 24, "double": 53}


def widens_losslessly(narrow: str, wide: str) -> bool:
    """Whether every value of DuckDB type ``narrow`` has exactly one equal value of type ``wide``.

    The only lossless widenings a write applies to a stored column: an integer into a wider
    integer whose range contains it (``INTEGER -> BIGINT``, ``UTINYINT -> SMALLINT``), an
    integer of at most 24 value bits into ``FLOAT`` and of at most 53 into ``DOUBLE``
    (``INTEGER -> DOUBLE``, never ``BIGINT -> DOUBLE``), and ``FLOAT -> DOUBLE``.
    """
    narrow_id, wide_id = duckdb.sqltype(narrow).id, duckdb.sqltype(wide).id
    if (narrow_id, wide_id) == ("float", "double"):
        return True
    small, large = _INTEGERS.get(narrow_id), _INTEGERS.get(wide_id)
    if small is None:
        return False
    if large is not None:
        signed_small, bits_small = small
        signed_large, bits_large = large
        return (signed_large or not signed_small) and bits_small <= bits_large and small != large
    return wide_id in _FLOAT_MANTISSA and small[1] <= _FLOAT_MANTISSA[wide_id]


def _merged_type(stored: DuckDBPyType, incoming: DuckDBPyType, polars_dtype: Any) -> DuckDBPyType | None:
    """The DuckDB type holding both the stored and the incoming values unchanged, or None.

    ``polars_dtype`` tells which parts of the incoming type hold only nulls: DuckDB reads a
    polars ``Null`` (an all-null column, an empty list) as ``INTEGER``, and those parts fit any type.
    """
    if polars_dtype == pl.Null or str(stored) == str(incoming):
        return stored
    if stored.id != incoming.id:
        if widens_losslessly(str(incoming), str(stored)):
            return stored
        if widens_losslessly(str(stored), str(incoming)):
            return incoming
        return None
    if stored.id == "list":
        inner = polars_dtype.inner if isinstance(polars_dtype, pl.List) else None
        child = _merged_type(stored.child, incoming.child, inner)
        return None if child is None else duckdb.list_type(child)
    if stored.id == "array":
        stored_array, incoming_array = _children(stored), _children(incoming)
        inner = polars_dtype.inner if isinstance(polars_dtype, pl.Array) else None
        same_size = stored_array["size"] == incoming_array["size"]
        child = _merged_type(stored_array["child"], incoming_array["child"], inner) if same_size else None
        return None if child is None else duckdb.array_type(child, stored_array["size"])
    if stored.id == "struct":
        stored_fields, incoming_fields = _children(stored), _children(incoming)
        if list(stored_fields) != list(incoming_fields):
            return None
        polars_fields = {f.name: f.dtype for f in polars_dtype.fields} if isinstance(polars_dtype, pl.Struct) else {}
        merged = {n: _merged_type(t, incoming_fields[n], polars_fields.get(n)) for n, t in stored_fields.items()}
        if any(t is None for t in merged.values()):
            return None
        return duckdb.struct_type({n: t for n, t in merged.items() if t is not None})
    return None


def _children(dtype: DuckDBPyType) -> dict[str, Any]:
    """A nested type's parts by name: struct fields, or an array's ``child`` and ``size``."""
    return dict(dtype.children)


def _reconcile_column(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition_date: dt.date,
    name: str,
    stored: str,
    incoming: str,
    polars_dtype: Any,
) -> None:
    """Make the stored column able to take the incoming values without changing any stored value.

    Incoming values that fit the stored type are cast on insert; a lossless widening
    (:func:`widens_losslessly`) is applied to the column and logged; a column no other
    partition holds a value in takes the new type. Anything else would rewrite earlier
    partitions' values (``BIGINT`` integers turned into ``VARCHAR`` strings), so it is a
    :class:`SchemaChangeError` and nothing is written.
    """
    qualified, column = f"{SCHEMA}.{_quote(table)}", _quote(name)
    merged = _merged_type(duckdb.sqltype(stored), duckdb.sqltype(incoming), polars_dtype)
    if merged is not None and str(merged) == stored:
        return
    if merged is not None:
        con.execute(f"ALTER TABLE {qualified} ALTER {column} TYPE {merged}")
        _log.warning("synth.%s.%s widened from %s to %s (lossless)", table, name, stored, merged)
        return
    others = f"SELECT count({column}) FROM {qualified} WHERE partition_date <> ?"
    if one_row(con.execute(others, [partition_date]))[0] == 0:
        # No value to convert: the rows of this partition are replaced below.
        con.execute(f"ALTER TABLE {qualified} ALTER {column} TYPE {incoming} USING CAST(NULL AS {incoming})")
        _log.info(
            "synth.%s.%s holds no value outside %s: now %s (was %s)", table, name, partition_date, incoming, stored
        )
        return
    raise SchemaChangeError(
        f"synth.{table}.{name} is {stored} in the warehouse, but partition {partition_date} writes it as {incoming}. "
        f"Changing the column's type would rewrite the values every earlier partition stored, so nothing was "
        f"written. Return {stored} from the asset (cast the column), or write the new values under a new column "
        f"name; to migrate the stored data on purpose, convert it yourself (ALTER TABLE {qualified} ALTER "
        f"{column} TYPE {incoming}) or drop the table and rematerialise every partition."
    )


def read_partitions(
    con: duckdb.DuckDBPyConnection, table: str, partitions: Sequence[str | dt.date] | None = None
) -> pl.DataFrame:
    """Rows of the given partitions (all when None), with the columns they were written with."""
    qualified = f"{SCHEMA}.{_quote(table)}"
    if not _table_exists(con, table):
        raise LookupError(f"synth.{table} does not exist yet: materialise the asset {table!r} first")
    dates = [partition_date(p) for p in partitions] if partitions is not None else None
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
    return con.execute(
        f"SELECT * FROM {SCHEMA}.{_quote(table)} WHERE partition_date < ?", [partition_date(partition)]
    ).pl()
