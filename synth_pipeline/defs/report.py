"""``quality_report``: the page a data scientist opens first, plus its tables."""

import polars as pl
from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset

from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.versioning import source_version
from synth_pipeline.report import collect, html, score
from synth_pipeline.storage import lineage
from synth_pipeline.storage.warehouse import write_partition

CODE_VERSION = source_version(collect, html, score)


def report_path(settings, partition_key: str):
    return settings.reports_dir / f"quality_report_{partition_key}.html"


@asset(
    partitions_def=daily_partitions,
    code_version=CODE_VERSION,
    group_name="synth",
    deps=[
        AssetKey("deduplicated_mix"),
        AssetKey("mix_exclusions"),
        AssetKey("graded_samples"),
        AssetKey("raw_corpus_rejects"),
    ],
    description="Metrics of one partition and of the cumulative mix: table, long-format metrics, Markdown and HTML.",
)
def quality_report(context: AssetExecutionContext, synth: SynthResource) -> MaterializeResult:
    settings = synth.settings()
    partition = context.partition_key
    with synth.warehouse().connect() as con:
        figures = collect.collect(con, partition, settings)
        metrics = collect.long_metrics(figures)
        write_partition(con, "quality_metrics", partition, metrics)
        lineage.ensure_views(con)  # synth.item_lineage and synth.document_descendants
        wide = {k.replace(".", "__"): [float(v)] for k, v in figures.metrics.items()}
        write_partition(
            con,
            "quality_report",
            partition,
            pl.DataFrame(
                {
                    "backend": [figures.backend],
                    "generator_model": [figures.generator_model],
                    "judge_model": [figures.judge_model],
                    # 'scored', 'empty' (0 documents) or 'no_items'; the band and verdict in words beside the numbers.
                    "status": [figures.status],
                    "status_note": [figures.status_note],
                    "band": [figures.band],
                    "fit_for": [figures.fit_for],
                    **wide,
                }
            ),
        )
    path = report_path(settings, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html.render_html(figures), encoding="utf-8")
    numeric = {k: float(v) for k, v in figures.metrics.items() if not k.startswith("funnel.")}
    return MaterializeResult(
        metadata={
            **numeric,
            "report_path": MetadataValue.path(str(path.resolve())),
            "report": MetadataValue.md(html.render_markdown(figures, str(path))),
            "backend": figures.backend,
            "status": figures.status,
            **({"status_note": figures.status_note} if figures.status_note else {}),
        }
    )
