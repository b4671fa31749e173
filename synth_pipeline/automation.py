"""Schedules and sensors: the day's partition every day, and new corpus files as they land."""


import os
from pathlib import Path

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    define_asset_job,
    multiprocess_executor,
    sensor,
)

from synth_pipeline.partitions import daily_partitions
from synth_pipeline.settings import load_settings

pipeline_job = define_asset_job(
    "synth_pipeline_job",
    selection=AssetSelection.groups("synth"),
    partitions_def=daily_partitions,
    description="The whole graph for one daily partition.",
)

# The same graph with each step in its own process, as a cluster backfill runs it (one run per
# partition, steps in separate processes): the case that proves the warehouse lock.
# dataset_release is cumulative (every earlier partition's report), so it is left to automation.
backfill_job = define_asset_job(
    "synth_backfill_job",
    selection=AssetSelection.assets("quality_report").upstream(),
    partitions_def=daily_partitions,
    executor_def=multiprocess_executor,
    description="The whole graph for one partition, one process per step (backfills across processes).",
)

daily_schedule = build_schedule_from_partitioned_job(
    pipeline_job, hour_of_day=2, default_status=DefaultScheduleStatus.STOPPED, name="daily_synth_schedule"
)


def _landing_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


@sensor(job=pipeline_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED)
def new_corpus_files_sensor(context: SensorEvaluationContext):
    """Start a run for today's partition when files arrive in the landing folder.

    The cursor is the newest modification time already handled (with the names seen at
    that instant), so each file triggers once, even if several arrive together.
    """
    folder = load_settings().landing_dir
    cursor_mtime, _, cursor_names = (context.cursor or "0|").partition("|")
    seen_at_cursor = set(cursor_names.split(",")) if cursor_names else set()
    newest = float(cursor_mtime)
    fresh = []
    for path in _landing_files(folder):
        mtime = os.stat(path).st_mtime
        if mtime > newest or (mtime == newest and str(path) not in seen_at_cursor):
            fresh.append((mtime, path))
    if not fresh:
        return SkipReason(f"no new files in {folder}")
    top = max(m for m, _ in fresh)
    names_at_top = {str(p) for m, p in fresh if m == top} | (seen_at_cursor if top == newest else set())
    partition = daily_partitions.get_last_partition_key()
    context.update_cursor(f"{top}|{','.join(sorted(names_at_top))}")
    return RunRequest(
        run_key=f"landing-{top}-{len(fresh)}",
        partition_key=partition,
        tags={"synth/trigger": "landing", "synth/new_files": str(len(fresh))},
    )
