"""The ``openai`` backend: a generator and a judge over any OpenAI-protocol server.

``AsyncOpenAI`` against ``OPENAI_BASE_URL`` (OpenAI, vLLM, Ollama, llama.cpp, LM Studio,
...), or per role ``SYNTH_GENERATOR_BASE_URL`` / ``SYNTH_JUDGE_BASE_URL``. The key comes
from the environment only, read when a run starts: ``SYNTH_GENERATOR_API_KEY`` /
``SYNTH_JUDGE_API_KEY``, else ``OPENAI_API_KEY``. It is never stored, and every error text
is redacted before it reaches a row, a log line or an exception.

One call of ``generate``/``grade`` is one run: one shared client and connection pool,
``SYNTH_MAX_CONCURRENCY`` workers, optional client-side requests/tokens-per-minute
buckets, and per request:

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
* the judge asks for ``json_schema`` structured output and steps down to
  ``json_object``, then to a plain prompt, the first time a server refuses one; the
  reply is returned raw for ``rubric.parse_grade``.

Responses are looked up in and written to the warehouse's response cache
(:mod:`synth_pipeline.llm.response_cache`), so a rerun or a resume pays only for what
never completed. Cost per request comes from :mod:`synth_pipeline.llm.pricing`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import math
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Literal

import openai
from openai.types.chat import ChatCompletion

from synth_pipeline.llm.interface import (
    CallUsage,
    GenerationRequest,
    GenerationResult,
    GradeRequest,
    GradeResult,
    ProgressCallback,
)
from synth_pipeline.llm.pricing import PriceTable
from synth_pipeline.llm.response_cache import CachedResponse, ResponseCache, request_key
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse
from synth_pipeline.tasks.rubric import GRADE_JSON_SCHEMA, RUBRIC_VERSION, judge_messages

log = logging.getLogger(__name__)
# Progress and run summaries go to the Dagster run log when a step is running: this is
# the logger ``dagster.get_dagster_logger("synth_pipeline.llm")`` returns, named without
# importing dagster (seconds of start-up in processes that do not need it).
runlog = logging.getLogger("dagster.builtin.synth_pipeline.llm")

DEFAULT_GENERATOR_MODEL = "gpt-4o-mini"
DEFAULT_JUDGE_MODEL = "gpt-4.1-mini"  # not the generator by default: models prefer their own text
OPENAI_HOST = "api.openai.com"
JudgeFormat = Literal["json_schema", "json_object", "none"]
JUDGE_FORMATS: tuple[JudgeFormat, ...] = ("json_schema", "json_object", "none")


# --- secrets ----------------------------------------------------------------------
def api_key_for(role: str) -> str | None:
    """The key for ``role`` ("generator"/"judge"), read from the environment now."""
    return os.environ.get(f"SYNTH_{role.upper()}_API_KEY") or os.environ.get("OPENAI_API_KEY") or None


def base_url_for(settings: Settings, role: str) -> str | None:
    return getattr(settings, f"{role}_base_url") or os.environ.get("OPENAI_BASE_URL") or None


_KEYISH = re.compile(r"\b(sk-[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)", re.IGNORECASE)
_URL_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


class Redactor:
    """Removes the run's keys (and anything key-shaped) from text before it is kept."""

    def __init__(self, *secrets: str | None):
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: object) -> str:
        out = str(text)
        for secret in self.secrets:
            out = out.replace(secret, "[REDACTED]")
        out = _KEYISH.sub("[REDACTED]", out)
        return _URL_USERINFO.sub("***@", out)


class MissingAPIKey(RuntimeError):
    pass


def make_async_client(settings: Settings, role: str) -> openai.AsyncOpenAI:
    """The run's one client: no SDK retries (ours count attempts), a pool sized to the concurrency."""
    base_url = base_url_for(settings, role)
    key = api_key_for(role)
    if not key:
        if base_url is None or OPENAI_HOST in base_url:
            raise MissingAPIKey(
                f"SYNTH_LLM_BACKEND=openai needs OPENAI_API_KEY (or SYNTH_{role.upper()}_API_KEY) in the "
                "environment, or OPENAI_BASE_URL pointing at a server that needs no key"
            )
        key = "no-key"  # vLLM, Ollama, llama.cpp accept any key
    connections = settings.max_concurrency + 8
    timeout = openai.Timeout(settings.request_timeout_s, connect=min(10.0, settings.request_timeout_s))
    http_client = openai.DefaultAsyncHttpxClient(
        timeout=timeout,
        limits=_limits(max_connections=connections, max_keepalive_connections=connections),
    )
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout, http_client=http_client)


def _limits(**kwargs):
    """Connection limits for the HTTP library this openai release uses (httpx2 in 3.x, httpx before)."""
    try:
        import httpx2 as http
    except ImportError:  # openai < 3
        import httpx as http
    return http.Limits(**kwargs)


# --- rate limits ------------------------------------------------------------------
class _Bucket:
    """A token bucket refilled at ``per_minute / 60`` per second holding one second's worth
    (at least one request's cost); a cost above the capacity waits for a full bucket and
    leaves it in debt, so nothing deadlocks."""

    def __init__(self, per_minute: float):
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate)
        self.level = self.capacity
        self.stamp = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, cost: float) -> None:
        async with self.lock:
            while True:
                now = time.monotonic()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                need = min(cost, self.capacity)
                if self.level >= need:
                    self.level -= cost
                    return
                await asyncio.sleep((need - self.level) / self.rate)

    def refund(self, amount: float) -> None:
        self.level = min(self.capacity, self.level + amount)


# --- progress ---------------------------------------------------------------------
class _Progress:
    """Calls ``progress(done, total)`` every ``interval_s`` (and at the end), logs rate/ETA/
    errors, and draws a tqdm bar when stderr is a terminal."""

    def __init__(self, what: str, total: int, callback: ProgressCallback | None, interval_s: float):
        self.what, self.total, self.callback, self.interval_s = what, total, callback, interval_s
        self.done = self.errors = self.retries = self.hits = 0
        self.reported_errors = self.reported_retries = 0
        self.started = self.last = time.monotonic()
        self.bar = None
        if total and sys.stderr is not None and hasattr(sys.stderr, "isatty") and sys.stderr.isatty():
            from tqdm import tqdm

            try:
                width = os.get_terminal_size(sys.stderr.fileno()).columns
            except (OSError, ValueError):
                width = 0
            # a pseudo-terminal may report 0 columns, where tqdm would draw nothing
            self.bar = tqdm(
                total=total,
                desc=what,
                unit="req",
                dynamic_ncols=width > 0,
                ncols=None if width > 0 else 100,
                mininterval=0.5,
            )

    def tick(self, n: int = 1, error: bool = False, cached: bool = False) -> None:
        self.done += n
        self.errors += error
        self.hits += n if cached else 0
        if self.bar is not None:
            self.bar.update(n)
            if error:
                self.bar.set_postfix(errors=self.errors, retries=self.retries, refresh=False)
        now = time.monotonic()
        if now - self.last >= self.interval_s:
            self.last = now
            self._report(now)

    def _report(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate else math.inf
        # The caller's callback logs done/total/rate/ETA; this line adds what it cannot
        # know (errors, retries, cache hits) whenever there is news, or stands in for it.
        if self.callback is None or self.errors != self.reported_errors or self.retries != self.reported_retries:
            runlog.info(
                "%s: %d/%d done (%.1f req/s, ETA %.0fs), %d cache hits, %d errors, %d retries",
                self.what,
                self.done,
                self.total,
                rate,
                eta,
                self.hits,
                self.errors,
                self.retries,
            )
            self.reported_errors, self.reported_retries = self.errors, self.retries
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix(errors=self.errors, retries=self.retries, refresh=False)
            self.bar.close()
        self._report(time.monotonic())


# --- the shared engine --------------------------------------------------------------
@dataclass
class _Outcome(CallUsage):
    text: str | None
    finish_reason: str | None
    extra: dict = field(default_factory=dict)


_RETRYABLE_STATUS = {408, 409, 429}
# A 400 about the request's size is not the server refusing structured output.
_NOT_ABOUT_FORMAT = re.compile(
    r"context|too long|too many tokens|maximum|max_tokens|max_completion_tokens", re.IGNORECASE
)
_FATAL_STATUS = {401, 403, 404}


class _Engine:
    """Cache lookup, bounded concurrent sends with retries, cache writes, accounting.

    Requests go through the run's ``AsyncOpenAI`` client as
    ``client.post("/chat/completions", body=..., cast_to=ChatCompletion)``, the SDK's
    documented way to make a request by hand: the same connection pool, headers, auth,
    timeouts, error types and parsed ``ChatCompletion`` as ``chat.completions.create``,
    minus its re-walk of the parameters through their TypedDict annotations. Our
    parameters are plain JSON already, and that walk is a third of the client's CPU per
    request (about 0.5 of 1.8 ms on the benchmark machine), which decides throughput
    once a step is CPU-bound.
    """

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
        self.judge_format = settings.judge_response_format if kind == "grade" else "none"
        if self.judge_format == "auto":
            self.judge_format = "json_schema"
        self.stats: dict[str, int] = {}

    # Public entry: payloads are create() kwargs minus model/response_format.
    def run(
        self, what: str, canonical: list[dict], payloads: list[dict], progress: ProgressCallback | None
    ) -> list[_Outcome]:
        total = len(payloads)
        keys = [request_key(self.kind, c) for c in canonical]
        outcomes: list[_Outcome | None] = [None] * total
        tracker = _Progress(what, total, progress, self.settings.progress_interval_s)
        hits = self.cache.lookup(keys) if (self.cache is not None and total) else {}
        for i, key in enumerate(keys):
            hit = hits.get(key)
            if hit is not None:
                extra = json.loads(hit.extra or "{}")
                outcomes[i] = _Outcome(
                    text=hit.text,
                    finish_reason=hit.finish_reason,
                    prompt_tokens=hit.prompt_tokens,
                    completion_tokens=hit.completion_tokens,
                    cost_usd=hit.cost_usd,
                    cached=True,
                    error=_finish_error(hit.finish_reason, hit.text, extra.get("refusal")),
                    attempts=hit.attempts,
                    latency_s=hit.latency_s,
                    extra=extra,
                )
        if hits:
            tracker.tick(len([o for o in outcomes if o is not None]), cached=True)
        misses = [i for i in range(total) if outcomes[i] is None]
        started = time.monotonic()
        if misses:
            _run_coroutine(self._dispatch(misses, keys, canonical, payloads, outcomes, tracker))
        tracker.close()
        elapsed = time.monotonic() - started
        errors = sum(1 for o in outcomes if o is not None and o.error)
        self.stats = {
            "requests": total,
            "cache_hits": len(hits),
            "sent": len(misses),
            "errors": errors,
            "retries": tracker.retries,
        }
        runlog.info(
            "%s finished: %d requests, %d from cache, %d sent in %.1fs, %d errors, %d retries, $%.4f paid",
            what,
            total,
            len(hits),
            len(misses),
            elapsed,
            errors,
            tracker.retries,
            sum(o.cost_usd for o in outcomes if o is not None and not o.cached),
        )
        return [
            o if o is not None else _Outcome(None, None, error="internal: no outcome", attempts=0) for o in outcomes
        ]

    async def _dispatch(self, misses, keys, canonical, payloads, outcomes, tracker: _Progress) -> None:
        settings = self.settings
        self.redact = Redactor(api_key_for(self.role), os.environ.get("OPENAI_API_KEY"))
        self.fatal: str | None = None
        self.pause_until = 0.0
        self.max_completion_tokens = settings.max_tokens_param == "max_completion_tokens"
        self.rpm = _Bucket(settings.requests_per_minute) if settings.requests_per_minute else None
        self.tpm = _Bucket(settings.tokens_per_minute) if settings.tokens_per_minute else None
        try:
            client = make_async_client(settings, self.role)
        except MissingAPIKey as exc:
            for i in misses:
                outcomes[i] = _Outcome(None, None, error=f"configuration: {exc}", attempts=0)
                tracker.tick(error=True)
            return
        writer = self.cache.writer() if self.cache is not None else None
        pending = iter(misses)

        async def worker() -> None:
            for i in pending:
                try:
                    outcome, entry = await self._one(client, payloads[i], tracker)
                except Exception as exc:  # never let one request take the run down
                    outcome, entry = (
                        _Outcome(None, None, error=f"internal: {type(exc).__name__}: {self.redact(exc)}", attempts=0),
                        None,
                    )
                outcomes[i] = outcome
                if entry is not None and writer is not None:
                    try:
                        writer.put(
                            CachedResponse(
                                key=keys[i],
                                kind=self.kind,
                                model=payloads[i]["model"],
                                request_id=canonical[i]["request_id"],
                                **entry,
                            )
                        )
                    except OSError as exc:  # a full disk costs the cache entry, not the sample
                        log.warning("response cache: could not journal a response (%s)", type(exc).__name__)
                tracker.tick(error=outcome.error is not None)

        try:
            await asyncio.gather(*(worker() for _ in range(min(settings.max_concurrency, len(misses)))))
        finally:
            if writer is not None:
                await asyncio.get_running_loop().run_in_executor(None, writer.close)
            await client.close()

    async def _one(self, client: openai.AsyncOpenAI, payload: dict, tracker: _Progress):
        settings = self.settings
        attempts = 0
        started = time.monotonic()
        estimate = payload.pop("_est_tokens", 0)
        while True:
            if self.fatal:
                return _Outcome(None, None, error=self.fatal, attempts=attempts), None
            attempts += 1
            await self._throttle(estimate)
            fmt = self.judge_format
            kwargs = self._request_body(payload, fmt)
            sent = time.monotonic()
            try:
                completion = await client.post("/chat/completions", body=kwargs, cast_to=ChatCompletion)
                choice = completion.choices[0]  # IndexError/TypeError: an unusable body, retried
                message = choice.message
            except openai.APIStatusError as exc:
                status = exc.status_code
                if self._adapted(exc, kwargs, fmt):
                    attempts -= 1  # the server told us what it does not support; not a failure
                    continue
                reason = f"HTTP {status}: {self.redact(_error_message(exc))}"
                if status in _FATAL_STATUS:
                    self.fatal = f"{reason} (remaining requests not sent)"
                    return _Outcome(
                        None, None, error=reason, attempts=attempts, latency_s=time.monotonic() - started
                    ), None
                if status in _RETRYABLE_STATUS or status >= 500:
                    delay = self._delay(attempts, exc.response.headers, status == 429)
                    if delay is None:
                        return _Outcome(
                            None,
                            None,
                            error=f"{reason}; Retry-After exceeds {settings.max_retry_after_s:g}s",
                            attempts=attempts,
                            latency_s=time.monotonic() - started,
                        ), None
                    if attempts < settings.max_attempts:
                        tracker.retries += 1
                        await asyncio.sleep(delay)
                        continue
                    return _Outcome(
                        None,
                        None,
                        error=f"{reason} (gave up after {attempts} attempts)",
                        attempts=attempts,
                        latency_s=time.monotonic() - started,
                    ), None
                return _Outcome(None, None, error=reason, attempts=attempts, latency_s=time.monotonic() - started), None
            except openai.APITimeoutError:
                reason = f"timeout after {settings.request_timeout_s:g}s"
            except openai.APIConnectionError as exc:
                reason = f"connection error: {self.redact(exc)}"
            except (ValueError, TypeError, IndexError, AttributeError, openai.APIResponseValidationError) as exc:
                reason = f"unreadable response: {type(exc).__name__}: {self.redact(exc)[:200]}"
            else:
                return self._success(payload, completion, choice, message, fmt, attempts, started, sent, estimate)
            if attempts >= settings.max_attempts:
                return _Outcome(
                    None,
                    None,
                    error=f"{reason} (gave up after {attempts} attempts)",
                    attempts=attempts,
                    latency_s=time.monotonic() - started,
                ), None
            tracker.retries += 1
            await asyncio.sleep(self._delay(attempts, None, False) or 0.0)

    async def _throttle(self, estimate: int) -> None:
        """Wait for the request and token budgets and for any pause the server asked for."""
        if self.rpm is not None:
            await self.rpm.take(1)
        if self.tpm is not None:
            await self.tpm.take(estimate)
        wait = self.pause_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _request_body(self, payload: dict, fmt: str) -> dict:
        """The body to send: ``payload`` with the token limit under the name the server takes
        (renamed in ``payload`` itself, once) and the response format being tried."""
        if self.max_completion_tokens and "max_tokens" in payload:
            payload["max_completion_tokens"] = payload.pop("max_tokens")
        kwargs = dict(payload)
        if fmt == "json_schema":
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "grade", "schema": GRADE_JSON_SCHEMA, "strict": True},
            }
        elif fmt == "json_object":
            kwargs["response_format"] = {"type": "json_object"}
        return kwargs

    def _adapted(self, exc: openai.APIStatusError, kwargs: dict, fmt: str) -> bool:
        """Whether the error names a parameter the server does not take and we now leave out
        (``max_tokens``, a response format): then the request is sent again."""
        status = exc.status_code
        if status == 400 and "max_tokens" in kwargs and "max_completion_tokens" in _error_message(exc):
            if not self.max_completion_tokens:  # OpenAI reasoning models
                log.warning("the server wants max_completion_tokens instead of max_tokens; switching")
            self.max_completion_tokens = True
            return True
        return fmt != "none" and status in (400, 422) and self._step_down(fmt, exc)

    def _success(self, payload, completion, choice, message, fmt, attempts, started, sent, estimate):
        usage = completion.usage
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached_prompt = int(getattr(details, "cached_tokens", 0) or 0)
        if self.tpm is not None and usage is not None:
            self.tpm.refund(max(0, estimate - prompt_tokens - completion_tokens))
        text = message.content
        finish = choice.finish_reason
        refusal = getattr(message, "refusal", None)
        cost = self.prices.cost(payload["model"], prompt_tokens, completion_tokens, cached_prompt)
        extra = {"response_format": fmt} if self.kind == "grade" else {}
        if refusal and not text:
            extra["refusal"] = self.redact(refusal)[:500]
        latency = time.monotonic() - started
        outcome = _Outcome(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            error=_finish_error(finish, text, refusal),
            attempts=attempts,
            latency_s=latency,
            extra=extra,
        )
        entry = dict(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_prompt_tokens=cached_prompt,
            cost_usd=cost,
            attempts=attempts,
            latency_s=round(latency, 6),
            extra=json.dumps(extra, sort_keys=True),
        )
        return outcome, entry

    def _step_down(self, fmt: str, exc: openai.APIStatusError) -> bool:
        """After a 400/422 to a response_format, use the next simpler one for the rest of the run."""
        if self.judge_format != fmt:  # another request already stepped down
            return True
        message = _error_message(exc).lower()
        if not _NOT_ABOUT_FORMAT.search(message):
            self.judge_format = JUDGE_FORMATS[JUDGE_FORMATS.index(fmt) + 1]
            log.warning(
                "judge: the server refused response_format=%s (%s); using %s from now on",
                fmt,
                self.redact(_error_message(exc))[:200],
                self.judge_format,
            )
            return True
        return False

    def _delay(self, attempt: int, headers, rate_limited: bool) -> float | None:
        """Backoff with full jitter, at least Retry-After; None when Retry-After is too long."""
        settings = self.settings
        backoff = min(settings.retry_max_delay_s, settings.retry_base_delay_s * 2 ** (attempt - 1))
        delay = backoff * (0.5 + random.random() / 2)
        after = _retry_after(headers) if headers is not None else None
        if after is not None:
            if after > settings.max_retry_after_s:
                return None
            delay = after + random.random() * min(1.0, 0.1 * after + 0.05)
            if rate_limited:
                self.pause_until = max(self.pause_until, time.monotonic() + after)
        return delay


def _finish_error(finish: str | None, text: str | None, refusal: str | None = None) -> str | None:
    if finish == "content_filter":
        return "content_filter: the provider withheld or cut the completion"
    if refusal and not text:
        return "refusal: the model refused the structured answer"
    if not text:
        return f"empty completion (finish_reason={finish})"
    return None


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(exc)


def _retry_after(headers) -> float | None:
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, OverflowError):
        return None


def _run_coroutine(coro) -> None:
    """``asyncio.run`` — or, when called from a running loop (a notebook), on a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


def _estimate_tokens(messages: list[dict], max_tokens: int) -> int:
    return sum(len(m.get("content") or "") for m in messages) // 4 + 8 * len(messages) + max_tokens


def _request_pair(
    model: str, messages: list[dict], temperature: float, max_tokens: int, seed: int, token_param: str, **key_extra
) -> tuple[dict, dict]:
    """(canonical request for the cache key, body sent to the server) of one call."""
    canonical = {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "seed": seed,
        **key_extra,
    }
    payload = {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        token_param: max_tokens,
        "seed": seed,
        "_est_tokens": _estimate_tokens(messages, max_tokens),
    }
    return canonical, payload


# --- the two backends ---------------------------------------------------------------
class _OpenAIRole:
    """What the generator and the judge share: settings, model and the request engine."""

    name = "openai"

    def __init__(self, settings: Settings, warehouse: Warehouse, role: str, model: str, verb: str):
        self.settings = settings
        self.model = model
        self._engine = _Engine(settings, warehouse, role, model, verb)

    @property
    def last_run(self) -> dict[str, int]:
        """requests, cache_hits, sent, errors, retries of the last call."""
        return dict(self._engine.stats)

    def _run(self, stage: str, pairs: list[tuple[dict, dict]], progress: ProgressCallback | None) -> list:
        canonical, payloads = [c for c, _ in pairs], [p for _, p in pairs]
        return self._engine.run(stage, canonical, payloads, progress)


class OpenAIGenerator(_OpenAIRole):
    def __init__(self, settings: Settings, warehouse: Warehouse):
        super().__init__(
            settings, warehouse, "generator", settings.generator_model or DEFAULT_GENERATOR_MODEL, "generate"
        )

    def generate(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback | None = None
    ) -> list[GenerationResult]:
        pairs = [
            _request_pair(
                r.model or self.model,
                r.messages,
                r.temperature,
                r.max_tokens,
                r.seed,
                self.settings.max_tokens_param,
                request_id=r.request_id,
            )
            for r in requests
        ]
        outcomes = self._run("generation", pairs, progress)
        return [
            GenerationResult(request_id=r.request_id, text=o.text, finish_reason=o.finish_reason, **o.usage())
            for r, o in zip(requests, outcomes, strict=True)
        ]


class OpenAIJudge(_OpenAIRole):
    def __init__(self, settings: Settings, warehouse: Warehouse):
        super().__init__(settings, warehouse, "judge", settings.judge_model or DEFAULT_JUDGE_MODEL, "grade")

    def grade(self, requests: Sequence[GradeRequest], progress: ProgressCallback | None = None) -> list[GradeResult]:
        s = self.settings
        pairs = [
            _request_pair(
                r.model or self.model,
                judge_messages(r.passage, r.instruction, r.sample_text),
                s.judge_temperature,
                s.judge_max_tokens,
                r.seed,
                s.max_tokens_param,
                request_id=r.request_id,
                rubric=RUBRIC_VERSION,
            )
            for r in requests
        ]
        outcomes = self._run("grading", pairs, progress)
        results = []
        for r, o in zip(requests, outcomes, strict=True):
            extra = dict(o.extra)
            extra["finish_reason"] = o.finish_reason
            extra["latency_s"] = o.latency_s
            results.append(
                GradeResult(
                    request_id=r.request_id, raw_text=o.text if o.error is None else None, extra=extra, **o.usage()
                )
            )
        return results
