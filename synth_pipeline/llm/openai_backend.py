"""The ``openai`` backend: a generator and a judge over any OpenAI-protocol server.

``AsyncOpenAI`` against ``OPENAI_BASE_URL`` (OpenAI, vLLM, Ollama, llama.cpp, LM Studio,
...), or per role ``SYNTH_GENERATOR_BASE_URL`` / ``SYNTH_JUDGE_BASE_URL``, with the key
from the environment (:mod:`synth_pipeline.llm.openai_client`). Both only move
messages: what to ask, which structured output to request and how to read the reply
belong to the tasks (:mod:`synth_pipeline.tasks`).

One call of ``generate``/``grade`` is one run (:mod:`synth_pipeline.llm.openai_engine`):
one shared client and connection pool, ``SYNTH_MAX_CONCURRENCY`` workers, optional
client-side requests/tokens-per-minute buckets (:mod:`synth_pipeline.llm.throttle`),
and per request:

* a timeout (``SYNTH_REQUEST_TIMEOUT_S``); retries of timeouts, connection errors, 408,
  409, 429, 5xx and unreadable bodies, with exponential backoff and jitter, waiting at
  least what ``Retry-After`` (or ``retry-after-ms``) asks; a 429 with ``Retry-After``
  also pauses new sends of the whole run for that long; at most ``SYNTH_MAX_ATTEMPTS``;
* a request that still fails is returned as an error row with its reason, never raised
  and never dropped: one result per request, in request order;
* 401/403/404 (bad key, no access, unknown model) stop the run's remaining sends at once,
  each becoming an error row with that reason, instead of failing thousands of times;
* ``finish_reason`` is recorded; ``content_filter`` (or an empty reply) is an error row,
  ``length`` keeps its truncated text for the downstream flags to judge;
* a request's response formats (the grading task's: ``json_schema``, ``json_object``,
  plain) are tried best first, stepping down the first time a server refuses one; the
  reply is returned raw for the task to parse.

Responses are looked up in and written to the warehouse's response cache
(:mod:`synth_pipeline.llm.response_cache`), so a rerun or a resume pays only for what
never completed. Cost per request comes from :mod:`synth_pipeline.llm.pricing`.
"""

from __future__ import annotations

from collections.abc import Sequence

from synth_pipeline.chat import (
    GenerationRequest,
    GenerationResult,
    GradeRequest,
    GradeResult,
    ProgressCallback,
)
from synth_pipeline.llm.openai_engine import Engine
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse

DEFAULT_GENERATOR_MODEL = "gpt-4o-mini"
DEFAULT_JUDGE_MODEL = "gpt-4.1-mini"  # not the generator by default: models prefer their own text


class _OpenAIRole:
    """What the generator and the judge share: settings, model and the request engine."""

    name = "openai"

    def __init__(self, settings: Settings, warehouse: Warehouse, role: str, model: str, kind: str):
        self.settings = settings
        self.model = model
        self._engine = Engine(settings, warehouse, role, model, kind)

    @property
    def last_run(self) -> dict[str, int]:
        """requests, cache_hits, sent, errors, retries of the last call."""
        return dict(self._engine.stats)


class OpenAIGenerator(_OpenAIRole):
    def __init__(self, settings: Settings, warehouse: Warehouse):
        model = settings.generator_model or DEFAULT_GENERATOR_MODEL
        super().__init__(settings, warehouse, "generator", model, "generate")

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        outcomes = self._engine.run("generation", requests, progress)
        return [
            GenerationResult(request_id=r.request_id, text=o.text, finish_reason=o.finish_reason, **o.usage())
            for r, o in zip(requests, outcomes, strict=True)
        ]


class OpenAIJudge(_OpenAIRole):
    def __init__(self, settings: Settings, warehouse: Warehouse):
        super().__init__(settings, warehouse, "judge", settings.judge_model or DEFAULT_JUDGE_MODEL, "grade")

    def grade(self, requests: Sequence[GradeRequest], progress: ProgressCallback | None = None) -> list[GradeResult]:
        outcomes = self._engine.run("grading", requests, progress)
        return [
            GradeResult(
                request_id=r.request_id,
                raw_text=o.text if o.error is None else None,
                extra={**o.extra, "finish_reason": o.finish_reason, "latency_s": o.latency_s},
                **o.usage(),
            )
            for r, o in zip(requests, outcomes, strict=True)
        ]
