"""Write a release: the cumulative mix up to a partition as Parquet shards, optional chat
JSONL, a dataset card and a manifest with content hashes.

Layout of ``$SYNTH_HOME/releases/<partition>/``::

    README.md                              dataset card; YAML front matter names the configs
    manifest.json                          every file with sha256, bytes, rows; columns; lineage
    data/train-00000-of-0000N.parquet      config "default": one row per mix item
    chat/train-00000-of-0000N.jsonl        config "chat" (SYNTH_RELEASE_CHAT_JSONL=1): synthetic items
                                           as {"messages": [...prompt..., {"role": "assistant", ...}]}

``datasets.load_dataset(<dir>)`` reads the card's ``configs``; ``datasets.load_dataset("parquet",
data_files=<dir>/data/*.parquet)`` and ``polars.read_parquet(<dir>/data/*.parquet)`` read the
shards directly. Shard names follow the Hub's ``<split>-<i>-of-<n>`` pattern so the split is
found without a card too.

The release refuses to ship (raises :class:`ReleaseBlocked`) when a partition it includes
has no quality report, when that report recorded a failed check, or when the mix changed
after the report was computed: the card's figures are the report's figures, never a second
computation that could disagree.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from synth_pipeline import __version__
from synth_pipeline.mix.shares import mix_shares, within_caps
from synth_pipeline.release.card import ReleaseFacts, empty_partitions, partition_status, render_card
from synth_pipeline.report.collect import recorded_checks
from synth_pipeline.settings import Settings
from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import record_batches

# The named queries (dbt_like_sql/queries/) the release reads: part of its code version.
QUERIES = (
    "mix_shares",
    "check_results",
    "release_mix_days",
    "release_reported",
    "release_quality_metrics",
    "release_shard_sizes",
    "release_rows",
    "release_chat",
    "release_pipeline_versions",
    "release_partitions",
    "release_models",
    "release_sources",
    "release_repeated_items",
)
SPLIT = "train"
ROW_OVERHEAD_BYTES = 256  # ids, lineage and numbers of one row beside its text, uncompressed
BATCH_ROWS = 20_000
# The mix's synthetic token share is compared with the report's to this tolerance (float rounding).
TOLERANCE = 1e-9


class ReleaseBlocked(RuntimeError):
    """The mix may not ship: a report is missing, a check failed, or the report is stale."""


@dataclass
class ReleaseResult:
    partition: str
    path: Path
    rows: int
    files: list[dict] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    facts: ReleaseFacts | None = None

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.files)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _metrics(con: duckdb.DuckDBPyConnection, partition: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """quality_metrics of every partition <= ``partition`` (partition scope) and the cumulative scope of
    ``partition``."""
    try:
        rows = queries.rows(con, "release_quality_metrics", partition_date=partition)
    except duckdb.CatalogException as exc:
        raise ReleaseBlocked("synth.quality_metrics does not exist: materialise quality_report first") from exc
    per_partition: dict[str, dict[str, float]] = {}
    cumulative: dict[str, float] = {}
    for day, scope, metric, value in rows:
        if scope == "partition":
            per_partition.setdefault(day, {})[metric] = value
        elif scope == "cumulative" and day == partition:
            cumulative[metric] = value
    return per_partition, cumulative


def _blocking_failures(metrics: dict[str, float]) -> float:
    """Failed blocking (ERROR) checks a report recorded; reports that count warnings apart say so."""
    if "checks.failed_blocking" in metrics:
        return metrics["checks.failed_blocking"]
    return metrics.get("checks.failed", 0)


def _gate(con: duckdb.DuckDBPyConnection, partition: str, settings: Settings) -> tuple[list[str], dict, dict]:
    """The partitions to ship and the report figures the card quotes; raises ReleaseBlocked."""
    mix_days = [r[0] for r in queries.rows(con, "release_mix_days", partition_date=partition)]
    if partition not in mix_days:
        # A partition whose every candidate was excluded (e.g. a corpus that cycles) is
        # empty, not missing: its quality report says which it is.
        (reported,) = queries.one(con, "release_reported", partition_date=partition)
        if not reported:
            raise ReleaseBlocked(f"deduplicated_mix has no rows for {partition}: materialise it first")
        mix_days.append(partition)
    per_partition, cumulative = _metrics(con, partition)
    missing = [d for d in mix_days if d not in per_partition]
    if missing or not cumulative:
        raise ReleaseBlocked(
            f"no quality report for partitions {missing or [partition]}: materialise quality_report for them before "
            "releasing"
        )
    failed = {d: int(_blocking_failures(per_partition[d])) for d in mix_days if _blocking_failures(per_partition[d])}
    if failed:
        raise ReleaseBlocked(f"blocking checks failed in the quality report of {failed}: fix the mix, do not ship it")
    _refuse_stale(partition, cumulative, mix := mix_shares(con, partition, cumulative=True))
    if not within_caps(settings, mix):
        raise ReleaseBlocked(
            f"cumulative synthetic share {mix.synthetic_token_share:.4f} (tokens) / {mix.synthetic_item_share:.4f} "
            f"(items) is above the caps {settings.max_synthetic_ratio} / {settings.max_synthetic_item_ratio}"
        )
    return mix_days, per_partition, cumulative


def _refuse_stale(partition: str, cumulative: dict[str, float], mix) -> None:
    """The mix must be the one the report of ``partition`` measured."""
    items, synthetic, token_share = mix.items, mix.synthetic_items, mix.synthetic_token_share
    stale = []
    if items != cumulative.get("mix.items") or synthetic != cumulative.get("mix.synthetic_items"):
        stale.append(
            f"items {items}/{synthetic} vs report {cumulative.get('mix.items')}/{cumulative.get('mix.synthetic_items')}"
        )
    if abs(token_share - cumulative.get("mix.synthetic_token_share", -1)) > TOLERANCE:
        stale.append(f"synthetic token share {token_share} vs report {cumulative.get('mix.synthetic_token_share')}")
    if stale:
        raise ReleaseBlocked(
            f"the mix changed after the quality report of {partition} was computed ({'; '.join(stale)}): "
            "re-materialise quality_report for it, then the release"
        )


def _shard_names(prefix: str, count: int, suffix: str) -> list[str]:
    return [f"{prefix}/{SPLIT}-{i:05d}-of-{count:05d}.{suffix}" for i in range(count)]


def _shard_starts(sizes: list[int], max_bytes: int) -> list[int]:
    """Greedy packing in order: the row index where each shard starts; a shard exceeds
    ``max_bytes`` only when one row alone does."""
    starts, current = [0], 0
    for i, size in enumerate(sizes):
        if current and current + size > max_bytes:
            starts.append(i)
            current = 0
        current += size
    return starts


def _write_parquet(
    con: duckdb.DuckDBPyConnection, partition: str, out: Path, max_bytes: int
) -> tuple[list[dict], list[dict]]:
    """Stream the cumulative mix into size-bounded shards; returns file entries and columns.

    Rows go in a fixed order (partition, origin, item id), so a re-release of the same data
    writes the same bytes. A row's size is estimated as its text's UTF-8 bytes plus
    ``ROW_OVERHEAD_BYTES`` for ids and numbers (uncompressed, as ``datasets`` sizes shards).
    """
    sizes = queries.execute(
        con, "release_shard_sizes", partition_date=partition, row_overhead_bytes=ROW_OVERHEAD_BYTES
    ).fetchnumpy()
    sizes = next(iter(sizes.values())).tolist()
    starts = _shard_starts(sizes, max_bytes)
    ends = [*starts[1:], len(sizes)]
    names = _shard_names("data", len(starts), "parquet")
    reader = record_batches(queries.execute(con, "release_rows", partition_date=partition), BATCH_ROWS)
    schema = reader.schema
    (out / "data").mkdir(parents=True, exist_ok=True)
    rows = [0] * len(starts)
    shard, position = 0, 0
    writer = pq.ParquetWriter(out / names[0], schema, compression="zstd")
    try:
        for batch in reader:
            offset = 0
            while offset < batch.num_rows:
                while position >= ends[shard] and shard + 1 < len(starts):
                    writer.close()
                    shard += 1
                    writer = pq.ParquetWriter(out / names[shard], schema, compression="zstd")
                take = min(batch.num_rows - offset, ends[shard] - position)
                writer.write_table(pa.Table.from_batches([batch.slice(offset, take)], schema=schema))
                rows[shard] += take
                offset += take
                position += take
    finally:
        writer.close()
    columns = [{"name": f.name, "type": str(f.type)} for f in schema]
    return [
        {"path": n, "format": "parquet", "config": "default", "rows": r} for n, r in zip(names, rows, strict=True)
    ], columns


def _write_chat(con: duckdb.DuckDBPyConnection, partition: str, out: Path, max_bytes: int) -> list[dict]:
    """Synthetic items as chat conversations: the prompt messages the generator was sent, then the sample."""
    cursor = queries.execute(con, "release_chat", partition_date=partition)
    (out / "chat").mkdir(parents=True, exist_ok=True)
    shards: list[tuple[Path, int]] = []
    fh, size, lines = None, 0, 0
    try:
        while batch := cursor.fetchmany(BATCH_ROWS):
            for item_id, task, day, messages, text in batch:
                line = (
                    json.dumps(
                        {
                            "messages": [*json.loads(messages), {"role": "assistant", "content": text}],
                            "item_id": item_id,
                            "task": task,
                            "partition_date": day,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )
                encoded = line.encode("utf-8")
                if fh is None or (size and size + len(encoded) > max_bytes):
                    if fh is not None:
                        fh.close()
                        shards[-1] = (shards[-1][0], lines)
                    path = out / "chat" / f".shard-{len(shards)}"
                    # a rolling handle, one shard at a time; the `finally` below closes the last
                    fh, size, lines = open(path, "wb"), 0, 0  # noqa: SIM115
                    shards.append((path, 0))
                fh.write(encoded)
                size += len(encoded)
                lines += 1
    finally:
        if fh is not None:
            fh.close()
            shards[-1] = (shards[-1][0], lines)
    if not shards:
        empty = out / "chat" / ".shard-0"
        empty.write_bytes(b"")
        shards.append((empty, 0))
    names = _shard_names("chat", len(shards), "jsonl")
    entries = []
    for (tmp, rows), name in zip(shards, names, strict=True):
        tmp.rename(out / name)
        entries.append({"path": name, "format": "jsonl", "config": "chat", "rows": rows})
    return entries


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _lineage(con: duckdb.DuckDBPyConnection, partition: str, days: list[str]) -> dict:
    versions = dict(queries.rows(con, "release_pipeline_versions", partition_date=partition))
    per_day = queries.rows(con, "release_partitions", partition_date=partition)
    models = queries.rows(con, "release_models", partition_date=partition)
    sources = queries.rows(con, "release_sources", partition_date=partition)
    (repeated,) = queries.one(con, "release_repeated_items", partition_date=partition)
    return {
        # Items whose id (a content hash) already shipped in an earlier partition: the corpus
        # cycled through its slices, or a partition was re-run with a different date.
        "repeated_item_ids": int(repeated),
        "source_partitions": [
            {"partition": d, "items": n, "synthetic_items": s, "tokens": int(t or 0)}
            for d, n, s, t in per_day
            if d in days
        ],
        "pipeline_versions": versions,
        "generators": [{"backend": b, "generator_model": g, "judge_model": j} for b, g, j in models],
        "corpus_sources": [{"source": s, "documents": n} for s, n in sources],
    }


def _licence(settings: Settings) -> dict[str, str]:
    if settings.release_license:
        licence = {"license": settings.release_license}
        if settings.release_license_name:
            licence["license_name"] = settings.release_license_name
        if settings.release_license_link:
            licence["license_link"] = settings.release_license_link
        return licence
    sources = [s.strip() for s in settings.corpus.split(",") if s.strip()]
    if sources == ["builtin:python-docs"]:
        # The Python documentation and docstrings are under the PSF License Version 2.
        return {"license": "other", "license_name": "psf-2.0", "license_link": "https://docs.python.org/3/license.html"}
    return {"license": "unknown"}


def build_release(
    con: duckdb.DuckDBPyConnection,
    partition: str,
    settings: Settings,
    *,
    run_id: str | None = None,
    code_version: str | None = None,
) -> ReleaseResult:
    """Write the release of ``partition`` under ``settings.releases_dir`` (caller holds the warehouse lock).

    The card quotes the partition's check results from ``synth.check_results``, where the
    checking steps stored them.
    """
    days, per_partition, cumulative = _gate(con, partition, settings)
    checks, checks_source = recorded_checks(con, partition)
    final = settings.releases_dir / partition
    tmp = settings.releases_dir / f".{partition}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        files, columns = _write_data(con, partition, settings, tmp)
        facts = ReleaseFacts(
            partition=partition,
            partitions=days,
            per_partition=per_partition,
            cumulative=cumulative,
            checks=checks,
            checks_source=checks_source,
            files=files,
            columns=columns,
            lineage=_lineage(con, partition, days),
            licence=_licence(settings),
            corpus=settings.corpus,
            chat=settings.release_chat_jsonl,
            caps=_caps(settings),
            run_id=run_id,
            package_version=__version__,
            code_version=code_version,
            git_commit=_git_commit(),
        )
        (tmp / "README.md").write_text(render_card(facts), encoding="utf-8")
        manifest = _manifest(facts, settings, tmp)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
        _swap_in(tmp, final, settings.releases_dir, partition)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ReleaseResult(partition, final, manifest["rows"], manifest["files"], manifest, facts)


def _write_data(con: duckdb.DuckDBPyConnection, partition: str, settings: Settings, out: Path) -> tuple[list, list]:
    """The data files (Parquet, and chat JSONL when configured) with their sizes and hashes; and the columns."""
    files, columns = _write_parquet(con, partition, out, settings.release_shard_max_bytes)
    if settings.release_chat_jsonl:
        files += _write_chat(con, partition, out, settings.release_shard_max_bytes)
    for entry in files:
        entry["bytes"] = (out / entry["path"]).stat().st_size
        entry["sha256"] = sha256_file(out / entry["path"])
    return files, columns


def _caps(settings: Settings) -> dict[str, float]:
    return {
        "max_synthetic_ratio": settings.max_synthetic_ratio,
        "max_synthetic_item_ratio": settings.max_synthetic_item_ratio,
        "min_distinct_2": settings.min_distinct_2,
        "max_compression_ratio": settings.max_compression_ratio,
    }


def _release_partition(facts: ReleaseFacts) -> dict:
    """What the release partition itself added: an empty one (0 documents) is said so, not left to a 0."""
    status, sentence = partition_status(facts.per_partition.get(facts.partition, {}))
    metrics = facts.per_partition.get(facts.partition, {})
    return {
        "partition": facts.partition,
        "status": status,
        "empty": status != "scored",
        "documents": int(metrics.get("funnel.documents", 0)),
        "inputs_read": int(metrics.get("funnel.documents_read", 0)),
        "items": int(metrics.get("mix.items", 0)),
        "note": f"partition {sentence}; it adds no items and has no quality score" if sentence else "",
    }


def _manifest(facts: ReleaseFacts, settings: Settings, out: Path) -> dict:
    """``manifest.json``: every file with its hash (the card's too), the columns, the figures, the lineage."""
    card = out / "README.md"
    card_entry = {
        "path": "README.md",
        "format": "markdown",
        "config": None,
        "rows": None,
        "bytes": card.stat().st_size,
        "sha256": sha256_file(card),
    }
    return {
        "release": facts.partition,
        "release_partition": _release_partition(facts),
        "empty_partitions": empty_partitions(facts),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": sum(f["rows"] for f in facts.files if f["config"] == "default"),
        "split": SPLIT,
        "columns": facts.columns,
        "files": [card_entry, *facts.files],
        "quality_metrics": {"cumulative": facts.cumulative, "partition": facts.per_partition},
        "checks": facts.checks,
        "lineage": {
            **facts.lineage,
            "dagster_run_id": facts.run_id,
            "package_version": facts.package_version,
            "release_code_version": facts.code_version,
            "git_commit": facts.git_commit,
            "settings": settings.public_dict(),
        },
    }


def _swap_in(tmp: Path, final: Path, releases_dir: Path, partition: str) -> None:
    """Replace the release directory by the finished one: readers see the old release or the new one,
    never half of one."""
    old = None
    if final.exists():
        old = releases_dir / f".{partition}.old-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
