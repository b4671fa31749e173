"""One write path: every table a user queries is an asset, checks write nothing, check results are stored once."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from synth_pipeline.defs.checks import funnel_checks, mix_checks
from synth_pipeline.mix.shares import mix_shares
from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import Warehouse
from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query, synth_settings

pytestmark = pytest.mark.graph

# Tables that are not data a user queries: the warehouse's own bookkeeping and the LLM response cache.
NOT_DATA = {"_partition_columns", "llm_response_cache"}


def test_every_table_of_a_run_is_an_asset_with_a_materialisation(healthy_run) -> None:
    from synth_pipeline.definitions import load_defs

    home, result = healthy_run
    tables = {
        name
        for (name,) in query(
            home,
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'synth' AND table_type = 'BASE TABLE'",
        )
    }
    keys = {k.to_user_string() for k in load_defs().resolve_asset_graph().get_all_asset_keys()}
    assert tables - NOT_DATA - keys == set(), "a table without an asset has no lineage in the UI"
    # Outputs and the tables a step reports beside them (check_results) alike.
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert tables - NOT_DATA <= materialised, sorted(tables - NOT_DATA - materialised)
    graph = load_defs().resolve_asset_graph()
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys} for k in graph.get_all_asset_keys()
    }
    assert "deduplicated_mix" in parents["real_item_ledger"] and "deduplicated_mix" in parents["mix_metrics"]
    assert {"raw_corpus", "graded_samples", "deduplicated_mix", "mix_exclusions"} <= parents["check_results"]
    assert "check_results" in parents["quality_report"] and "check_results" in parents["dataset_release"]
    assert "quality_report" in parents["quality_metrics"]


def test_check_results_are_stored_once_with_the_run_that_ran_them(healthy_run) -> None:
    home, result = healthy_run
    rows = query(
        home,
        "SELECT asset, check_name, count(*), any_value(dagster_run_id) FROM synth.check_results "
        "WHERE partition_date = ? GROUP BY ALL",
        [PARTITION],
    )
    assert {(asset, name) for asset, name, _, _ in rows} == {
        (c.asset_key.to_user_string(), c.check_name) for c in result.get_asset_check_evaluations()
    }
    assert all(n == 1 for _, _, n, _ in rows), "one row per check and partition"
    assert {run for *_, run in rows} == {result.run_id}


def test_one_synthetic_share_for_the_check_the_report_and_the_warehouse(healthy_run) -> None:
    home, result = healthy_run
    check = checks_by_name(result)["synthetic_ratio_within_cap"].metadata
    report = dict(
        query(
            home,
            "SELECT scope || ':' || metric, value FROM synth.quality_metrics WHERE partition_date = ? "
            "AND metric IN ('mix.synthetic_token_share', 'mix.synthetic_item_share')",
            [PARTITION],
        )
    )
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        part, cum = mix_shares(con, PARTITION), mix_shares(con, PARTITION, cumulative=True)
        # Computed independently of the named query, from the rows.
        tokens, synthetic_tokens = con.execute(
            "SELECT sum(n_tokens), sum(n_tokens) FILTER (WHERE origin = 'synthetic') FROM synth.deduplicated_mix "
            "WHERE partition_date = ?",
            [PARTITION],
        ).fetchone()
    assert 0 < part.synthetic_token_share < 1
    assert part.synthetic_token_share == pytest.approx(synthetic_tokens / tokens, rel=1e-12)
    assert report["partition:mix.synthetic_token_share"] == part.synthetic_token_share
    assert report["cumulative:mix.synthetic_item_share"] == cum.synthetic_item_share
    assert check["synthetic_token_share"].value == pytest.approx(part.synthetic_token_share, abs=1e-6)
    assert check["synthetic_item_share_cumulative"].value == pytest.approx(cum.synthetic_item_share, abs=1e-6)


def _digest(path: Path) -> dict[str, tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'synth' "
                "AND table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        return {t: con.execute(f"SELECT count(*), sum(hash(t)) FROM synth.{t} AS t").fetchone() for t in tables}


def test_checks_only_check(healthy_run, tmp_path) -> None:
    home = tmp_path / "copy"
    shutil.copytree(healthy_run[0], home, ignore=shutil.ignore_patterns("*.lock", "cache"))
    before = _digest(home / "warehouse.duckdb")
    settings = synth_settings(home)
    warehouse = Warehouse(home / "warehouse.duckdb")
    results = mix_checks(warehouse, PARTITION, settings) + funnel_checks(warehouse, PARTITION, settings)
    recorded = checks_by_name(healthy_run[1])
    assert len(results) == 10
    # Re-run on the stored metrics, the checks reach the verdicts the run recorded.
    assert {r.check_name: r.passed for r in results} == {r.check_name: recorded[r.check_name].passed for r in results}
    assert _digest(home / "warehouse.duckdb") == before, "a check wrote to the warehouse"


def test_named_queries_bind_only_their_parameters(healthy_run) -> None:
    home, _ = healthy_run
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        with pytest.raises(TypeError, match=r"needs \$partition_date"):
            queries.one(con, "partition_documents")
        # Extra values are not passed to DuckDB (which refuses unknown named parameters).
        (documents,) = queries.one(con, "partition_documents", partition_date=PARTITION, unused=1)
    assert documents == query(home, "SELECT count(*) FROM synth.raw_corpus WHERE partition_date = ?", [PARTITION])[0][0]
    assert all(q.parent.name == "queries" for q in queries.queries_dir().glob("*.sql"))
