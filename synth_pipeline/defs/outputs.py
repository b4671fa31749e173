"""Declared outputs a step writes beside its asset, reported the same way in every run.

A step owns every table it declares and writes all of them whenever it runs (the mix step
always stores its metrics and the ledger; the corpus step always updates its registry), so
that no table goes stale behind its lineage. Dagster only accepts a ``MaterializeResult``
for a key the run selected; a run that selected the asset but not, say, ``mix_metrics``
reports that table with an ``AssetMaterialization`` event instead. Both carry the same
metadata, and the UI shows the table materialised by the step either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetMaterialization, MaterializeResult, Output

from synth_pipeline.defs.tables import write_table
from synth_pipeline.storage.warehouse import Warehouse


def declared_output(
    context: AssetExecutionContext, key: str, metadata: Mapping[str, Any] | None = None
) -> Iterator[MaterializeResult]:
    """The materialisation of ``key`` (a table this step has written)."""
    if AssetKey(key) in context.selected_asset_keys:
        yield MaterializeResult(asset_key=key, metadata=dict(metadata or {}))
    else:
        report_materialization(context, key, metadata)


def report_materialization(context: AssetExecutionContext, key: str, metadata: Mapping[str, Any] | None = None) -> None:
    """A materialisation event of a table this step wrote but does not own as an output."""
    partition = context.partition_key if context.has_partition_key else None
    context.log_event(AssetMaterialization(asset_key=key, partition=partition, metadata=dict(metadata or {})))


def selected(context: AssetExecutionContext, key: str) -> bool:
    return AssetKey(key) in context.selected_asset_keys


def frame_output(
    context: AssetExecutionContext, warehouse: Warehouse, name: str, frame: pl.DataFrame, metadata: Mapping[str, Any]
) -> Iterator[Output]:
    """An output the IO manager stores; written through the same ``write_table`` when the run did not select it."""
    if selected(context, name):
        yield Output(frame, output_name=name, metadata=dict(metadata))
        return
    with warehouse.connect() as con:
        written = write_table(con, name, context.partition_key, frame)
    report_materialization(context, name, {**written, **metadata})
