"""Backfill a week under concurrency and report wall time, runs, lock errors and row counts.

Three measurements, side by side, against one ``SYNTH_HOME`` each:

1. ``control``: seven processes write their partitions to one DuckDB file at once, with
   the stock ``dagster-duckdb`` integration as users call it (``DuckDBResource.get_connection``,
   and the ``DuckDBPolarsIOManager`` under real ``materialize`` runs; both retry the
   connection with exponential backoff, 10 times from 0.1 s) and with ours (``Warehouse``
   and ``WarehouseIOManager``: short connections under an inter-process file lock), like
   for like; a bare ``duckdb.connect`` without retry is printed as a lower bound only.
   Counts failed writes and lock errors, and the wall-time ratio stock / ours.
2. ``processes``: seven ``dagster asset materialize`` runs started at once (in-process
   executor: all steps of a run in its process), as the concurrency test does.
3. ``daemon``: a real Dagster backfill. ``dagster job backfill`` submits one run per
   partition of ``synth_backfill_job`` (multiprocess executor: each step in its own
   process) to a ``QueuedRunCoordinator`` allowing seven runs at once; ``dagster-daemon``
   launches them through the code server, as a deployment does.

Usage: ``.venv/bin/python benchmarks/backfill.py [--modes control,processes,daemon] [--docs 60]``
(quick: ``--modes control``; needs the ``bench`` extra for ``dagster-duckdb-polars``)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.harness.concurrent_runs import (  # noqa: E402
    LOCK_ERROR,
    partition_counts,
    prepare_instance,
    run_partitions_concurrently,
)

WEEK = [f"2026-03-{day:02d}" for day in range(2, 9)]
BIN = Path(sys.executable).parent


# --- 1. control: the stock dagster-duckdb resource and IO manager vs ours ------------
_WRITER = r"""
import datetime as dt, json, os, sys, time, duckdb, polars as pl
from synth_pipeline.storage.warehouse import Warehouse, write_partition
path, mode, day, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
frame = pl.DataFrame({"item_id": [f"{day}-{i}" for i in range(200)], "text": ["x" * 100] * 200})
failed, seconds = 0, []

if mode in ("stock_io_manager", "our_io_manager"):
    from dagster import DagsterInstance, DailyPartitionsDefinition, asset, materialize
    if mode == "stock_io_manager":
        from dagster_duckdb_polars import DuckDBPolarsIOManager
        io_manager = DuckDBPolarsIOManager(database=path)  # its connect() retries with backoff, 10 times
    else:
        from synth_pipeline.defs.resources import WarehouseIOManager
        os.environ["SYNTH_HOME"] = os.path.dirname(path)
        io_manager = WarehouseIOManager()

    @asset(
        name="control",
        key_prefix=["synth"],
        partitions_def=DailyPartitionsDefinition(start_date="2026-03-01"),
        metadata={"partition_expr": "partition_date"},
    )
    def control() -> pl.DataFrame:
        return frame.with_columns(pl.lit(dt.date.fromisoformat(day)).alias("partition_date"))

    instance = DagsterInstance.ephemeral()

def write_once():
    if mode == "bare":  # no retry at all: a lower bound, not what users run
        con = duckdb.connect(path)
        try:
            con.execute("CREATE SCHEMA IF NOT EXISTS synth")
            write_partition(con, "control", day, frame)
        finally:
            con.close()
    elif mode == "stock_resource":  # as an asset calls it: with duckdb.get_connection() as con
        from dagster_duckdb import DuckDBResource
        with DuckDBResource(database=path).get_connection() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS synth")
            write_partition(con, "control", day, frame)
    elif mode == "our_warehouse":
        Warehouse(path).write_partition("control", day, frame)
    else:
        result = materialize(
            [control], partition_key=day, resources={"io_manager": io_manager}, instance=instance,
            raise_on_error=False,
        )
        if not result.success:
            for event in result.get_step_failure_events():
                error = event.step_failure_data.error
                while error is not None:
                    print("ERROR", error.message.splitlines()[0] if error.message else "", flush=True)
                    error = error.cause
            raise RuntimeError("run failed")

for i in range(n):
    started = time.perf_counter()
    try:
        write_once()
    except (duckdb.Error, RuntimeError) as exc:
        failed += 1
        print("ERROR", str(exc).splitlines()[0] if str(exc) else type(exc).__name__, flush=True)
    seconds.append(time.perf_counter() - started)
print("RESULT", json.dumps({"failed": failed, "seconds": seconds}), flush=True)
"""

# Direct writes, then the same writes as Dagster runs through an IO manager. ``bare`` is a
# plain duckdb.connect with no retry: kept as a lower bound, it is not the stock integration.
CONTROL_MODES = ("bare", "stock_resource", "our_warehouse", "stock_io_manager", "our_io_manager")
CONTROL_LABELS = {
    "bare": "bare duckdb.connect, no retry (lower bound)",
    "stock_resource": "dagster-duckdb DuckDBResource.get_connection (backoff: 10 retries, 0.1 s doubling)",
    "our_warehouse": "our Warehouse (inter-process file lock)",
    "stock_io_manager": "dagster-duckdb-polars DuckDBPolarsIOManager, one materialize per write",
    "our_io_manager": "our WarehouseIOManager, one materialize per write",
}


def control(workdir: Path, writes: int = 20, run_writes: int = 5, modes: tuple[str, ...] = CONTROL_MODES) -> dict:
    """Seven processes (one per day of the week) write their partition ``writes`` times at once
    (``run_writes`` times for the Dagster-run modes, whose start-up dominates)."""
    out: dict[str, object] = {"load_before": os.getloadavg()}
    for mode in modes:
        path = workdir / mode / "warehouse.duckdb"
        path.parent.mkdir(parents=True)
        n = run_writes if mode.endswith("io_manager") else writes
        started = time.perf_counter()
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(path), mode, day, str(n)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=ROOT,
            )
            for day in WEEK
        ]
        logs = [p.communicate()[0] for p in procs]
        wall = time.perf_counter() - started
        results = [json.loads(line[7:]) for log in logs for line in log.splitlines() if line.startswith("RESULT ")]
        if len(results) != len(procs):
            raise RuntimeError(f"{mode}: a writer died:\n" + "\n".join(log[-2000:] for log in logs))
        lock_errors = sum(1 for log in logs for line in log.splitlines() if LOCK_ERROR.search(line))
        seconds = sorted(x for r in results for x in r["seconds"])
        out[mode] = {
            "what": CONTROL_LABELS[mode],
            "processes": len(procs),
            "writes_each": n,
            "wall_s": round(wall, 2),
            "failed_writes": sum(r["failed"] for r in results),
            "lock_error_lines": lock_errors,
            "write_s_median": round(statistics.median(seconds), 3),
            "write_s_max": round(seconds[-1], 2),
            "partitions_complete": _complete(path),
            "load_after": os.getloadavg()[0],
        }
        print(f"control/{mode}: {out[mode]}", flush=True)
    _control_ratios(out)
    return out


def _complete(path: Path) -> int:
    """Partitions of the week holding exactly their 200 rows."""
    if not path.exists():
        return 0
    with duckdb.connect(str(path), read_only=True) as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'control'").fetchone()[0]:
            return 0
        rows = dict(
            con.execute("SELECT CAST(partition_date AS VARCHAR), count(*) FROM synth.control GROUP BY ALL").fetchall()
        )
    return sum(1 for d in WEEK if rows.get(d) == 200)


def _control_ratios(out: dict) -> None:
    """Wall-time ratios of the stock integration to ours, like for like, printed and stored."""
    for stock, ours in (("stock_resource", "our_warehouse"), ("stock_io_manager", "our_io_manager")):
        if stock in out and ours in out:
            ratio = out[stock]["wall_s"] / out[ours]["wall_s"]
            out[f"{stock}_wall_over_ours"] = round(ratio, 2)
            print(
                f"{stock} / {ours} wall: {ratio:.2f}x; failed writes {out[stock]['failed_writes']} vs "
                f"{out[ours]['failed_writes']} of {out[ours]['processes'] * out[ours]['writes_each']}",
                flush=True,
            )


# --- 2. seven CLI runs at once --------------------------------------------------------
def processes(workdir: Path, docs: int, cache: Path | None) -> dict:
    home = workdir / "processes"
    if cache:
        shutil.copytree(cache, home / "cache")
    lock_log = workdir / "processes_lock.log"
    result = run_partitions_concurrently(
        WEEK,
        home,
        workdir / "processes_dagster",
        env={"SYNTH_DOCS_PER_PARTITION": str(docs), "SYNTH_WAREHOUSE_LOCK_LOG": str(lock_log)},
    )
    print(result.summary(), flush=True)
    lock = _lock_use(lock_log)
    print(f"warehouse lock: {lock}", flush=True)
    return {
        "runs": len(result.runs),
        "succeeded": result.succeeded,
        "wall_s": round(result.wall_seconds, 1),
        "lock_errors": len(result.lock_errors),
        "warehouse_lock": lock,
        "rows": _rows(home),
    }


def _lock_use(path: Path) -> dict:
    """Acquisitions of the warehouse lock: how long processes queued for it and held it."""
    if not path.exists():
        return {}
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    waited = sorted(float(r[1]) for r in rows)
    held = sorted(float(r[2]) for r in rows)
    by_caller: dict[str, float] = {}
    for r in rows:
        caller = r[3] if len(r) > 3 else "?"
        by_caller[caller] = by_caller.get(caller, 0.0) + float(r[2])
    return {
        "hold_s_by_caller": {k: round(v, 2) for k, v in sorted(by_caller.items(), key=lambda kv: -kv[1])},
        "acquisitions": len(rows),
        "processes": len({r[0] for r in rows}),
        "wait_total_s": round(sum(waited), 2),
        "wait_max_s": round(waited[-1], 2),
        "hold_total_s": round(sum(held), 2),
        "hold_p50_s": round(held[len(held) // 2], 3),
        "hold_max_s": round(held[-1], 2),
    }


# --- 3. a real backfill through the daemon --------------------------------------------
def daemon(workdir: Path, docs: int, cache: Path | None, timeout_s: float = 1200) -> dict:
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    home = workdir / "daemon"
    home.mkdir(parents=True)
    if cache:
        shutil.copytree(cache, home / "cache")
    dagster_home = workdir / "daemon_dagster"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator\n  class: QueuedRunCoordinator\n"
        f"  config:\n    max_concurrent_runs: {len(WEEK)}\n"
    )
    prepare_instance(dagster_home)
    env = {
        **os.environ,
        "SYNTH_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "SYNTH_DOCS_PER_PARTITION": str(docs),
    }
    daemon_log = (workdir / "daemon.log").open("w")
    daemon_proc = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        env=env,
        cwd=ROOT,
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.perf_counter()
        submit = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "backfill",
                "-w",
                str(ROOT / "workspace.yaml"),
                "-j",
                "synth_backfill_job",
                "--partitions",
                ",".join(WEEK),
                "--noprompt",
            ],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if submit.returncode:
            raise RuntimeError(submit.stdout + submit.stderr)
        terminal = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            while True:
                runs = instance.get_runs(RunsFilter(job_name="synth_backfill_job"))
                if len(runs) == len(WEEK) and all(r.status in terminal for r in runs):
                    break
                if time.perf_counter() - started > timeout_s:
                    raise TimeoutError(f"backfill not done after {timeout_s}s: {[r.status for r in runs]}")
                time.sleep(2)
            wall = time.perf_counter() - started
            records = instance.get_run_records(RunsFilter(job_name="synth_backfill_job"))
            lock_lines, max_running = [], 0
            spans = []
            for record in records:
                for entry in instance.all_logs(record.dagster_run.run_id):
                    text = entry.message or ""
                    if entry.dagster_event and entry.dagster_event.event_specific_data is not None:
                        text += " " + str(entry.dagster_event.event_specific_data)
                    if LOCK_ERROR.search(text):
                        lock_lines.append(text[:200])
                spans.append((record.start_time or 0, record.end_time or 0))
            for start, _ in spans:
                max_running = max(max_running, sum(1 for s, e in spans if s <= start < e))
            statuses = sorted(r.dagster_run.status.value for r in records)
            steps = sum(
                1
                for record in records
                for entry in instance.all_logs(record.dagster_run.run_id)
                if entry.dagster_event and entry.dagster_event.event_type_value == "STEP_SUCCESS"
            )
    finally:
        daemon_proc.terminate()
        daemon_proc.wait(timeout=60)
        daemon_log.close()
    daemon_text = (workdir / "daemon.log").read_text(errors="replace")
    lock_lines += [line for line in daemon_text.splitlines() if LOCK_ERROR.search(line)]
    out = {
        "runs": len(records),
        "statuses": statuses,
        "step_successes": steps,
        "max_runs_at_once": max_running,
        "wall_s": round(wall, 1),
        "lock_errors": len(lock_lines),
        "lock_error_lines": lock_lines[:5],
        "rows": _rows(home),
    }
    print(
        f"daemon backfill: {len(records)} runs {statuses}, wall {wall:.1f}s, at most {max_running} at once, "
        f"{steps} steps, {len(lock_lines)} lock errors",
        flush=True,
    )
    return out


def _rows(home: Path) -> dict:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        counts = partition_counts(con)
    return {f"{t}/{p}": n for (t, p), n in sorted(counts.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="control,processes,daemon")
    parser.add_argument("--docs", type=int, default=60, help="SYNTH_DOCS_PER_PARTITION")
    parser.add_argument("--control-modes", default=",".join(CONTROL_MODES))
    parser.add_argument("--writes", type=int, default=20, help="control: direct writes per process")
    parser.add_argument("--run-writes", type=int, default=5, help="control: Dagster runs per process (IO managers)")
    parser.add_argument(
        "--cache", type=Path, help="a $SYNTH_HOME/cache with the parsed built-in corpus (saves ~10 s per process)"
    )
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="synth-backfill-"))
    figures: dict[str, object] = {"partitions": WEEK, "docs_per_partition": args.docs, "cpus": os.cpu_count()}
    modes = args.modes.split(",")
    if "control" in modes:
        control_modes = tuple(args.control_modes.split(","))
        figures["control"] = control(workdir, args.writes, args.run_writes, control_modes)
    if "processes" in modes:
        figures["processes"] = processes(workdir, args.docs, args.cache)
    if "daemon" in modes:
        figures["daemon"] = daemon(workdir, args.docs, args.cache)
    if "processes" in figures and "daemon" in figures:
        a, b = figures["processes"]["rows"], figures["daemon"]["rows"]
        figures["rows_differ_between_modes"] = {
            k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
        }
    text = json.dumps(figures, indent=2, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)
    print(f"work dir: {workdir}")


if __name__ == "__main__":
    main()
