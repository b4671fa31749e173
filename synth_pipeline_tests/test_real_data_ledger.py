"""Real data accumulates: a real item that entered the mix never silently disappears."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synth_pipeline_tests.conftest import checks_by_name, query, run_graph
from synth_pipeline_tests.test_corpus_quarantine import GOOD

pytestmark = pytest.mark.graph


def test_real_data_accumulates_fails_when_a_real_item_is_lost_from_its_snapshot(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, word in enumerate(["river", "canal", "harbour", "lake"]):
        (corpus / f"doc{i}.txt").write_text(GOOD.replace("river", word).replace("bridge", f"bridge {word}"))
    home = tmp_path / "home"
    env = {"SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": "100"}
    first = run_graph(home, **env)
    assert checks_by_name(first)["real_data_accumulates"].passed

    # A partition's documents come from its staged snapshot, so deleting a source file changes
    # nothing; what can still make a real item vanish is the snapshot itself being damaged.
    (corpus / "doc2.txt").unlink()
    assert checks_by_name(run_graph(home, **env))["real_data_accumulates"].passed
    (staged,) = [r[0] for r in query(home, "SELECT staged_path FROM synth.corpus_files WHERE path LIKE '%doc2.txt'")]
    table = pq.read_table(staged)
    pq.write_table(
        table.set_column(table.schema.get_field_index("text"), "text", pa.array(["too short now"], pa.large_string())),
        staged,
    )
    second = run_graph(home, **env)
    check = checks_by_name(second)["real_data_accumulates"]
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["real_items_missing"].value == 1
    stopped = {"mix_exclusions", "quality_report", "dataset_release"}
    assert not stopped & {e.asset_key.to_user_string() for e in second.get_asset_materialization_events()}


def test_rerunning_a_partition_keeps_every_real_item(tmp_path):
    home = tmp_path / "home"
    assert checks_by_name(run_graph(home))["real_data_accumulates"].passed
    again = checks_by_name(run_graph(home))["real_data_accumulates"]
    assert again.passed and again.metadata["real_items_recorded"].value > 50
