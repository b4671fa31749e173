"""Through real Dagster runs: a messy corpus in every format, spread over partitions, loses nothing."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_pipeline_tests.conftest import checks_by_name, query, run_graph
from synth_pipeline_tests.test_corpus_readers import (
    compress,
    delimited_corpus,
    good_text,
    json_array_corpus,
    jsonl_corpus,
)

pytestmark = pytest.mark.graph


def _write_corpus(root: Path, rng: random.Random) -> dict[str, list]:
    """Every format, plain and compressed, with bad records at random positions; expected rows per file."""
    root.mkdir(parents=True)
    expected: dict[str, list] = {}
    for i, compression in enumerate([None, "gzip", "zstd"]):
        data, rows = jsonl_corpus(rng, rng.randint(20, 60), nested=False)
        expected[str(compress(root / f"lines{i}.jsonl", data, compression))] = rows
    data, rows = json_array_corpus(rng, rng.randint(10, 30))
    expected[str(compress(root / "array.json", data, "gzip"))] = rows
    data, rows = delimited_corpus(rng, rng.randint(20, 40), ",")
    expected[str(compress(root / "table.csv", data, None))] = rows
    data, rows = delimited_corpus(rng, rng.randint(20, 40), "\t")
    expected[str(compress(root / "table.tsv", data, "zstd"))] = rows
    texts = [None if rng.random() < 0.2 else good_text(rng) for _ in range(rng.randint(10, 30))]
    pq.write_table(pa.table({"id": list(range(len(texts))), "text": texts}), root / "rows.parquet")
    expected[str(root / "rows.parquet")] = [
        (n, "null_text" if t is None else None, t, str(n - 1)) for n, t in enumerate(texts, start=1)
    ]
    (root / "note.md").write_text(good_text(rng))
    expected[str(root / "note.md")] = [(1, None)]
    return expected


@pytest.mark.parametrize("seed", [7, 8])
def test_every_record_of_a_messy_corpus_lands_once_across_partitions(tmp_path, seed):
    rng = random.Random(seed)
    corpus, home = tmp_path / "corpus", tmp_path / "home"
    expected = _write_corpus(corpus, rng)
    total = sum(len(rows) for rows in expected.values())
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": str(rng.randint(25, 60))}

    day = dt.date(2026, 3, 2)
    seen = 0
    while True:
        result = run_graph(home, day.isoformat(), selection=["raw_corpus", "raw_corpus_rejects"], **env)
        assert result.success and checks_by_name(result)["corpus_accounts_for_every_record"].passed
        (records,) = query(
            home,
            "SELECT coalesce(sum(record_to - record_from), 0) FROM synth.corpus_allocations WHERE partition_date = ?",
            [day],
        )[0]
        if records == 0:
            break
        seen += records
        day += dt.timedelta(days=1)
    assert seen == total

    stored = query(
        home,
        """SELECT source_file, source_row, NULL AS reason FROM synth.raw_corpus
           UNION ALL SELECT source_file, source_row, reason FROM synth.raw_corpus_rejects WHERE scope = 'row'""",
    )
    assert len(stored) == total, "each record once: a document or a row reject"
    by_place = {(f, r): reason for f, r, reason in stored}
    assert len(by_place) == total
    for path, rows in expected.items():
        for want in rows:
            got = by_place[(path, want[0])]
            if want[1] is not None:  # a reader's reject keeps its reason; readable ones may fail quality rules
                assert got == want[1], (path, want)
            else:
                assert got is None or got.startswith("quality:") or got == "exact_duplicate", (path, want, got)
