"""The loopback service harness: each server answers one real request, and every process it started stops."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from synth_pipeline_tests import services

pytestmark = pytest.mark.service


@pytest.fixture
def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts any key; clients still need one in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "synth-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "synth-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def test_every_service_answers_and_every_pid_is_gone_after(dummy_aws: None, capsys: pytest.CaptureFixture) -> None:
    for module, package in [("moto", "moto[server]"), ("boto3", "boto3"), ("celery", "celery"), ("redis", "redis")]:
        services.require(module, package)
    services.require("dagster_celery", "dagster-celery")
    import redis
    from celery import Celery

    ledger = services.ProcessLedger()
    begun = time.perf_counter()
    with (
        services.postgres_server(ledger) as pg,
        services.redis_server(ledger) as rds,
        services.s3_server(ledger) as s3,
        services.celery_workers(ledger, rds.url(0), rds.url(1), count=2) as workers,
    ):
        up = time.perf_counter() - begun

        assert pg.psql("SELECT 6 * 7") == "42"
        pg.create_database("synth_probe")
        pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2);", dbname="synth_probe")
        assert pg.psql("SELECT sum(x) FROM t", dbname="synth_probe") == "3"

        client = redis.Redis(host=services.HOST, port=rds.port)
        client.set("synth:probe", b"value")
        assert client.get("synth:probe") == b"value"
        client.close()

        bucket = s3.client()
        bucket.create_bucket(Bucket="synth-probe")
        bucket.put_object(Bucket="synth-probe", Key="a/b.txt", Body=b"hello lake")
        assert bucket.get_object(Bucket="synth-probe", Key="a/b.txt")["Body"].read() == b"hello lake"

        # celery.ping is registered by dagster_celery.app (celery.contrib.testing.tasks); it runs on a worker.
        app = Celery("probe", broker=workers.broker, backend=workers.backend)
        replies = app.control.ping(timeout=2.0)
        assert {name for reply in replies for name in reply} == set(workers.names)
        assert app.send_task("celery.ping", queue="dagster").get(timeout=30) == "pong"
        app.close()

        assert len(ledger.alive()) >= 4 + 2  # four servers' main PIDs plus at least one forked worker each side
        stopping = time.perf_counter()
    down = time.perf_counter() - stopping

    ledger.assert_all_gone()
    with capsys.disabled():
        print(
            f"\nservices up in {up:.2f} s (postgres {pg.timing.start_s:.2f}, redis {rds.timing.start_s:.2f}, "
            f"s3 {s3.timing.start_s:.2f}, 2 celery workers {workers.timing.start_s:.2f}); "
            f"down in {down:.2f} s (celery {workers.timing.stop_s:.2f}, s3 {s3.timing.stop_s:.2f}, "
            f"redis {rds.timing.stop_s:.2f}, postgres {pg.timing.stop_s:.2f}); {len(ledger.processes)} PIDs, all gone"
        )


def test_ledger_sees_a_process_that_outlives_its_stop() -> None:
    """The check the harness relies on can fail: a live recorded PID is reported."""
    import subprocess
    import sys

    ledger = services.ProcessLedger()
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ledger.record("sleeper", proc.pid)
        with pytest.raises(AssertionError, match="sleeper"):
            ledger.assert_all_gone()
    finally:
        proc.kill()
        proc.wait()
    ledger.assert_all_gone()


# --- Dagster on Postgres with the Celery executor, as deploy/dagster/ describes ------------------------

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "dagster"


def _probe_job():
    """Three steps, two of them independent, so two workers can take one each."""
    from dagster import job, op
    from dagster_celery import celery_executor

    @op
    def left() -> int:
        return os.getpid()

    @op
    def right() -> int:
        return os.getpid()

    @op
    def join(a: int, b: int) -> list[int]:
        return [a, b, os.getpid()]

    @job(executor_def=celery_executor)
    def synth_celery_probe():
        join(left(), right())

    return synth_celery_probe


def test_dagster_runs_on_postgres_with_steps_on_celery_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    for module, package in [("dagster_celery", "dagster-celery"), ("dagster_postgres", "dagster-postgres")]:
        services.require(module, package)
    services.require("psycopg2", "psycopg2-binary")
    services.require("redis", "redis")
    from dagster import DagsterEventType, DagsterInstance, execute_job, reconstructable
    from dagster_celery.cli import get_validated_config

    ledger = services.ProcessLedger()
    with services.postgres_server(ledger) as pg, services.redis_server(ledger) as rds:
        pg.create_database("dagster")
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
        env = {
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": services.HOST,
            "DAGSTER_PG_PORT": str(pg.port),
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_USER": pg.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_MAX_CONCURRENT_RUNS": "4",
            "DAGSTER_CELERY_BROKER_URL": rds.url(0),
            "DAGSTER_CELERY_BACKEND_URL": rds.url(1),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        executor_config = get_validated_config(str(DEPLOY / "celery.yaml"))
        repo_root = str(Path(__file__).resolve().parents[1])
        with services.celery_workers(
            ledger, executor_config["broker"], executor_config["backend"], count=2, env=env, pythonpath=[repo_root]
        ) as workers:
            with DagsterInstance.get() as instance:
                begun = time.perf_counter()
                with execute_job(
                    reconstructable(_probe_job),
                    instance=instance,
                    run_config={"execution": {"config": {k: executor_config[k] for k in ("broker", "backend")}}},
                ) as result:
                    elapsed = time.perf_counter() - begun
                    assert result.success
                    pids = result.output_for_node("join")
                    handed = [
                        e.engine_event_data.metadata["Celery worker"].value
                        for e in result.all_events
                        if e.event_type == DagsterEventType.ENGINE_EVENT
                        and "in celery worker" in (e.message or "")
                        and e.engine_event_data
                        and "Celery worker" in e.engine_event_data.metadata
                    ]
                    run_id = result.run_id
            # Every step ran in a worker's pool process, not in this process; the run is in Postgres.
            assert os.getpid() not in pids
            assert set(pids) <= {p.pid for p in ledger.processes}
            assert len(handed) == 3 and set(handed) <= set(workers.names)
            assert pg.psql(f"SELECT status FROM runs WHERE run_id = '{run_id}'", dbname="dagster") == "SUCCESS"
    ledger.assert_all_gone()
    with capsys.disabled():
        print(
            f"\ncelery probe: 3 steps on {len(set(handed))} worker(s) in {elapsed:.2f} s; "
            f"workers up {workers.timing.start_s:.2f} s, down {workers.timing.stop_s:.2f} s"
        )
