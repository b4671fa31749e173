"""Shared fixtures: real Dagster runs of the real graph against a temporary SYNTH_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

PARTITION = "2026-03-02"
SMALL_RUN = {"SYNTH_DOCS_PER_PARTITION": "120"}


@contextmanager
def synth_env(home: Path, **overrides: str) -> Iterator[None]:
    """Set SYNTH_* variables for one run and restore the environment afterwards."""
    values = {"SYNTH_HOME": str(home), **SMALL_RUN, **overrides}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_graph(
    home: Path, partition: str = PARTITION, selection: list[str] | None = None, **env: str
) -> ExecuteInProcessResult:
    """Materialise the graph (or ``selection``) for one partition, as ``make run`` does."""
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    with synth_env(home, **env):
        return materialize(
            list(defs.assets),
            selection=selection,
            partition_key=partition,
            resources=defs.resources,
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def checks_by_name(result: ExecuteInProcessResult) -> dict[str, object]:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


@pytest.fixture(scope="session")
def healthy_run(tmp_path_factory) -> tuple[Path, ExecuteInProcessResult]:
    """One default offline run of the whole graph, shared by the tests that only read it."""
    home = tmp_path_factory.mktemp("healthy")
    result = run_graph(home)
    return home, result
