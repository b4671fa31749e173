"""The one write of a table: a partition replaced through the warehouse, described for the UI.

The IO manager (frames an asset returns) and the steps that write further declared outputs
(``MaterializeResult``) both write here, so every table gets the same partition replacement
(``warehouse.write_partition``) and the same metadata: table name, rows, column schema and
column lineage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import polars as pl

from synth_pipeline.storage import lineage
from synth_pipeline.storage.warehouse import SCHEMA, write_partition


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
    return {"table": f"{SCHEMA}.{table}", "rows_written": rows, **lineage.table_metadata(con, table, upstream, derived)}
