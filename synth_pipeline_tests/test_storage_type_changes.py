"""A column's type is a contract between partitions: a change that would rewrite stored values is refused.

Widening ``BIGINT`` to ``VARCHAR`` would turn every earlier partition's integers into strings;
only lossless widenings apply, and an all-null column fits any stored type.
"""

from __future__ import annotations

import datetime as dt
import logging

import duckdb
import polars as pl
import pytest
from dagster import DagsterInstance, Definitions, ExecuteInProcessResult, asset, materialize

from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import WarehouseIOManager
from synth_pipeline.storage.warehouse import SchemaChangeError, Warehouse, widens_losslessly
from synth_pipeline_tests.conftest import synth_env

DAY1, DAY2 = "2026-01-05", "2026-01-06"


def _materialise(home, frame: pl.DataFrame, partition: str, version: int) -> ExecuteInProcessResult:
    """One real Dagster run of version ``version`` of the asset ``evolving``, stored by the IO manager."""

    @asset(name="evolving", partitions_def=daily_partitions, code_version=str(version))
    def evolving() -> pl.DataFrame:
        return frame

    defs = Definitions(assets=[evolving], resources={"io_manager": WarehouseIOManager()})
    with synth_env(home):
        return materialize(
            [evolving],
            partition_key=partition,
            resources=defs.resources,
            instance=DagsterInstance.ephemeral(),
            raise_on_error=False,
        )


def _failure_text(result: ExecuteInProcessResult) -> str:
    """Every message in the cause chain of the run's step failures."""
    texts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(f"{error.cls_name}: {error.message}")
            error = error.cause
    return "\n".join(texts)


def _column_type(home, table: str, column: str) -> str:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'synth' "
            "AND table_name = ? AND column_name = ?",
            [table, column],
        ).fetchall()
    return rows[0][0]


@pytest.mark.graph
def test_an_asset_turning_bigint_into_strings_fails_its_run_and_keeps_earlier_integers(tmp_path):
    first = _materialise(tmp_path, pl.DataFrame({"id": ["x", "y"], "a": [1, 22]}), DAY1, version=1)
    assert first.success
    second = _materialise(tmp_path, pl.DataFrame({"id": ["z"], "a": ["three"]}), DAY2, version=2)

    assert not second.success
    failure = _failure_text(second)
    assert "SchemaChangeError" in failure
    for part in ("synth.evolving.a", "is BIGINT in the warehouse", f"partition {DAY2} writes it as VARCHAR"):
        assert part in failure
    assert "Return BIGINT from the asset" in failure  # says what to do
    assert _column_type(tmp_path, "evolving", "a") == "BIGINT"
    stored = Warehouse(tmp_path / "warehouse.duckdb").read_partitions("evolving").sort("id")
    assert stored.select("id", "a").rows() == [("x", 1), ("y", 22)]  # still integers, nothing of DAY2


@pytest.mark.graph
def test_an_asset_whose_column_is_all_null_in_a_new_partition_still_writes(tmp_path):
    assert _materialise(tmp_path, pl.DataFrame({"id": ["x"], "a": [7], "tags": [["p", "q"]]}), DAY1, 1).success
    empty = pl.DataFrame({"id": ["y", "z"], "a": [None, None], "tags": [[], None]})
    assert empty.schema["a"] == pl.Null and empty.schema["tags"] == pl.List(pl.Null)
    assert _materialise(tmp_path, empty, DAY2, version=2).success

    assert _column_type(tmp_path, "evolving", "a") == "BIGINT"
    assert _column_type(tmp_path, "evolving", "tags") == "VARCHAR[]"
    rows = Warehouse(tmp_path / "warehouse.duckdb").read_partitions("evolving").sort("id")
    assert rows.select("id", "a", "tags").rows() == [("x", 7, ["p", "q"]), ("y", None, []), ("z", None, None)]


@pytest.mark.graph
def test_an_asset_widening_int32_to_int64_keeps_every_value_and_logs_it(tmp_path, caplog):
    small = pl.DataFrame({"id": ["x"], "a": pl.Series([2_000_000_000], dtype=pl.Int32)})
    assert _materialise(tmp_path, small, DAY1, version=1).success
    assert _column_type(tmp_path, "evolving", "a") == "INTEGER"
    with caplog.at_level(logging.WARNING, logger="synth_pipeline.storage.warehouse"):
        assert _materialise(tmp_path, pl.DataFrame({"id": ["y"], "a": [2**40]}), DAY2, version=2).success

    assert _column_type(tmp_path, "evolving", "a") == "BIGINT"
    assert "synth.evolving.a widened from INTEGER to BIGINT" in caplog.text
    rows = Warehouse(tmp_path / "warehouse.duckdb").read_partitions("evolving").sort("id")
    assert rows.select("id", "a").rows() == [("x", 2_000_000_000), ("y", 1_099_511_627_776)]


@pytest.mark.unit
def test_only_lossless_widenings_are_allowed():
    types = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE"]
    types += ["VARCHAR", "BOOLEAN", "DATE", "TIMESTAMP"]
    allowed = {(narrow, wide) for narrow in types for wide in types if widens_losslessly(narrow, wide)}
    # By hand: integer ranges contained in wider ones; integers up to 24 value bits exact in FLOAT,
    # up to 53 in DOUBLE; FLOAT in DOUBLE. Nothing into or out of VARCHAR, BOOLEAN, dates.
    assert allowed == {
        ("TINYINT", "SMALLINT"),
        ("TINYINT", "INTEGER"),
        ("TINYINT", "BIGINT"),
        ("TINYINT", "FLOAT"),
        ("TINYINT", "DOUBLE"),
        ("SMALLINT", "INTEGER"),
        ("SMALLINT", "BIGINT"),
        ("SMALLINT", "FLOAT"),
        ("SMALLINT", "DOUBLE"),
        ("INTEGER", "BIGINT"),
        ("INTEGER", "DOUBLE"),
        ("UTINYINT", "SMALLINT"),
        ("UTINYINT", "INTEGER"),
        ("UTINYINT", "BIGINT"),
        ("UTINYINT", "UINTEGER"),
        ("UTINYINT", "UBIGINT"),
        ("UTINYINT", "FLOAT"),
        ("UTINYINT", "DOUBLE"),
        ("UINTEGER", "BIGINT"),
        ("UINTEGER", "UBIGINT"),
        ("UINTEGER", "DOUBLE"),
        ("FLOAT", "DOUBLE"),
    }


@pytest.mark.unit
def test_bigint_to_double_is_refused_because_it_would_round_stored_values(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", DAY1, pl.DataFrame({"a": [2**53 + 1]}))
    with pytest.raises(SchemaChangeError, match=r"synth\.t\.a is BIGINT in the warehouse.*writes it as DOUBLE"):
        wh.write_partition("t", DAY2, pl.DataFrame({"a": [0.5]}))
    assert wh.read_partitions("t").get_column("a").to_list() == [2**53 + 1]


@pytest.mark.unit
def test_a_narrower_incoming_type_fits_the_stored_column_unchanged(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", DAY1, pl.DataFrame({"a": [2**40], "f": [0.1]}))
    wh.write_partition(
        "t", DAY2, pl.DataFrame({"a": pl.Series([5], dtype=pl.Int16), "f": pl.Series([0.5], dtype=pl.Float32)})
    )
    types = dict(wh.query("DESCRIBE synth.t").select("column_name", "column_type").rows())
    assert (types["a"], types["f"]) == ("BIGINT", "DOUBLE")
    assert wh.read_partitions("t").sort("a").select("a", "f").rows() == [(5, 0.5), (2**40, 0.1)]


@pytest.mark.unit
def test_nested_types_are_compared_part_by_part(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", DAY1, pl.DataFrame({"l": [["a"]], "s": [{"p": 1, "q": "z"}]}))
    # Null parts fit: an empty list, a struct field that is null in every row.
    wh.write_partition("t", DAY2, pl.DataFrame({"l": [[]], "s": [{"p": None, "q": "y"}]}))
    with pytest.raises(SchemaChangeError, match=r"synth\.t\.l is VARCHAR\[\]"):
        wh.write_partition("t", "2026-01-07", pl.DataFrame({"l": [[1]]}))
    with pytest.raises(SchemaChangeError, match=r"synth\.t\.s is STRUCT"):
        wh.write_partition("t", "2026-01-07", pl.DataFrame({"s": [{"p": "one", "q": "x"}]}))
    with pytest.raises(SchemaChangeError, match=r"synth\.t\.s is STRUCT"):
        wh.write_partition("t", "2026-01-07", pl.DataFrame({"s": [{"q": "x", "p": 1}]}))  # fields reordered
    rows = wh.read_partitions("t").sort("partition_date")
    assert rows.select("l", "s").rows() == [(["a"], {"p": 1, "q": "z"}), ([], {"p": None, "q": "y"})]


@pytest.mark.unit
def test_a_column_no_other_partition_holds_a_value_in_takes_the_new_type(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", DAY1, pl.DataFrame({"id": [1], "a": [None]}))  # DuckDB stores the null column as INTEGER
    wh.write_partition("t", DAY2, pl.DataFrame({"id": [2], "a": ["text"]}))
    # Rewriting the only partition that holds values changes no other partition's values either.
    wh.write_partition("u", DAY1, pl.DataFrame({"a": [1, 2]}))
    wh.write_partition("u", DAY1, pl.DataFrame({"a": ["one"]}))
    types = dict(wh.query("DESCRIBE synth.t").select("column_name", "column_type").rows())
    assert types["a"] == "VARCHAR"
    assert wh.read_partitions("t").sort("id").select("id", "a").rows() == [(1, None), (2, "text")]
    assert wh.read_partitions("u").get_column("a").to_list() == ["one"]


@pytest.mark.unit
def test_a_refused_write_changes_nothing_not_even_its_new_columns(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", DAY1, pl.DataFrame({"a": [1]}))
    with pytest.raises(SchemaChangeError):
        wh.write_partition("t", DAY2, pl.DataFrame({"a": ["x"], "new": [True]}))
    assert wh.read_partitions("t").rows() == [(1, dt.date(2026, 1, 5))]  # no row, no column "new" from DAY2
