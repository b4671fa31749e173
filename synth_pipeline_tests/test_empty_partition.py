"""A partition with 0 documents materialises the whole graph: empty tables with their full
schema, checks that pass saying there is nothing to check, and a report and a release that
say the partition is empty. Real Dagster runs of the real graph on real DuckDB files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pytest

from synth_pipeline.corpus.builtin import load_builtin_python_docs
from synth_pipeline.defs.checks import (
    EMPTY_PARTITION,
    EXCLUSION_CHECK_SPECS,
    GRADE_CHECK_SPECS,
    MIX_CHECK_SPECS,
    mix_checks,
)
from synth_pipeline.release.card import partition_status
from synth_pipeline.storage.warehouse import Warehouse
from synth_pipeline.tasks.samples import GRADE_SCHEMA, SAMPLE_SCHEMA
from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query, run_graph, synth_settings

# Lines today's reader rejects one by one: malformed JSON, no "text" field, a non-string text.
BAD_LINES = [
    '{"text": "an unterminated string',
    "not json at all",
    '{"title": "a record without the text field", "body": "words"}',
    '{"text": 42}',
    "[1, 2, 3]",
]
STAGE_TABLES = [
    "raw_corpus",
    "seed_prompts",
    "generated_samples",
    "graded_samples",
    "mix_candidates",
    "deduplicated_mix",
    "mix_exclusions",
]
CHECK_NAMES = [spec.name for specs in (MIX_CHECK_SPECS, EXCLUSION_CHECK_SPECS, GRADE_CHECK_SPECS) for spec in specs]
ALL_ASSETS = {*STAGE_TABLES, "raw_corpus_rejects", "quality_report", "dataset_release"}


def _bad_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bad.jsonl").write_text("\n".join(BAD_LINES) + "\n")
    return folder


@pytest.fixture(scope="module")
def empty_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("empty")
    home = tmp / "home"
    result = run_graph(home, SYNTH_CORPUS=str(_bad_corpus(tmp / "corpus")))
    return home, result


def _count(home: Path, table: str, partition: str = PARTITION) -> int:
    return query(home, f"SELECT count(*) FROM synth.{table} WHERE partition_date = ?", [partition])[0][0]


def _columns(home: Path, table: str) -> set[str]:
    return {name for name, *_ in query(home, f"DESCRIBE synth.{table}")}


def _meta(check, key: str):
    value = check.metadata[key]
    return getattr(value, "value", value)


def _release(home: Path, partition: str) -> tuple[dict, str, pl.DataFrame]:
    folder = home / "releases" / partition
    manifest = json.loads((folder / "manifest.json").read_text())
    data = pl.read_parquet(folder / "data" / "*.parquet")
    return manifest, (folder / "README.md").read_text(), data


@pytest.mark.graph
def test_the_whole_graph_materialises_an_empty_partition(empty_run):
    home, result = empty_run
    assert result.success
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialised == {key.to_user_string() for a in defs.assets for key in a.keys} >= ALL_ASSETS
    assert _count(home, "raw_corpus_rejects") == len(BAD_LINES)
    for table in STAGE_TABLES:
        assert _count(home, table) == 0, table
    # Tables keep every column with 0 rows, so a later partition and every reader find them.
    assert set(SAMPLE_SCHEMA) <= _columns(home, "generated_samples")
    assert set(GRADE_SCHEMA) <= _columns(home, "graded_samples")
    assert {"item_id", "origin", "text", "exclusion_reason"} <= _columns(home, "mix_candidates")
    assert {"item_id", "origin", "text", "rank_in_task"} <= _columns(home, "deduplicated_mix")
    assert {"item_id", "reason"} <= _columns(home, "mix_exclusions")


@pytest.mark.graph
def test_every_check_passes_saying_there_is_nothing_to_check(empty_run):
    home, result = empty_run
    checks = checks_by_name(result)
    assert set(CHECK_NAMES) <= set(checks)
    for name in CHECK_NAMES:
        check = checks[name]
        assert check.passed, name
        assert check.metadata["status"].value.startswith(EMPTY_PARTITION), name
    # The same results are stored for the report and the card.
    stored = query(
        home, "SELECT check_name, passed, metadata FROM synth.check_results WHERE partition_date = ?", [PARTITION]
    )
    # The corpus accounting check has records to check here (every one of them rejected).
    accounting = [
        (passed, json.loads(meta)) for name, passed, meta in stored if name == "corpus_accounts_for_every_record"
    ]
    assert accounting == [(True, accounting[0][1])] and accounting[0][1]["row_rejects"] == len(BAD_LINES)
    stored = [row for row in stored if row[0] != "corpus_accounts_for_every_record"]
    assert {name for name, _, _ in stored} == set(CHECK_NAMES)
    assert all(passed and json.loads(meta)["status"].startswith(EMPTY_PARTITION) for _, passed, meta in stored)


@pytest.mark.graph
def test_report_says_the_partition_is_empty_and_gives_no_score(empty_run):
    home, _ = empty_run
    status, note, band, score, documents, read = query(
        home,
        "SELECT status, status_note, band, score__headline, funnel__documents, funnel__documents_read "
        "FROM synth.quality_report WHERE partition_date = ?",
        [PARTITION],
    )[0]
    assert (status, band, documents, read) == ("empty", "empty", 0, len(BAD_LINES))
    assert math.isnan(score)  # no score, not a 0 that reads as a failure
    assert note.startswith("Empty partition: 0 documents") and "malformed_json" in note
    (stored,) = query(
        home,
        "SELECT value FROM synth.quality_metrics WHERE partition_date = ? AND scope = 'partition' AND metric = "
        "'score.headline'",
        [PARTITION],
    )[0]
    assert math.isnan(stored)
    page = (home / "reports" / f"quality_report_{PARTITION}.html").read_text()
    assert 'id="empty-partition"' in page and "Empty partition: 0 documents" in page
    assert "n/a (empty partition, 0 documents)" in page and "No quality score: empty." in page
    assert "/100" not in page


@pytest.mark.graph
def test_release_says_the_partition_is_empty(empty_run):
    home, _ = empty_run
    manifest, card, data = _release(home, PARTITION)
    assert manifest["rows"] == 0 and data.height == 0
    assert {"item_id", "origin", "text"} <= set(data.columns)
    part = manifest["release_partition"]
    assert (part["status"], part["empty"], part["documents"], part["inputs_read"], part["items"]) == (
        "empty",
        True,
        0,
        len(BAD_LINES),
        0,
    )
    assert part["note"].startswith("partition empty: 0 documents")
    assert manifest["empty_partitions"] == [PARTITION]
    assert f"**The partition {PARTITION} is empty: 0 documents (all {len(BAD_LINES)} inputs were rejected).**" in card
    assert "this release has 0 rows" in card
    (status,) = query(
        home, "SELECT release_partition_status FROM synth.dataset_release WHERE partition_date = ?", [PARTITION]
    )[0]
    assert status == "empty"


@pytest.mark.graph
def test_a_single_document_too_short_to_keep_gives_an_empty_partition(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "one.jsonl").write_text(json.dumps({"text": "Too short."}) + "\n")
    home = tmp_path / "home"
    result = run_graph(home, SYNTH_CORPUS=str(corpus))
    assert result.success
    (reason,) = query(home, "SELECT reason FROM synth.raw_corpus_rejects WHERE partition_date = ?", [PARTITION])[0]
    assert reason.startswith("quality:")
    assert all(
        c.passed and c.metadata["status"].value.startswith(EMPTY_PARTITION)
        for c in result.get_asset_check_evaluations()
        if c.check_name in CHECK_NAMES
    )
    assert query(home, "SELECT status FROM synth.quality_report")[0][0] == "empty"
    manifest, _, _ = _release(home, PARTITION)
    assert manifest["release_partition"]["status"] == "empty"


@pytest.mark.unit
def test_partition_status_names_an_empty_corpus_slice():
    assert partition_status({"funnel.documents": 0, "funnel.documents_read": 0}) == (
        "empty",
        "empty: 0 documents (no inputs were left for it (the corpus is used up or empty))",
    )
    assert partition_status({"funnel.documents": 12, "mix.items": 0})[0] == "no_items"
    assert partition_status({"funnel.documents": 12, "mix.items": 30}) == ("scored", "")


@pytest.mark.graph
def test_empty_partitions_around_a_normal_one_keep_cumulative_figures_right(tmp_path):
    """Empty, then data, then empty again: the data partition is unaffected, the last
    release is the cumulative mix unchanged, and the ledger still guards the real items."""
    home = tmp_path / "home"
    docs = load_builtin_python_docs(tmp_path / "cache").slice(200, 60).get_column("text").to_list()
    good = tmp_path / "good"
    good.mkdir()
    (good / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    # Each run names its own folder; the good one is taken whole by its partition.
    env = {"SYNTH_DOCS_PER_PARTITION": "1000"}
    first, normal, last = "2026-03-01", "2026-03-02", "2026-03-03"
    assert run_graph(home, first, SYNTH_CORPUS=str(_bad_corpus(tmp_path / "bad_a")), **env).success

    result = run_graph(home, normal, SYNTH_CORPUS=str(good), **env)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations() if c.severity.value == "ERROR")
    items, real = query(
        home,
        "SELECT count(*), count(*) FILTER (WHERE origin = 'real') FROM synth.deduplicated_mix WHERE partition_date = ?",
        [normal],
    )[0]
    assert items > real > 0
    assert query(home, "SELECT status FROM synth.quality_report WHERE partition_date = ?", [normal])[0][0] == "scored"
    manifest, card, data = _release(home, normal)
    assert manifest["rows"] == data.height == items
    assert manifest["release_partition"]["status"] == "scored" and manifest["empty_partitions"] == [first]
    assert f"that added no items (0 documents or every candidate excluded): {first}." in card

    result = run_graph(home, last, SYNTH_CORPUS=str(_bad_corpus(tmp_path / "bad_b")), **env)
    assert result.success
    ledger = checks_by_name(result)["real_data_accumulates"]
    assert ledger.passed
    assert ledger.metadata["real_items_recorded"].value == real and ledger.metadata["real_items_missing"].value == 0
    assert ledger.metadata["status"].value.startswith(EMPTY_PARTITION)
    cumulative = dict(
        query(
            home,
            "SELECT metric, value FROM synth.quality_metrics WHERE partition_date = ? AND scope = 'cumulative'",
            [last],
        )
    )
    assert cumulative["mix.items"] == items
    manifest, card, data = _release(home, last)
    assert manifest["rows"] == data.height == items
    assert manifest["release_partition"]["status"] == "empty" and manifest["empty_partitions"] == [first, last]
    assert f"cumulative mix of the earlier partitions ({items} items), unchanged" in card

    # An empty partition still fails its cumulative checks when earlier data breaks them.
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute(
            "DELETE FROM synth.deduplicated_mix WHERE item_id = (SELECT min(item_id) FROM synth.deduplicated_mix "
            "WHERE origin = 'real')"
        )
    settings = synth_settings(home, SYNTH_MAX_SYNTHETIC_RATIO="0.01")
    rerun = {r.check_name: r for r in mix_checks(Warehouse(home / "warehouse.duckdb"), last, settings)}
    assert (
        not rerun["real_data_accumulates"].passed and _meta(rerun["real_data_accumulates"], "real_items_missing") == 1
    )
    assert not rerun["synthetic_ratio_within_cap"].passed
    assert rerun["unique_keys_and_text"].passed and _meta(rerun["unique_keys_and_text"], "status") == EMPTY_PARTITION
