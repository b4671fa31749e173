"""``dataset_release``: the cumulative mix up to a partition, as files a trainer loads directly.

Downstream of ``quality_report``, so in a run of the graph the blocking checks on the mix
stop the release too; run on its own, the release re-checks what the reports recorded
(see :mod:`synth_pipeline.release.export`) and refuses a partition whose report failed,
is missing or is stale.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetRecordsFilter, MaterializeResult, MetadataValue, asset

from synth_pipeline.defs.checks import EXCLUSION_CHECK_SPECS, MIX_CHECK_SPECS
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.versioning import source_version
from synth_pipeline.release import card, export
from synth_pipeline.storage.warehouse import write_partition

CODE_VERSION = source_version(export, card)


@asset(
    partitions_def=daily_partitions,
    code_version=CODE_VERSION,
    group_name="synth",
    deps=[AssetKey("deduplicated_mix"), AssetKey("quality_report"), AssetKey("seed_prompts")],
    description="The cumulative mix up to this partition as Parquet shards (optionally chat JSONL), "
    "a dataset card quoting the quality report, and a manifest with content hashes, in "
    "`$SYNTH_HOME/releases/<partition>/`.",
)
def dataset_release(context: AssetExecutionContext, synth: SynthResource) -> MaterializeResult:
    settings = synth.settings()
    partition = context.partition_key
    with synth.warehouse().connect() as con:
        checks, source = _recorded_checks(context, partition)
        result = export.build_release(
            con,
            partition,
            settings,
            run_id=context.run.run_id,
            code_version=CODE_VERSION,
            checks=checks,
            checks_source=source,
        )
        facts = result.facts
        if facts is None:  # build_release always returns the facts it wrote into the card
            raise RuntimeError(f"release {partition} was built without its facts")
        manifest_sha = export.sha256_file(result.path / "manifest.json")
        cumulative = result.manifest["quality_metrics"]["cumulative"]
        data = [f for f in result.files if f["config"] == "default"]
        chat = [f for f in result.files if f["config"] == "chat"]
        write_partition(
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
        )
    return MaterializeResult(
        metadata={
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


def _recorded_checks(context: AssetExecutionContext, partition: str) -> tuple[list[dict] | None, str | None]:
    """The checks on the mix as Dagster recorded them in the run that materialised this
    partition's mix; (None, None) when any is missing, so the export recomputes them."""
    instance = context.instance
    checks, runs = [], set()
    try:
        for specs in (MIX_CHECK_SPECS, EXCLUSION_CHECK_SPECS):
            asset_key = specs[0].asset_key
            latest = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
            ).records
            if not latest:
                return None, None
            run_id = latest[0].run_id
            for spec in specs:
                history = instance.event_log_storage.get_asset_check_execution_history(spec.key, limit=50)
                record = next(
                    (r for r in history if r.run_id == run_id and r.event is not None and r.event.dagster_event), None
                )
                if record is None:
                    return None, None
                evaluation = record.event.dagster_event.event_specific_data
                checks.append(
                    {
                        "check": spec.name,
                        "passed": bool(evaluation.passed),
                        "severity": evaluation.severity.value,
                        "details": {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()},
                    }
                )
                runs.add(run_id)
    except Exception as exc:  # an instance without check records still releases, with recomputed checks
        context.log.warning(f"could not read recorded check results ({exc}); recomputing them")
        return None, None
    return checks, "as recorded by Dagster in run " + ", ".join(sorted(r[:8] for r in runs))


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
