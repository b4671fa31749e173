"""DuckLake on real Postgres + an S3-protocol server: racing writers replace partitions, no row lost or doubled."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from synth_pipeline.storage import lake
from synth_pipeline_tests import services

pytestmark = pytest.mark.service

WRITERS = 4
ROUNDS = 5
ROWS = 50
DATES = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
COLUMNS = "partition_date DATE, writer INTEGER, round INTEGER, row INTEGER, payload VARCHAR"


def _require_lake() -> None:
    try:
        lake.extension_directory()
    except lake.LakeUnavailable as error:
        pytest.skip(f"DuckLake extension cannot load: {error} (install duckdb==1.4.4 and duckdb-ext-* 1.4.4)")
    services.require("moto", "moto[server]")
    services.require("boto3", "boto3")


def _writer(config: lake.LakeConfig, writer: int, start: multiprocessing.synchronize.Event) -> dict:
    """One process: ROUNDS partition replacements, each partition's rows tagged with (writer, round)."""
    import pyarrow as pa

    start.wait(60)
    retries, errors = 0, []
    with lake.connect(config) as con:
        for rnd in range(ROUNDS):
            day = DATES[(writer + rnd) % len(DATES)]  # every writer visits every partition, in a shifted order
            frame = pa.table(
                {
                    "writer": [writer] * ROWS,
                    "round": [rnd] * ROWS,
                    "row": list(range(ROWS)),
                    "payload": [f"w{writer}r{rnd}-{i}" for i in range(ROWS)],
                }
            )
            outcome = lake.replace_partition(con, config.catalog, "items", day, frame, lock_conninfo=config.conninfo)
            assert outcome.value == ROWS
            retries += outcome.retries
            errors += outcome.retry_errors
    return {"writer": writer, "retries": retries, "errors": errors}


def _run_writer(args: tuple) -> dict:
    return _writer(*args)


@pytest.fixture
def lake_on_services(monkeypatch: pytest.MonkeyPatch):
    _require_lake()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "synth-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "synth-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ledger = services.ProcessLedger()
    with services.postgres_server(ledger) as pg, services.s3_server(ledger) as s3:
        pg.create_database("synth_lake")
        s3.client().create_bucket(Bucket="synth-lake")
        config = lake.LakeConfig.parse(
            "ducklake:postgres:" + pg.conninfo("synth_lake"),
            "s3://synth-lake/warehouse",
            s3_endpoint=s3.endpoint,
            s3_url_style="path",
            s3_use_ssl=False,
            s3_region="us-east-1",
        )
        with lake.connect(config) as con:
            lake.ensure_partitioned_table(con, config.catalog, "items", COLUMNS)
        yield config, s3
    ledger.assert_all_gone()


def test_racing_writers_replace_partitions_without_losing_or_doubling_rows(lake_on_services, capsys) -> None:
    config, s3 = lake_on_services
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter per writer, as separate machines would be
    with ctx.Manager() as manager:
        start = manager.Event()
        with ctx.Pool(WRITERS) as pool:
            pending = pool.map_async(_run_writer, [(config, w, start) for w in range(WRITERS)])
            time.sleep(0.5)
            begun = time.perf_counter()
            start.set()
            results = pending.get(timeout=600)
            elapsed = time.perf_counter() - begun

    with lake.connect(config) as con:
        per_partition = con.execute(
            "SELECT partition_date::VARCHAR, count(*), count(DISTINCT row), count(DISTINCT (writer, round)) "
            f"FROM {config.catalog}.items GROUP BY ALL ORDER BY 1"
        ).fetchall()
        files = con.execute(f"SELECT count(*) FROM ducklake_list_files('{config.catalog}', 'items')").fetchone()
        snapshots = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{config.catalog}')").fetchone()

    # Every partition holds exactly one replacement's rows: none lost (short, empty), none doubled or mixed.
    assert per_partition == [(day, ROWS, ROWS, 1) for day in DATES]
    # The data went to the S3 server, as Parquet under the prefix, not to a local folder.
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket="synth-lake").get("Contents", [])]
    assert keys and all(k.startswith("warehouse/") and k.endswith(".parquet") for k in keys)
    retries = sum(r["retries"] for r in results)
    reasons = sorted({e[:90] for r in results for e in r["errors"]})
    with capsys.disabled():
        print(
            f"\n{WRITERS} writers x {ROUNDS} replacements in {elapsed:.2f} s: {retries} retries {reasons}, "
            f"{files[0] if files else '?'} live files, {snapshots[0] if snapshots else '?'} snapshots, "
            f"{len(keys)} objects on S3 (pid {os.getpid()})"
        )
