"""Named queries: the set-based SQL of the checks, the report and the release, kept in
``dbt_like_sql/queries/NAME.sql`` beside the SQL models and loaded by name.

A query names its parameters ``$name``; :func:`execute` binds exactly those (DuckDB binds
them, nothing is pasted into the SQL text) and says which one is missing. The folder ships
in the wheel as package data of ``dbt_like_sql``, like the models.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from synth_pipeline.storage.warehouse import one_row

_REPO_SQL_DIR = Path(__file__).resolve().parents[2] / "dbt_like_sql"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_COMMENT = re.compile(r"--[^\n]*")


def package_sql_dir() -> Path:
    """The ``dbt_like_sql`` package data installed with the wheel, else the checkout's folder."""
    spec = importlib.util.find_spec("dbt_like_sql")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return _REPO_SQL_DIR


def models_dir() -> Path:
    """Where the SQL models are: the package's (the set of assets is code, never read from the environment)."""
    return package_sql_dir()


def queries_dir() -> Path:
    """The named queries always come with the package: they are code, not a model override."""
    return package_sql_dir() / "queries"


def sql_parameters(sql: str) -> tuple[str, ...]:
    """``$name`` parameters of ``sql`` in order of first use, comments ignored."""
    return tuple(dict.fromkeys(_PARAM.findall(_COMMENT.sub("", sql))))


@dataclass(frozen=True)
class NamedQuery:
    name: str
    sql: str
    parameters: tuple[str, ...]

    def bind(self, values: dict[str, Any]) -> dict[str, Any]:
        missing = [p for p in self.parameters if p not in values]
        if missing:
            raise TypeError(f"query {self.name!r} needs ${', $'.join(missing)}")
        return {p: values[p] for p in self.parameters}


@functools.cache
def load(name: str) -> NamedQuery:
    path = queries_dir() / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no named query {name!r} ({path}): the dbt_like_sql package data is incomplete")
    sql = path.read_text(encoding="utf-8")
    return NamedQuery(name, sql, sql_parameters(sql))


def execute(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> duckdb.DuckDBPyConnection:
    """Run the named query with its parameters bound by DuckDB."""
    query = load(name)
    return con.execute(query.sql, query.bind(params))


def one(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> tuple[Any, ...]:
    """The single row of an aggregate query."""
    return one_row(execute(con, name, **params))


def rows(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[tuple[Any, ...]]:
    return execute(con, name, **params).fetchall()


def frame(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    return execute(con, name, **params).pl()
