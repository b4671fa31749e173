"""Backend results into sample and grade rows: accounting, grading status and acceptance.

The tasks (:mod:`~synth_pipeline.tasks.generation`, :mod:`~synth_pipeline.tasks.grading`)
make the requests and parse the replies; a backend only moves them. This module makes
the rows, so both backends produce rows of the same shape and every prompt ends as
exactly one sample row (a completion or a recorded failure), every sample as exactly
one grade row.
"""

from __future__ import annotations

import polars as pl

from synth_pipeline.chat import GenerationResult, GradeResult
from synth_pipeline.settings import Settings
from synth_pipeline.tasks import grading
from synth_pipeline.tasks.flags import BLOCKING_FLAGS, HEURISTIC_FLAGS, flag_batch
from synth_pipeline.tasks.generation import sample_id
from synth_pipeline.tasks.grading import CRITERIA, RUBRIC_VERSION, Grade, GradeParseError, parse_grade, sample_context
from synth_pipeline.text import count_tokens

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
            sample_context(subset, prompts).get_column("passage"),
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
    by_id = {r.request_id: r for r in results}
    found = [by_id.get(sid) for sid in samples.get_column("sample_id").to_list()]
    del by_id
    gradable = grading.gradable(samples).to_list()
    flags = _flags(samples, prompts, found, gradable)
    verdicts = _Verdicts(samples.height)
    errors = samples.get_column("error").to_list()
    for i, (result, ok) in enumerate(zip(found, gradable, strict=True)):
        if not ok:
            verdicts.not_graded(i, "generation_error" if errors[i] is not None else "empty_completion")
        elif result is None or result.error is not None:
            verdicts.failed(i, "judge_error", result.error if result is not None else "judge returned no result")
        else:
            try:
                grade = parse_grade(result.raw_text or "")  # no reply reads as an empty one
            except GradeParseError as exc:
                verdicts.failed(i, "parse_error", str(exc))
            else:
                verdicts.graded(i, grade, _rejection(grade, flags[i], settings.min_score))
    n = samples.height
    columns = {
        "sample_id": samples.get_column("sample_id"),
        "prompt_id": samples.get_column("prompt_id"),
        "judge_backend": pl.repeat(judge_backend, n, dtype=pl.Utf8, eager=True),
        "judge_model": pl.repeat(judge_model, n, dtype=pl.Utf8, eager=True),
        "rubric_version": pl.repeat(RUBRIC_VERSION, n, dtype=pl.Utf8, eager=True),
        **verdicts.columns(flags),
        **_judge_usage(found, gradable),
        "same_model_as_generator": (samples.get_column("model") == judge_model).fill_null(False),
    }
    return pl.DataFrame(columns).select([pl.col(c).cast(t) for c, t in GRADE_SCHEMA.items()])


def _rejection(grade: Grade, flags: list[str], min_score: float) -> str | None:
    """Why a parsed grade is not accepted (None: it is): a blocking flag, else a low score."""
    blocking = sorted(BLOCKING_FLAGS.intersection(flags))
    if blocking:
        return "flag:" + ",".join(blocking)
    return "below_min_score" if grade.score < min_score else None


class _Verdicts:
    """The grade columns that say what became of each sample, filled one sample at a time."""

    def __init__(self, n: int):
        self.score: list[float | None] = [None] * n
        self.criteria: dict[str, list[int | None]] = {c: [None] * n for c in CRITERIA}
        self.rationale: list[str | None] = [None] * n
        self.status = ["graded"] * n
        self.error: list[str | None] = [None] * n
        self.accepted = [False] * n
        self.reason: list[str | None] = [None] * n

    def not_graded(self, i: int, reason: str) -> None:
        self.status[i], self.reason[i] = "not_graded", reason

    def failed(self, i: int, status: str, error: str | None) -> None:
        self.status[i], self.error[i], self.reason[i] = status, error, "ungraded"

    def graded(self, i: int, grade: Grade, rejection: str | None) -> None:
        self.score[i], self.rationale[i] = grade.score, grade.rationale
        for c in CRITERIA:
            self.criteria[c][i] = grade.scores[c]
        self.reason[i], self.accepted[i] = rejection, rejection is None

    def columns(self, flags: list[list[str]]) -> dict[str, pl.Series]:
        return {
            "score": pl.Series(self.score, dtype=pl.Float64),
            **{c: pl.Series(self.criteria[c], dtype=pl.Int64) for c in CRITERIA},
            "rationale": pl.Series(self.rationale, dtype=pl.Utf8),
            "flags": pl.Series(flags, dtype=pl.List(pl.Utf8)),
            "grade_status": pl.Series(self.status, dtype=pl.Utf8),
            "grade_error": pl.Series(self.error, dtype=pl.Utf8),
            "accepted": pl.Series(self.accepted, dtype=pl.Boolean),
            "rejection_reason": pl.Series(self.reason, dtype=pl.Utf8),
        }


def _judge_usage(found: list[GradeResult | None], gradable: list[bool]) -> dict[str, pl.Series]:
    """What the judge spent on each sample (nothing for a sample it was not asked about)."""
    asked = [r if ok else None for r, ok in zip(found, gradable, strict=True)]
    return {
        "judge_prompt_tokens": pl.Series([r.prompt_tokens if r else 0 for r in asked], dtype=pl.Int64),
        "judge_completion_tokens": pl.Series([r.completion_tokens if r else 0 for r in asked], dtype=pl.Int64),
        "judge_cost_usd": pl.Series([float(r.cost_usd) if r else 0.0 for r in asked], dtype=pl.Float64),
        "judge_cached": pl.Series([bool(r.cached) if r else False for r in asked], dtype=pl.Boolean),
    }
