"""Never pay twice: every paid response, stored in the warehouse by its canonical request.

The key is the sha256 of the canonical JSON of what determines a response: the role
(generate/grade), the model, the messages, the sampling parameters and the sample
index (``request_id``). A rerun of a partition, or a resume after the process was
killed mid-generation, looks every key up first and sends only the misses, and a hit
returns exactly what the first run stored, so the tables come out the same.

Durability during a long generation, in two layers:

1. **Journal.** Each response is appended, as one JSON line, to a per-process journal
   file under ``$SYNTH_HOME/cache/llm_journal/`` with one unbuffered ``write``. A
   ``SIGKILL`` cannot lose it (the data is in the kernel already), so a killed run loses
   only the requests that were in flight.
2. **Warehouse.** Responses are also written to ``synth.llm_response_cache`` in small
   batches (``SYNTH_CACHE_FLUSH_ROWS`` rows or ``SYNTH_CACHE_FLUSH_INTERVAL_S``
   seconds) by a background thread, each batch in one short connection under the
   warehouse's inter-process lock, so parallel partition runs queue instead of
   failing and the event loop never waits for DuckDB.

When a run ends, its journal is deleted. A journal left behind by a killed process
(its ``flock`` is gone) is merged into the table by the next lookup. Errors are never
cached (they cost nothing and a rerun should retry them); ``length`` and
``content_filter`` completions are (they were paid for, and asking again returns the
same).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path

import polars as pl

from synth_pipeline.storage.warehouse import SCHEMA, Warehouse, one_row

try:  # POSIX: a live writer holds an flock on its journal
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

CACHE_TABLE = "llm_response_cache"
_QUALIFIED = f"{SCHEMA}.{CACHE_TABLE}"
_DDL = f"""
CREATE TABLE IF NOT EXISTS {_QUALIFIED} (
    key VARCHAR PRIMARY KEY,
    kind VARCHAR,
    model VARCHAR,
    request_id VARCHAR,
    text VARCHAR,
    finish_reason VARCHAR,
    prompt_tokens BIGINT,
    completion_tokens BIGINT,
    cached_prompt_tokens BIGINT,
    cost_usd DOUBLE,
    attempts INTEGER,
    latency_s DOUBLE,
    extra VARCHAR,
    created_at TIMESTAMP
)
"""
_SCHEMA = pl.Schema(
    {
        "key": pl.Utf8(),
        "kind": pl.Utf8(),
        "model": pl.Utf8(),
        "request_id": pl.Utf8(),
        "text": pl.Utf8(),
        "finish_reason": pl.Utf8(),
        "prompt_tokens": pl.Int64(),
        "completion_tokens": pl.Int64(),
        "cached_prompt_tokens": pl.Int64(),
        "cost_usd": pl.Float64(),
        "attempts": pl.Int32(),
        "latency_s": pl.Float64(),
        "extra": pl.Utf8(),
        "created_at": pl.Datetime("us"),
    }
)


def request_key(kind: str, canonical: dict) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace) of a request."""
    blob = json.dumps({"kind": kind, **canonical}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CachedResponse:
    key: str
    kind: str
    model: str
    request_id: str
    text: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost_usd: float
    attempts: int
    latency_s: float
    extra: str = "{}"  # JSON: e.g. the response_format the judge was answered with
    created_at: float = 0.0  # unix seconds

    def as_json(self) -> dict:
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(CachedResponse))


def _frame(entries: list[CachedResponse]) -> pl.DataFrame:
    """Column-wise (fast) frame of ``entries``, one row per key (the first one wins)."""
    unique = list({e.key: e for e in reversed(entries)}.values())
    columns = {name: [getattr(e, name) for e in unique] for name in _FIELDS if name != "created_at"}
    columns["created_at"] = [
        dt.datetime.fromtimestamp(e.created_at or time.time(), dt.UTC).replace(tzinfo=None) for e in unique
    ]
    return pl.DataFrame(columns, schema=_SCHEMA)


class ResponseCache:
    def __init__(self, warehouse: Warehouse, *, flush_rows: int = 64, flush_interval_s: float = 1.0):
        self.warehouse = warehouse
        self.flush_rows = flush_rows
        self.flush_interval_s = flush_interval_s
        self.journal_dir = warehouse.path.parent / "cache" / "llm_journal"
        self._table_ready = False

    # --- reads ---------------------------------------------------------------
    def lookup(self, keys: Iterable[str]) -> dict[str, CachedResponse]:
        """Stored responses for ``keys`` (after merging journals of dead runs)."""
        wanted = pl.DataFrame({"key": list(dict.fromkeys(keys))}, schema={"key": pl.Utf8})
        orphans = self._orphan_journals()
        with self.warehouse.connect() as con:
            con.execute(_DDL)
            for path, fd in orphans:
                self._merge_journal(con, path, fd)
            if wanted.height == 0:
                return {}
            con.register("_wanted_keys", wanted)
            try:
                frame = con.execute(
                    f"SELECT c.* EXCLUDE (created_at) FROM {_QUALIFIED} c JOIN _wanted_keys w USING (key)"
                ).pl()
            finally:
                con.unregister("_wanted_keys")
        out = {}
        for row in frame.iter_rows(named=True):
            out[row["key"]] = CachedResponse(**row)
        return out

    def size(self) -> int:
        with self.warehouse.connect() as con:
            con.execute(_DDL)
            return int(one_row(con.execute(f"SELECT count(*) FROM {_QUALIFIED}"))[0])

    # --- writes --------------------------------------------------------------
    def writer(self) -> CacheWriter:
        return CacheWriter(self)

    def insert(self, entries: list[CachedResponse]) -> None:
        """Write ``entries`` in one short connection; an existing key keeps its first response."""
        if not entries:
            return
        frame = _frame(entries)
        with self.warehouse.connect() as con:
            if not self._table_ready:
                con.execute(_DDL)
                self._table_ready = True
            _insert_frame(con, frame, count=False)

    # --- journals ------------------------------------------------------------
    def _orphan_journals(self) -> list[tuple[Path, int]]:
        """Journals whose writer is gone, each returned with an open, locked descriptor."""
        if not self.journal_dir.is_dir():
            return []
        found = []
        for path in sorted(self.journal_dir.glob("*.jsonl")):
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)  # a live run is still writing it
                    continue
            elif time.time() - path.stat().st_mtime < 3600:  # pragma: no cover - no flock: wait an hour
                os.close(fd)
                continue
            found.append((path, fd))
        return found

    def _merge_journal(self, con, path: Path, fd: int) -> None:
        try:
            with os.fdopen(os.dup(fd), "r", encoding="utf-8", errors="replace") as handle:
                rows = []
                for line in handle:
                    try:
                        rows.append(CachedResponse(**json.loads(line)))
                    except (ValueError, TypeError):
                        continue  # a line torn by the kill
            if rows:
                added = _insert_frame(con, _frame(rows))
                log.info("response cache: recovered %d responses (%d new) from %s", len(rows), added, path.name)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def _insert_frame(con, frame: pl.DataFrame, count: bool = True) -> int:
    """INSERT OR IGNORE ``frame``; returns the rows added (or -1 when not counted)."""
    before = con.execute(f"SELECT count(*) FROM {_QUALIFIED}").fetchone()[0] if count else 0
    con.register("_cache_batch", frame)
    try:
        con.execute(f"INSERT OR IGNORE INTO {_QUALIFIED} BY NAME SELECT * FROM _cache_batch")
    finally:
        con.unregister("_cache_batch")
    return int(con.execute(f"SELECT count(*) FROM {_QUALIFIED}").fetchone()[0] - before) if count else -1


class CacheWriter:
    """Journal every response at once; write batches to the warehouse in the background.

    ``put`` is called from the event loop and costs one ``write`` syscall; the DuckDB
    work runs on one background thread. ``close`` writes what is left and removes the
    journal once everything it holds is in the warehouse.
    """

    def __init__(self, cache: ResponseCache):
        self.cache = cache
        self.pending: list[CachedResponse] = []
        self.last_flush = time.monotonic()
        self.futures: list[concurrent.futures.Future] = []
        self.failed = False
        self.written = 0
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-cache")
        self._lock = threading.Lock()
        cache.journal_dir.mkdir(parents=True, exist_ok=True)
        self.journal_path = cache.journal_dir / f"{os.getpid()}-{uuid.uuid4().hex[:12]}.jsonl"
        self._fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def put(self, entry: CachedResponse) -> None:
        if not entry.created_at:
            entry.created_at = time.time()
        os.write(self._fd, (json.dumps(entry.as_json(), ensure_ascii=False) + "\n").encode("utf-8"))
        self.pending.append(entry)
        now = time.monotonic()
        if len(self.pending) >= self.cache.flush_rows or now - self.last_flush >= self.cache.flush_interval_s:
            self._submit(now)

    def _submit(self, now: float) -> None:
        batch, self.pending, self.last_flush = self.pending, [], now
        self.futures = [f for f in self.futures if not f.done()]
        self.futures.append(self._executor.submit(self._write, batch))

    def _write(self, batch: list[CachedResponse]) -> None:
        try:
            self.cache.insert(batch)
            with self._lock:
                self.written += len(batch)
        except Exception as exc:  # the journal still holds them; the next run merges it
            self.failed = True
            log.warning(
                "response cache: could not write %d responses to the warehouse (%s); kept in %s",
                len(batch),
                type(exc).__name__,
                self.journal_path,
            )

    def close(self) -> None:
        if self.pending:
            self._submit(time.monotonic())
        self._executor.shutdown(wait=True)
        if fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        if not self.failed:
            self.journal_path.unlink(missing_ok=True)

    def __enter__(self) -> CacheWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
