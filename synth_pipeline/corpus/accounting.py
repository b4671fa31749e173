"""Proof that no record was lost: per source file, documents + row rejects = records taken.

Computed from what was stored (``synth.raw_corpus``, ``synth.raw_corpus_rejects``) against
the ranges the registry recorded for the partition, so a record dropped anywhere between
the staged snapshot and the warehouse, or counted twice, shows up.
"""

from __future__ import annotations

import duckdb
import polars as pl

from synth_pipeline.corpus import registry
from synth_pipeline.storage.warehouse import SCHEMA, one_row, partition_date

_PER_FILE = f"""
WITH ranges AS (
    SELECT file_id, record_from, record_to FROM {registry.ALLOCATIONS} WHERE partition_date = $d
),
stored AS (
    SELECT file_id, record_no, 'document' AS kind FROM {SCHEMA}.raw_corpus WHERE partition_date = $d
    UNION ALL
    SELECT file_id, record_no, 'reject' FROM {SCHEMA}.raw_corpus_rejects WHERE partition_date = $d AND scope = 'row'
),
matched AS (
    SELECT s.*, r.file_id IS NOT NULL AS in_range
    FROM stored s LEFT JOIN ranges r
      ON s.file_id = r.file_id AND s.record_no >= r.record_from AND s.record_no < r.record_to
)
SELECT r.file_id, f.path, f.status, r.record_to - r.record_from AS records_taken,
       count(m.record_no) FILTER (WHERE m.kind = 'document') AS documents,
       count(m.record_no) FILTER (WHERE m.kind = 'reject') AS row_rejects,
       count(DISTINCT m.record_no) AS distinct_records
FROM ranges r
JOIN {registry.FILES} f USING (file_id)
LEFT JOIN matched m ON m.file_id = r.file_id AND m.in_range
GROUP BY ALL
ORDER BY r.file_id
"""
_OUTSIDE = f"""
SELECT count(*) FROM (
    SELECT file_id, record_no FROM {SCHEMA}.raw_corpus WHERE partition_date = $d
    UNION ALL
    SELECT file_id, record_no FROM {SCHEMA}.raw_corpus_rejects WHERE partition_date = $d AND scope = 'row'
) s
WHERE NOT EXISTS (
    SELECT 1 FROM {registry.ALLOCATIONS} r
    WHERE r.partition_date = $d AND r.file_id = s.file_id AND s.record_no >= r.record_from AND s.record_no < r.record_to
)
"""


def record_accounting(con: duckdb.DuckDBPyConnection, partition: str) -> tuple[pl.DataFrame, int]:
    """(one row per file the partition took, with ``balanced``; rows stored outside every range)."""
    params = {"d": partition_date(partition)}
    per_file = (
        con.execute(_PER_FILE, params)
        .pl()
        .with_columns(
            (
                (pl.col("documents") + pl.col("row_rejects") == pl.col("records_taken"))
                & (pl.col("distinct_records") == pl.col("records_taken"))
            ).alias("balanced")
        )
    )
    (outside,) = one_row(con.execute(_OUTSIDE, params))
    return per_file, int(outside)
