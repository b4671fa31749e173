"""The two asset groups the UI shows: the pipeline, and the records its steps keep.

``synth`` holds the ten stages and the mix metrics the report reads, so its lineage page
reads as the pipeline does and "Materialize all" there selects everything a stage needs.
``synth_tables`` holds the bookkeeping tables steps write beside their asset and no stage
reads as an input: the corpus registry, the signature index of earlier partitions, the
real-item ledger, the check results and the long-format report metrics. They are
queryable assets with lineage all the same. Applied in one place (``definitions.load_defs``).
"""

from __future__ import annotations

from dagster import AssetSpec

PIPELINE_GROUP = "synth"
TABLES_GROUP = "synth_tables"
STAGES = (
    "raw_corpus",
    "raw_corpus_rejects",
    "seed_prompts",
    "generated_samples",
    "graded_samples",
    "mix_candidates",
    "deduplicated_mix",
    "mix_exclusions",
    "quality_report",
    "dataset_release",
)
RECORD_TABLES = (
    "corpus_files",
    "corpus_partitions",
    "corpus_allocations",
    "corpus_dedup_keys",
    "mix_signatures",
    "real_item_ledger",
    "check_results",
    "quality_metrics",
)


def grouped(spec: AssetSpec) -> AssetSpec:
    """``spec`` in the tables' group when it is a bookkeeping table, else in the pipeline's."""
    group = TABLES_GROUP if spec.key.to_user_string() in RECORD_TABLES else PIPELINE_GROUP
    return spec if spec.group_name == group else spec.replace_attributes(group_name=group)
