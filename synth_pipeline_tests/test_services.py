"""The loopback service harness: each server answers one real request, and every process it started stops."""

from __future__ import annotations

import time

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
