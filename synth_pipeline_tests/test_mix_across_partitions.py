"""Across partitions an item enters the mix once: a corpus that cycles adds nothing twice."""

from __future__ import annotations

import json

from synth_pipeline.corpus.builtin import load_builtin_python_docs
from synth_pipeline_tests.conftest import query, run_graph


def test_a_cycling_corpus_never_puts_an_item_in_the_mix_twice(tmp_path):
    docs = load_builtin_python_docs(tmp_path / "cache").slice(200, 60).get_column("text").to_list()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    home = tmp_path / "home"
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": "1000"}  # one slice: every day sees it all
    assert run_graph(home, "2026-03-02", **env).success
    second = run_graph(home, "2026-03-03", **env)
    assert second.success
    (repeated,) = query(home, "SELECT count(*) - count(DISTINCT item_id) FROM synth.deduplicated_mix")[0]
    assert repeated == 0
    reasons = dict(query(home, "SELECT reason, count(*) FROM synth.mix_exclusions WHERE partition_date = '2026-03-03' GROUP BY ALL"))
    (first_real,) = query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = '2026-03-02' AND origin = 'real'")[0]
    assert reasons["exact_duplicate_earlier_partition"] >= first_real
    (in_second,) = query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = '2026-03-03'")[0]
    assert in_second == 0
    (score,) = query(home, "SELECT value FROM synth.quality_metrics WHERE partition_date = '2026-03-03' AND scope = 'partition' AND metric = 'score.headline'")[0]
    assert score == 0  # an empty partition is not "excellent"
