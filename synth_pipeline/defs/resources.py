"""Dagster resources: the settings, the warehouse and the IO manager built on it."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import polars as pl
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    Definitions,
    InputContext,
    OutputContext,
    definitions,
    in_process_executor,
)

from synth_pipeline.settings import Settings, load_settings
from synth_pipeline.storage import lineage
from synth_pipeline.storage.warehouse import Warehouse


class SynthResource(ConfigurableResource):
    """Gives each step the settings as they are in its environment, and the warehouse."""

    def settings(self) -> Settings:
        return load_settings()

    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings().warehouse_path)


class WarehouseIOManager(ConfigurableIOManager):
    """Stores each asset as ``synth.<asset name>``, one daily partition at a time."""

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return  # SQL models and report assets write their own tables.
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}, expected polars.DataFrame"
            )
        table = context.asset_key.path[-1]
        warehouse = Warehouse(load_settings().warehouse_path)
        rows = warehouse.write_partition(table, context.partition_key, obj)
        with warehouse.connect() as con:
            columns = lineage.table_metadata(con, table)  # column schema and column lineage
        context.add_output_metadata({"table": f"synth.{table}", "rows_written": rows, **columns})

    def load_input(self, context: InputContext) -> pl.DataFrame:
        release_freed_memory(context.op_def.name)  # the previous step's frames are gone: hand their pages back
        table = context.asset_key.path[-1]
        partitions = context.asset_partition_keys if context.has_asset_partitions else None
        return Warehouse(load_settings().warehouse_path).read_partitions(table, partitions)


@functools.cache
def _libc_malloc_trim():
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    return getattr(libc, "malloc_trim", None)


_last_trimmed_step: list[str | None] = [None]


def release_freed_memory(step_key: str | None = None) -> None:
    """Return memory freed by earlier steps to the operating system before a step loads its data.

    glibc keeps freed heap pages for reuse, so one process running every step in turn holds
    the high-water mark of all of them; ``malloc_trim`` hands the free pages back (a no-op
    where the C library has no such call). Once per step: a step loading three inputs trims
    before the first.
    """
    if step_key is not None and step_key == _last_trimmed_step[0]:
        return
    _last_trimmed_step[0] = step_key
    trim = _libc_malloc_trim()
    if trim is not None:
        trim(0)


@definitions
def resources() -> Definitions:
    """The resources every asset uses, and the executor of every job that names none."""
    return Definitions(
        resources={"synth": SynthResource(), "io_manager": WarehouseIOManager()},
        # Steps share one process: the multiprocess executor costs seconds per step on small machines.
        executor=in_process_executor,
    )
