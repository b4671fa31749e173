"""``dataset_release``: the cumulative mix up to a partition, as files a trainer loads directly.

Downstream of ``quality_report``, so in a run of the graph the blocking checks on the mix
stop the release too; run on its own, the release re-checks what the reports recorded
(see :mod:`synth_pipeline.release.export`) and refuses a partition whose report failed,
is missing or is stale. The card quotes the check results from ``synth.check_results``,
where the checking steps stored them. The step's row in ``synth.dataset_release`` says
where the release is and what it holds.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.tables import write_table
from synth_pipeline.defs.versioning import source_version
from synth_pipeline.release import card, export
from synth_pipeline.storage import queries

CODE_VERSION = source_version(export, card, *(queries.load(q).sql for q in export.QUERIES))


@asset(
    partitions_def=daily_partitions,
    code_version=CODE_VERSION,
    group_name="synth",
    # quality_metrics comes with quality_report (one step): naming the report is enough for the
    # automation to wait for both, and the UI draws quality_report -> quality_metrics.
    deps=[AssetKey(k) for k in ("deduplicated_mix", "quality_report", "check_results", "seed_prompts")],
    kinds={"duckdb", "parquet"},
    description="The cumulative mix up to this partition as Parquet shards (optionally chat JSONL), "
    "a dataset card quoting the quality report, and a manifest with content hashes, in "
    "`$SYNTH_HOME/releases/<partition>/`.",
)
def dataset_release(context: AssetExecutionContext, synth: SynthResource) -> MaterializeResult:
    settings = synth.settings()
    partition = context.partition_key
    with synth.warehouse().connect() as con:
        result = export.build_release(con, partition, settings, run_id=context.run.run_id, code_version=CODE_VERSION)
        facts = result.facts
        if facts is None:  # build_release always returns the facts it wrote into the card
            raise RuntimeError(f"release {partition} was built without its facts")
        manifest_sha = export.sha256_file(result.path / "manifest.json")
        cumulative = result.manifest["quality_metrics"]["cumulative"]
        data = [f for f in result.files if f["config"] == "default"]
        chat = [f for f in result.files if f["config"] == "chat"]
        written = write_table(
            con,
            "dataset_release",
            partition,
            pl.DataFrame(
                {
                    "path": [str(result.path.resolve())],
                    "rows": [result.rows],
                    "parquet_shards": [len(data)],
                    "parquet_bytes": [sum(f["bytes"] for f in data)],
                    "chat_rows": [sum(f["rows"] for f in chat)],
                    "chat_bytes": [sum(f["bytes"] for f in chat)],
                    "source_partitions": [len(facts.partitions)],
                    "synthetic_item_share": [float(cumulative["mix.synthetic_item_share"])],
                    "synthetic_token_share": [float(cumulative["mix.synthetic_token_share"])],
                    "release_partition_status": [result.manifest["release_partition"]["status"]],
                    "manifest_sha256": [manifest_sha],
                    "release_code_version": [CODE_VERSION],
                    "dagster_run_id": [context.run.run_id],
                }
            ),
            upstream=(),
        )
    return MaterializeResult(
        metadata={
            **written,
            "rows": result.rows,
            "parquet_shards": len(data),
            "parquet_bytes": sum(f["bytes"] for f in data),
            "chat_rows": sum(f["rows"] for f in chat),
            "source_partitions": len(facts.partitions),
            "repeated_item_ids": int(facts.lineage.get("repeated_item_ids", 0)),
            "synthetic_item_share": float(cumulative["mix.synthetic_item_share"]),
            "synthetic_token_share": float(cumulative["mix.synthetic_token_share"]),
            "release_partition_status": result.manifest["release_partition"]["status"],
            **(
                {"status": result.manifest["release_partition"]["note"]}
                if result.manifest["release_partition"]["empty"]
                else {}
            ),
            "manifest_sha256": manifest_sha,
            "release_path": MetadataValue.path(str(result.path.resolve())),
            "dataset_card": MetadataValue.md(_card_summary(result)),
            "files": MetadataValue.md(_md_files(result.files)),
        }
    )


def _card_summary(result: export.ReleaseResult) -> str:
    """The card's body from the composition section on (the UI renders Markdown, not YAML front matter)."""
    text = (result.path / "README.md").read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[-1]
    return body.strip()


def _md_files(files: list[dict]) -> str:
    rows = [
        f"| {f['path']} | {f['rows'] if f['rows'] is not None else ''} | {f['bytes']} | `{f['sha256'][:16]}…` |"
        for f in files
    ]
    return "\n".join(["| file | rows | bytes | sha256 |", "|---|---|---|---|", *rows])
