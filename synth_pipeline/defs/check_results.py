"""``check_results``: every check result of a partition, stored once, by the step that ran it.

Blocking checks run inside the step that writes the table they check, so each checking step
(``raw_corpus``, ``graded_samples``, ``deduplicated_mix``, ``mix_exclusions``) stores its own
results here with :func:`store_check_results`, one call per step. The table is an asset of
its own (its lineage: the four checked assets upstream; the report and release downstream),
materialised by those steps; the quality report and the dataset card read it, never Dagster's
event log.
"""

from __future__ import annotations

import json
import sys

import duckdb
import polars as pl
from dagster import AssetCheckResult, AssetExecutionContext, AssetsDefinition, AssetSpec

from synth_pipeline.defs.outputs import report_materialization
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.tables import write_table
from synth_pipeline.defs.versioning import source_version
from synth_pipeline.storage.warehouse import SCHEMA, Warehouse, _table_exists

CHECK_RESULTS_TABLE = "check_results"
CHECKED_ASSETS = ("raw_corpus", "graded_samples", "deduplicated_mix", "mix_exclusions")
_SCHEMA = {
    "asset": pl.Utf8,
    "check_name": pl.Utf8,
    "passed": pl.Boolean,
    "severity": pl.Utf8,
    "metadata": pl.Utf8,
    "dagster_run_id": pl.Utf8,
}


# Written by the checking steps (not an op of its own): declared so the UI shows its lineage.
check_results = AssetsDefinition(
    specs=[
        AssetSpec(
            CHECK_RESULTS_TABLE,
            deps=list(CHECKED_ASSETS),
            partitions_def=daily_partitions,
            group_name="synth",
            code_version=source_version(sys.modules[__name__]),
            kinds={"duckdb"},
            description="The latest result of every asset check of a partition: asset, check name, passed, "
            "severity, its metadata (measured value, threshold, what to do) as JSON and the Dagster run that ran it. "
            "Written by the step of each checked asset; read by the quality report and the dataset card.",
        )
    ]
)


def record_check_results(
    con: duckdb.DuckDBPyConnection,
    partition_key: str,
    asset: str,
    results: list[AssetCheckResult],
    run_id: str | None = None,
) -> dict:
    """Replace ``asset``'s results in the partition of ``synth.check_results`` (caller holds the lock)."""
    rows = [
        {
            "asset": asset,
            "check_name": r.check_name,
            "passed": bool(r.passed),
            "severity": r.severity.value,
            "metadata": json.dumps({k: getattr(v, "value", v) for k, v in r.metadata.items()}, default=str),
            "dagster_run_id": run_id,
        }
        for r in results
    ]
    frame = pl.DataFrame(rows, schema=_SCHEMA)
    if _table_exists(con, CHECK_RESULTS_TABLE):
        # The other checked assets' results of the partition stay as their steps stored them.
        others = con.execute(
            f"SELECT * EXCLUDE (partition_date) FROM {SCHEMA}.{CHECK_RESULTS_TABLE} "
            "WHERE partition_date = ? AND asset <> ?",
            [partition_key, asset],
        ).pl()
        frame = pl.concat([others, frame], how="diagonal_relaxed").select(
            [*_SCHEMA, *(c for c in others.columns if c not in _SCHEMA)]
        )
    return write_table(con, CHECK_RESULTS_TABLE, partition_key, frame, upstream=())


def store_check_results(
    context: AssetExecutionContext, warehouse: Warehouse, asset: str, results: list[AssetCheckResult]
) -> None:
    """The one call a checking step makes: store its results and report the table's materialisation."""
    with warehouse.connect() as con:
        metadata = record_check_results(con, context.partition_key, asset, results, run_id=context.run.run_id)
    report_materialization(context, CHECK_RESULTS_TABLE, {**metadata, "checked_asset": asset})
