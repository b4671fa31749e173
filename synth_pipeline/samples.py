"""Turn prompts into generation requests and backend results into sample and grade rows.

The backend only moves requests; this module owns ids, accounting and acceptance, so
both backends produce rows of the same shape and every prompt ends as exactly one
sample row (a completion or a recorded failure), every sample as exactly one grade row.
"""

from __future__ import annotations

import json

import polars as pl

from synth_pipeline.llm.interface import GenerationRequest, GenerationResult, GradeRequest, GradeResult
from synth_pipeline.llm.rubric import CRITERIA, RUBRIC_VERSION, GradeParseError, parse_grade
from synth_pipeline.quality_flags import BLOCKING_FLAGS, flag_batch
from synth_pipeline.settings import Settings
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
GRADE_SCHEMA = {
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
    return [
        GenerationRequest(
            request_id=sample_id(row["prompt_id"], model),
            messages=json.loads(row["messages"]),
            model=model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            seed=settings.seed,
            passage=row["passage"],
            task=row["task"],
            audience=row["audience"],
            style=row["style"],
        )
        for row in prompts.iter_rows(named=True)
    ]


def sample_rows(
    prompts: pl.DataFrame, results: list[GenerationResult], *, backend: str, model: str, settings: Settings
) -> pl.DataFrame:
    by_id = {r.request_id: r for r in results}
    rows = []
    for prompt in prompts.iter_rows(named=True):
        sid = sample_id(prompt["prompt_id"], model)
        result = by_id.get(sid) or GenerationResult(sid, None, None, error="backend returned no result")
        text = result.text if result.error is None else None
        rows.append(
            {
                "sample_id": sid,
                "prompt_id": prompt["prompt_id"],
                "doc_id": prompt["doc_id"],
                "task": prompt["task"],
                "audience": prompt["audience"],
                "style": prompt["style"],
                "template_version": prompt["template_version"],
                "generation_depth": int(prompt["generation_depth"]) + 1,
                "backend": backend,
                "model": model,
                "temperature": settings.temperature,
                "max_tokens": settings.max_tokens,
                "seed": settings.seed,
                "text": text,
                "finish_reason": result.finish_reason,
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "n_tokens": count_tokens(text) if text else 0,
                "cost_usd": float(result.cost_usd),
                "cached": bool(result.cached),
                "attempts": int(result.attempts),
                "latency_s": float(result.latency_s),
                "error": result.error,
            }
        )
    return pl.DataFrame(rows, schema=SAMPLE_SCHEMA)


def grade_requests(samples: pl.DataFrame, prompts: pl.DataFrame, model: str, seed: int) -> list[GradeRequest]:
    passages = dict(prompts.select("prompt_id", "passage").iter_rows())
    instructions = {
        pid: json.loads(messages)[-1]["content"] for pid, messages in prompts.select("prompt_id", "messages").iter_rows()
    }
    return [
        GradeRequest(
            request_id=row["sample_id"],
            passage=passages.get(row["prompt_id"], ""),
            instruction=instructions.get(row["prompt_id"], ""),
            sample_text=row["text"],
            task=row["task"],
            model=model,
            seed=seed,
        )
        for row in samples.iter_rows(named=True)
        if row["error"] is None and row["text"]
    ]


def grade_rows(
    samples: pl.DataFrame,
    prompts: pl.DataFrame,
    results: list[GradeResult],
    *,
    judge_backend: str,
    judge_model: str,
    settings: Settings,
) -> pl.DataFrame:
    """One row per sample. Acceptance needs a parsed grade >= min_score and no blocking flag."""
    passages = dict(prompts.select("prompt_id", "passage").iter_rows())
    by_id = {r.request_id: r for r in results}
    rows = []
    # Flags of every sample in one vectorised pass (one call per sample cost seconds).
    flags = flag_batch(
        samples.get_column("text"),
        [passages.get(pid, "") for pid in samples.get_column("prompt_id").to_list()],
        samples.get_column("finish_reason").to_list(),
    ).flags
    for index, sample in enumerate(samples.iter_rows(named=True)):
        row: dict = {
            "sample_id": sample["sample_id"],
            "prompt_id": sample["prompt_id"],
            "judge_backend": judge_backend,
            "judge_model": judge_model,
            "rubric_version": RUBRIC_VERSION,
            "score": None,
            **{c: None for c in CRITERIA},
            "rationale": None,
            "flags": [],
            "grade_status": "graded",
            "grade_error": None,
            "judge_prompt_tokens": 0,
            "judge_completion_tokens": 0,
            "judge_cost_usd": 0.0,
            "judge_cached": False,
            "same_model_as_generator": judge_model == sample["model"],
            "accepted": False,
            "rejection_reason": None,
        }
        if sample["error"] is not None or not sample["text"]:
            reason = "generation_error" if sample["error"] is not None else "empty_completion"
            row.update(grade_status="not_graded", rejection_reason=reason)
            rows.append(row)
            continue
        row["flags"] = flags[index]
        result = by_id.get(sample["sample_id"])
        if result is not None:
            row.update(
                judge_prompt_tokens=result.prompt_tokens,
                judge_completion_tokens=result.completion_tokens,
                judge_cost_usd=float(result.cost_usd),
                judge_cached=bool(result.cached),
            )
        if result is None or result.error is not None:
            reason = result.error if result is not None else "judge returned no result"
            row.update(grade_status="judge_error", grade_error=reason, rejection_reason="ungraded")
            rows.append(row)
            continue
        try:
            grade = parse_grade(result.raw_text)
        except GradeParseError as exc:
            row.update(grade_status="parse_error", grade_error=str(exc), rejection_reason="ungraded")
            rows.append(row)
            continue
        row.update(score=grade.score, rationale=grade.rationale, **grade.scores)
        blocking = sorted(BLOCKING_FLAGS.intersection(row["flags"]))
        if blocking:
            row["rejection_reason"] = "flag:" + ",".join(blocking)
        elif grade.score < settings.min_score:
            row["rejection_reason"] = "below_min_score"
        else:
            row["accepted"] = True
        rows.append(row)
    return pl.DataFrame(rows, schema=GRADE_SCHEMA)
