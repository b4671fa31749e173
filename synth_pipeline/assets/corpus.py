"""``raw_corpus`` and its reject table."""


import polars as pl
from dagster import AssetExecutionContext, AssetOut, MetadataValue, Output, multi_asset

from synth_pipeline import text
from synth_pipeline.corpus import batch, builtin, quality, sources
from synth_pipeline.metadata import md_table
from synth_pipeline.partitions import daily_partitions
from synth_pipeline.resources import SynthResource
from synth_pipeline.versioning import pipeline_version, source_version

CODE_VERSION = source_version(batch, builtin, quality, sources, text)


@multi_asset(
    outs={
        "raw_corpus": AssetOut(
            description="One accepted real document per row: normalised, quality-filtered, exact-deduplicated.",
            code_version=CODE_VERSION,
        ),
        "raw_corpus_rejects": AssetOut(
            description="Every input of the partition that did not become a document, with its reason.",
            code_version=CODE_VERSION,
        ),
    },
    partitions_def=daily_partitions,
    group_name="synth",
)
def raw_corpus(context: AssetExecutionContext, synth: SynthResource):
    settings = synth.settings()
    start = daily_partitions.start.date()
    result = batch.build_corpus_batch(settings, context.partition_key, start)
    version = pipeline_version(CODE_VERSION)
    documents = result.documents.with_columns(pl.lit(version).alias("pipeline_version"))
    rejects = result.rejects.with_columns(pl.lit(version).alias("pipeline_version"))
    reasons = rejects.group_by("reason").len().sort("len", descending=True)
    context.log.info(
        f"partition {context.partition_key}: slice {result.slice_index + 1}/{result.slice_count}, "
        f"{result.inputs} inputs -> {documents.height} documents, {rejects.height} rejects"
    )
    yield Output(
        documents,
        output_name="raw_corpus",
        metadata={
            "documents": documents.height,
            "inputs_in_slice": result.inputs,
            "words": int(documents.get_column("n_words").sum() or 0),
            "tokens": int(documents.get_column("n_tokens").sum() or 0),
            "slice": f"{result.slice_index + 1}/{result.slice_count}",
            "sources": settings.corpus,
        },
    )
    yield Output(
        rejects,
        output_name="raw_corpus_rejects",
        metadata={
            "rejects": rejects.height,
            "by_reason": MetadataValue.md(md_table(reasons.rename({"len": "rows"}))),
        },
    )

