"""A week backfilled at once: seven partition runs, seven processes, one DuckDB file.

This is the case where Dagster users see ``IO Error: Could not set lock on file``
(dagster#16248, #19068, #22674). Every run here is a real ``dagster asset materialize``
process started at the same moment against one ``SYNTH_HOME`` and one Dagster instance.
The test asserts that every run succeeded, that no log line mentions a lock error, that
the per-partition row counts equal those of a sequential run (nothing lost, nothing
doubled), and that re-materialising partitions, two at once, replaces them exactly.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from benchmarks.harness.concurrent_runs import partition_counts, run_partitions_concurrently
from synth_pipeline_tests.conftest import run_graph

WEEK = [f"2026-03-{day:02d}" for day in range(2, 9)]
DOCS = {"SYNTH_DOCS_PER_PARTITION": "60"}
# Partitions take the corpus's records in the order they are first built, so under a concurrent
# backfill a given day may hold other documents than in a sequential one; the week as a whole holds
# the same documents, and everything derived from one document alone adds up to the same totals.
WEEK_TOTALS = ("raw_corpus", "raw_corpus_rejects", "seed_prompts", "generated_samples", "graded_samples")


def _counts(home: Path) -> dict[tuple[str, str], int]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return partition_counts(con)


def _doc_ids(home: Path) -> list[str]:
    """Every document of the week, each once (two partitions never share one)."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return [r[0] for r in con.execute("SELECT doc_id FROM synth.raw_corpus ORDER BY doc_id").fetchall()]


def _exclusion_reasons(home: Path, partition: str) -> dict[str, int]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT reason, count(*) FROM synth.mix_exclusions WHERE partition_date = ? GROUP BY ALL", [partition]
        ).fetchall()
    return dict(rows)


@pytest.mark.graph
def test_week_backfill_runs_concurrently_without_lock_errors(tmp_path: Path) -> None:
    # Reference: the same week, one partition after the other, in this process.
    sequential = tmp_path / "sequential"
    for partition in WEEK:
        assert run_graph(sequential, partition, **DOCS).success
    expected = _counts(sequential)

    # The concurrent week shares the parsed built-in corpus, as any deployment does after
    # its first run (a cold cache is safe too: each process writes its own temp file).
    concurrent = tmp_path / "concurrent"
    shutil.copytree(sequential / "cache", concurrent / "cache")
    dagster_home = tmp_path / "dagster_home"
    backfill = run_partitions_concurrently(WEEK, concurrent, dagster_home, env=DOCS)
    print(backfill.summary())

    assert backfill.succeeded, backfill.summary() + "\n" + next(r.log[-3000:] for r in backfill.runs if r.returncode)
    assert backfill.lock_errors == []
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == WEEK
        spans = [(r.start_time, r.end_time) for r in records]
    # The runs really overlapped: most of them were executing at the same moment.
    at_once = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    print(f"runs executing at once: {at_once}")
    assert at_once >= 4

    got = _counts(concurrent)
    assert set(got) == set(expected)
    for table in WEEK_TOTALS:
        assert sum(got[table, p] for p in WEEK) == sum(expected[table, p] for p in WEEK), table
    assert _doc_ids(concurrent) == _doc_ids(sequential)
    assert all(got["quality_report", p] == 1 for p in WEEK)
    for partition in WEEK:
        # Every candidate lands in the mix or the exclusions, once.
        assert got["deduplicated_mix", partition] + got["mix_exclusions", partition] == got["mix_candidates", partition]
    # What a candidate's exclusion depends on alone (its grade) adds up to the same week totals;
    # duplicates and the ratio cap depend on which partitions were written first, so may move.
    order_dependent = ("near_duplicate", "exact_duplicate", "over_synthetic_ratio_cap")

    def week_reasons(home: Path) -> dict[str, int]:
        totals: dict[str, int] = {}
        for partition in WEEK:
            for reason, n in _exclusion_reasons(home, partition).items():
                if not reason.startswith(order_dependent):
                    totals[reason] = totals.get(reason, 0) + n
        return totals

    assert week_reasons(concurrent) == week_reasons(sequential)

    # Re-materialising replaces a partition: two re-runs at once (one in the middle of the
    # week, one at its end) take exactly their recorded documents again.
    rerun = ["2026-03-05", "2026-03-08"]
    started = time.perf_counter()
    again = run_partitions_concurrently(rerun, concurrent, dagster_home, env=DOCS)
    print(again.summary(), f"({time.perf_counter() - started:.1f}s)")
    assert again.succeeded and again.lock_errors == []
    after = _counts(concurrent)
    for (table, partition), rows in after.items():
        if partition not in rerun or table in (*WEEK_TOTALS, "mix_candidates", "quality_report"):
            assert rows == got[table, partition], (table, partition)
    assert _doc_ids(concurrent) == _doc_ids(sequential)


@pytest.mark.unit
def test_writer_waits_for_a_reader_outside_the_lock(tmp_path: Path) -> None:
    """A DuckDB shell or notebook holding the file (even read-only) delays a run; it does not fail it."""
    import subprocess
    import sys

    import polars as pl

    from synth_pipeline.storage.warehouse import Warehouse

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    warehouse.write_partition("t", "2026-03-02", pl.DataFrame({"x": [1, 2]}))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
            "time.sleep(3)",
            str(warehouse.path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(duckdb.IOException, match="lock"):  # what the stock integration hits
            duckdb.connect(str(warehouse.path)).close()
        started = time.perf_counter()
        assert warehouse.write_partition("t", "2026-03-03", pl.DataFrame({"x": [3]})) == 1
        waited = time.perf_counter() - started
    finally:
        holder.wait(timeout=30)
    assert waited > 1.0  # it queued behind the reader ...
    assert warehouse.query("SELECT count(*) AS n FROM synth.t").item() == 3  # ... and then wrote
