"""``quality_report``: the page a data scientist opens first, plus its tables.

One step writes the one-row table ``quality_report`` (headline, band, verdict, every metric
as a column), its long form ``quality_metrics`` (scope, metric, value: what the dataset card
and later reports' trends read) and the HTML page.
"""

from collections.abc import Iterator

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from synth_pipeline.defs.outputs import declared_output, report_materialization, selected
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.tables import write_table
from synth_pipeline.defs.versioning import source_version
from synth_pipeline.report import collect, html, score
from synth_pipeline.storage import lineage, queries

CODE_VERSION = source_version(collect, html, score, *(queries.load(q).sql for q in collect.QUERIES))
READS = (
    "deduplicated_mix",
    "mix_exclusions",
    "graded_samples",
    "raw_corpus_rejects",
    "mix_metrics",
    "mix_term_groups",
    "mix_overrepresented_ngrams",
    "check_results",
)


def report_path(settings, partition_key: str):
    return settings.reports_dir / f"quality_report_{partition_key}.html"


@multi_asset(
    specs=[
        AssetSpec(
            "quality_report",
            deps=[AssetKey(k) for k in READS],
            code_version=CODE_VERSION,
            description="Metrics of one partition and of the cumulative mix: table, long-format metrics, Markdown "
            "and HTML.",
        ),
        AssetSpec(
            "quality_metrics",
            deps=[AssetKey("quality_report")],
            code_version=CODE_VERSION,
            kinds={"duckdb"},
            description="The quality report's figures in long format (scope 'partition' or 'cumulative', metric, "
            "value): what the dataset card quotes and later reports' trends read.",
        ),
    ],
    partitions_def=daily_partitions,
    group_name="synth",
    # The report refreshed alone (automation) still rewrites its long-format table (see defs.outputs).
    can_subset=True,
)
def quality_report(context: AssetExecutionContext, synth: SynthResource) -> Iterator[MaterializeResult]:
    settings = synth.settings()
    partition = context.partition_key
    with synth.warehouse().connect() as con:
        figures = collect.collect(con, partition, settings)
        metrics_written = write_table(con, "quality_metrics", partition, collect.long_metrics(figures), upstream=())
        lineage.ensure_views(con)  # synth.item_lineage and synth.document_descendants
        wide = {k.replace(".", "__"): [float(v)] for k, v in figures.metrics.items()}
        report_written = write_table(
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
            upstream=(),
        )
    path = report_path(settings, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html.render_html(figures), encoding="utf-8")
    numeric = {k: float(v) for k, v in figures.metrics.items() if not k.startswith("funnel.")}
    metadata = {
        **report_written,
        **numeric,
        "report_path": MetadataValue.path(str(path.resolve())),
        "report": MetadataValue.md(html.render_markdown(figures, str(path))),
        "backend": figures.backend,
        "status": figures.status,
        **({"status_note": figures.status_note} if figures.status_note else {}),
    }
    if selected(context, "quality_report"):
        yield MaterializeResult(asset_key="quality_report", metadata=metadata)
    else:
        report_materialization(context, "quality_report", metadata)
    yield from declared_output(context, "quality_metrics", metrics_written)
