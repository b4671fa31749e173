"""Row-level and column-level lineage.

Row level: two DuckDB views over the warehouse, created by :func:`ensure_views` (the
``quality_report`` step and ``synth trace`` call it):

* ``synth.item_lineage``: one row per mix item with the chain that made it:
  grade -> sample -> prompt -> raw document -> source file and row, and the versions
  recorded at every stage (template, generator and judge model, rubric, pipeline).
* ``synth.document_descendants``: one row per thing derived from a raw document:
  its prompts, samples, grades, mix items, exclusions and input rejects.

``synth trace ITEM_ID`` prints the first, ``synth trace --doc DOC_ID`` the second.

Column level: the columns of each table and what each depends on (:func:`table_lineage`),
which ``defs/tables.py`` turns into ``dagster/column_lineage`` (and ``dagster/column_schema``)
metadata on every materialisation. A column depends on the same-named column of each direct
upstream table (our assets pass identifiers and text through under their names),
plus the explicit dependencies of derived columns listed in :data:`DERIVED` for the
Python assets and in ``-- lineage: column <- table.column, ...`` comments of the SQL
models. The open-source UI does not draw column lineage; the metadata is there for
Dagster+ and for anything reading the event log, and the row-level trace above is
what every user gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import duckdb

from synth_pipeline.storage.warehouse import SCHEMA, _table_columns, _table_exists

# Direct upstream tables of the Python assets (the SQL models find theirs in their SQL).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "raw_corpus": (),
    "raw_corpus_rejects": (),
    "seed_prompts": ("raw_corpus",),
    "generated_samples": ("seed_prompts",),
    "graded_samples": ("generated_samples", "seed_prompts"),
    "mix_candidates": ("raw_corpus", "generated_samples", "graded_samples"),
}
# Columns computed from differently named upstream columns.
DERIVED: dict[str, dict[str, tuple[str, ...]]] = {
    "seed_prompts": {
        "passage": ("raw_corpus.text",),
        "passage_index": ("raw_corpus.text",),
        "messages": ("raw_corpus.text",),
        "prompt_id": ("raw_corpus.doc_id", "raw_corpus.text"),
    },
    "generated_samples": {
        "text": ("seed_prompts.messages", "seed_prompts.passage"),
        "sample_id": ("seed_prompts.prompt_id",),
        "prompt_tokens": ("seed_prompts.messages",),
        "n_tokens": ("seed_prompts.messages", "seed_prompts.passage"),
        "completion_tokens": ("seed_prompts.messages", "seed_prompts.passage"),
    },
    "graded_samples": {
        **{
            c: ("generated_samples.text", "seed_prompts.passage", "seed_prompts.task")
            for c in ("score", "faithfulness", "correctness", "helpfulness", "clarity", "safety", "rationale", "flags")
        },
        "accepted": ("generated_samples.text", "generated_samples.error", "seed_prompts.passage"),
        "rejection_reason": ("generated_samples.text", "generated_samples.error", "seed_prompts.passage"),
        "same_model_as_generator": ("generated_samples.model",),
    },
    "mix_candidates": {
        "item_id": ("raw_corpus.doc_id", "generated_samples.sample_id"),
        "exclusion_reason": (
            "graded_samples.accepted",
            "graded_samples.rejection_reason",
            "raw_corpus.text",
            "generated_samples.text",
        ),
        "duplicate_of": (
            "raw_corpus.doc_id",
            "generated_samples.sample_id",
            "raw_corpus.text",
            "generated_samples.text",
        ),
        "similarity": ("raw_corpus.text", "generated_samples.text"),
        "priority": ("graded_samples.score",),
    },
    # SQL models (a `-- lineage:` comment in the file adds to or overrides these)
    "deduplicated_mix": {"rank_in_task": ("mix_candidates.task", "mix_candidates.score", "mix_candidates.priority")},
    "mix_exclusions": {"reason": ("mix_candidates.exclusion_reason", "deduplicated_mix.item_id")},
}
# Columns every table has that say where a row sits, not what it is made of.
BOOKKEEPING = {"partition_date", "pipeline_version"}
_LINEAGE_COMMENT = re.compile(r"^--\s*lineage:\s*([A-Za-z_][A-Za-z0-9_]*)\s*<-\s*(.+)$", re.MULTILINE)


def sql_lineage_comments(sql: str) -> dict[str, tuple[str, ...]]:
    """``-- lineage: col <- table.col, table.col`` lines of a SQL model."""
    return {
        col: tuple(part.strip() for part in deps.split(",") if part.strip())
        for col, deps in _LINEAGE_COMMENT.findall(sql)
    }


def column_dependencies(
    columns: Iterable[str],
    upstream_columns: Mapping[str, Iterable[str]],
    derived: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, list[tuple[str, str]]]:
    """``{column: [(upstream table, column), ...]}``: same-named upstream columns plus ``derived``."""
    derived = derived or {}
    upstream_sets = {table: set(cols) for table, cols in upstream_columns.items()}
    deps_by_column: dict[str, list[tuple[str, str]]] = {}
    for column in columns:
        if column in BOOKKEEPING:
            continue
        refs = [f"{table}.{column}" for table, cols in upstream_sets.items() if column in cols]
        refs += [r for r in derived.get(column, ()) if r not in refs]
        if refs:
            deps_by_column[column] = [(ref.split(".", 1)[0], ref.split(".", 1)[1]) for ref in refs]
    return deps_by_column


def table_lineage(
    con: duckdb.DuckDBPyConnection,
    table: str,
    upstream: Sequence[str] | None = None,
    derived: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, str], dict[str, list[tuple[str, str]]]] | None:
    """``(columns and their types, column dependencies)`` of ``synth.<table>`` as stored now;
    None while it does not exist. ``upstream``/``derived`` default to :data:`UPSTREAM`/:data:`DERIVED`."""
    if not _table_exists(con, table):
        return None
    columns = _table_columns(con, table)
    upstream = UPSTREAM.get(table, ()) if upstream is None else upstream
    derived = DERIVED.get(table, {}) if derived is None else derived
    upstream_columns = {u: list(_table_columns(con, u)) for u in upstream if _table_exists(con, u)}
    return columns, column_dependencies(columns, upstream_columns, derived)


# --- row level ----------------------------------------------------------------------
ITEM_LINEAGE_SQL = f"""
CREATE OR REPLACE VIEW {SCHEMA}.item_lineage AS
SELECT
    m.item_id, m.partition_date, m.origin, m.n_tokens AS item_tokens, m.score AS item_score,
    m.pipeline_version AS mix_pipeline_version,
    g.judge_backend, g.judge_model, g.rubric_version, g.score AS grade_score, g.accepted, g.flags,
    g.pipeline_version AS grade_pipeline_version,
    s.sample_id, s.backend, s.model AS generator_model, s.finish_reason, s.cost_usd, s.cached,
    s.pipeline_version AS sample_pipeline_version,
    p.prompt_id, p.task, p.audience, p.style, p.template_version, p.passage_index, p.generation_depth,
    p.pipeline_version AS prompt_pipeline_version,
    r.doc_id, r.source, r.source_file, r.source_row, r.source_id, r.file_id, r.record_no, r.n_words AS doc_words,
    r.pipeline_version AS corpus_pipeline_version
FROM {SCHEMA}.deduplicated_mix AS m
LEFT JOIN {SCHEMA}.graded_samples AS g
    ON g.sample_id = m.sample_id AND g.partition_date = m.partition_date
LEFT JOIN {SCHEMA}.generated_samples AS s
    ON s.sample_id = m.sample_id AND s.partition_date = m.partition_date
LEFT JOIN {SCHEMA}.seed_prompts AS p
    ON p.prompt_id = coalesce(m.prompt_id, s.prompt_id) AND p.partition_date = m.partition_date
LEFT JOIN {SCHEMA}.raw_corpus AS r
    ON r.doc_id = coalesce(m.doc_id, p.doc_id) AND r.partition_date = m.partition_date
"""

DOCUMENT_DESCENDANTS_SQL = f"""
CREATE OR REPLACE VIEW {SCHEMA}.document_descendants AS
SELECT doc_id, partition_date, 1 AS stage_order, 'document' AS stage, doc_id AS id,
       source || ' ' || source_file || ':' || source_row AS detail
FROM {SCHEMA}.raw_corpus
UNION ALL
SELECT doc_id, partition_date, 2, 'prompt', prompt_id,
       task || ' / ' || audience || ' / ' || style
       || ' (template ' || template_version || ', depth ' || generation_depth || ')'
FROM {SCHEMA}.seed_prompts
UNION ALL
SELECT doc_id, partition_date, 3, 'sample', sample_id,
       backend || ':' || model || ', ' || coalesce('error ' || error, 'finish ' || finish_reason)
       || ', ' || n_tokens || ' tokens'
FROM {SCHEMA}.generated_samples
UNION ALL
SELECT s.doc_id, g.partition_date, 4, 'grade', g.sample_id,
       g.judge_model || ' score ' || coalesce(CAST(g.score AS VARCHAR), 'none') || ', '
       || CASE WHEN g.accepted THEN 'accepted' ELSE 'rejected: ' || coalesce(g.rejection_reason, '?') END
FROM {SCHEMA}.graded_samples AS g
JOIN {SCHEMA}.generated_samples AS s ON s.sample_id = g.sample_id AND s.partition_date = g.partition_date
UNION ALL
SELECT doc_id, partition_date, 5, 'mix_item', item_id, origin || ', ' || n_tokens || ' tokens'
FROM {SCHEMA}.deduplicated_mix
UNION ALL
SELECT doc_id, partition_date, 6, 'excluded', item_id,
       reason || coalesce(' (of ' || duplicate_of || ')', '')
FROM {SCHEMA}.mix_exclusions
UNION ALL
SELECT doc_id, partition_date, 7, 'input_rejected', coalesce(doc_id, source_file || ':' || source_row), reason
FROM {SCHEMA}.raw_corpus_rejects
WHERE doc_id IS NOT NULL
"""

VIEW_TABLES = (
    "raw_corpus",
    "raw_corpus_rejects",
    "seed_prompts",
    "generated_samples",
    "graded_samples",
    "deduplicated_mix",
    "mix_exclusions",
)


def ensure_views(con: duckdb.DuckDBPyConnection) -> bool:
    """(Re)create the lineage views; False while a table they read does not exist yet."""
    if not all(_table_exists(con, t) for t in VIEW_TABLES):
        return False
    con.execute(ITEM_LINEAGE_SQL)
    con.execute(DOCUMENT_DESCENDANTS_SQL)
    return True


def trace_item(con: duckdb.DuckDBPyConnection, item_id: str, partition: str | None = None) -> list[dict]:
    """The lineage rows of one mix item (one per partition it is in)."""
    sql = f"SELECT * FROM {SCHEMA}.item_lineage WHERE item_id = ?"
    params: list[object] = [item_id]
    if partition:
        sql += " AND partition_date = ?"
        params.append(partition)
    cursor = con.execute(sql + " ORDER BY partition_date", params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def trace_document(con: duckdb.DuckDBPyConnection, doc_id: str) -> list[dict]:
    """Everything derived from one raw document, in pipeline order."""
    cursor = con.execute(
        f"SELECT partition_date, stage, id, detail FROM {SCHEMA}.document_descendants "
        "WHERE doc_id = ? ORDER BY partition_date, stage_order, id",
        [doc_id],
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def format_item(rows: list[dict]) -> str:
    if not rows:
        return "no such item in synth.deduplicated_mix"
    out = []
    for r in rows:
        out.append(
            f"mix item {r['item_id']}  ({r['origin']}, partition {r['partition_date']}, {r['item_tokens']} tokens)"
        )
        if r["origin"] == "synthetic":
            out.append(
                f"  grade    judge {r['judge_backend']}:{r['judge_model']} rubric {r['rubric_version']}: "
                f"score {r['grade_score']}, accepted={r['accepted']}, flags={list(r['flags'] or [])}"
            )
            out.append(
                f"  sample   {r['sample_id']}  {r['backend']}:{r['generator_model']} finish={r['finish_reason']} "
                f"cost ${r['cost_usd'] or 0:.6f} cached={r['cached']}"
            )
            out.append(
                f"  prompt   {r['prompt_id']}  task={r['task']} audience={r['audience']} style={r['style']} "
                f"template={r['template_version']} passage #{r['passage_index']} depth {r['generation_depth']}"
            )
        out.append(f"  document {r['doc_id']}  {r['doc_words']} words")
        out.append(f"  source   {r['source']}  file {r['source_file']}  row {r['source_row']}")
        if r.get("file_id") is not None:
            own_id = f"  id {r['source_id']}" if r.get("source_id") else ""
            out.append(f"  record   #{r['record_no']} of registered file {r['file_id']} (synth.corpus_files){own_id}")
        versions = [
            ("mix", r["mix_pipeline_version"]),
            ("grade", r["grade_pipeline_version"]),
            ("sample", r["sample_pipeline_version"]),
            ("prompt", r["prompt_pipeline_version"]),
            ("corpus", r["corpus_pipeline_version"]),
        ]
        out.append("  versions " + ", ".join(f"{k}={v}" for k, v in versions if v))
    return "\n".join(out)


def format_document(doc_id: str, rows: list[dict]) -> str:
    if not rows:
        return f"no rows derived from document {doc_id}"
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["stage"]] = counts.get(r["stage"], 0) + 1
    out = [f"document {doc_id}: " + ", ".join(f"{n} {stage}" for stage, n in counts.items())]
    out += [f"  {r['partition_date']}  {r['stage']:<15} {r['id']}  {r['detail']}" for r in rows]
    return "\n".join(out)
