"""Plain SQL files as Dagster assets: file name = asset, tables read = upstream assets.

A model in ``dbt_like_sql/NAME.sql`` becomes the daily-partitioned asset ``NAME``:

* its upstream assets are the ``synth.*`` tables the SQL reads (found by DuckDB's own
  parser, not by a regex);
* its parameters (``$partition_date`` and any ``$setting`` named after a field of
  :class:`~synth_pipeline.settings.Settings`) are bound by DuckDB, never pasted into
  the SQL text;
* its code version is the hash of the file, so editing the SQL marks it and everything
  downstream stale in the UI;
* its result replaces exactly its partition of ``synth.NAME`` (see ``warehouse``).
"""

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    MaterializeResult,
    multi_asset,
)

from synth_pipeline.defs.check_results import store_check_results
from synth_pipeline.defs.outputs import declared_output, report_materialization, selected
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource, release_freed_memory
from synth_pipeline.defs.tables import write_table
from synth_pipeline.settings import Settings
from synth_pipeline.storage import lineage
from synth_pipeline.storage.queries import models_dir, sql_parameters
from synth_pipeline.storage.warehouse import SCHEMA, Warehouse, partition_date

__all__ = ["ModelHooks", "ModelStepResult", "SqlModel", "build_sql_asset", "discover_models", "models_dir"]

_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

# (warehouse, partition key, settings) -> what the model's step did after writing the model.
ModelStep = Callable[[Warehouse, str, Settings], "ModelStepResult"]
ModelMetadata = Callable[[duckdb.DuckDBPyConnection, str], dict]


@dataclass(frozen=True)
class SqlModel:
    name: str
    path: Path
    sql: str
    upstream: tuple[str, ...]
    parameters: tuple[str, ...]

    @property
    def code_version(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:12]

    @property
    def description(self) -> str:
        comments = [line[2:].strip() for line in self.sql.splitlines() if line.startswith("--")]
        return "\n".join(comments) or f"SQL model {self.path.name}"


def load_model(path: Path) -> SqlModel:
    sql = path.read_text(encoding="utf-8")
    # The parser cannot prepare parameters; NULL stands in for them while finding tables.
    # Some DuckDB versions keep an alias on the name ("t AS c"): the first word is the table.
    tables = {t.split()[0] for t in duckdb.get_table_names(_PARAM.sub("NULL", sql), qualified=True)}
    upstream = sorted(t.split(".", 1)[1] for t in tables if t.startswith(f"{SCHEMA}."))
    unknown = sorted(t for t in tables if not t.startswith(f"{SCHEMA}."))
    if unknown:
        raise ValueError(f"{path.name} reads tables outside schema {SCHEMA!r}: {unknown} (CTE names are fine)")
    parameters = sql_parameters(sql)
    return SqlModel(name=path.stem, path=path, sql=sql, upstream=tuple(upstream), parameters=parameters)


def discover_models(sql_dir: Path | None = None) -> list[SqlModel]:
    """Every model; none found is an error, never a graph that silently lacks the mix."""
    folder = sql_dir or models_dir()
    # Named queries (``queries/``) are not models: only the folder's own files are.
    models = [load_model(p) for p in sorted(folder.glob("*.sql"))]
    if not models:
        raise FileNotFoundError(
            f"no SQL model (*.sql) in {folder}: the dbt_like_sql package data is missing from this install"
        )
    return models


def bind_parameters(model: SqlModel, partition_key: str, settings: Settings) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in model.parameters:
        if name == "partition_date":
            values[name] = partition_date(partition_key)
        elif name in Settings.model_fields:
            values[name] = getattr(settings, name)
        else:
            raise ValueError(f"{model.path.name}: ${name} is neither $partition_date nor a setting")
    return values


def run_model(
    con: duckdb.DuckDBPyConnection, model: SqlModel, partition_key: str, settings: Settings
) -> dict[str, Any]:
    """Run the model and replace its partition; returns the write's metadata (rows, column lineage)."""
    frame = con.execute(model.sql, bind_parameters(model, partition_key, settings)).pl()
    derived = {**lineage.DERIVED.get(model.name, {}), **lineage.sql_lineage_comments(model.sql)}
    return write_table(con, model.name, partition_key, frame, model.upstream, derived)


@dataclass
class ModelStepResult:
    """What a model's step did after writing the model: its check results and the further
    declared tables it wrote (name -> materialisation metadata)."""

    checks: list[AssetCheckResult] = field(default_factory=list)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class ModelHooks:
    """Optional extras of a model's step: further tables it writes (declared as outputs, with
    lineage), checks run in-step on what it wrote, and extra metadata of the model."""

    check_specs: list[AssetCheckSpec] = field(default_factory=list)
    outputs: list[AssetSpec] = field(default_factory=list)
    step: ModelStep | None = None
    metadata: ModelMetadata | None = None


def build_sql_asset(model: SqlModel, hooks: ModelHooks | None = None) -> AssetsDefinition:
    hooks = hooks or ModelHooks()
    spec = AssetSpec(
        model.name,
        deps=[AssetKey(u) for u in model.upstream],
        code_version=model.code_version,
        group_name="synth",
        description=model.description,
        kinds={"sql", "duckdb"},
        metadata={"sql_file": f"dbt_like_sql/{model.path.name}", "parameters": ", ".join(model.parameters)},
    )

    @multi_asset(
        name=model.name,
        specs=[spec, *hooks.outputs],
        partitions_def=daily_partitions,
        check_specs=hooks.check_specs or None,
        # A run that selects only the model still writes the step's other tables (see defs.outputs).
        can_subset=bool(hooks.outputs),
    )
    def _sql_asset(context: AssetExecutionContext, synth: SynthResource) -> Iterator[MaterializeResult]:
        release_freed_memory()
        settings = synth.settings()
        warehouse = synth.warehouse()
        with warehouse.connect() as con:
            written = run_model(con, model, context.partition_key, settings)
            metadata: dict[str, Any] = {"rows": written["rows_written"], "code_version": model.code_version, **written}
            if hooks.metadata:
                metadata.update(hooks.metadata(con, context.partition_key))
        # The step's checks and further tables open their own short connections: heavy metrics
        # must not hold the lock.
        done = hooks.step(warehouse, context.partition_key, settings) if hooks.step else ModelStepResult()
        if done.checks:
            store_check_results(context, warehouse, model.name, done.checks)
        wanted = context.selected_asset_check_keys
        checks = [c for c in done.checks if AssetCheckKey(AssetKey(model.name), c.check_name or "") in wanted]
        if selected(context, model.name):
            yield MaterializeResult(asset_key=model.name, metadata=metadata, check_results=checks or None)
        else:
            report_materialization(context, model.name, metadata)
        for name, output_metadata in done.outputs.items():
            yield from declared_output(context, name, output_metadata)

    return _sql_asset
