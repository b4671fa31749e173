"""The one write of a table a step declares, and the metadata every table write carries.

The warehouse's partition replacement (``storage/warehouse.py``) is the only way rows get
written. The IO manager calls it for the frames an asset returns; :func:`write_table` calls
it for the tables a step declares beside its asset and reports with ``MaterializeResult``.
Both describe the write the same way (:func:`table_metadata`): table name, rows, column
schema and column lineage, so the UI shows every table alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import polars as pl
from dagster import TableColumn, TableColumnDep, TableColumnLineage, TableSchema

from synth_pipeline.storage import lineage
from synth_pipeline.storage.warehouse import SCHEMA, write_partition


def table_metadata(
    con: duckdb.DuckDBPyConnection,
    table: str,
    upstream: Sequence[str] | None = None,
    derived: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """``dagster/column_schema`` and ``dagster/column_lineage`` of ``synth.<table>`` as stored now."""
    found = lineage.table_lineage(con, table, upstream, derived)
    if found is None:
        return {}
    columns, deps = found
    metadata: dict[str, Any] = {
        "dagster/column_schema": TableSchema(columns=[TableColumn(name, dtype) for name, dtype in columns.items()]),
    }
    if deps:
        metadata["dagster/column_lineage"] = TableColumnLineage(
            deps_by_column={
                column: [TableColumnDep(asset_key=t, column_name=c) for t, c in refs] for column, refs in deps.items()
            }
        )
    return metadata


def write_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    partition: str | dt.date,
    frame: pl.DataFrame,
    upstream: Sequence[str] | None = None,
    derived: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """Replace ``partition`` of ``synth.<table>`` with ``frame``; returns the materialisation metadata."""
    rows = write_partition(con, table, partition, frame)
    return {"table": f"{SCHEMA}.{table}", "rows_written": rows, **table_metadata(con, table, upstream, derived)}
