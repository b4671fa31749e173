"""``generated_samples`` and ``graded_samples``: the two LLM-calling stages.

Both run in the ``llm`` concurrency pool, so a backfill of many partitions cannot send
more parallel requests to the provider than the pool allows.
"""

import importlib
import pkgutil
import time

import polars as pl
from dagster import AssetExecutionContext, MetadataValue, Output, asset

from synth_pipeline import chat, llm
from synth_pipeline.defs.check_results import store_check_results
from synth_pipeline.defs.checks import GRADE_CHECK_SPECS, grade_checks, partition_documents
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.versioning import pipeline_version, source_version
from synth_pipeline.llm import factory
from synth_pipeline.report.markdown import md_table
from synth_pipeline.tasks import flags, generation, grading, samples

# The modules that decide a row: the task, the rows, the seam and every backend module
# (all of llm/ but the progress log), so adding a backend module versions it too.
_BACKENDS = (
    chat,
    *(
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(llm.__path__, "synth_pipeline.llm.")
        if info.name != "synth_pipeline.llm.progress"
    ),
)
GENERATION_VERSION = source_version(generation, samples, *_BACKENDS)
GRADING_VERSION = source_version(grading, samples, flags, *_BACKENDS)
LLM_POOL = "llm"
BATCH = 20_000  # prompts (samples) per slice: bounds the Python objects alive at once


def _chunk_progress(report, total: int):
    """Progress of one slice (``done`` of its own requests) reported against the whole stage."""

    def for_slice(offset: int):
        return lambda done, _of: report(offset + done, total)

    return for_slice


def _progress_logger(context: AssetExecutionContext, what: str):
    started = time.monotonic()

    def report(done: int, total: int) -> None:
        elapsed = max(time.monotonic() - started, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate else float("inf")
        context.log.info(f"{what}: {done}/{total} ({rate:.1f}/s, ETA {eta:.0f}s)")

    return report


def _number(value: object) -> float:
    """A numeric column's sum or mean as a float (polars types it as any Python scalar)."""
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return float(value)


@asset(
    partitions_def=daily_partitions,
    code_version=GENERATION_VERSION,
    group_name="synth",
    pool=LLM_POOL,
    description="One completion (or one recorded failure) per seed prompt.",
)
def generated_samples(context: AssetExecutionContext, synth: SynthResource, seed_prompts: pl.DataFrame) -> pl.DataFrame:
    settings = synth.settings()
    generator = factory.make_generator(settings, synth.warehouse())
    progress = _chunk_progress(_progress_logger(context, "generation"), seed_prompts.height)
    started = time.monotonic()
    parts = []
    # In slices of BATCH prompts: the request and result objects of one slice exist at a
    # time (200k of each at 100k documents otherwise). Rows do not depend on the slicing.
    # No prompts (a partition whose inputs were all rejected): no backend call, no client,
    # and the frame below still carries every column with 0 rows.
    for start in range(0, max(seed_prompts.height, 1), BATCH):
        prompts = seed_prompts.slice(start, BATCH)
        requests = generation.requests(prompts, settings, generator.model)
        results = generator.generate(requests, progress(start)) if requests else []
        del requests
        parts.append(
            samples.sample_rows(prompts, results, backend=generator.name, model=generator.model, settings=settings)
        )
        del results
    elapsed = time.monotonic() - started
    frame = pl.concat(parts)
    del parts
    frame = frame.with_columns(pl.lit(pipeline_version(GENERATION_VERSION)).alias("pipeline_version"))
    errors = frame.filter(pl.col("error").is_not_null())
    context.add_output_metadata(
        {
            "samples": frame.height,
            "errors": errors.height,
            "error_rate": errors.height / max(1, frame.height),
            "backend": generator.name,
            "model": generator.model,
            "completion_tokens": int(frame.get_column("completion_tokens").sum() or 0),
            "cost_usd": float(frame.get_column("cost_usd").sum()),
            "cache_hit_rate": _number(frame.get_column("cached").mean() or 0.0),
            "requests_per_second": seed_prompts.height / max(elapsed, 1e-9),
            "finish_reasons": MetadataValue.md(
                md_table(frame.group_by("finish_reason").len().sort("len", descending=True))
            ),
            **({"status": "no prompts: nothing to generate"} if frame.is_empty() else {}),
        }
    )
    return frame


@asset(
    partitions_def=daily_partitions,
    code_version=GRADING_VERSION,
    group_name="synth",
    pool=LLM_POOL,
    check_specs=GRADE_CHECK_SPECS,
    description="One grade per sample: rubric scores from the judge, heuristic flags, acceptance.",
)
def graded_samples(
    context: AssetExecutionContext, synth: SynthResource, generated_samples: pl.DataFrame, seed_prompts: pl.DataFrame
):
    settings = synth.settings()
    judge = factory.make_judge(settings, synth.warehouse())
    progress = _chunk_progress(_progress_logger(context, "grading"), generated_samples.height)
    parts = []
    # In slices of BATCH samples, like generation; a grade row depends only on its sample.
    for start in range(0, max(generated_samples.height, 1), BATCH):
        batch = generated_samples.slice(start, BATCH)
        requests = grading.requests(batch, seed_prompts, judge.model, settings)
        results = judge.grade(requests, progress(start)) if requests else []
        del requests
        parts.append(
            samples.grade_rows(
                batch, seed_prompts, results, judge_backend=judge.name, judge_model=judge.model, settings=settings
            )
        )
        del results
    frame = pl.concat(parts)
    del parts
    frame = frame.with_columns(pl.lit(pipeline_version(GRADING_VERSION)).alias("pipeline_version"))
    same_model = bool(frame.get_column("same_model_as_generator").any())
    if same_model:
        context.log.warning(
            f"judge model {judge.model!r} is also the generator: models prefer their own text (self-preference bias)"
        )
    graded = frame.filter(pl.col("score").is_not_null())
    yield Output(
        frame,
        metadata={
            "grades": frame.height,
            "accepted": int(frame.get_column("accepted").sum()),
            "acceptance_rate": _number(frame.get_column("accepted").mean() or 0.0),
            "mean_score": _number(graded.get_column("score").mean() or 0.0),
            "parse_failures": frame.filter(pl.col("grade_status") == "parse_error").height,
            "judge": f"{judge.name}:{judge.model}",
            "judge_is_generator": same_model,
            "rejections": MetadataValue.md(
                md_table(
                    frame.filter(~pl.col("accepted")).group_by("rejection_reason").len().sort("len", descending=True)
                )
            ),
            **({"status": "no samples: nothing to grade"} if frame.is_empty() else {}),
        },
    )
    check_results = grade_checks(frame, generated_samples, settings, documents=_documents(synth, context.partition_key))
    store_check_results(context, synth.warehouse(), "graded_samples", check_results)
    yield from check_results


def _documents(synth: SynthResource, partition_key: str) -> int:
    """Documents of the partition, so a check can tell an empty partition from an empty stage."""
    with synth.warehouse().connect() as con:
        return partition_documents(con, partition_key)
