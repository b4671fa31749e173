"""Shared fixtures: real Dagster runs of the real graph against a temporary SYNTH_HOME.

Runs get their settings as resource config (:func:`synth_resources`), never by editing the
environment. The helpers take overrides in the environment's spelling
(``SYNTH_DOCS_PER_PARTITION="60"``), as the README documents them: each ``SYNTH_<FIELD>``
of a setting becomes that field's resource config; other keys (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``: read by the product itself when a request is sent) are set in the
environment for the run only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import DagsterInstance, ExecuteInProcessResult, materialize

from synth_pipeline.defs import resources as synth_resources_module
from synth_pipeline.defs.config import GROUP_OF
from synth_pipeline.settings import Settings

# Every asset up to and including the mix's exclusions: what a run "up to the mix" selects.
UP_TO_THE_MIX = [
    "raw_corpus",
    "raw_corpus_rejects",
    "seed_prompts",
    "generated_samples",
    "graded_samples",
    "mix_candidates",
    "deduplicated_mix",
    "mix_exclusions",
]

PARTITION = "2026-03-02"
SMALL_RUN = {"SYNTH_DOCS_PER_PARTITION": "120"}
_WAREHOUSE_SETTINGS = {"home", "database", "lock_timeout_s", "warehouse_lock_timeout_s"}


def split_overrides(home: Path, overrides: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``(resource config by setting name, other environment variables)`` of a run in ``home``."""
    values = {"SYNTH_HOME": str(home), **SMALL_RUN, **overrides}
    config, environment = {}, {}
    for key, value in values.items():
        name = key.removeprefix("SYNTH_").lower()
        if key.startswith("SYNTH_") and (name in GROUP_OF or name in _WAREHOUSE_SETTINGS):
            config[name] = value
        else:
            environment[key] = value
    return config, environment


def synth_resources(home: Path, **overrides: str) -> dict[str, Any]:
    """The code location's resources for a run in ``home``, ``SYNTH_*`` overrides as their config."""
    config, environment = split_overrides(home, overrides)
    if environment:
        raise ValueError(f"not settings: {sorted(environment)} (set them with environment(...))")
    return synth_resources_module.synth_resources(**config)


def synth_settings(home: Path, **overrides: str) -> Settings:
    """The ``Settings`` a step of a run with :func:`synth_resources` gets."""
    return synth_resources(home, **overrides)["synth"].settings()


@contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for a block and restore them afterwards (secrets, endpoints)."""
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


@contextmanager
def synth_env(home: Path, **overrides: str) -> Iterator[None]:
    """Set SYNTH_* variables for a block: for code that reads the environment itself (the ``synth``
    command, a subprocess). A Dagster run takes :func:`synth_resources` instead."""
    with environment(**{"SYNTH_HOME": str(home), **SMALL_RUN, **overrides}):
        yield


def run_graph(
    home: Path, partition: str = PARTITION, selection: list[str] | None = None, **overrides: str
) -> ExecuteInProcessResult:
    """Materialise the graph (or ``selection``) for one partition, as ``make run`` does."""
    from synth_pipeline.definitions import load_defs

    defs = load_defs()
    config, env = split_overrides(home, overrides)
    with environment(**env):
        return materialize(
            list(defs.assets),
            selection=selection,
            partition_key=partition,
            resources=synth_resources_module.synth_resources(**config),
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
