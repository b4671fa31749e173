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
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    # The chain as the base tables hold it, joined here, not through the lineage view.
    sample_id = item_id.removeprefix("synthetic:")
    score, accepted, judge = query(
        home, "SELECT score, accepted, judge_model FROM synth.graded_samples WHERE sample_id = ?", [sample_id]
    )[0]
    prompt_id, model = query(
        home, "SELECT prompt_id, model FROM synth.generated_samples WHERE sample_id = ?", [sample_id]
    )[0]
    template, prompt_doc = query(
        home, "SELECT template_version, doc_id FROM synth.seed_prompts WHERE prompt_id = ?", [prompt_id]
    )[0]
    words, file, row = query(
        home, "SELECT n_words, source_file, source_row FROM synth.raw_corpus WHERE doc_id = ?", [prompt_doc]
    )[0]
    assert prompt_doc == doc_id and file == source_file
    assert f"{judge}" in lines["grade"] and f"score {score:g}, accepted={accepted}" in lines["grade"]
    assert lines["sample"].split()[1] == sample_id and model in lines["sample"]
    assert lines["prompt"].split()[1] == prompt_id and f"template={template}" in lines["prompt"]
    assert lines["document"].split()[1:3] == [doc_id, str(words)]
    assert f"file {source_file}  row {row}" in lines["source"]
    assert set(lines) >= {"grade", "sample", "prompt", "document", "source", "record", "versions"}
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
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith(f"document {doc_id}: 1 document, {expected['prompt']} prompt")
    listed = {tuple(line.split()[1:3]) for line in rows if line.strip()}
    sql = "SELECT {} FROM synth.{} WHERE doc_id = ?"
    made = {("document", doc_id)}
    made |= {("prompt", p) for (p,) in query(home, sql.format("prompt_id", "seed_prompts"), [doc_id])}
    samples = [s for (s,) in query(home, sql.format("sample_id", "generated_samples"), [doc_id])]
    made |= {(stage, s) for s in samples for stage in ("sample", "grade")}
    made |= {("mix_item", i) for (i,) in query(home, sql.format("item_id", "deduplicated_mix"), [doc_id])}
    made |= {("excluded", i) for (i,) in query(home, sql.format("item_id", "mix_exclusions"), [doc_id])}
    assert listed == made


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
