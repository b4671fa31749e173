"""Partitions never move: a partition's documents are decided once, whatever the corpus does later."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from synth_pipeline.corpus.builtin import load_builtin_python_docs
from synth_pipeline.text import content_hash, normalize_text
from synth_pipeline_tests.conftest import checks_by_name, query, run_graph

pytestmark = pytest.mark.graph

CORPUS_ONLY = ["raw_corpus", "raw_corpus_rejects"]
DAYS = ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"]


def _real_texts(tmp_path: Path, start: int, count: int) -> list[str]:
    return load_builtin_python_docs(tmp_path / "cache").slice(start, count).get_column("text").to_list()


def _write_jsonl(path: Path, texts: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))


def _doc_ids(home: Path, day: str) -> set[str]:
    return {r[0] for r in query(home, "SELECT doc_id FROM synth.raw_corpus WHERE partition_date = ?", [day])}


def _records(home: Path, day: str) -> set[tuple[int, int]]:
    sql = """SELECT file_id, record_no FROM synth.raw_corpus WHERE partition_date = $1
             UNION ALL
             SELECT file_id, record_no FROM synth.raw_corpus_rejects WHERE partition_date = $1 AND scope = 'row'"""
    return set(query(home, sql, [day]))


def test_growing_corpus_keeps_every_built_partition_and_feeds_new_ones(tmp_path):
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    _write_jsonl(corpus / "b.jsonl", _real_texts(tmp_path, 0, 150))
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": "100", "SYNTH_LANDING_SETTLE_S": "0"}

    for day in DAYS[:2]:
        result = run_graph(home, day, selection=CORPUS_ONLY, **env)
        assert result.success and checks_by_name(result)["corpus_accounts_for_every_record"].passed
    before = {day: _doc_ids(home, day) for day in DAYS[:2]}
    assert len(before[DAYS[0]]) > 80 and before[DAYS[1]], "the second partition takes the rest of b.jsonl"

    # The corpus grows: a file that sorts before the one already used, and one in the landing folder.
    _write_jsonl(corpus / "a.jsonl", _real_texts(tmp_path, 150, 120))
    _write_jsonl(home / "landing" / "c.jsonl", _real_texts(tmp_path, 270, 30))
    for day in DAYS[:2]:  # re-built: exactly the same documents
        assert run_graph(home, day, selection=CORPUS_ONLY, **env).success
        assert _doc_ids(home, day) == before[day]

    taken = [_doc_ids(home, day) for day in DAYS[:2]]
    for day in DAYS[2:]:
        assert run_graph(home, day, selection=CORPUS_ONLY, **env).success
        taken.append(_doc_ids(home, day))
    everything = [doc for docs in taken for doc in docs]
    assert len(everything) == len(set(everything)), "two partitions never share a document"
    assert taken[2] and taken[3], "the new files feed the next partitions"
    assert taken[4] == set(), "the corpus is used up: a later partition is empty, nothing is reused"
    records = [_records(home, day) for day in DAYS]
    assert sum(len(r) for r in records) == 150 + 120 + 30
    assert len(set().union(*records)) == 150 + 120 + 30


def test_a_file_changed_under_the_same_path_is_reported_not_mixed_in(tmp_path):
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    texts = _real_texts(tmp_path, 0, 200)
    _write_jsonl(corpus / "a.jsonl", texts[:100])
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": "60"}
    assert run_graph(home, DAYS[0], selection=CORPUS_ONLY, **env).success
    first = _doc_ids(home, DAYS[0])

    _write_jsonl(corpus / "a.jsonl", texts[100:])  # rewritten in place with other documents
    result = run_graph(home, DAYS[1], selection=CORPUS_ONLY, **env)
    assert result.success
    reported = query(
        home,
        "SELECT scope, detail FROM synth.raw_corpus_rejects WHERE partition_date = ? AND reason = 'file_changed'",
        [DAYS[1]],
    )
    assert len(reported) == 1 and reported[0][0] == "file" and "a.jsonl" in reported[0][1]
    # The second partition takes the rest of the version it registered, never the new bytes.
    second = _doc_ids(home, DAYS[1])
    assert second and not (second & first)
    ids = [content_hash(normalize_text(t)) for t in texts]
    new_bytes = set(ids[100:]) - set(ids[:100])  # the built-in corpus repeats a few docstrings
    assert len(new_bytes) > 50
    stored = {
        r[0]
        for r in query(
            home, "SELECT doc_id FROM synth.raw_corpus UNION ALL SELECT doc_id FROM synth.raw_corpus_rejects"
        )
    }
    assert not new_bytes & stored
    assert run_graph(home, DAYS[0], selection=CORPUS_ONLY, **env).success
    assert _doc_ids(home, DAYS[0]) == first


def test_a_truncated_gzip_keeps_what_was_read_and_says_where_it_stopped(tmp_path):
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    corpus.mkdir()
    texts = _real_texts(tmp_path, 0, 120)
    blob = gzip.compress("".join(json.dumps({"text": t}) + "\n" for t in texts).encode())
    (corpus / "cut.jsonl.gz").write_bytes(blob[: len(blob) * 2 // 3])
    result = run_graph(home, selection=CORPUS_ONLY, SYNTH_CORPUS=str(corpus), SYNTH_DOCS_PER_PARTITION="500")
    assert result.success and checks_by_name(result)["corpus_accounts_for_every_record"].passed
    cut = query(home, "SELECT source_row, detail FROM synth.raw_corpus_rejects WHERE reason = 'truncated_stream'")
    assert len(cut) == 1
    row, detail = cut[0]
    assert 20 < row < 120 and "byte" in detail
    (kept,) = query(home, "SELECT count(*) FROM synth.raw_corpus")[0]
    (others,) = query(home, "SELECT count(*) FROM synth.raw_corpus_rejects WHERE reason <> 'truncated_stream'")[0]
    assert kept + others == row - 1, "every complete line before the cut is a document or a reject"


def test_corpus_accounts_for_every_record_fails_on_a_damaged_snapshot_and_blocks_the_graph(tmp_path):
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    _write_jsonl(corpus / "a.jsonl", _real_texts(tmp_path, 0, 80))
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": "80"}
    assert run_graph(home, selection=CORPUS_ONLY, **env).success
    (staged,) = [Path(r[0]) for r in query(home, "SELECT staged_path FROM synth.corpus_files")]
    table = pq.read_table(staged)
    pq.write_table(table.slice(0, 40), staged)  # half the records vanish

    result = run_graph(home, **env)
    check = checks_by_name(result)["corpus_accounts_for_every_record"]
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["unbalanced_files"].value == 1
    materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "seed_prompts" not in materialised, "a blocking check stops everything downstream"
    assert not materialised & {"mix_exclusions", "quality_report", "dataset_release"}


def test_a_document_repeated_in_a_later_file_is_an_exact_duplicate_of_its_first_partition(tmp_path):
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    texts = _real_texts(tmp_path, 0, 50)
    _write_jsonl(corpus / "a.jsonl", texts)
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": "50"}
    assert run_graph(home, DAYS[0], selection=CORPUS_ONLY, **env).success
    _write_jsonl(corpus / "b.jsonl", [t.upper() for t in texts[:10]])  # same words, other case
    assert run_graph(home, DAYS[1], selection=CORPUS_ONLY, **env).success
    assert _doc_ids(home, DAYS[1]) == set()
    details = [
        r[0]
        for r in query(
            home,
            "SELECT detail FROM synth.raw_corpus_rejects WHERE partition_date = ? AND reason = 'exact_duplicate'",
            [DAYS[1]],
        )
    ]
    (first_ten_accepted,) = query(
        home, "SELECT count(*) FROM synth.raw_corpus WHERE partition_date = ? AND source_row <= 10", [DAYS[0]]
    )[0]
    assert first_ten_accepted > 5 and len(details) == first_ten_accepted
    assert all(DAYS[0] in d for d in details)


def test_a_landed_file_still_being_written_waits_for_a_later_partition(tmp_path):
    home = tmp_path / "home"
    _write_jsonl(home / "landing" / "arriving.jsonl", _real_texts(tmp_path, 0, 20))
    env = {
        "SYNTH_CORPUS": str(tmp_path / "nothing-else"),
        "SYNTH_DOCS_PER_PARTITION": "100",
        "SYNTH_LANDING_SETTLE_S": "3600",
    }
    assert run_graph(home, DAYS[0], selection=CORPUS_ONLY, **env).success
    assert _doc_ids(home, DAYS[0]) == set(), "modified within the settle time: not read yet"
    env["SYNTH_LANDING_SETTLE_S"] = "0"
    assert run_graph(home, DAYS[1], selection=CORPUS_ONLY, **env).success
    assert len(_doc_ids(home, DAYS[1])) > 10
