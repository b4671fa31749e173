"""Promises of the README that no other test holds to: a Parquet corpus and the landing folder
through the graph, the generation-depth limit, and ``synth stale``.

(``usd_per_accepted_sample`` against a price table and the server's reported usage:
test_checks_fail.py, ``test_usd_per_accepted_sample_...``.)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import DagsterInstance, materialize

from synth_pipeline.text import normalize_text
from synth_pipeline_tests.conftest import PARTITION, query, run_graph, synth_env

REPO_SQL = Path(__file__).resolve().parent.parent / "dbt_like_sql"


def _accepted_texts(healthy_run, count: int) -> list[str]:
    """Documents the shared run accepted: texts every quality rule lets through."""
    return [t for (t,) in query(healthy_run[0], "SELECT text FROM synth.raw_corpus ORDER BY doc_id LIMIT ?", [count])]


# --- a Parquet corpus and the landing folder -----------------------------------------------
@pytest.mark.graph
def test_a_parquet_corpus_and_a_landed_file_become_documents_and_reach_the_mix(healthy_run, tmp_path):
    texts = _accepted_texts(healthy_run, 50)
    corpus = tmp_path / "corpus.parquet"
    ids = [f"pq-{i:03d}" for i in range(40)]
    column = pa.array(texts[:40], pa.string()).to_pylist()
    column[7] = None  # a Parquet null: one reject, the rest of the file read
    pq.write_table(pa.table({"id": ids, "text": pa.array(column, pa.string())}), corpus, row_group_size=16)

    home = tmp_path / "home"
    landing = home / "landing"
    landing.mkdir(parents=True)
    landed = landing / "notes.jsonl"
    landed.write_text("".join(json.dumps({"id": f"land-{i}", "text": t}) + "\n" for i, t in enumerate(texts[40:])))
    settled = time.time() - 60
    os.utime(landed, (settled, settled))  # finished arriving a minute ago

    result = run_graph(home, SYNTH_CORPUS=str(corpus), SYNTH_DOCS_PER_PARTITION="100")
    assert result.success

    # Expected values from the files themselves.
    table = pq.read_table(corpus).to_pylist()
    expected_parquet = {r["id"] for r in table if r["text"] is not None}
    expected_landed = {json.loads(line)["id"] for line in landed.read_text().splitlines()}
    docs = query(
        home, "SELECT source_file, source_id, text FROM synth.raw_corpus WHERE partition_date = ?", [PARTITION]
    )
    by_file: dict[str, set[str]] = {}
    for source_file, source_id, _ in docs:
        by_file.setdefault(Path(source_file).name, set()).add(source_id)
    assert by_file == {"corpus.parquet": expected_parquet, "notes.jsonl": expected_landed}
    by_id = {r["id"]: r["text"] for r in table}
    assert all(text == normalize_text(by_id[sid]) for _, sid, text in docs if sid in by_id)
    rejects = query(
        home,
        "SELECT reason, record_no FROM synth.raw_corpus_rejects WHERE partition_date = ? AND scope = 'row'",
        [PARTITION],
    )
    assert rejects == [("null_text", 7)]
    # Both sources feed the mix: each has real items in it and synthetic samples derived from it.
    in_mix = query(
        home,
        "SELECT regexp_extract(r.source_file, '[^/]+$'), m.origin, count(*) FROM synth.deduplicated_mix m "
        "JOIN synth.raw_corpus r USING (doc_id, partition_date) WHERE m.partition_date = ? GROUP BY ALL",
        [PARTITION],
    )
    assert {(f, o) for f, o, n in in_mix if n > 0} == {
        ("corpus.parquet", "real"),
        ("corpus.parquet", "synthetic"),
        ("notes.jsonl", "real"),
        ("notes.jsonl", "synthetic"),
    }


# --- the generation-depth limit --------------------------------------------------------------
@pytest.mark.unit
def test_prompts_from_text_deeper_than_max_generation_depth_are_refused():
    """Documents at depth 0, 1 and 2 under the default limit 1: the depth-2 ones get no prompt.

    Only the prompt builder can be shown: raw_corpus writes every document at depth 0 (a
    release fed back as a corpus is depth 0 too), so no run of the graph reaches the limit."""
    from synth_pipeline.prompts.build import build_seed_prompts
    from synth_pipeline.settings import Settings

    texts = [
        " ".join(f"Sentence {j} of document {i} explains one plain point about item {j}." for j in range(15))
        for i in range(9)
    ]
    documents = pl.DataFrame(
        {
            "doc_id": [f"doc-{i}" for i in range(9)],
            "text": texts,
            "generation_depth": [0, 1, 2] * 3,
        }
    )
    limit = Settings().max_generation_depth
    assert limit == 1
    prompts, refused = build_seed_prompts(documents, prompts_per_document=2, passage_words=180, max_depth=limit, seed=7)
    assert refused == 3
    assert set(prompts.get_column("doc_id")) == {f"doc-{i}" for i in range(9) if i % 3 != 2}
    depth = dict(zip(documents["doc_id"], documents["generation_depth"], strict=True))
    assert all(d == depth[doc] for doc, d in prompts.select("doc_id", "generation_depth").iter_rows())
    # A stricter limit refuses depth 1 too; none at all refuses nothing.
    assert build_seed_prompts(documents, prompts_per_document=2, passage_words=180, max_depth=0, seed=7)[1] == 6
    assert build_seed_prompts(documents, prompts_per_document=2, passage_words=180, max_depth=2, seed=7)[1] == 0


@pytest.mark.graph
def test_a_sample_is_one_generation_deeper_than_its_prompt(healthy_run):
    home, _ = healthy_run
    pairs = query(
        home,
        "SELECT p.generation_depth, s.generation_depth, count(*) FROM synth.generated_samples s "
        "JOIN synth.seed_prompts p USING (prompt_id, partition_date) GROUP BY ALL",
    )
    assert [(p, s) for p, s, _ in pairs] == [(0, 1)]


# --- synth stale --------------------------------------------------------------------------
def _assets_with_sql(sql_dir: Path):
    """The code location's assets, with the SQL models read from ``sql_dir`` (an older deployment)."""
    from synth_pipeline.definitions import load_defs
    from synth_pipeline.defs.sql_assets import SQL_HOOKS
    from synth_pipeline.defs.sql_models import build_sql_asset, discover_models

    sql = {m.name: build_sql_asset(m, SQL_HOOKS.get(m.name)) for m in discover_models(sql_dir)}

    def replaced(asset):
        names = [k.to_user_string() for k in asset.keys if k.to_user_string() in sql]
        return sql[names[0]] if names else asset

    return [replaced(a) for a in load_defs().assets]


def _stale(capsys) -> tuple[int, dict[str, tuple[str, str]]]:
    """``synth stale --partition P``: exit code and {asset: (status, causes)} as printed."""
    from synth_pipeline.cli import main

    code = main(["stale", "--partition", PARTITION])
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        name, partition, rest = line.split(maxsplit=2)
        assert partition == PARTITION
        status, _, causes = rest.partition("  ")
        rows[name] = (status, causes)
    return code, rows


@pytest.mark.graph
def test_synth_stale_names_the_asset_whose_code_changed_and_exits_0_once_rerun(healthy_run, tmp_path, capsys):
    from synth_pipeline.definitions import load_defs

    defs = load_defs()
    home, dagster_home = tmp_path / "home", tmp_path / "dagster"
    shutil.copytree(healthy_run[0] / "cache", home / "cache")
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    older = tmp_path / "sql"
    shutil.copytree(REPO_SQL, older)
    model = older / "deduplicated_mix.sql"
    model.write_text(model.read_text() + "\n-- the revision deployed before this one\n")

    with synth_env(home, DAGSTER_HOME=str(dagster_home), SYNTH_DOCS_PER_PARTITION="60"):
        with DagsterInstance.get() as instance:
            built = materialize(
                _assets_with_sql(older),
                partition_key=PARTITION,
                resources=defs.resources,
                instance=instance,
                raise_on_error=False,
            )
            assert built.success
        code, rows = _stale(capsys)
        assert code == 1
        assert rows["deduplicated_mix"][0] == "STALE"
        assert "code version" in rows["deduplicated_mix"][1]
        assert {name for name, (status, _) in rows.items() if status != "FRESH"} == {"deduplicated_mix"}
        assert set(rows) == {k.to_user_string() for a in defs.assets for k in a.keys}

        # Re-materialising the stale model and everything downstream of it makes the partition fresh.
        with DagsterInstance.get() as instance:
            rerun = materialize(
                list(defs.assets),
                selection=["deduplicated_mix", "mix_exclusions", "quality_report", "dataset_release"],
                partition_key=PARTITION,
                resources=defs.resources,
                instance=instance,
                raise_on_error=False,
            )
            assert rerun.success
        code, rows = _stale(capsys)
        assert code == 0
        assert {status for status, _ in rows.values()} == {"FRESH"}


EVAL_FIRST = "Return a new sorted list from the items in iterable, with two optional keyword arguments."
EVAL_SECOND = "If you do much work on computers, eventually you find that there is some task to automate."


@pytest.mark.graph
def test_unreadable_evaluation_lines_are_named_in_the_candidates_step_metadata(tmp_path):
    """Through a real run: the mix still assembles, and mix_candidates says which lines did not guard it."""
    evaluation = tmp_path / "eval.jsonl"
    evaluation.write_text(
        json.dumps({"text": EVAL_FIRST}) + "\n[1, 2]\n" + json.dumps({"text": EVAL_SECOND}) + "\n{oops\n"
    )
    result = run_graph(
        tmp_path / "home",
        selection=[
            "raw_corpus",
            "raw_corpus_rejects",
            "seed_prompts",
            "generated_samples",
            "graded_samples",
            "mix_candidates",
        ],
        SYNTH_DOCS_PER_PARTITION="40",
        SYNTH_DECONTAMINATE=str(evaluation),
    )
    assert result.success
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "mix_candidates"
    ]
    metadata = event.step_materialization_data.materialization.metadata
    assert metadata["evaluation_lines_unread"].value == 2
    table = metadata["evaluation_unread"].value
    assert "| eval.jsonl | 2 | not_an_object: list |" in table and "| eval.jsonl | 4 | malformed_json" in table
