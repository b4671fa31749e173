"""DuckLake target parsing, credential handling and the retry loop (no server, no extension needed)."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from synth_pipeline.storage import lake

pytestmark = pytest.mark.unit

TARGET = "ducklake:postgres:host=db.internal port=5433 dbname=synth user=writer password='s3cr et'"


def test_target_and_s3_options_parse() -> None:
    config = lake.LakeConfig.parse(TARGET, "s3://synth-bucket/lake", s3_endpoint="127.0.0.1:9000", s3_url_style="path")
    assert config.conninfo == "host=db.internal port=5433 dbname=synth user=writer password='s3cr et'"
    assert config.data_path == "s3://synth-bucket/lake/"
    assert config.on_s3 and config.s3_use_ssl and config.s3_endpoint == "127.0.0.1:9000"


def test_local_data_path_is_absolute_with_trailing_slash(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = lake.LakeConfig.parse("ducklake:postgres:dbname=synth", "lake-data")
    assert config.data_path == f"{tmp_path.resolve()}/lake-data/"
    assert not config.on_s3


@pytest.mark.parametrize(
    ("target", "path", "options"),
    [
        ("/var/synth/warehouse.duckdb", "s3://b/p", {}),
        ("ducklake:sqlite:meta.sqlite", "s3://b/p", {}),
        ("ducklake:postgres:  ", "s3://b/p", {}),
        ("ducklake:postgres:dbname=x", "", {}),
        ("ducklake:postgres:dbname=x", "s3://Not_A_Bucket/p", {}),
        ("ducklake:postgres:dbname=x", "s3://bucket/p", {"s3_url_style": "virtual"}),
    ],
)
def test_malformed_targets_are_refused(target: str, path: str, options: dict) -> None:
    with pytest.raises(ValueError):
        lake.LakeConfig.parse(target, path, **options)


def test_from_env_reads_the_synth_variables() -> None:
    env = {
        "SYNTH_WAREHOUSE": "ducklake:postgres:dbname=synth host=10.0.0.5",
        "SYNTH_LAKE_DATA_PATH": "s3://synth-bucket/prefix/",
        "SYNTH_S3_ENDPOINT": "minio.internal:9000",
        "SYNTH_S3_URL_STYLE": "path",
        "SYNTH_S3_USE_SSL": "false",
    }
    config = lake.LakeConfig.from_env(env)
    assert (config.conninfo, config.data_path, config.s3_endpoint, config.s3_url_style, config.s3_use_ssl) == (
        "dbname=synth host=10.0.0.5",
        "s3://synth-bucket/prefix/",
        "minio.internal:9000",
        "path",
        False,
    )
    assert lake.LakeConfig.from_env({**env, "SYNTH_S3_USE_SSL": ""}).s3_use_ssl
    assert lake.LakeConfig.from_env({**env, "SYNTH_S3_USE_SSL": "1"}).s3_use_ssl
    with pytest.raises(ValueError, match="boolean"):
        lake.LakeConfig.from_env({**env, "SYNTH_S3_USE_SSL": "maybe"})
    assert lake.LakeConfig.from_env({k: v for k, v in env.items() if k != "SYNTH_S3_USE_SSL"}).s3_use_ssl


def test_no_credential_is_kept_or_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMIexampleSECRET")
    config = lake.LakeConfig.parse(TARGET, "s3://synth-bucket/lake")
    shown = repr(config) + str(config)
    for secret in ("AKIAEXAMPLEKEY", "wJalrXUtnFEMIexampleSECRET", "s3cr et"):
        assert secret not in shown
    assert "password=***" in shown
    assert not any("key" in f.name or "secret" in f.name for f in dataclasses.fields(config))


def test_s3_secret_is_read_from_the_environment_when_a_connection_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    config = lake.LakeConfig.parse(TARGET, "s3://synth-bucket/lake", s3_endpoint="127.0.0.1:9000", s3_use_ssl=False)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(lake.LakeUnavailable, match="AWS_ACCESS_KEY_ID"):
        lake._s3_secret_sql(config)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "it's-quoted")
    first = lake._s3_secret_sql(config)
    assert "KEY_ID 'first'" in first and "SECRET 'it''s-quoted'" in first and "USE_SSL false" in first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "rotated")
    assert "KEY_ID 'rotated'" in lake._s3_secret_sql(config)
    try:
        ext = lake.extension_config()
    except lake.LakeUnavailable:
        return  # the rest needs httpfs (the duckdb 1.4 LTS wheels)
    # DuckDB accepts the statement, keeps it in memory only, and shows the secret key redacted.
    con = duckdb.connect(config=ext)
    con.execute("LOAD httpfs")
    con.execute(first)
    (shown,) = con.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = ?", [lake.SECRET_NAME]).fetchone()
    assert "secret=redacted" in shown and "it's-quoted" not in shown and "endpoint=127.0.0.1:9000" in shown
    assert con.execute("SELECT persistent FROM duckdb_secrets() WHERE name = ?", [lake.SECRET_NAME]).fetchone() == (
        False,
    )


def test_a_lost_commit_race_is_retried_and_counted() -> None:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (x INTEGER)")
    calls = []

    def body(c: duckdb.DuckDBPyConnection) -> int:
        calls.append(1)
        c.execute("INSERT INTO t VALUES (1)")
        if len(calls) < 3:
            raise duckdb.TransactionException("Failed to commit: Failed to commit DuckLake transaction.")
        return 7

    outcome = lake.run_transaction(con, body, lake.RetryPolicy(attempts=5, base_s=0.001))
    assert (outcome.value, outcome.retries, len(outcome.retry_errors)) == (7, 2, 2)
    # Rolled back twice, committed once: exactly one row.
    assert con.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_other_errors_and_exhausted_retries_raise() -> None:
    con = duckdb.connect()

    def broken(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("SELECT * FROM no_such_table")

    with pytest.raises(duckdb.CatalogException):
        lake.run_transaction(con, broken)

    def always_conflicts(c: duckdb.DuckDBPyConnection) -> None:
        raise duckdb.TransactionException("Transaction conflict - attempting to delete from file")

    with pytest.raises(duckdb.TransactionException, match="conflict"):
        lake.run_transaction(con, always_conflicts, lake.RetryPolicy(attempts=3, base_s=0.001))


def test_extension_directory_says_which_duckdb_release_it_needs() -> None:
    try:
        folder = lake.extension_directory()
    except lake.LakeUnavailable as error:
        assert duckdb.__version__ in str(error)
    else:
        assert (folder / f"v{duckdb.__version__}").is_dir()
        assert lake.extension_config()["autoinstall_known_extensions"] is False
