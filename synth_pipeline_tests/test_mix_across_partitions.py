"""Across partitions an item enters the mix once, whichever way a repeat arrives."""

from __future__ import annotations

import json
import math

import duckdb
import pytest

from synth_pipeline.corpus.builtin import load_builtin_python_docs
from synth_pipeline_tests.conftest import query, run_graph

pytestmark = pytest.mark.graph


def _corpus(tmp_path, name: str) -> list[str]:
    docs = load_builtin_python_docs(tmp_path / "cache").slice(200, 60).get_column("text").to_list()
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    return docs


def test_a_corpus_landed_twice_adds_nothing_the_second_time(tmp_path):
    _corpus(tmp_path, "a.jsonl")
    home = tmp_path / "home"
    env = {"SYNTH_CORPUS": str(tmp_path / "corpus"), "SYNTH_DOCS_PER_PARTITION": "1000"}
    assert run_graph(home, "2026-03-02", **env).success
    _corpus(tmp_path, "copy.jsonl")  # the same export landed again under another name
    second = run_graph(home, "2026-03-03", **env)
    assert second.success
    (first_docs,) = query(home, "SELECT count(*) FROM synth.raw_corpus WHERE partition_date = '2026-03-02'")[0]
    rejects = dict(
        query(
            home,
            "SELECT reason, count(*) FROM synth.raw_corpus_rejects WHERE partition_date = '2026-03-03' GROUP BY ALL",
        )
    )
    assert rejects["exact_duplicate"] == first_docs
    (in_second,) = query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = '2026-03-03'")[0]
    assert in_second == 0
    (score,) = query(
        home,
        "SELECT value FROM synth.quality_metrics WHERE partition_date = '2026-03-03' AND scope = 'partition' AND "
        "metric = 'score.headline'",
    )[0]
    assert math.isnan(score)  # a partition that adds no items has no score: neither "excellent" nor a failing 0
    (status,) = query(home, "SELECT status FROM synth.quality_report WHERE partition_date = '2026-03-03'")[0]
    assert status == "empty"  # every record was an exact duplicate: 0 documents


def test_the_mix_still_refuses_repeats_from_partitions_built_before_the_corpus_registry(tmp_path):
    # A warehouse written by an earlier version has mix partitions but no corpus registry, so a new
    # partition may take the same documents again: the mix's own index keeps them out.
    _corpus(tmp_path, "a.jsonl")
    home = tmp_path / "home"
    env = {"SYNTH_CORPUS": str(tmp_path / "corpus"), "SYNTH_DOCS_PER_PARTITION": "1000"}
    assert run_graph(home, "2026-03-02", **env).success
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        for table in ("corpus_dedup_keys", "corpus_allocations", "corpus_partitions", "corpus_files"):
            con.execute(f"DELETE FROM synth.{table}")
    assert run_graph(home, "2026-03-03", **env).success
    (repeated,) = query(home, "SELECT count(*) - count(DISTINCT item_id) FROM synth.deduplicated_mix")[0]
    assert repeated == 0
    reasons = dict(
        query(
            home, "SELECT reason, count(*) FROM synth.mix_exclusions WHERE partition_date = '2026-03-03' GROUP BY ALL"
        )
    )
    (first_real,) = query(
        home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = '2026-03-02' AND origin = 'real'"
    )[0]
    assert reasons["exact_duplicate_earlier_partition"] >= first_real
