"""One run of chat requests against an OpenAI-protocol server: cache, concurrency, accounting.

:meth:`Engine.run` takes the run's :class:`~synth_pipeline.chat.ChatRequest`
objects and returns one :class:`~synth_pipeline.llm.openai_request.Outcome` per
request, in order. It looks every request up in the response cache first, sends only
the misses (``SYNTH_MAX_CONCURRENCY`` workers over one client, each request sent by
:class:`~synth_pipeline.llm.openai_request.Sender`), journals each paid response the
moment it arrives, and never raises for a single request. It knows nothing of what the
messages ask: the structured output to request and the cache tags come with each
request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import time
from collections.abc import Sequence

from synth_pipeline.chat import ChatRequest, ProgressCallback
from synth_pipeline.llm.openai_client import MissingAPIKey, make_async_client, redactor_for
from synth_pipeline.llm.openai_request import Call, FormatLadder, Outcome, Sender, failed, finish_error
from synth_pipeline.llm.pricing import PriceTable
from synth_pipeline.llm.progress import Progress, runlog
from synth_pipeline.llm.response_cache import CachedResponse, ResponseCache, request_key
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse

log = logging.getLogger(__name__)


def _estimate_tokens(messages: list[dict], max_tokens: int) -> int:
    return sum(len(m.get("content") or "") for m in messages) // 4 + 8 * len(messages) + max_tokens


def canonical_request(request: ChatRequest, model: str) -> dict:
    """What determines the reply, for the cache key: the model, the messages, the sampling
    parameters, the sample index (``request_id``) and the task's cache tags."""
    return {
        "model": model,
        "messages": request.messages,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "seed": request.seed,
        "request_id": request.request_id,
        **dict(request.cache_tags),
    }


class Engine:
    """Runs the requests of one role (``generator``/``judge``) with the settings' limits."""

    def __init__(self, settings: Settings, warehouse: Warehouse, role: str, model: str, kind: str):
        self.settings, self.role, self.model, self.kind = settings, role, model, kind
        self.prices = PriceTable.from_setting(settings.price_table)
        self.cache = (
            ResponseCache(
                warehouse, flush_rows=settings.cache_flush_rows, flush_interval_s=settings.cache_flush_interval_s
            )
            if settings.llm_cache
            else None
        )
        self.formats = FormatLadder(role)
        self.stats: dict[str, int] = {}

    def run(self, what: str, requests: Sequence[ChatRequest], progress: ProgressCallback | None) -> list[Outcome]:
        calls = [self._call(r) for r in requests]
        tracker = Progress(what, len(calls), progress, self.settings.progress_interval_s)
        outcomes = self._from_cache(calls)
        hits = sum(o is not None for o in outcomes)
        if hits:
            tracker.tick(hits, cached=True)
        misses = [i for i, o in enumerate(outcomes) if o is None]
        started = time.monotonic()
        if misses:
            _run_coroutine(self._send_all(calls, misses, outcomes, tracker))
        tracker.close()
        done = [o if o is not None else failed("internal: no outcome", attempts=0) for o in outcomes]
        self._summarise(what, done, hits, len(misses), time.monotonic() - started, tracker.retries)
        return done

    def _call(self, request: ChatRequest) -> Call:
        model = request.model or self.model
        body = {
            "model": model,
            "messages": request.messages,
            "temperature": request.temperature,
            self.settings.max_tokens_param: request.max_tokens,
            "seed": request.seed,
        }
        return Call(
            key=request_key(self.kind, canonical_request(request, model)),
            request_id=request.request_id,
            model=model,
            body=body,
            estimate=_estimate_tokens(request.messages, request.max_tokens),
            formats=request.response_formats,
        )

    def _from_cache(self, calls: list[Call]) -> list[Outcome | None]:
        """The stored outcome of every call the cache holds, None for the others."""
        hits = self.cache.lookup([c.key for c in calls]) if (self.cache is not None and calls) else {}
        outcomes: list[Outcome | None] = []
        for call in calls:
            hit = hits.get(call.key)
            if hit is None:
                outcomes.append(None)
                continue
            extra = json.loads(hit.extra or "{}")
            outcomes.append(
                Outcome(
                    text=hit.text,
                    finish_reason=hit.finish_reason,
                    prompt_tokens=hit.prompt_tokens,
                    completion_tokens=hit.completion_tokens,
                    cost_usd=hit.cost_usd,
                    cached=True,
                    error=finish_error(hit.finish_reason, hit.text, extra.get("refusal")),
                    attempts=hit.attempts,
                    latency_s=hit.latency_s,
                    extra=extra,
                )
            )
        return outcomes

    async def _send_all(
        self, calls: list[Call], misses: list[int], outcomes: list[Outcome | None], tracker: Progress
    ) -> None:
        """Send the misses with bounded concurrency; each outcome lands in ``outcomes``."""
        redact = redactor_for(self.role)
        try:
            client = make_async_client(self.settings, self.role)
        except MissingAPIKey as exc:
            for i in misses:
                outcomes[i] = failed(f"configuration: {exc}", attempts=0)
                tracker.tick(error=True)
            return
        sender = Sender(self.settings, self.formats, self.prices, redact, tracker)
        writer = self.cache.writer() if self.cache is not None else None
        pending = iter(misses)

        async def worker() -> None:
            for i in pending:
                try:
                    outcome, entry = await sender.send(client, calls[i])
                except Exception as exc:  # never let one request take the run down
                    outcome, entry = failed(f"internal: {type(exc).__name__}: {redact(exc)}", attempts=0), None
                outcomes[i] = outcome
                if entry is not None and writer is not None:
                    self._journal(writer, calls[i], entry)
                tracker.tick(error=outcome.error is not None)

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.settings.max_concurrency, len(misses)))))
        finally:
            if writer is not None:
                await asyncio.get_running_loop().run_in_executor(None, writer.close)
            await client.close()

    def _journal(self, writer, call: Call, entry: dict) -> None:
        try:
            writer.put(
                CachedResponse(key=call.key, kind=self.kind, model=call.model, request_id=call.request_id, **entry)
            )
        except OSError as exc:  # a full disk costs the cache entry, not the sample
            log.warning("response cache: could not journal a response (%s)", type(exc).__name__)

    def _summarise(
        self, what: str, outcomes: list[Outcome], hits: int, sent: int, elapsed: float, retries: int
    ) -> None:
        errors = sum(1 for o in outcomes if o.error)
        self.stats = {"requests": len(outcomes), "cache_hits": hits, "sent": sent, "errors": errors, "retries": retries}
        runlog.info(
            "%s finished: %d requests, %d from cache, %d sent in %.1fs, %d errors, %d retries, $%.4f paid",
            what,
            len(outcomes),
            hits,
            sent,
            elapsed,
            errors,
            retries,
            sum(o.cost_usd for o in outcomes if not o.cached),
        )


def _run_coroutine(coro) -> None:
    """``asyncio.run`` — or, when called from a running loop (a notebook), on a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()
