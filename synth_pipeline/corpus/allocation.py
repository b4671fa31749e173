"""Which records a partition takes: the registry's recorded ranges, or new ones taken now.

On a partition's first build the configured sources are listed, files met before are
checked for changed content (size/mtime, then the content hash), what is left of staged
files is taken first, then new files are staged (two at a time) until the partition holds
``docs_per_partition`` readable records. The ranges and the registry changes are written
in one transaction (:func:`registry.record_partition`); a rebuild reads them back unchanged.
The caller holds the corpus lock (:func:`synth_pipeline.corpus.batch.build_corpus_batch`).
"""

from __future__ import annotations

import contextlib
import itertools
import platform
import time
from collections import deque
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth_pipeline.corpus import builtin, readers, registry, staging
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse

STAGING_THREADS = 2  # new files read at once: the machines this targets have two cores


def corpus_sources(settings: Settings) -> list[str]:
    """Configured sources, plus the landing folder where the sensor's new files arrive."""
    sources = [s.strip() for s in settings.corpus.split(",") if s.strip()]
    if settings.landing_dir and settings.landing_dir.is_dir():
        sources.append(str(settings.landing_dir))
    return sources


def read_options(settings: Settings) -> readers.ReadOptions:
    return readers.ReadOptions(text_field=settings.corpus_text_field, id_field=settings.corpus_id_field or None)


@dataclass
class _Registration:
    """Registry changes of one first build, written with its ranges in one transaction."""

    next_file_id: int
    files: list[dict[str, Any]] = field(default_factory=list)
    touched: list[tuple[int, int, int]] = field(default_factory=list)  # (file_id, size, mtime_ns)

    def add(self, source: str, fields: dict[str, Any]) -> registry.RegisteredFile:
        row = {"file_id": self.next_file_id + len(self.files), "source": source, **fields}
        self.files.append(row)
        return registry.RegisteredFile(
            int(row["file_id"]),
            source,
            str(row["path"]),
            int(row["size"]),
            int(row["mtime_ns"]),
            str(row["content_hash"]),
            str(row["status"]),
            int(row["records"]),
            int(row["readable"]),
            row.get("staged_path"),
        )


def allocate(settings: Settings, warehouse: Warehouse, partition: str):
    """The partition's ranges: recorded ones, or new ones taken from the corpus now."""
    with warehouse.connect() as con:
        registry.ensure_tables(con)
        recorded = registry.partition_allocations(con, partition)
        if recorded is not None:
            files = registry.files_table(con, [a.file_id for a in recorded])
            # A source that names no file is a setting to fix: said by every build, not recorded.
            return recorded, files, False, _list_files(settings)[1]
        known = registry.registered_files(con)
        taken = registry.taken_so_far(con)
    listed, unresolved = _list_files(settings)
    latest = {f.path: f for f in known}  # the latest version of each path
    new = _Registration(next_file_id=max((f.file_id for f in known), default=0) + 1)
    allocations: list[registry.Allocation] = []
    need = settings.docs_per_partition

    def take(f: registry.RegisteredFile, start: int, readable_left: int) -> None:
        nonlocal need
        if readable_left <= need:  # the whole rest of the file: no need to look inside it
            end, readable = f.records, readable_left
        else:
            if f.staged_path is None:  # only staged files are allocated from
                raise ValueError(f"file {f.file_id} has no staged snapshot to take records from")
            end, readable = staging.range_end(Path(f.staged_path), start, f.records, need)
        allocations.append(registry.Allocation(f.file_id, start, end, readable))
        need -= readable

    # Files met before: detect changed content first, so no partition reads a mixed file.
    fresh: list[tuple[str, Path | None]] = []
    for source, path in listed:
        old = latest.get(str(path) if path is not None else _builtin_key())
        if old is None:
            fresh.append((source, path))
        elif path is not None and registry.stat_of(path) != (old.size, old.mtime_ns):
            changed = _changed_version(path, old)
            if changed is None:
                new.touched.append((old.file_id, *registry.stat_of(path)))
            else:
                allocations.append(registry.Allocation(new.add(source, changed).file_id, 0, 0, 0))
    for f in known:
        start, readable_taken = taken.get(f.file_id, (0, 0))
        if need > 0 and f.status == "staged" and start < f.records:
            take(f, start, f.readable - readable_taken)
    with contextlib.closing(_staged_in_order(settings, fresh if need > 0 else [])) as staged_in_order:
        for source, fields in staged_in_order:
            f = new.add(source, fields)
            if f.status == "staged" and f.records:
                take(f, 0, f.readable)
            else:  # a file of no records, or one nothing could be read of: reported by this partition
                allocations.append(registry.Allocation(f.file_id, 0, 0, 0))
            if need <= 0:
                break
    with warehouse.connect() as con:
        registry.record_partition(con, partition, allocations, settings.docs_per_partition, new.files, new.touched)
        files = registry.files_table(con, [a.file_id for a in allocations])
    return allocations, files, True, unresolved


def _builtin_key() -> str:
    """The built-in corpus's registry path: another interpreter ships other text, so another file."""
    return f"{builtin.NAME}/python-{platform.python_version()}"


def _list_files(settings: Settings) -> tuple[list[tuple[str, Path | None]], list[tuple[str, str, str]]]:
    """(source, path) of every file the sources name (path None: the built-in corpus), and
    (source, reason, detail) of sources that name nothing."""
    listed: list[tuple[str, Path | None]] = []
    unresolved: list[tuple[str, str, str]] = []
    seen: set[Path] = set()
    landing_folder = str(settings.landing_dir)
    for source in corpus_sources(settings):
        landing = source == landing_folder
        if source.startswith("builtin:"):
            if source == builtin.NAME:
                listed.append((source, None))
            else:
                unresolved.append((source, "unknown_builtin", f"known: {builtin.NAME}"))
            continue
        paths = readers.expand_source(source)
        if not paths and not landing:
            unresolved.append((source, "not_found", "no file matches this source"))
        for path in paths:
            if landing and time.time() - path.stat().st_mtime < settings.landing_settle_s:
                continue  # may still be being written: the next partition takes it
            resolved = path.resolve()
            if resolved not in seen:  # a file named by two sources is one file
                seen.add(resolved)
                listed.append((source, path))
    return listed, unresolved


def _staged_in_order(
    settings: Settings, fresh: list[tuple[str, Path | None]]
) -> Generator[tuple[str, dict[str, Any]], None, None]:
    """Stage new files two at a time (their readers release the GIL), yielding them in order.

    The consumer stops once the partition is full; the one file staged ahead is then left as a
    finished snapshot that the next partition reuses instead of reading the file again.
    """
    if any(path is None for _, path in fresh):
        # Parsed (and cached) on this thread: ast.parse is not safe from several threads on
        # Python 3.11 ("AST constructor recursion depth mismatch", CPython gh-106905).
        builtin.load_builtin_python_docs(settings.cache_dir)
    items = iter(fresh)
    with ThreadPoolExecutor(max_workers=STAGING_THREADS) as pool:
        pending = deque(
            (source, pool.submit(_stage, settings, path)) for source, path in itertools.islice(items, STAGING_THREADS)
        )
        while pending:
            source, future = pending.popleft()
            following = next(items, None)
            if following is not None:
                pending.append((following[0], pool.submit(_stage, settings, following[1])))
            yield source, future.result()


def _stage(settings: Settings, path: Path | None) -> dict[str, object]:
    """Registry fields of a file seen for the first time, once staged or rejected whole."""
    stage_dir = settings.home / "corpus_stage"
    fields: dict[str, object]
    if path is None:
        content_hash, staged = staging.stage_builtin(settings.cache_dir, stage_dir)
        fields = {"path": _builtin_key(), "size": staged.records, "mtime_ns": 0, "format": "builtin"}
    else:
        size, mtime_ns = registry.stat_of(path)
        content_hash = staging.file_content_hash(path)
        fields = {"path": str(path), "size": size, "mtime_ns": mtime_ns}
        try:
            fields["format"] = "+".join(p for p in readers.detect_format(path) if p)
            staged = staging.stage_file(path, content_hash, read_options(settings), stage_dir)
        except readers.FileRejected as exc:
            fields.update(
                content_hash=content_hash,
                status="rejected",
                records=0,
                readable=0,
                reason=exc.reason,
                detail=exc.detail[:500],
            )
            return fields
    fields.update(
        content_hash=content_hash,
        status="staged",
        records=staged.records,
        readable=staged.readable,
        staged_path=str(staged.staged_path),
    )
    return fields


def _changed_version(path: Path, old: registry.RegisteredFile) -> dict[str, object] | None:
    """A registered path with a new size or mtime: None when the bytes are the same (a copy, a
    touch), else the fields of a ``changed`` version: reported by this partition, never read."""
    size, mtime_ns = registry.stat_of(path)
    content_hash = staging.file_content_hash(path)
    if content_hash == old.content_hash:
        return None
    detail = (
        f"{path} now holds other bytes (size {old.size} -> {size}, hash {old.content_hash[:12]} -> "
        f"{content_hash[:12]}) "
        f"than the version registered as file {old.file_id}; the new content is not read. Land new data as a new file."
    )
    return {
        "path": str(path),
        "size": size,
        "mtime_ns": mtime_ns,
        "content_hash": content_hash,
        "format": None,
        "records": 0,
        "readable": 0,
        "staged_path": None,
        "status": "changed",
        "reason": "file_changed",
        "detail": detail,
    }
