"""Schedules, sensors and declarative automation.

* ``daily_synth_schedule``: the day's partition of the whole graph at 02:00.
* ``new_corpus_files_sensor``: a run when files arrive in the landing folder (cursor:
  each file once).
* ``synth_automation_sensor``: ``mix_exclusions``, ``quality_report`` and
  ``dataset_release`` refresh on their own when the mix of a partition changes (a backfill, a re-run after a code
  change), but only once the blocking checks of what they read have passed. A blocking
  check stops downstream steps only inside its own run; a later run of the report
  would not know, so the condition says it.
* Freshness of ``deduplicated_mix``, two ways. A ``FreshnessPolicy`` (the 1.13 API,
  evaluated by the daemon, shown as asset health): the mix was updated between 02:00
  and 06:00 UTC each day. It is asset-level, so any partition's update satisfies it; the
  partition-aware check ``freshness_check`` (``build_time_partition_freshness_checks``,
  evaluated by ``mix_freshness_sensor``) says whether *yesterday's* partition exists by
  06:00, which is what a daily consumer needs.
"""

import datetime as dt
import hashlib
import json
import time
import warnings
from pathlib import Path

from dagster import (
    AssetKey,
    AssetSelection,
    AssetSpec,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    FreshnessPolicy,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    build_schedule_from_partitioned_job,
    build_sensor_for_freshness_checks,
    build_time_partition_freshness_checks,
    define_asset_job,
    multiprocess_executor,
    sensor,
)

from synth_pipeline.defs.groups import PIPELINE_GROUP, TABLES_GROUP
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.storage.warehouse import Warehouse

# --- freshness of the mix ----------------------------------------------------------
MIX_FRESHNESS_DEADLINE_CRON = "0 6 * * *"  # four hours after the 02:00 schedule
MIX_FRESHNESS_POLICY = FreshnessPolicy.cron(
    deadline_cron=MIX_FRESHNESS_DEADLINE_CRON, lower_bound_delta=dt.timedelta(hours=4), timezone="UTC"
)
with warnings.catch_warnings():
    # Superseded by FreshnessPolicy, which is not partition-aware yet; kept for that.
    warnings.simplefilter("ignore")
    mix_freshness_checks = build_time_partition_freshness_checks(
        assets=[AssetKey("deduplicated_mix")], deadline_cron=MIX_FRESHNESS_DEADLINE_CRON, timezone="UTC"
    )
    mix_freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=mix_freshness_checks,
        name="mix_freshness_sensor",
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=600,  # each evaluation is a small run; a deadline check needs no more
    )
# Runs of the graph build data; freshness is judged by its sensor, not inside those runs.
_GRAPH = AssetSelection.groups(PIPELINE_GROUP, TABLES_GROUP) - AssetSelection.checks(*mix_freshness_checks)

# --- declarative automation -----------------------------------------------------------
# eager(): missing or a dependency updated since last handled, no dependency missing or
# in progress. Without its latest-time-window clause, so a backfilled or re-run older
# partition refreshes too; with the blocking checks of the dependencies passed.
REFRESH_WHEN_MIX_CHANGES = (
    AutomationCondition.eager().without(AutomationCondition.in_latest_time_window())
    & AutomationCondition.all_deps_blocking_checks_passed()
).with_label("refresh when the mix changes and its blocking checks passed")
# mix_exclusions too: Dagster marks only a re-materialised asset's children stale (a code
# change stales the changed asset alone), so the whole tail of a changed mix follows it.
AUTOMATED_ASSETS = ("mix_exclusions", "quality_report", "dataset_release")


def with_automation(spec: AssetSpec) -> AssetSpec:
    """``spec`` with :data:`REFRESH_WHEN_MIX_CHANGES` on :data:`AUTOMATED_ASSETS` and the freshness
    policy on the mix (applied to every asset by ``definitions.load_defs``)."""
    name = spec.key.to_user_string()
    if name in AUTOMATED_ASSETS:
        return spec.replace_attributes(automation_condition=REFRESH_WHEN_MIX_CHANGES)
    if name == "deduplicated_mix":
        return spec.replace_attributes(freshness_policy=MIX_FRESHNESS_POLICY)
    return spec


automation_sensor = AutomationConditionSensorDefinition(
    "synth_automation_sensor",
    target=AssetSelection.assets(*AUTOMATED_ASSETS),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes mix_exclusions, quality_report and dataset_release of a partition whose mix changed "
    "and passed its blocking checks.",
)

pipeline_job = define_asset_job(
    "synth_pipeline_job",
    selection=_GRAPH,
    partitions_def=daily_partitions,
    description="The whole graph for one daily partition.",
)

# The same graph with each step in its own process, as a cluster backfill runs it (one run per
# partition, steps in separate processes): the case that proves the warehouse lock.
# dataset_release is cumulative (every earlier partition's report), so it is left to automation.
backfill_job = define_asset_job(
    "synth_backfill_job",
    selection=AssetSelection.assets("quality_report").upstream() - AssetSelection.checks(*mix_freshness_checks),
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
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def landing_changes(
    folder: Path, cursor: str | None, now: float | None = None, settle_s: float = 5.0
) -> tuple[list[str], str]:
    """Files new or changed since ``cursor``, and the cursor that marks them handled.

    The cursor is JSON ``{relative path: [mtime_ns, size]}`` of every file handled, so a
    file triggers once however its modification time compares with others' (a copy that
    keeps an old mtime still counts), a rewritten file triggers again, and a half-written
    file (changed in the last ``settle_s`` seconds, ``SYNTH_LANDING_SETTLE_S``) waits for the next tick.
    """
    seen: dict[str, list[int]] = json.loads(cursor) if cursor and cursor.startswith("{") else {}
    now = time.time() if now is None else now
    fresh: list[str] = []
    for path in _landing_files(folder):
        stat = path.stat()
        key = path.relative_to(folder).as_posix()
        state = [stat.st_mtime_ns, stat.st_size]
        if seen.get(key) == state or now - stat.st_mtime < settle_s:
            continue
        seen[key] = state
        fresh.append(key)
    return fresh, json.dumps(seen, sort_keys=True, separators=(",", ":"))


def partition_built(warehouse: Warehouse, partition_key: str) -> bool:
    """Has ``partition_key`` taken its corpus records already (see ``corpus.registry``)?"""
    if not warehouse.path.exists():
        return False
    from synth_pipeline.corpus import registry

    with warehouse.connect() as con:
        registry.ensure_tables(con)
        return registry.partition_allocations(con, partition_key) is not None


@sensor(job=pipeline_job, minimum_interval_seconds=60, default_status=DefaultSensorStatus.STOPPED)
def new_corpus_files_sensor(context: SensorEvaluationContext, synth: SynthResource):
    """Start one run of today's partition when files arrive in the landing folder.

    Each file is handled once (see :func:`landing_changes`); files that arrive together
    share one run, and re-evaluating without new files requests nothing. A partition takes
    its records once: when today's partition has already been built, the files wait (the
    cursor is left as it was) and the next day's partition is requested on its first tick.
    """
    settings = synth.settings()  # the resource's config, else the environment of this tick
    folder = settings.landing_dir
    if folder is None:  # Settings fills it in ($SYNTH_HOME/landing) when not set
        raise RuntimeError("settings.landing_dir is not set")
    fresh, cursor = landing_changes(folder, context.cursor, settle_s=settings.landing_settle_s)
    if not fresh:
        return SkipReason(f"no new files in {folder}")
    today = daily_partitions.get_last_partition_key()
    if today is None:
        return SkipReason("the partitions have not started yet")
    if partition_built(synth.warehouse(), today):
        return SkipReason(
            f"{len(fresh)} new files wait: partition {today} already took its records; the next partition takes them"
        )
    context.update_cursor(cursor)
    digest = hashlib.sha256("\n".join(fresh).encode() + cursor.encode()).hexdigest()[:16]
    return RunRequest(
        run_key=f"landing-{digest}",
        partition_key=today,
        tags={
            "synth/trigger": "landing",
            "synth/new_files": str(len(fresh)),
            "synth/files": ", ".join(fresh)[:200],
        },
    )
