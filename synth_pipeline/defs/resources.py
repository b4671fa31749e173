"""Dagster resources: the warehouse, the settings, and the IO manager built on the warehouse.

* ``warehouse`` (:class:`WarehouseResource`): dagster-duckdb's ``DuckDBResource`` on the
  pipeline's DuckDB file, every connection under the inter-process lock.
* ``synth`` (:class:`SynthResource`): the settings, as config grouped by concern
  (``defs/config.py``), handed to steps as one plain ``Settings``; and the warehouse.
* ``io_manager`` (:class:`WarehouseIOManager`): stores each asset's frame through the warehouse.

A setting left unset in the resource config is read from the environment (``SYNTH_<FIELD>``)
when a run sets the resource up, else it takes its default: never at import, so one
code location serves runs with different environments and configurations.
"""

# No ``from __future__ import annotations`` here: Dagster reads the nested resource fields'
# annotations as classes to accept a resource configured at launch in their place.

import contextlib
import ctypes
import ctypes.util
import enum
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import polars as pl
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    Definitions,
    InitResourceContext,
    InputContext,
    OutputContext,
    definitions,
)
from dagster._config.pythonic_config import PartialResource  # the type configure_at_launch() returns
from dagster_duckdb import DuckDBResource
from pydantic import BaseModel, Field, PrivateAttr, ValidationError
from pydantic_settings import BaseSettings

from synth_pipeline.defs.config import (
    GROUP_OF,
    GROUPS,
    CorpusConfig,
    GenerationConfig,
    GradingConfig,
    MixConfig,
    OpenAIConfig,
    ReleaseConfig,
)
from synth_pipeline.defs.executor import synth_executor
from synth_pipeline.defs.tables import write_table
from synth_pipeline.settings import HOME_DESCRIPTION, Settings, StorageSettings
from synth_pipeline.storage.warehouse import LOCK_TIMEOUT_S, Warehouse

_S = TypeVar("_S", bound=BaseSettings)


class SettingsError(ValueError):
    """A setting has a value it may not take; the message names the value and where it came from."""


def resolve(cls: type[_S], configured: Mapping[str, object], where: Mapping[str, str]) -> _S:
    """``cls`` built from the configured values, the environment filling in the rest.

    ``configured`` holds only values the resource config sets; pydantic-settings gives them
    precedence over ``SYNTH_*`` variables, and the variables over the defaults, so with no
    config the result equals ``cls()``. ``where`` names each configured field's place in the
    resource config, for the error message.
    """
    try:
        values: dict[str, Any] = {k: v.value if isinstance(v, enum.Enum) else v for k, v in configured.items()}
        return cls(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            source = where.get(name) if name in configured else f"environment variable SYNTH_{name.upper()}"
            problems.append(f"{name} = {error.get('input')!r} (from {source}): {error['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None


def _set_fields(config: BaseModel) -> dict[str, object]:
    return {name: value for name, value in config if value is not None}


class WarehouseResource(DuckDBResource):
    """The pipeline's DuckDB warehouse, as dagster-duckdb's resource.

    ``get_connection()`` works as with the stock ``DuckDBResource``, but each connection is
    held under the inter-process file lock (parallel runs queue instead of failing with
    "Could not set lock on file"), waits for a process outside the lock that holds the file,
    and has schema ``synth``. ``write_partition`` / ``read_partitions`` are the by-name,
    schema-evolving, partition-replacing writes and reads of ``storage.warehouse``.

    An asset that needs the warehouse takes ``warehouse: WarehouseResource``.
    """

    database: str = Field(
        default="",
        description="Path of the DuckDB file (empty: warehouse.duckdb under home). A file, not ':memory:': the "
        "lock is a file next to it.",
    )
    home: str | None = Field(
        default=None,
        description=f"{HOME_DESCRIPTION} (unset: $SYNTH_HOME if set, else .synth.) The synth resource's settings "
        "take theirs from here.",
    )
    lock_timeout_s: float | None = Field(
        default=None,
        description=f"{StorageSettings.model_fields['warehouse_lock_timeout_s'].description} "
        f"(unset: $SYNTH_WAREHOUSE_LOCK_TIMEOUT_S if set, else {LOCK_TIMEOUT_S:g}.)",
    )
    _storage: StorageSettings | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._storage = self._resolve()  # read the environment now: a bad value fails the run at its start

    def _resolve(self) -> StorageSettings:
        configured = _set_fields(self)
        values = {k: configured[k] for k in ("home",) if k in configured}
        if "lock_timeout_s" in configured:
            values["warehouse_lock_timeout_s"] = configured["lock_timeout_s"]
        where = {
            "home": "warehouse resource config home",
            "warehouse_lock_timeout_s": "warehouse resource config lock_timeout_s",
        }
        return resolve(StorageSettings, values, where)

    def storage(self) -> StorageSettings:
        """Home and lock timeout as this resource resolves them (config, else environment, else default)."""
        if self._storage is None:  # used outside a run (the CLI, a notebook)
            self._storage = self._resolve()
        return self._storage

    @property
    def path(self) -> Path:
        return Path(self.database) if self.database else self.storage().warehouse_path

    def warehouse(self) -> Warehouse:
        """The storage layer's handle on the file, with this resource's lock timeout and connection options."""
        return Warehouse(self.path, self.storage().warehouse_lock_timeout_s, self.connection_config)

    @contextlib.contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection under the inter-process lock, closed on exit (as ``DuckDBResource.get_connection``)."""
        with self.warehouse().connect() as con:
            yield con

    def write_partition(self, table: str, partition: str, frame: pl.DataFrame) -> int:
        """Replace one partition of ``synth.<table>`` with ``frame`` (by column name); returns rows written."""
        return self.warehouse().write_partition(table, partition, frame)

    def read_partitions(self, table: str, partitions: Sequence[str] | None = None) -> pl.DataFrame:
        """Partitions of ``synth.<table>`` (all when None), each with the columns it was written with."""
        return self.warehouse().read_partitions(table, partitions)


class SynthResource(ConfigurableResource):
    """The settings of a run, grouped by concern, and the warehouse.

    Steps call :meth:`settings` for one plain ``Settings`` (the domain code takes nothing
    else) and :meth:`warehouse` for the storage handle. A field set here wins; one left unset
    is ``SYNTH_<FIELD>`` from the environment of the process that sets the resource up (the
    run worker, a sensor tick), else the default of ``settings.py``.
    """

    # A nested resource: the Definitions pass the top-level ``warehouse`` (configured at launch).
    storage: WarehouseResource
    corpus: CorpusConfig = Field(default_factory=CorpusConfig, description=CorpusConfig.__doc__)
    generation: GenerationConfig = Field(default_factory=GenerationConfig, description=GenerationConfig.__doc__)
    grading: GradingConfig = Field(default_factory=GradingConfig, description=GradingConfig.__doc__)
    mix: MixConfig = Field(default_factory=MixConfig, description=MixConfig.__doc__)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig, description=OpenAIConfig.__doc__)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig, description=ReleaseConfig.__doc__)
    _settings: Settings | None = PrivateAttr(default=None)

    def __init__(self, **data: Any) -> None:
        data.setdefault("storage", WarehouseResource())  # standalone: a warehouse configured from the environment
        super().__init__(**data)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._settings = self._resolve()  # read the environment now: a bad value fails the run at its start

    def configured(self) -> dict[str, object]:
        """The settings this resource's config sets, by ``Settings`` field name."""
        return {
            name: value
            for group in (self.corpus, self.generation, self.grading, self.mix, self.openai, self.release)
            for name, value in _set_fields(group).items()
        }

    def _resolve(self) -> Settings:
        configured = {"home": self.storage.storage().home, **self.configured()}
        where = {name: f"synth resource config {group}.{name}" for name, group in GROUP_OF.items()}
        where["home"] = "the warehouse resource"
        return resolve(Settings, configured, where)

    def settings(self) -> Settings:
        if self._settings is None:  # used outside a run (the CLI, a notebook)
            self._settings = self._resolve()
        return self._settings

    def warehouse(self) -> Warehouse:
        return self.storage.warehouse()


class WarehouseIOManager(ConfigurableIOManager):
    """Stores each asset as ``synth.<asset name>``, one daily partition at a time, in the warehouse resource."""

    warehouse: WarehouseResource  # the top-level ``warehouse`` resource

    def __init__(self, **data: Any) -> None:
        # Without one, a warehouse of its own: configured from the environment, as before it had the field.
        data.setdefault("warehouse", WarehouseResource())
        super().__init__(**data)

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | None) -> None:
        if obj is None:
            return  # SQL models and report assets write their own tables.
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}, expected polars.DataFrame"
            )
        table = context.asset_key.path[-1]
        warehouse = self.warehouse.warehouse()
        with warehouse.connect() as con:  # the write every table gets, with its column schema and lineage
            context.add_output_metadata(write_table(con, table, context.partition_key, obj))

    def load_input(self, context: InputContext) -> pl.DataFrame:
        release_freed_memory(context.op_def.name)  # the previous step's frames are gone: hand their pages back
        table = context.asset_key.path[-1]
        partitions = context.asset_partition_keys if context.has_asset_partitions else None
        return self.warehouse.read_partitions(table, partitions)


_WAREHOUSE_FIELDS = {
    "home": "home",
    "database": "database",
    "lock_timeout_s": "lock_timeout_s",
    "warehouse_lock_timeout_s": "lock_timeout_s",
    "connection_config": "connection_config",
}


def synth_resources(warehouse: WarehouseResource | PartialResource | None = None, **settings: object) -> dict[str, Any]:
    """The resources of a run, wired together: ``warehouse``, ``synth`` and ``io_manager``.

    ``settings`` are resource config by ``Settings`` field name (``docs_per_partition=60``;
    ``home``, ``database`` and ``lock_timeout_s`` go to the warehouse); whatever they leave
    unset comes from the environment when the run sets the resources up. ``warehouse`` (a
    ``WarehouseResource`` or one to configure at launch) replaces the one built from them.
    Both other resources hold the same warehouse, so its config applies to all three.
    """
    storage = {_WAREHOUSE_FIELDS[k]: settings.pop(k) for k in list(settings) if k in _WAREHOUSE_FIELDS}
    unknown = sorted(set(settings) - set(GROUP_OF))
    if unknown:
        raise SettingsError(f"no such setting: {', '.join(unknown)} (settings: {', '.join(sorted(GROUP_OF))})")
    if warehouse is None:
        warehouse = WarehouseResource(**storage)  # type: ignore[arg-type]
    elif storage:
        raise SettingsError(f"{', '.join(storage)}: set them on the warehouse resource passed in")
    groups: dict[str, dict[str, object]] = {}
    for name, value in settings.items():
        groups.setdefault(GROUP_OF[name], {})[name] = value
    sections: dict[str, Any] = {g: GROUPS[g](**v) for g, v in groups.items()}
    synth = SynthResource(storage=warehouse, **sections)
    return {"warehouse": warehouse, "synth": synth, "io_manager": WarehouseIOManager(warehouse=warehouse)}


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
    # Configured at launch: the launchpad's warehouse config reaches the synth resource and the IO
    # manager too, which hold it as a nested resource.
    return Definitions(
        resources=synth_resources(WarehouseResource.configure_at_launch()),
        # In-process by default: the multiprocess executor costs seconds per step on small machines.
        executor=synth_executor,  # run config or SYNTH_EXECUTOR may choose another (defs/executor.py)
    )
