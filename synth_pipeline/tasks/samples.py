"""Turn prompts into generation requests and backend results into sample and grade rows.

The backend only moves requests; this module owns ids, accounting and acceptance, so
both backends produce rows of the same shape and every prompt ends as exactly one
sample row (a completion or a recorded failure), every sample as exactly one grade row.
"""

from __future__ import annotations

import json

import polars as pl

from synth_pipeline.llm.interface import GenerationRequest, GenerationResult, GradeRequest, GradeResult
from synth_pipeline.settings import Settings
from synth_pipeline.tasks.flags import BLOCKING_FLAGS, HEURISTIC_FLAGS, flag_batch
from synth_pipeline.tasks.rubric import CRITERIA, RUBRIC_VERSION, GradeParseError, parse_grade
from synth_pipeline.text import content_hash, count_tokens

SAMPLE_INDEX = 0  # one completion per prompt; the index is part of the id and of the cache key

# Declared, not inferred: a partition with no prompts (every input rejected) must still
# write tables with every column and type, or everything downstream loses its columns.
SAMPLE_SCHEMA = {
    "sample_id": pl.Utf8,
    "prompt_id": pl.Utf8,
    "doc_id": pl.Utf8,
    "task": pl.Utf8,
    "audience": pl.Utf8,
    "style": pl.Utf8,
    "template_version": pl.Utf8,
    "generation_depth": pl.Int64,
    "backend": pl.Utf8,
    "model": pl.Utf8,
    "temperature": pl.Float64,
    "max_tokens": pl.Int64,
    "seed": pl.Int64,
    "text": pl.Utf8,
    "finish_reason": pl.Utf8,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "n_tokens": pl.Int64,
    "cost_usd": pl.Float64,
    "cached": pl.Boolean,
    "attempts": pl.Int64,
    "latency_s": pl.Float64,
    "error": pl.Utf8,
}
GRADE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "sample_id": pl.Utf8,
    "prompt_id": pl.Utf8,
    "judge_backend": pl.Utf8,
    "judge_model": pl.Utf8,
    "rubric_version": pl.Utf8,
    "score": pl.Float64,
    **{c: pl.Int64 for c in CRITERIA},
    "rationale": pl.Utf8,
    "flags": pl.List(pl.Utf8),
    "grade_status": pl.Utf8,
    "grade_error": pl.Utf8,
    "judge_prompt_tokens": pl.Int64,
    "judge_completion_tokens": pl.Int64,
    "judge_cost_usd": pl.Float64,
    "judge_cached": pl.Boolean,
    "same_model_as_generator": pl.Boolean,
    "accepted": pl.Boolean,
    "rejection_reason": pl.Utf8,
}


def sample_id(prompt_id: str, model: str, index: int = SAMPLE_INDEX) -> str:
    return content_hash(f"{prompt_id}|{model}|{index}")


def generation_requests(prompts: pl.DataFrame, settings: Settings, model: str) -> list[GenerationRequest]:
    columns = [
        prompts.get_column(c).to_list() for c in ("prompt_id", "messages", "passage", "task", "audience", "style")
    ]
    return [
        GenerationRequest(
            request_id=sample_id(prompt_id, model),
            messages=json.loads(messages),
            model=model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            passage=passage,
            task=task,
            audience=audience,
            style=style,
        )
        for prompt_id, messages, passage, task, audience, style in zip(*columns, strict=True)
    ]


def sample_rows(
    prompts: pl.DataFrame, results: list[GenerationResult], *, backend: str, model: str, settings: Settings
) -> pl.DataFrame:
    """One row per prompt, built as columns (a dict per row cost more than the generator)."""
    ids = [sample_id(pid, model) for pid in prompts.get_column("prompt_id").to_list()]
    by_id = {r.request_id: r for r in results}
    missing = GenerationResult("", None, None, error="backend returned no result")
    found = [by_id.get(sid) or missing for sid in ids]
    del by_id
    texts = [r.text if r.error is None else None for r in found]
    columns = {
        "sample_id": pl.Series(ids, dtype=pl.Utf8),
        **{c: prompts.get_column(c) for c in ("prompt_id", "doc_id", "task", "audience", "style", "template_version")},
        "generation_depth": prompts.get_column("generation_depth").cast(pl.Int64) + 1,
        "backend": pl.repeat(backend, len(ids), dtype=pl.Utf8, eager=True),
        "model": pl.repeat(model, len(ids), dtype=pl.Utf8, eager=True),
        "temperature": pl.repeat(settings.temperature, len(ids), dtype=pl.Float64, eager=True),
        "max_tokens": pl.repeat(settings.max_tokens, len(ids), dtype=pl.Int64, eager=True),
        "seed": pl.repeat(settings.seed, len(ids), dtype=pl.Int64, eager=True),
        "text": pl.Series(texts, dtype=pl.Utf8),
        "finish_reason": pl.Series([r.finish_reason for r in found], dtype=pl.Utf8),
        "prompt_tokens": pl.Series([r.prompt_tokens for r in found], dtype=pl.Int64),
        "completion_tokens": pl.Series([r.completion_tokens for r in found], dtype=pl.Int64),
        "n_tokens": pl.Series([count_tokens(t) if t else 0 for t in texts], dtype=pl.Int64),
        "cost_usd": pl.Series([float(r.cost_usd) for r in found], dtype=pl.Float64),
        "cached": pl.Series([bool(r.cached) for r in found], dtype=pl.Boolean),
        "attempts": pl.Series([int(r.attempts) for r in found], dtype=pl.Int64),
        "latency_s": pl.Series([float(r.latency_s) for r in found], dtype=pl.Float64),
        "error": pl.Series([r.error for r in found], dtype=pl.Utf8),
    }
    return pl.DataFrame(columns).select([pl.col(c).cast(t) for c, t in SAMPLE_SCHEMA.items()])


def _prompt_context(samples: pl.DataFrame, prompts: pl.DataFrame) -> pl.DataFrame:
    """Each sample's passage and instruction (the last message), "" when its prompt is
    unknown; the JSON messages are decoded by polars in one pass."""
    messages = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))
    # Only the prompts of these samples are decoded (grading runs in slices of samples).
    prompts = prompts.filter(pl.col("prompt_id").is_in(samples.get_column("prompt_id").implode()))
    context = prompts.select(
        "prompt_id",
        "passage",
        pl.col("messages").str.json_decode(messages).list.last().struct.field("content").alias("instruction"),
    ).unique("prompt_id", keep="last", maintain_order=True)
    return (
        samples.select("prompt_id")
        .join(context, on="prompt_id", how="left", maintain_order="left")
        .select(pl.col("passage").fill_null(""), pl.col("instruction").fill_null(""))
    )


def grade_requests(samples: pl.DataFrame, prompts: pl.DataFrame, model: str, seed: int) -> list[GradeRequest]:
    gradable = samples.filter(pl.col("error").is_null() & (pl.col("text").fill_null("") != ""))
    context = _prompt_context(gradable, prompts)
    return [
        GradeRequest(
            request_id=sid,
            passage=passage,
            instruction=instruction,
            sample_text=text,
            task=task,
            model=model,
            seed=seed,
        )
        for sid, passage, instruction, text, task in zip(
            gradable.get_column("sample_id").to_list(),
            context.get_column("passage").to_list(),
            context.get_column("instruction").to_list(),
            gradable.get_column("text").to_list(),
            gradable.get_column("task").to_list(),
            strict=True,
        )
    ]


def _flags(
    samples: pl.DataFrame, prompts: pl.DataFrame, results: list[GradeResult | None], gradable: list[bool]
) -> list[list[str]]:
    """Heuristic flags per sample ([] when not gradable). A judge that already flagged the
    sample with its passage (the offline judge) passes them in ``extra[HEURISTIC_FLAGS]``,
    so they are not computed twice; it never sees the finish reason, so ``truncated`` is
    added here. Every other sample is flagged here in one vectorised pass."""
    finish = samples.get_column("finish_reason").to_list()
    flags: list[list[str] | None] = [None] * samples.height
    todo = []
    for i, (result, ok) in enumerate(zip(results, gradable, strict=True)):
        if not ok:
            flags[i] = []
        elif result is not None and HEURISTIC_FLAGS in result.extra:
            given = list(result.extra[HEURISTIC_FLAGS])
            if finish[i] == "length" and given != ["empty"] and "truncated" not in given:
                given = sorted([*given, "truncated"])
            flags[i] = given
        else:
            todo.append(i)
    if todo:
        index = pl.Series(todo, dtype=pl.UInt32)
        subset = samples.select("prompt_id", "text", "finish_reason")[index]
        computed = flag_batch(
            subset.get_column("text"),
            _prompt_context(subset, prompts).get_column("passage"),
            subset.get_column("finish_reason").to_list(),
        ).flags
        for i, f in zip(todo, computed, strict=True):
            flags[i] = f
    return flags  # type: ignore[return-value]


def grade_rows(
    samples: pl.DataFrame,
    prompts: pl.DataFrame,
    results: list[GradeResult],
    *,
    judge_backend: str,
    judge_model: str,
    settings: Settings,
) -> pl.DataFrame:
    """One row per sample. Acceptance needs a parsed grade >= min_score and no blocking flag.

    Built as columns: one dict per row (and a frame built from 200k dicts) cost more
    than the judge at 100k documents.
    """
    n = samples.height
    by_id = {r.request_id: r for r in results}
    sample_ids = samples.get_column("sample_id").to_list()
    found = [by_id.get(sid) for sid in sample_ids]
    del by_id
    errors = samples.get_column("error").to_list()
    texts_present = (samples.get_column("text").fill_null("") != "").to_list()
    gradable = [e is None and t for e, t in zip(errors, texts_present, strict=True)]
    flags = _flags(samples, prompts, found, gradable)

    score: list[float | None] = [None] * n
    criteria: dict[str, list[int | None]] = {c: [None] * n for c in CRITERIA}
    rationale: list[str | None] = [None] * n
    status = ["graded"] * n
    grade_error: list[str | None] = [None] * n
    judge_prompt_tokens, judge_completion_tokens = [0] * n, [0] * n
    judge_cost, judge_cached = [0.0] * n, [False] * n
    accepted = [False] * n
    reason: list[str | None] = [None] * n
    min_score = settings.min_score
    for i in range(n):
        if not gradable[i]:
            status[i] = "not_graded"
            reason[i] = "generation_error" if errors[i] is not None else "empty_completion"
            continue
        result = found[i]
        if result is not None:
            judge_prompt_tokens[i] = result.prompt_tokens
            judge_completion_tokens[i] = result.completion_tokens
            judge_cost[i] = float(result.cost_usd)
            judge_cached[i] = bool(result.cached)
        if result is None or result.error is not None:
            status[i] = "judge_error"
            grade_error[i] = result.error if result is not None else "judge returned no result"
            reason[i] = "ungraded"
            continue
        try:
            grade = parse_grade(result.raw_text or "")  # no reply reads as an empty one
        except GradeParseError as exc:
            status[i], grade_error[i], reason[i] = "parse_error", str(exc), "ungraded"
            continue
        score[i], rationale[i] = grade.score, grade.rationale
        for c in CRITERIA:
            criteria[c][i] = grade.scores[c]
        blocking = sorted(BLOCKING_FLAGS.intersection(flags[i]))
        if blocking:
            reason[i] = "flag:" + ",".join(blocking)
        elif grade.score < min_score:
            reason[i] = "below_min_score"
        else:
            accepted[i] = True
    del found
    columns = {
        "sample_id": samples.get_column("sample_id"),
        "prompt_id": samples.get_column("prompt_id"),
        "judge_backend": pl.repeat(judge_backend, n, dtype=pl.Utf8, eager=True),
        "judge_model": pl.repeat(judge_model, n, dtype=pl.Utf8, eager=True),
        "rubric_version": pl.repeat(RUBRIC_VERSION, n, dtype=pl.Utf8, eager=True),
        "score": pl.Series(score, dtype=pl.Float64),
        **{c: pl.Series(criteria[c], dtype=pl.Int64) for c in CRITERIA},
        "rationale": pl.Series(rationale, dtype=pl.Utf8),
        "flags": pl.Series(flags, dtype=pl.List(pl.Utf8)),
        "grade_status": pl.Series(status, dtype=pl.Utf8),
        "grade_error": pl.Series(grade_error, dtype=pl.Utf8),
        "judge_prompt_tokens": pl.Series(judge_prompt_tokens, dtype=pl.Int64),
        "judge_completion_tokens": pl.Series(judge_completion_tokens, dtype=pl.Int64),
        "judge_cost_usd": pl.Series(judge_cost, dtype=pl.Float64),
        "judge_cached": pl.Series(judge_cached, dtype=pl.Boolean),
        "same_model_as_generator": (samples.get_column("model") == judge_model).fill_null(False),
        "accepted": pl.Series(accepted, dtype=pl.Boolean),
        "rejection_reason": pl.Series(reason, dtype=pl.Utf8),
    }
    return pl.DataFrame(columns).select([pl.col(c).cast(t) for c, t in GRADE_SCHEMA.items()])
