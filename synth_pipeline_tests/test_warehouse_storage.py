"""Storage is safe across code versions: columns may change, values never move."""

from __future__ import annotations

import polars as pl
import pytest
from dagster import DagsterInstance, Definitions, asset, materialize

from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import WarehouseIOManager, WarehouseResource
from synth_pipeline.storage.warehouse import Warehouse


@pytest.mark.unit
def test_reordered_added_and_removed_columns_keep_every_value(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    v1 = pl.DataFrame({"id": ["a", "b"], "score": [1.5, 2.5], "label": ["x", "y"]})
    wh.write_partition("t", "2026-01-01", v1)
    # Version 2 reorders, drops "label" and adds "flag".
    v2 = pl.DataFrame({"flag": [True, False, True], "score": [9.0, 8.0, 7.0], "id": ["c", "d", "e"]})
    wh.write_partition("t", "2026-01-02", v2)
    assert wh.read_partitions("t", ["2026-01-01"]).sort("id").to_dicts() == [
        {"id": "a", "score": 1.5, "label": "x", **_date("2026-01-01")},
        {"id": "b", "score": 2.5, "label": "y", **_date("2026-01-01")},
    ]
    got = wh.read_partitions("t", ["2026-01-02"]).sort("id")
    assert set(got.columns) == {"flag", "score", "id", "partition_date"}
    assert got.select("id", "score", "flag").to_dicts() == [
        {"id": "c", "score": 9.0, "flag": True},
        {"id": "d", "score": 8.0, "flag": False},
        {"id": "e", "score": 7.0, "flag": True},
    ]


def _date(iso: str) -> dict:
    import datetime as dt

    return {"partition_date": dt.date.fromisoformat(iso)}


@pytest.mark.unit
def test_rewriting_a_partition_replaces_exactly_that_partition(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", "2026-01-01", pl.DataFrame({"id": [1, 2, 3]}))
    wh.write_partition("t", "2026-01-02", pl.DataFrame({"id": [4]}))
    wh.write_partition("t", "2026-01-01", pl.DataFrame({"id": [5, 6]}))
    assert sorted(wh.read_partitions("t").get_column("id").to_list()) == [4, 5, 6]


@pytest.mark.unit
def test_an_incompatible_type_change_is_a_clear_error_not_a_silent_cast(tmp_path):
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.write_partition("t", "2026-01-01", pl.DataFrame({"v": ["not a number"]}))
    with pytest.raises(TypeError, match="synth.t.v"):
        wh.write_partition("t", "2026-01-02", pl.DataFrame({"v": [1.5]}))
    assert wh.read_partitions("t").get_column("v").to_list() == ["not a number"]


def _evolving_asset(version: int, frame: pl.DataFrame):
    """Version ``version`` of the asset ``evolving``, returning ``frame``."""

    @asset(name="evolving", partitions_def=daily_partitions, code_version=str(version))
    def evolving() -> pl.DataFrame:
        return frame

    return evolving


@pytest.mark.graph
def test_asset_columns_change_between_two_dagster_materialisations(tmp_path):
    """The IO manager under real runs: version 2 of an asset reorders and adds columns."""
    frames = {
        1: pl.DataFrame({"item": ["a", "b"], "n": [1, 2], "text": ["alpha", "beta"]}),
        2: pl.DataFrame(
            {"text": ["gamma", "delta", "eps"], "extra": [0.5, 0.25, 0.125], "item": ["c", "d", "e"], "n": [3, 4, 5]}
        ),
    }
    io_manager = WarehouseIOManager(warehouse=WarehouseResource(home=str(tmp_path)))
    for version, partition in ((1, "2026-01-05"), (2, "2026-01-06")):
        evolving = _evolving_asset(version, frames[version])

        @asset(name="reader", partitions_def=daily_partitions)
        def reader(evolving: pl.DataFrame) -> pl.DataFrame:
            return evolving.with_columns(pl.col("n") * 10)

        defs = Definitions(assets=[evolving, reader], resources={"io_manager": io_manager})
        result = materialize(
            list(defs.assets),
            partition_key=partition,
            resources=defs.resources,
            instance=DagsterInstance.ephemeral(),
        )
        assert result.success
    wh = Warehouse(tmp_path / "warehouse.duckdb")
    first = wh.read_partitions("evolving", ["2026-01-05"]).sort("item")
    second = wh.read_partitions("evolving", ["2026-01-06"]).sort("item")
    assert first.select("item", "n", "text").to_dicts() == frames[1].to_dicts()
    assert "extra" not in first.columns
    assert (
        second.select("item", "n", "text", "extra").to_dicts()
        == frames[2].select("item", "n", "text", "extra").to_dicts()
    )
    readers = Warehouse(tmp_path / "warehouse.duckdb").read_partitions("reader").sort("item")
    assert readers.get_column("n").to_list() == [10, 20, 30, 40, 50]
