"""``synth_backfill_job`` for real: two partitions at once, one process per step, one warehouse,
and the ``llm`` pool shared by both runs.

The pool limit is set on the Dagster instance (1 slot), both runs start together against a
loopback OpenAI-protocol server, and the test reads back from the instance's event log when
each step of the pool ran: never two at once across the runs, although the runs overlapped
and one of them had to wait for the slot. The server sees at most one step's worth of
requests in flight (SYNTH_MAX_CONCURRENCY), not two. The executor is the job's own multiprocess
executor, started with ``forkserver`` (run config) so that each step's process is forked rather
than re-importing everything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from benchmarks.harness.openai_server import running_server
from synth_pipeline_tests.conftest import query

pytestmark = pytest.mark.graph

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = ["2026-03-03", "2026-03-04"]
POOL_STEPS = {"generated_samples", "graded_samples"}
CONCURRENCY = 4  # requests in flight per step


def backfill_job():
    """The job as a backfill runs it, rebuilt by name in every step process (``reconstructable``)."""
    from synth_pipeline.definitions import load_defs
    from synth_pipeline.defs.automation import backfill_job as job

    return load_defs().resolve_job_def(job.name)


RUN = """
import sys
from dagster import DagsterInstance, execute_job, reconstructable
from synth_pipeline_tests.test_backfill_multiprocess import FORKSERVER, backfill_job
with DagsterInstance.get() as instance:
    with execute_job(
        reconstructable(backfill_job), instance=instance, run_config=FORKSERVER, tags={"dagster/partition": sys.argv[1]}
    ) as r:
        sys.exit(0 if r.success else 1)
"""
# Still one process per step, forked from a server that imported the code once: the spawn default
# re-imports Dagster and the pipeline in every step (~150 s for this test on a loaded machine, ~40 s so).
FORKSERVER = {
    "execution": {"config": {"start_method": {"forkserver": {"preload_modules": ["synth_pipeline.definitions"]}}}}
}


def _intervals(instance: DagsterInstance, run_id: str) -> list[tuple[str, float, float]]:
    starts, ends = {}, {}
    for record in instance.all_logs(run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}):
        if record.step_key in POOL_STEPS:
            bucket = starts if record.dagster_event.event_type == DagsterEventType.STEP_START else ends
            bucket[record.step_key] = record.timestamp
    return [(key, starts[key], ends[key]) for key in sorted(starts)]


def test_backfill_job_runs_two_partitions_in_processes_sharing_the_llm_pool(healthy_run, tmp_path):
    home, dagster_home = tmp_path / "home", tmp_path / "dagster"
    shutil.copytree(healthy_run[0] / "cache", home / "cache")  # the parsed built-in corpus
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.event_log_storage.set_concurrency_slots("llm", 1)

    with running_server(latency_s=0.02) as (base_url, stats):
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DAGSTER_HOME": str(dagster_home),
            "SYNTH_HOME": str(home),
            "SYNTH_DOCS_PER_PARTITION": "40",
            "SYNTH_LLM_BACKEND": "openai",
            "OPENAI_BASE_URL": base_url,
            "OPENAI_API_KEY": "sk-backfill-test",
            "SYNTH_GENERATOR_MODEL": "local-generator",
            "SYNTH_JUDGE_MODEL": "local-judge",
            "SYNTH_MAX_CONCURRENCY": str(CONCURRENCY),
        }
        children = [
            subprocess.Popen(
                [sys.executable, "-c", RUN, partition],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for partition in PARTITIONS
        ]
        logs = [child.communicate(timeout=300)[0] for child in children]
        max_in_flight = stats["max_in_flight"]
    for child, log in zip(children, logs, strict=True):
        assert child.returncode == 0, log[-4000:]

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(RunsFilter(job_name="synth_backfill_job"))
        assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == PARTITIONS
        assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
        assert all(r.dagster_run.run_config["execution"] == FORKSERVER["execution"] for r in records)
        processes = {
            r.dagster_run.run_id: {
                e.dagster_event.pid
                for e in instance.all_logs(r.dagster_run.run_id, of_type=DagsterEventType.STEP_START)
                if e.dagster_event
            }
            for r in records
        }
        steps = [i for r in records for i in _intervals(instance, r.dagster_run.run_id)]
        blocked = [
            e
            for r in records
            for e in instance.all_logs(r.dagster_run.run_id, of_type=DagsterEventType.ENGINE_EVENT)
            if "blocked by limit for pool llm" in (e.user_message or "")
        ]
        spans = [(r.start_time, r.end_time) for r in records]

    # One process per step: each run's steps ran in several processes, none the run's own.
    assert all(len(pids) >= 5 for pids in processes.values()), processes
    # The runs overlapped in time ...
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end and b_start < a_end
    # ... but the four steps of the pool ran one at a time, and at least one waited for the slot.
    assert len(steps) == 2 * len(POOL_STEPS)
    at_once = max(sum(1 for _, s, e in steps if s <= start < e) for _, start, _ in steps)
    assert at_once == 1, steps
    assert blocked, "no step waited for the llm pool: the runs never contended for it"
    assert max_in_flight <= CONCURRENCY < 2 * CONCURRENCY

    for partition in PARTITIONS:
        (prompts, samples, grades, reports) = query(
            home,
            "SELECT (SELECT count(*) FROM synth.seed_prompts WHERE partition_date = ?), "
            "(SELECT count(*) FROM synth.generated_samples WHERE partition_date = ?), "
            "(SELECT count(*) FROM synth.graded_samples WHERE partition_date = ?), "
            "(SELECT count(*) FROM synth.quality_report WHERE partition_date = ?)",
            [partition] * 4,
        )[0]
        assert prompts > 0 and prompts == samples == grades and reports == 1
