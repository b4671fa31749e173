"""``raw_corpus`` and its reject table, with the blocking check that no record was lost.

The step also keeps the corpus registry (see ``corpus.registry``): ``corpus_files``,
``corpus_partitions``, ``corpus_allocations`` and ``corpus_dedup_keys`` are declared
outputs of it, so the UI shows them with their lineage and a materialisation per partition.
"""

from typing import Any

import polars as pl
from dagster import (
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetOut,
    AssetSpec,
    MetadataValue,
    Nothing,
    multi_asset,
)

from synth_pipeline import text
from synth_pipeline.corpus import accounting, allocation, batch, builtin, documents, quality, readers, registry, staging
from synth_pipeline.defs.check_results import store_check_results
from synth_pipeline.defs.outputs import declared_output, frame_output
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.tables import table_metadata
from synth_pipeline.defs.versioning import pipeline_version, source_version
from synth_pipeline.report.markdown import md_table
from synth_pipeline.storage.warehouse import SCHEMA

CODE_VERSION = source_version(allocation, batch, builtin, documents, quality, readers, registry, staging, text)
ACCOUNTING_CHECK = "corpus_accounts_for_every_record"
# The registry tables the step keeps, and what each holds (see corpus.registry).
REGISTRY_TABLES = {
    registry.FILES: "One row per corpus file version seen: path, size, mtime, content hash, format, record counts, "
    "staged snapshot and status (staged, rejected, changed).",
    registry.PARTITIONS: "Each built partition in the order it was first built.",
    registry.ALLOCATIONS: "The record range [record_from, record_to) each partition took of each file; ranges never "
    "overlap.",
    registry.DEDUP_KEYS: "The exact-duplicate keys each partition accepted, so later partitions reject repeats.",
}


def _registry_out(qualified: str, description: str) -> AssetOut:
    return AssetOut.from_spec(
        AssetSpec(qualified.split(".", 1)[1], code_version=CODE_VERSION, kinds={"duckdb"}, description=description),
        dagster_type=Nothing,
    )


@multi_asset(
    outs={
        "raw_corpus": AssetOut(
            description="One accepted real document per row: normalised, quality-filtered, exact-deduplicated.",
            code_version=CODE_VERSION,
        ),
        "raw_corpus_rejects": AssetOut(
            description="Every record of the partition that did not become a document, and every file nothing "
            "could be read of, with its reason.",
            code_version=CODE_VERSION,
        ),
        **{q.split(".", 1)[1]: _registry_out(q, d) for q, d in REGISTRY_TABLES.items()},
    },
    check_specs=[
        AssetCheckSpec(
            ACCOUNTING_CHECK,
            asset="raw_corpus",
            blocking=True,
            description="Per source file, the documents and row rejects stored for the partition are exactly the "
            "records it took: none lost, none counted twice, none from outside its ranges.",
        )
    ],
    partitions_def=daily_partitions,
    group_name="synth",
    # A run selecting raw_corpus still updates the registry (see defs.outputs).
    can_subset=True,
)
def raw_corpus(context: AssetExecutionContext, synth: SynthResource):
    settings = synth.settings()
    warehouse = synth.warehouse()
    result = batch.build_corpus_batch(settings, warehouse, context.partition_key)
    version = pipeline_version(CODE_VERSION)
    docs = result.documents.with_columns(pl.lit(version).alias("pipeline_version"))
    rejects = result.rejects.with_columns(pl.lit(version).alias("pipeline_version"))
    reasons = rejects.group_by("reason").len().sort("len", descending=True)
    context.log.info(
        f"partition {context.partition_key}: {result.records} records from {result.allocations.height} files "
        f"({'taken now' if result.newly_allocated else 'as recorded'}) -> {docs.height} documents, {rejects.height} "
        "rejects"
    )
    yield from frame_output(
        context,
        warehouse,
        "raw_corpus",
        docs,
        {
            "documents": docs.height,
            "records_taken": result.records,
            "allocation": "taken now" if result.newly_allocated else "re-read as recorded",
            "files": MetadataValue.md(md_table(result.allocations)),
            "words": int(docs.get_column("n_words").sum() or 0),
            "tokens": int(docs.get_column("n_tokens").sum() or 0),
            "sources": settings.corpus,
            **({"status": "empty partition: no records left in the corpus"} if result.records == 0 else {}),
        },
    )
    yield from frame_output(
        context,
        warehouse,
        "raw_corpus_rejects",
        rejects,
        {"rejects": rejects.height, "by_reason": MetadataValue.md(md_table(reasons.rename({"len": "rows"})))},
    )
    with warehouse.connect() as con:
        registry_metadata = {q: _registry_metadata(con, q, context.partition_key) for q in REGISTRY_TABLES}
    for qualified, metadata in registry_metadata.items():
        yield from declared_output(context, qualified.split(".", 1)[1], metadata)
    check = accounting_check(warehouse, context.partition_key)
    store_check_results(context, warehouse, "raw_corpus", [check])  # the report and the dataset card read them
    if AssetCheckKey(AssetKey("raw_corpus"), ACCOUNTING_CHECK) in context.selected_asset_check_keys:
        yield check


def _registry_metadata(con, qualified: str, partition_key: str) -> dict[str, Any]:
    table = qualified.split(".", 1)[1]
    columns = {
        name
        for (name,) in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [SCHEMA, table],
        ).fetchall()
    }
    (total,) = con.execute(f"SELECT count(*) FROM {qualified}").fetchone() or (0,)
    metadata: dict[str, Any] = {"table": qualified, "rows_total": int(total)}
    if "partition_date" in columns:
        (rows,) = con.execute(
            f"SELECT count(*) FROM {qualified} WHERE partition_date = ?", [partition_key]
        ).fetchone() or (0,)
        metadata["rows_of_partition"] = int(rows)
    return {**metadata, **table_metadata(con, table, upstream=())}


def accounting_check(warehouse, partition_key: str) -> AssetCheckResult:
    """Reads back what the IO manager stored (outputs are written as they are yielded)."""
    with warehouse.connect() as con:
        per_file, outside = accounting.record_accounting(con, partition_key)
    unbalanced = per_file.filter(~pl.col("balanced"))
    passed = unbalanced.is_empty() and outside == 0
    metadata: dict[str, Any] = {
        "files": per_file.height,
        "records_taken": int(per_file.get_column("records_taken").sum() or 0),
        "documents": int(per_file.get_column("documents").sum() or 0),
        "row_rejects": int(per_file.get_column("row_rejects").sum() or 0),
        "unbalanced_files": unbalanced.height,
        "rows_outside_ranges": outside,
        "per_file": MetadataValue.md(md_table(per_file.drop("status"))),
    }
    if per_file.is_empty():
        metadata["status"] = "empty partition: nothing to check"
    if not passed:
        metadata["what_to_do"] = (
            "Records were lost or doubled between the staged snapshot and the warehouse: check the files listed "
            "(a staged file under $SYNTH_HOME/corpus_stage may be damaged) and re-materialise raw_corpus."
        )
    return AssetCheckResult(
        check_name=ACCOUNTING_CHECK,
        asset_key="raw_corpus",
        passed=passed,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
    )
