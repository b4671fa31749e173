"""Automation: the daily schedule, the landing-folder sensor, declarative refresh, freshness."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    define_asset_job,
    evaluate_automation_conditions,
    materialize,
)

from synth_pipeline.defs.automation import (
    daily_schedule,
    mix_freshness_checks,
    new_corpus_files_sensor,
)
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline_tests.conftest import UP_TO_THE_MIX, synth_resources

P = "2026-03-02"
REPORT, RELEASE, EXCLUSIONS = AssetKey("quality_report"), AssetKey("dataset_release"), AssetKey("mix_exclusions")


def _write(path: Path, text: str, age_s: float = 60) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    past = time.time() - age_s
    os.utime(path, (past, past))


def _tick(home: Path, cursor: str | None):
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    with build_sensor_context(cursor=cursor, definitions=defs, resources=synth_resources(home)) as context:
        data = new_corpus_files_sensor.evaluate_tick(context)
    return data.run_requests or [], data.cursor or cursor


@pytest.mark.unit
def test_daily_schedule_requests_the_days_partition() -> None:
    tick = dt.datetime(2026, 3, 3, 2, 0, tzinfo=dt.UTC)
    data = daily_schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=tick))
    assert [r.partition_key for r in data.run_requests] == ["2026-03-03"]


@pytest.mark.graph
def test_landing_sensor_requests_one_run_per_arrival_and_none_on_reevaluation(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    requests, cursor = _tick(tmp_path, None)
    assert requests == []

    _write(landing / "a.txt", "first file")
    _write(landing / "nested" / "b.md", "second file")
    _write(landing / ".partial.txt", "hidden files are ignored")
    requests, cursor = _tick(tmp_path, cursor)
    assert len(requests) == 1
    assert requests[0].partition_key == daily_partitions.get_last_partition_key()
    assert requests[0].tags["synth/new_files"] == "2"
    for _ in range(2):  # re-evaluation: nothing new, nothing requested
        again, cursor = _tick(tmp_path, cursor)
        assert again == []

    # A file copied with an old modification time (older than every file handled) counts.
    _write(landing / "c.jsonl", '{"text": "old mtime"}', age_s=86_400)
    requests, cursor = _tick(tmp_path, cursor)
    assert len(requests) == 1 and requests[0].tags["synth/files"] == "c.jsonl"
    assert _tick(tmp_path, cursor)[0] == []

    # A file still being written waits for the next tick; then it triggers once.
    _write(landing / "d.txt", "being written", age_s=0)
    assert _tick(tmp_path, cursor)[0] == []
    _write(landing / "d.txt", "being written, now complete", age_s=60)
    requests, cursor = _tick(tmp_path, cursor)
    assert len(requests) == 1 and requests[0].tags["synth/files"] == "d.txt"

    # A rewritten file is new data: one more run; distinct arrivals get distinct run keys.
    first_key = requests[0].run_key
    _write(landing / "a.txt", "first file, second version", age_s=30)
    requests, cursor = _tick(tmp_path, cursor)
    assert len(requests) == 1 and requests[0].run_key != first_key
    assert _tick(tmp_path, cursor)[0] == []


@pytest.mark.graph
def test_landed_files_wait_when_todays_partition_already_took_its_records(tmp_path: Path) -> None:
    from synth_pipeline.corpus import registry
    from synth_pipeline.storage.warehouse import Warehouse

    _write(tmp_path / "landing" / "late.jsonl", '{"text": "arrived after the day was built"}')
    today = daily_partitions.get_last_partition_key()
    with Warehouse(tmp_path / "warehouse.duckdb").connect() as con:
        registry.ensure_tables(con)
        registry.record_partition(con, today, [], 60, new_files=[], touched=[])
    with build_sensor_context(cursor=None, resources=synth_resources(tmp_path)) as context:
        data = new_corpus_files_sensor.evaluate_tick(context)
    assert not data.run_requests
    assert "already took its records" in data.skip_message and data.cursor is None, "the files stay new for tomorrow"


def _materialize(home: Path, instance: DagsterInstance, selection: list[str], **env: str):
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    return materialize(
        list(defs.assets),
        selection=selection,
        partition_key=P,
        resources=synth_resources(home, SYNTH_DOCS_PER_PARTITION="60", **env),
        instance=instance,
        raise_on_error=False,
    )


MIX_STEP = (
    "deduplicated_mix",
    "mix_metrics",
    "mix_term_groups",
    "mix_overrepresented_ngrams",
    "real_item_ledger",
    "check_results",
)


@pytest.mark.graph
def test_report_and_release_refresh_when_mix_changes_and_checks_passed(tmp_path: Path) -> None:
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    instance = DagsterInstance.ephemeral()
    # The automation sensor ticks on an empty instance: nothing to do.
    start = evaluate_automation_conditions(defs=defs, instance=instance)
    assert start.total_requested == 0
    # The mix of one partition is built (a backfill that stopped at the mix, or a re-run).
    assert _materialize(tmp_path, instance, UP_TO_THE_MIX).success
    first = evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    # Both, in one tick: the release waits for nothing but the report it is requested with,
    # and Dagster runs them in one run, report first.
    assert first.get_requested_partitions(REPORT) == {P}
    assert first.get_requested_partitions(RELEASE) == {P}
    assert first.get_requested_partitions(EXCLUSIONS) == set()  # built with the mix, in the same run

    assert _materialize(tmp_path, instance, ["quality_report", "dataset_release"]).success
    second = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    third = evaluate_automation_conditions(defs=defs, instance=instance, cursor=second.cursor)
    assert second.total_requested == third.total_requested == 0  # handled: nothing more to do

    # The mix changes but fails a blocking check: the check stopped nothing outside its
    # own run, so the condition must hold the report and the release back.
    failed = _materialize(tmp_path, instance, ["deduplicated_mix"], SYNTH_MAX_SYNTHETIC_RATIO="0.01")
    ratio = [c for c in failed.get_asset_check_evaluations() if c.check_name == "synthetic_ratio_within_cap"]
    assert ratio and not ratio[0].passed
    # Only the mix's step ran: the mix, the tables it declares beside it, and the check results it stored.
    assert {e.asset_key for e in failed.get_asset_materialization_events()} == {AssetKey(k) for k in MIX_STEP}
    held = evaluate_automation_conditions(defs=defs, instance=instance, cursor=third.cursor)
    assert held.total_requested == 0

    # Fixed and re-run: the checks pass and the report refreshes.
    assert _materialize(tmp_path, instance, ["deduplicated_mix"]).success
    fixed = evaluate_automation_conditions(defs=defs, instance=instance, cursor=held.cursor)
    for key in (EXCLUSIONS, REPORT, RELEASE):
        assert fixed.get_requested_partitions(key) == {P}, key


@pytest.mark.graph
def test_mix_freshness_is_declared_and_evaluated(tmp_path: Path) -> None:
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    graph = defs.resolve_asset_graph()
    mix = graph.get(AssetKey("deduplicated_mix"))
    assert mix.freshness_policy is not None
    check_keys = {k for c in mix_freshness_checks for k in c.check_keys}
    assert check_keys == {AssetCheckKey(AssetKey("deduplicated_mix"), "freshness_check")}
    assert check_keys <= set(graph.asset_check_keys)
    # Runs of the graph build data; the freshness check is left to its sensor.
    for job in ("synth_pipeline_job", "synth_backfill_job"):
        assert not check_keys & set(defs.resolve_job_def(job).asset_layer.asset_graph.asset_check_keys)
    assert "mix_freshness_sensor" in {s.name for s in defs.sensors}

    # Evaluated: only an old partition exists, so yesterday's mix is missing and the check fails.
    instance = DagsterInstance.ephemeral()
    assert _materialize(tmp_path, instance, UP_TO_THE_MIX).success
    from dagster import Definitions

    check_job = define_asset_job("mix_freshness_job", selection=check_keys_selection())
    result = (
        Definitions.merge(defs, Definitions(jobs=[check_job]))
        .resolve_job_def("mix_freshness_job")
        .execute_in_process(instance=instance, raise_on_error=False)
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed is False


def check_keys_selection():
    from dagster import AssetSelection

    return AssetSelection.checks(*mix_freshness_checks)
