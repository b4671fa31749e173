"""Lineage: any mix item traces back to its source file; any document forward to all it made."""

from __future__ import annotations

import pytest
from dagster import AssetKey, TableColumnDep

from synth_pipeline import cli
from synth_pipeline_tests.conftest import PARTITION, query, synth_env

pytestmark = pytest.mark.graph


def test_item_lineage_view_covers_every_mix_item(healthy_run) -> None:
    home, result = healthy_run
    assert result.success
    (items, traced, with_file, synthetic, synthetic_full) = query(
        home,
        """SELECT (SELECT count(*) FROM synth.deduplicated_mix),
                  count(*), count(source_file),
                  count(*) FILTER (WHERE origin = 'synthetic'),
                  count(*) FILTER (WHERE origin = 'synthetic' AND sample_id IS NOT NULL AND prompt_id IS NOT NULL
                                   AND grade_score IS NOT NULL AND template_version IS NOT NULL
                                   AND generator_model IS NOT NULL AND judge_model IS NOT NULL)
           FROM synth.item_lineage""",
    )[0]
    assert items == traced > 0  # one lineage row per item: no fan-out, nothing lost
    assert with_file == traced  # every item reaches a source file
    assert synthetic == synthetic_full > 0  # synthetic items carry grade, sample, prompt and their versions
    # The chain is consistent: a synthetic item's document is its prompt's document.
    assert (
        query(
            home,
            """SELECT count(*) FROM synth.item_lineage AS l JOIN synth.seed_prompts AS p USING (prompt_id)
           WHERE l.origin = 'synthetic' AND p.doc_id <> l.doc_id""",
        )[0][0]
        == 0
    )


def test_trace_random_item_prints_chain_to_source_file(healthy_run, capsys) -> None:
    home, _ = healthy_run
    item_id, doc_id, source_file = query(
        home,
        "SELECT item_id, doc_id, source_file FROM synth.item_lineage WHERE origin = 'synthetic' ORDER BY item_id "
        "LIMIT 1",
    )[0]
    with synth_env(home):
        assert cli.main(["trace", item_id]) == 0
    out = capsys.readouterr().out
    for part in ("grade", "sample", "prompt", "document", "source", "versions", doc_id, source_file):
        assert part in out, part
    with synth_env(home):
        assert cli.main(["trace", "--random", "--partition", PARTITION]) == 0
    assert "source" in capsys.readouterr().out


def test_trace_document_lists_everything_derived(healthy_run, capsys) -> None:
    home, _ = healthy_run
    doc_id = query(home, "SELECT doc_id FROM synth.seed_prompts ORDER BY doc_id LIMIT 1")[0][0]
    expected = {
        "prompt": query(home, "SELECT count(*) FROM synth.seed_prompts WHERE doc_id = ?", [doc_id])[0][0],
        "sample": query(home, "SELECT count(*) FROM synth.generated_samples WHERE doc_id = ?", [doc_id])[0][0],
        "mix_item": query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE doc_id = ?", [doc_id])[0][0],
        "excluded": query(home, "SELECT count(*) FROM synth.mix_exclusions WHERE doc_id = ?", [doc_id])[0][0],
    }
    stages = dict(
        query(home, "SELECT stage, count(*) FROM synth.document_descendants WHERE doc_id = ? GROUP BY ALL", [doc_id])
    )
    assert stages["document"] == 1
    assert stages["grade"] == stages["sample"] == expected["sample"] > 0
    for stage, n in expected.items():
        assert stages.get(stage, 0) == n, stage
    # Every candidate made from the document lands in the mix or the exclusions.
    assert stages.get("mix_item", 0) + stages.get("excluded", 0) == 1 + expected["sample"]
    with synth_env(home):
        assert cli.main(["trace", "--doc", doc_id]) == 0
    out = capsys.readouterr().out
    assert f"document {doc_id}" in out and "prompt" in out and "grade" in out


def test_column_lineage_metadata_on_python_and_sql_assets(healthy_run) -> None:
    _, result = healthy_run
    metadata = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    for asset in (
        "seed_prompts",
        "generated_samples",
        "graded_samples",
        "mix_candidates",
        "deduplicated_mix",
        "mix_exclusions",
    ):
        assert "dagster/column_lineage" in metadata[asset], asset
        assert "dagster/column_schema" in metadata[asset], asset
    mix_deps = metadata["deduplicated_mix"]["dagster/column_lineage"].value.deps_by_column
    assert TableColumnDep(asset_key=AssetKey("mix_candidates"), column_name="text") in mix_deps["text"]
    assert TableColumnDep(asset_key=AssetKey("mix_candidates"), column_name="score") in mix_deps["rank_in_task"]
    candidate_deps = metadata["mix_candidates"]["dagster/column_lineage"].value.deps_by_column
    assert {d.asset_key.to_user_string() for d in candidate_deps["text"]} == {"raw_corpus", "generated_samples"}
    assert {d.asset_key.to_user_string() for d in candidate_deps["score"]} == {"graded_samples"}
    sample_deps = metadata["generated_samples"]["dagster/column_lineage"].value.deps_by_column
    assert (
        TableColumnDep(asset_key=AssetKey("seed_prompts"), column_name="template_version")
        in sample_deps["template_version"]
    )
    assert "partition_date" not in sample_deps
