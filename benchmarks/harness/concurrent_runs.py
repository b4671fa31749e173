"""Concurrent partition runs against one warehouse: the backfill case DuckDB users trip on.

A Dagster backfill launches one run per partition, each in its own process (and, on the
multiprocess executor, each step in a process of its own). DuckDB lets one process at a
time open a database file for writing, so the stock integration fails such backfills
with ``IO Error: Could not set lock on file`` (dagster#16248, #19068, #22674). Our
warehouse holds every connection briefly under an inter-process file lock, so runs
queue for a few milliseconds instead of failing.

:func:`run_partitions_concurrently` reproduces that case with real ``dagster`` CLI
processes, all started at once against one ``SYNTH_HOME`` and one Dagster instance, and
returns what an operator needs to judge it: wall time, exit codes, run records and
every line of the logs that mentions a lock error. The concurrency test and
``benchmarks/backfill.py`` both use it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from synth_pipeline.defs.groups import STAGES

# Every way a lock conflict surfaces: DuckDB's own message, its conflicting-lock detail,
# our lock timing out, and Dagster's SQLite run storage being busy.
LOCK_ERROR = re.compile(
    r"Could not set lock|Conflicting lock|database is locked|lock timeout|Timeout\b.*\.lock", re.IGNORECASE
)
# Everything a partition's run builds; ``dataset_release`` is cumulative (it needs the
# report of every earlier partition), so it follows the backfill through automation.
BACKFILL_SELECTION = "*quality_report"
TABLES = tuple(stage for stage in STAGES if stage != "dataset_release")


@dataclass
class PartitionRun:
    partition: str
    returncode: int
    seconds: float
    log: str

    @property
    def lock_errors(self) -> list[str]:
        return [line for line in self.log.splitlines() if LOCK_ERROR.search(line)]


@dataclass
class ConcurrentBackfill:
    executor: str
    wall_seconds: float
    runs: list[PartitionRun] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(r.returncode == 0 and "RUN_SUCCESS" in r.log for r in self.runs)

    @property
    def lock_errors(self) -> list[str]:
        return [f"{r.partition}: {line}" for r in self.runs for line in r.lock_errors]

    def summary(self) -> str:
        per_run = ", ".join(f"{r.partition} {r.seconds:.1f}s rc={r.returncode}" for r in self.runs)
        return (
            f"{len(self.runs)} runs at once on the {self.executor} executor: wall {self.wall_seconds:.1f}s, "
            f"{'all succeeded' if self.succeeded else 'FAILURES'}, {len(self.lock_errors)} lock errors ({per_run})"
        )


def _dagster_bin() -> str:
    candidate = Path(sys.executable).with_name("dagster")
    return str(candidate) if candidate.exists() else "dagster"


def partition_command(partition: str, executor: str = "in_process") -> list[str]:
    """The CLI that runs the whole graph for one partition, as a backfill's run would.

    ``in_process``: all steps in the run's process (the code location's default).
    ``multiprocess``: ``synth_backfill_job``, each step in its own process.
    """
    if executor == "in_process":
        return [
            _dagster_bin(),
            "asset",
            "materialize",
            "-m",
            "synth_pipeline.definitions",
            "--select",
            BACKFILL_SELECTION,
            "--partition",
            partition,
        ]
    if executor == "multiprocess":
        return [
            _dagster_bin(),
            "job",
            "execute",
            "-m",
            "synth_pipeline.definitions",
            "-j",
            "synth_backfill_job",
            "--tags",
            json.dumps({"dagster/partition": partition}),
        ]
    raise ValueError(f"executor must be in_process or multiprocess, not {executor!r}")


def prepare_instance(dagster_home: Path) -> None:
    """Create the Dagster instance's storage once, before runs share it.

    Processes that find an empty ``DAGSTER_HOME`` at the same moment all run its SQLite
    migrations and all but one fail (``UNIQUE constraint failed: alembic_version``); a
    deployment creates its instance once, and so do we.
    """
    from dagster import DagsterInstance

    dagster_home.mkdir(parents=True, exist_ok=True)
    config = dagster_home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.get_runs_count()


def run_partitions_concurrently(
    partitions: list[str],
    synth_home: Path,
    dagster_home: Path,
    executor: str = "in_process",
    env: dict[str, str] | None = None,
    timeout_s: float = 900,
) -> ConcurrentBackfill:
    """Start one run per partition, all at once, and wait for every one of them."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    prepare_instance(dagster_home)
    full_env = {
        **os.environ,
        "SYNTH_HOME": str(synth_home),
        "DAGSTER_HOME": str(dagster_home),
        **(env or {}),
    }
    logs_dir = synth_home / "backfill_logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    procs = []
    for partition in partitions:
        log_path = logs_dir / f"{executor}-{partition}.log"
        handle = log_path.open("w")
        proc = subprocess.Popen(
            partition_command(partition, executor),
            env=full_env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=str(synth_home),
        )
        procs.append((partition, proc, handle, log_path, time.perf_counter()))
    result = ConcurrentBackfill(executor=executor, wall_seconds=0.0)
    for partition, proc, handle, log_path, t0 in procs:
        try:
            code = proc.wait(timeout=max(1.0, timeout_s - (time.perf_counter() - started)))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        handle.close()
        result.runs.append(
            PartitionRun(partition, code, time.perf_counter() - t0, log_path.read_text(errors="replace"))
        )
    result.wall_seconds = time.perf_counter() - started
    return result


def partition_counts(con, tables: tuple[str, ...] = TABLES) -> dict[tuple[str, str], int]:
    """Rows per (table, partition) in an open DuckDB connection."""
    counts: dict[tuple[str, str], int] = {}
    for table in tables:
        rows = con.execute(
            f"SELECT CAST(partition_date AS VARCHAR), count(*) FROM synth.{table} GROUP BY ALL"
        ).fetchall()
        counts.update({(table, p): n for p, n in rows})
    return counts
