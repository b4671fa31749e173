"""Settings as Dagster resources: typed, grouped, in the launchpad; config wins over the environment,
the environment is read when a run sets the resources up (never at import), the warehouse is
dagster-duckdb's resource under our lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import typing
from pathlib import Path

import duckdb
import polars as pl
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    DagsterInvalidConfigError,
    DagsterResourceFunctionError,
    asset,
    materialize,
)
from dagster._config import config_type as dagster_types
from dagster_duckdb import DuckDBResource
from filelock import Timeout

from synth_pipeline.defs.config import GROUPS
from synth_pipeline.defs.resources import SettingsError, SynthResource, WarehouseResource, synth_resources
from synth_pipeline.settings import Settings
from synth_pipeline_tests.conftest import PARTITION, query

ROOT = Path(__file__).resolve().parents[1]


def _job():
    from synth_pipeline.definitions import load_defs

    return load_defs().resolve_job_def("synth_pipeline_job")


def _fields(config_type) -> dict:
    return dict(config_type.fields)


def _inner(config_type):
    return config_type.inner_type if isinstance(config_type, dagster_types.Noneable) else config_type


def _scalar(config_type) -> str:
    """``Int`` for ``Int`` and for ``IntSource`` (an int or ``{env: NAME}``)."""
    scalar = getattr(config_type, "scalar_type", config_type)
    return scalar.key


@pytest.mark.unit
def test_launchpad_shows_every_setting_typed_described_and_grouped() -> None:
    resources = _job().resource_defs
    synth = _fields(resources["synth"].config_schema.as_field().config_type)
    assert set(synth) == {"corpus", "generation", "grading", "mix", "openai", "release"}
    shown = {name: field for group in synth.values() for name, field in _fields(group.config_type).items()}
    warehouse = _fields(resources["warehouse"].config_schema.as_field().config_type)
    assert {"database", "connection_config", "home", "lock_timeout_s"} <= set(warehouse)
    # Every setting is in exactly one group (home is the warehouse's), and nothing else is.
    assert sorted(shown) == sorted(set(Settings.model_fields) - {"home"})
    assert sum(len(cls.model_fields) for cls in GROUPS.values()) == len(shown)
    for name, field in {**shown, **warehouse}.items():
        assert field.description and len(field.description) > 20, name
        assert not field.is_required, f"{name}: unset must mean environment, else default"
    # Typed as the setting is: a number is a number, a choice a dropdown of its values.
    expected = {int: "Int", float: "Float", str: "String", bool: "Bool"}
    for name, field in shown.items():
        annotation = Settings.model_fields[name].annotation
        optional = type(None) in typing.get_args(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)] if optional else [annotation]
        inner = _inner(field.config_type)
        if typing.get_origin(args[0]) is typing.Literal:
            assert isinstance(inner, dagster_types.Enum), name
            assert {v.config_value for v in inner.enum_values} == set(typing.get_args(args[0])), name
        elif args[0] is Path:
            assert _scalar(inner) == "String", name
        else:
            assert _scalar(inner) == expected[args[0]], name
    docs = shown["docs_per_partition"].description
    assert "first built" in docs and "$SYNTH_DOCS_PER_PARTITION" in docs and "500" in docs
    assert issubclass(WarehouseResource, DuckDBResource)
    # Nothing to fill in before a launch: Materialize in the UI runs without opening the launchpad.
    for key in ("warehouse", "synth", "io_manager"):
        assert not resources[key].config_schema.as_field().is_required, key


@pytest.mark.unit
def test_settings_equal_the_environments_when_nothing_is_configured(monkeypatch, tmp_path) -> None:
    """The domain code's Settings are what ``Settings()`` read from the same environment."""
    assert SynthResource().settings() == Settings()
    for key, value in {
        "SYNTH_HOME": str(tmp_path),
        "SYNTH_DOCS_PER_PARTITION": "33",
        "SYNTH_LLM_BACKEND": "openai",
        "SYNTH_LLM_CACHE": "false",
        "SYNTH_REQUESTS_PER_MINUTE": "90",
        "SYNTH_JUDGE_RESPONSE_FORMAT": "none",
    }.items():
        monkeypatch.setenv(key, value)
    resources = synth_resources()
    settings = resources["synth"].settings()
    assert settings == Settings() and settings.public_dict() == Settings().public_dict()
    assert (settings.docs_per_partition, settings.llm_cache, settings.landing_dir) == (33, False, tmp_path / "landing")
    assert resources["synth"].warehouse().path == tmp_path / "warehouse.duckdb" == resources["warehouse"].path


@pytest.mark.unit
def test_configured_values_win_over_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SYNTH_DOCS_PER_PARTITION", "33")
    monkeypatch.setenv("SYNTH_MIN_SCORE", "9")
    monkeypatch.setenv("SYNTH_WAREHOUSE_LOCK_TIMEOUT_S", "5")
    resources = synth_resources(home=str(tmp_path), docs_per_partition=7, llm_backend="openai", lock_timeout_s=0.5)
    settings = resources["synth"].settings()
    assert (settings.docs_per_partition, settings.llm_backend, settings.min_score) == (7, "openai", 9.0)
    assert settings.home == tmp_path and resources["synth"].warehouse().lock_timeout_s == 0.5
    with pytest.raises(SettingsError, match="no such setting: docs_per_day"):
        synth_resources(docs_per_day=7)


def _run_raw_corpus(run_config: dict):
    return _job().execute_in_process(
        run_config=run_config,
        partition_key=PARTITION,
        asset_selection=[AssetKey("raw_corpus"), AssetKey("raw_corpus_rejects")],
        instance=DagsterInstance.ephemeral(),
    )


@pytest.mark.graph
def test_a_run_configured_in_the_launchpad_takes_effect(monkeypatch, tmp_path) -> None:
    """Run config, as the launchpad sends it, of the code location's own resources (not the environment)."""
    monkeypatch.setenv("SYNTH_HOME", str(tmp_path / "from_env"))
    monkeypatch.setenv("SYNTH_DOCS_PER_PARTITION", "50")
    home = tmp_path / "configured"
    result = _run_raw_corpus(
        {
            "resources": {
                "warehouse": {"config": {"home": str(home)}},
                "synth": {"config": {"corpus": {"docs_per_partition": 7}}},
            }
        }
    )
    assert result.success
    # The warehouse config reached the IO manager and the synth resource (its cache lives under home too).
    assert query(home, "SELECT count(*) FROM synth.raw_corpus")[0][0] == 7
    assert (home / "cache").is_dir() and not (tmp_path / "from_env").exists()


@pytest.mark.graph
def test_a_bad_setting_fails_the_run_at_its_start_and_says_which_and_where(monkeypatch, tmp_path) -> None:
    home = {"warehouse": {"config": {"home": str(tmp_path)}}}
    with pytest.raises(DagsterResourceFunctionError) as raised:
        _run_raw_corpus({"resources": {**home, "synth": {"config": {"corpus": {"docs_per_partition": 0}}}}})
    message = str(raised.value.__cause__)
    assert isinstance(raised.value.__cause__, SettingsError)
    assert "docs_per_partition = 0 (from synth resource config corpus.docs_per_partition)" in message
    assert "greater than or equal to 1" in message
    assert not (tmp_path / "warehouse.duckdb").exists(), "no step ran"

    with pytest.raises(DagsterInvalidConfigError, match="docs_per_partition"):
        _run_raw_corpus({"resources": {**home, "synth": {"config": {"corpus": {"docs_per_partition": "many"}}}}})

    monkeypatch.setenv("SYNTH_MIN_SCORE", "high")
    with pytest.raises(DagsterResourceFunctionError) as raised:
        _run_raw_corpus({"resources": home})
    assert "min_score = 'high' (from environment variable SYNTH_MIN_SCORE)" in str(raised.value.__cause__)


# Reads of SYNTH_* variables by our code while the code location loads, recorded by a spy on
# os.environ: a read is ours when the first frame outside the standard library and pydantic
# (pydantic-settings reads for a Settings being built) is in synth_pipeline.
_LOAD_PROBE = textwrap.dedent(
    """
    import json, os, sys, sysconfig
    STDLIB = sysconfig.get_paths()["stdlib"]
    LIBRARIES = ("/pydantic/", "/pydantic_settings/", "/pydantic_core/")
    reads = []
    def reader():
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_code.co_filename
            if not (name.startswith(STDLIB) or name.startswith("<") or any(p in name for p in LIBRARIES)):
                return name
            frame = frame.f_back
        return ""
    class Spy(type(os.environ)):
        def __getitem__(self, key):
            if key.startswith("SYNTH_") and "/synth_pipeline/" in reader():
                reads.append(key)
            return super().__getitem__(key)
    os.environ.__class__ = Spy
    from synth_pipeline.definitions import load_defs
    defs = load_defs()
    from synth_pipeline.defs.partitions import daily_partitions
    from synth_pipeline.storage import warehouse
    load_reads = sorted(set(reads))
    from synth_pipeline.defs.resources import synth_resources
    def setup_error(resources, name):
        try:
            resources[name].setup_for_execution(None)
        except Exception as exc:
            return str(exc)
    print(json.dumps({
        "reads": load_reads,
        "assets": len(list(defs.assets)),
        "start": daily_partitions.start.date().isoformat(),
        "lock_timeout_s": warehouse.LOCK_TIMEOUT_S,
        "warehouse_error": setup_error(synth_resources(), "warehouse"),
        "synth_error": setup_error(synth_resources(lock_timeout_s=1), "synth"),
        "setup_reads": sorted(set(reads) - set(load_reads)),
    }))
    """
)


@pytest.mark.unit
def test_nothing_reads_the_environment_while_the_code_location_loads(tmp_path) -> None:
    """Every setting set to garbage: the definitions load all the same, and only a run's set-up reads them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTH_")}
    env.update({f"SYNTH_{name.upper()}": "garbage" for name in Settings.model_fields if name != "home"})
    env.update(
        SYNTH_HOME=str(tmp_path),
        SYNTH_PARTITION_START="2031-06-01",
        SYNTH_WAREHOUSE_LOCK_TIMEOUT_S="garbage",
        PYTHONPATH=str(ROOT),
    )
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["reads"] == [], probe["reads"]  # not even the SQL models' folder: what assets exist is code
    assert probe["assets"] > 5
    assert probe["start"] == "2026-01-01" and probe["lock_timeout_s"] == 600.0
    # Read when a run sets the resources up, and every bad variable named.
    assert "SYNTH_DOCS_PER_PARTITION" in probe["setup_reads"], "the spy sees reads"
    assert (
        "warehouse_lock_timeout_s = 'garbage' (from environment variable SYNTH_WAREHOUSE_LOCK_TIMEOUT_S)"
        in (probe["warehouse_error"])
    )
    for name in ("docs_per_partition", "min_score", "llm_backend", "max_concurrency", "release_chat_jsonl"):
        assert f"{name} = 'garbage' (from environment variable SYNTH_{name.upper()})" in probe["synth_error"], name


_HOLD_LOCK = """
import sys
from filelock import FileLock
with FileLock(sys.argv[1] + ".lock"):
    print("held", flush=True)
    sys.stdin.readline()  # until the test says so
"""


@pytest.mark.graph
def test_an_asset_taking_the_warehouse_resource_connects_as_with_duckdb_resource_under_the_lock(tmp_path) -> None:
    moments: dict[str, float] = {}
    asked = threading.Event()

    @asset
    def my_table(warehouse: WarehouseResource) -> None:
        moments["asked"] = time.monotonic()
        asked.set()
        with warehouse.get_connection() as con:
            moments["connected"] = time.monotonic()
            con.execute("CREATE OR REPLACE TABLE synth.my_table AS SELECT 42 AS answer")
        # By name: a reordered frame with a new column lands in the right columns.
        warehouse.write_partition("my_frames", PARTITION, pl.DataFrame({"a": [1], "b": ["x"]}))
        warehouse.write_partition("my_frames", "2026-03-03", pl.DataFrame({"c": [0.5], "b": ["y"], "a": [2]}))

    def run(lock_timeout_s: float):
        resources = {"warehouse": WarehouseResource(home=str(tmp_path), lock_timeout_s=lock_timeout_s)}
        return materialize([my_table], resources=resources, instance=DagsterInstance.ephemeral())

    db = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def release_once_asked() -> None:
        asked.wait(120)
        time.sleep(0.5)
        moments["released"] = time.monotonic()
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.flush()

    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(Timeout):
            run(lock_timeout_s=0.3)  # another process holds the warehouse: give up after 0.3 s
        asked.clear()
        releaser = threading.Thread(target=release_once_asked)
        releaser.start()
        assert run(lock_timeout_s=120).success
        releaser.join()
    finally:
        holder.kill()
        holder.wait()
    assert moments["asked"] < moments["released"] <= moments["connected"], "it waited for the other process"
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT answer FROM synth.my_table").fetchall() == [(42,)]
    frames = WarehouseResource(home=str(tmp_path)).read_partitions("my_frames").sort("a")
    assert frames.select("a", "b").rows() == [(1, "x"), (2, "y")]
    assert frames.filter(pl.col("a") == 2)["c"].to_list() == [0.5]
