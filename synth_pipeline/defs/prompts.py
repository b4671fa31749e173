"""``seed_prompts``."""

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, asset

from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.versioning import pipeline_version, source_version
from synth_pipeline.prompts import build, passages, templates
from synth_pipeline.report.markdown import md_table

CODE_VERSION = source_version(build, passages, templates, templates.templates_fingerprint())


@asset(
    partitions_def=daily_partitions,
    code_version=CODE_VERSION,
    group_name="synth",
    description="One prompt per row: a passage of a real document rendered with a versioned task template.",
)
def seed_prompts(context: AssetExecutionContext, synth: SynthResource, raw_corpus: pl.DataFrame) -> pl.DataFrame:
    settings = synth.settings()
    prompts, refused = build.build_seed_prompts(
        raw_corpus,
        prompts_per_document=settings.prompts_per_document,
        passage_words=settings.passage_words,
        max_depth=settings.max_generation_depth,
        seed=settings.seed,
    )
    prompts = prompts.with_columns(pl.lit(pipeline_version(CODE_VERSION)).alias("pipeline_version"))
    by_task = prompts.group_by("task").len().sort("task")
    context.add_output_metadata(
        {
            "prompts": prompts.height,
            "documents_used": prompts.get_column("doc_id").n_unique(),
            "refused_depth_limit": refused,
            "tasks": MetadataValue.md(md_table(by_task.rename({"len": "prompts"}))),
        }
    )
    return prompts
