"""DuckLake on a Postgres catalog, data in a folder or on S3: connect, and replace one partition with retry.

Why DuckLake: a DuckDB file admits one writing process, so parallel partition runs queue behind a
file lock. DuckLake keeps the catalogue in Postgres (which arbitrates concurrent commits) and the
data as Parquet files, so writers on many machines commit side by side. What it takes, measured:

* the extensions come from PyPI (``duckdb-ext-ducklake``, ``-postgres``, ``-httpfs``), built for one
  DuckDB release (1.4.4 today), and are loaded from their wheel's folder with automatic installs
  off, so a run never reaches for the network (:func:`extension_config`);
* a table is ``PARTITIONED BY (partition_date)``: without that, two writers replacing different
  partitions of one table conflict on the same data file ("Transaction conflict ...");
* a commit can still lose a race ("Failed to commit DuckLake transaction"): the whole transaction
  is retried with bounded, jittered backoff, and the retries are counted for the run's metadata.

S3 credentials are read from ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` when a connection is
opened, handed to DuckDB as a temporary (in-memory) secret, and never kept on an object, logged or
shown in a repr. A Postgres password belongs in ``PGPASSWORD`` (libpq reads it), not in the target.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.util
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb

log = logging.getLogger(__name__)

TARGET_PREFIX = "ducklake:postgres:"
CATALOG = "lake"
PARTITION_COLUMN = "partition_date"
SECRET_NAME = "synth_lake_s3"
# Messages of a commit that lost a race with another writer; anything else is a real error.
RETRYABLE = ("Failed to commit DuckLake transaction", "Transaction conflict", "could not serialize access")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)

T = TypeVar("T")


class LakeUnavailable(RuntimeError):
    """The DuckLake extensions cannot load here (missing wheels or another DuckDB release)."""


def _quote_ident(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return f'"{name}"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def redact(conninfo: str) -> str:
    """The conninfo with any ``password=...`` replaced, for messages and reprs."""
    return _PASSWORD.sub(r"\1***", conninfo)


def _truthy(value: str) -> bool:
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class LakeConfig:
    """Where the catalogue and the data live; holds no credentials (see the module docstring)."""

    conninfo: str = field(repr=False)
    data_path: str
    s3_endpoint: str | None = None
    s3_url_style: str | None = None
    s3_use_ssl: bool = True
    s3_region: str | None = None
    catalog: str = CATALOG

    def __post_init__(self) -> None:
        _quote_ident(self.catalog)
        if not self.conninfo.strip():
            raise ValueError(f"empty Postgres connection string after {TARGET_PREFIX!r}")
        if not self.data_path:
            raise ValueError("DuckLake needs a data path: a local folder or s3://bucket/prefix")
        if self.s3_url_style not in (None, "path", "vhost"):
            raise ValueError(f"S3 URL style is 'path' or 'vhost', not {self.s3_url_style!r}")

    def __repr__(self) -> str:
        return (
            f"LakeConfig(conninfo={redact(self.conninfo)!r}, data_path={self.data_path!r}, "
            f"s3_endpoint={self.s3_endpoint!r}, s3_url_style={self.s3_url_style!r}, s3_use_ssl={self.s3_use_ssl})"
        )

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    @classmethod
    def parse(cls, target: str, data_path: str, **options: Any) -> LakeConfig:
        """``ducklake:postgres:<libpq conninfo>`` (key=value pairs or a postgresql:// URI) plus a data path."""
        if not is_lake_target(target):
            raise ValueError(f"not a DuckLake target (expected {TARGET_PREFIX}<libpq connection string>)")
        if not data_path.strip():
            raise ValueError("DuckLake needs a data path: a local folder or s3://bucket/prefix")
        path = data_path if data_path.startswith("s3://") else str(Path(data_path).expanduser().resolve())
        if path.startswith("s3://") and not re.match(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$", path):
            raise ValueError(f"not an S3 bucket path: {data_path!r}")
        return cls(conninfo=target[len(TARGET_PREFIX) :].strip(), data_path=path.rstrip("/") + "/", **options)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LakeConfig:
        """SYNTH_WAREHOUSE, SYNTH_LAKE_DATA_PATH, SYNTH_S3_ENDPOINT / _URL_STYLE / _USE_SSL / _REGION."""
        env = os.environ if environ is None else environ
        return cls.parse(
            env.get("SYNTH_WAREHOUSE", ""),
            env.get("SYNTH_LAKE_DATA_PATH", ""),
            s3_endpoint=env.get("SYNTH_S3_ENDPOINT") or None,
            s3_url_style=env.get("SYNTH_S3_URL_STYLE") or None,
            s3_use_ssl=_truthy(env.get("SYNTH_S3_USE_SSL") or "true"),
            s3_region=env.get("SYNTH_S3_REGION") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        )


def is_lake_target(target: str) -> bool:
    return target.startswith(TARGET_PREFIX)


# --- connections --------------------------------------------------------------------------------


def extension_directory() -> Path:
    """The folder the ``duckdb-ext-*`` wheels unpack to, checked against the running DuckDB release."""
    spec = importlib.util.find_spec("duckdb_ext")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        root = Path(folder) / "extensions"
        if (root / f"v{duckdb.__version__}").is_dir():
            return root
    built = sorted(p.name for f in folders for p in (Path(f) / "extensions").glob("v*"))
    raise LakeUnavailable(
        f"DuckLake needs the duckdb-ext-ducklake/-postgres/-httpfs wheels built for duckdb {duckdb.__version__}; "
        + (f"found builds for {', '.join(built)}" if built else "none are installed")
    )


def extension_config() -> dict[str, Any]:
    """DuckDB config that loads extensions from the wheels' folder and never downloads one."""
    return {
        "extension_directory": str(extension_directory()),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": True,
    }


def _s3_secret_sql(config: LakeConfig) -> str:
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        raise LakeUnavailable("an s3:// data path needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
    options = [f"KEY_ID {_literal(key)}", f"SECRET {_literal(secret)}", f"USE_SSL {str(config.s3_use_ssl).lower()}"]
    if os.environ.get("AWS_SESSION_TOKEN"):
        options.append(f"SESSION_TOKEN {_literal(os.environ['AWS_SESSION_TOKEN'])}")
    if config.s3_endpoint:
        options.append(f"ENDPOINT {_literal(config.s3_endpoint)}")
    if config.s3_url_style:
        options.append(f"URL_STYLE {_literal(config.s3_url_style)}")
    if config.s3_region:
        options.append(f"REGION {_literal(config.s3_region)}")
    return f"CREATE OR REPLACE TEMPORARY SECRET {SECRET_NAME} (TYPE s3, {', '.join(options)})"


@contextlib.contextmanager
def connect(config: LakeConfig) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection with the lake attached as ``config.catalog``; closed on exit."""
    con = duckdb.connect(config=extension_config())
    try:
        for name in ("ducklake", "postgres") + (("httpfs",) if config.on_s3 else ()):
            con.execute(f"LOAD {name}")
        if config.on_s3:
            try:
                con.execute(_s3_secret_sql(config))
            except duckdb.Error as error:  # the statement holds the key: never let it reach a log
                raise LakeUnavailable(f"could not create the S3 secret ({type(error).__name__})") from None
        con.execute(
            f"ATTACH {_literal(TARGET_PREFIX + config.conninfo)} AS {_quote_ident(config.catalog)} "
            f"(DATA_PATH {_literal(config.data_path)})"
        )
        yield con
    finally:
        con.close()


# --- retried transactions -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter, so racing writers spread out instead of re-colliding."""

    attempts: int = 10
    base_s: float = 0.05
    cap_s: float = 2.0

    def delay(self, retry: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2**retry))


def is_retryable(error: BaseException) -> bool:
    return isinstance(error, duckdb.Error) and any(text in str(error) for text in RETRYABLE)


@dataclass
class Outcome:
    """What a retried transaction returned, and how many commits lost a race before it."""

    value: Any
    retries: int
    retry_errors: list[str] = field(default_factory=list)


def run_transaction(
    con: duckdb.DuckDBPyConnection,
    body: Callable[[duckdb.DuckDBPyConnection], T],
    policy: RetryPolicy = RetryPolicy(),
) -> Outcome:
    """Run ``body`` inside BEGIN/COMMIT; on a lost race roll back, wait, and run the whole body again."""
    errors: list[str] = []
    for attempt in range(policy.attempts):
        try:
            con.execute("BEGIN TRANSACTION")
            value = body(con)
            con.execute("COMMIT")
            return Outcome(value, attempt, errors)
        except duckdb.Error as error:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            if not is_retryable(error) or attempt == policy.attempts - 1:
                raise
            errors.append(str(error).splitlines()[0][:200])
            time.sleep(policy.delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def ensure_partitioned_table(con: duckdb.DuckDBPyConnection, catalog: str, table: str, columns: str) -> None:
    """``CREATE TABLE IF NOT EXISTS`` with ``PARTITIONED BY (partition_date)`` (see the module docstring)."""
    name = f"{_quote_ident(catalog)}.{_quote_ident(table)}"

    def create(c: duckdb.DuckDBPyConnection) -> None:
        exists = c.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?", [catalog, table]
        ).fetchone()
        if exists and exists[0]:
            return
        c.execute(f"CREATE TABLE {name} ({columns})")
        c.execute(f"ALTER TABLE {name} SET PARTITIONED BY ({PARTITION_COLUMN})")

    run_transaction(con, create)


@contextlib.contextmanager
def partition_lock(conninfo: str, table: str, day: dt.date) -> Iterator[None]:
    """Hold a Postgres advisory lock on ``(table, day)`` in the catalogue's database, across machines.

    Why: DuckLake sees no conflict between two appends, so two first writes of the same partition
    (nothing to delete yet) both commit and the partition holds both rows sets, seen in 2 of 6 runs of
    ``test_lake_concurrency.py`` without this lock. Writers of different partitions take different
    locks and still commit side by side.
    """
    import psycopg2  # type: ignore[import-untyped]  # the `lake` extra

    key = int.from_bytes(hashlib.blake2b(f"{table}/{day}".encode(), digest_size=8).digest(), "big", signed=True)
    with contextlib.closing(psycopg2.connect(conninfo)) as pg:
        pg.autocommit = True
        with pg.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))


def replace_partition(
    con: duckdb.DuckDBPyConnection,
    catalog: str,
    table: str,
    partition: str | dt.date,
    frame: Any,
    policy: RetryPolicy = RetryPolicy(),
    lock_conninfo: str | None = None,
) -> Outcome:
    """Replace one ``partition_date`` of ``catalog.table`` with ``frame`` (Arrow, polars or pandas) atomically.

    ``DELETE`` + ``INSERT ... BY NAME`` in one transaction: readers see the old rows or the new, never
    both or neither. With ``lock_conninfo`` (the catalogue's libpq connection string) writers of the
    same partition are serialised by :func:`partition_lock`. Returns the rows written and the retries.
    """
    day = partition if isinstance(partition, dt.date) else dt.date.fromisoformat(partition)
    name = f"{_quote_ident(catalog)}.{_quote_ident(table)}"
    view = f"_incoming_{table}"
    con.register(view, frame)
    try:
        columns = [d[0] for d in con.execute(f"SELECT * FROM {view} LIMIT 0").description]
        stamped = (
            f"SELECT * REPLACE (CAST(? AS DATE) AS {PARTITION_COLUMN})"
            if PARTITION_COLUMN in columns
            else f"SELECT *, CAST(? AS DATE) AS {PARTITION_COLUMN}"
        )

        def body(c: duckdb.DuckDBPyConnection) -> int:
            c.execute(f"DELETE FROM {name} WHERE {PARTITION_COLUMN} = ?", [day])
            c.execute(f"INSERT INTO {name} BY NAME {stamped} FROM {view}", [day])
            row = c.execute(f"SELECT count(*) FROM {view}").fetchone()
            return int(row[0]) if row else 0

        with partition_lock(lock_conninfo, table, day) if lock_conninfo else contextlib.nullcontext():
            outcome = run_transaction(con, body, policy)
    finally:
        con.unregister(view)
    if outcome.retries:
        log.info("partition %s of %s committed after %d retries", day, table, outcome.retries)
    return outcome
