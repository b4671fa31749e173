"""One request to an OpenAI-protocol server, sent until it succeeds or fails for good.

:class:`Sender` retries timeouts, connection errors, 408, 409, 429, 5xx and unreadable
bodies with backoff (at least what ``Retry-After`` asks, :mod:`synth_pipeline.llm.throttle`),
stops the whole run at 401/403/404, leaves out a parameter the server says it does not
take (``max_tokens``, a response format: :class:`FormatLadder`) and reads the
completion into an :class:`Outcome` and the cache entry to journal. Nothing here knows
what the messages ask.

Requests go through the run's ``AsyncOpenAI`` client as
``client.post("/chat/completions", body=..., cast_to=ChatCompletion)``, the SDK's
documented way to make a request by hand: the same connection pool, headers, auth,
timeouts, error types and parsed ``ChatCompletion`` as ``chat.completions.create``,
minus its re-walk of the parameters through their TypedDict annotations. Our
parameters are plain JSON already, and that walk is a third of the client's CPU per
request (about 0.5 of 1.8 ms on the benchmark machine), which decides throughput
once a step is CPU-bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field

import openai
from openai.types.chat import ChatCompletion

from synth_pipeline.chat import CallUsage, ResponseFormat
from synth_pipeline.llm.openai_client import Redactor, error_message
from synth_pipeline.llm.pricing import PriceTable
from synth_pipeline.llm.progress import Progress
from synth_pipeline.llm.throttle import Backoff, Pacer
from synth_pipeline.settings import Settings

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 409, 429}
_FATAL_STATUS = {401, 403, 404}
# A 400 about the request's size is not the server refusing structured output.
_NOT_ABOUT_FORMAT = re.compile(
    r"context|too long|too many tokens|maximum|max_tokens|max_completion_tokens", re.IGNORECASE
)


@dataclass
class Outcome(CallUsage):
    """What became of one request: the reply (or the error) with its usage."""

    text: str | None
    finish_reason: str | None
    extra: dict = field(default_factory=dict)


def failed(error: str, attempts: int, latency_s: float = 0.0) -> Outcome:
    return Outcome(None, None, error=error, attempts=attempts, latency_s=latency_s)


@dataclass
class Call:
    """One request as the engine handles it: its cache key and the body it sends."""

    key: str
    request_id: str
    model: str
    body: dict  # without response_format; the token limit is renamed in place once if the server asks
    estimate: int  # tokens reserved from the tokens-per-minute bucket
    formats: tuple[ResponseFormat, ...]


@dataclass
class _Failure:
    """Why an attempt got no completion, and what that allows."""

    reason: str
    retryable: bool
    headers: object = None  # the response's, for Retry-After
    rate_limited: bool = False
    fatal: bool = False  # no later request of the run can succeed either


class FormatLadder:
    """The response format being asked for: a request's formats, best first, and how far
    down the server's refusals have taken them. All of a role's requests share one task's
    formats, so one step down holds for every later request of the engine's runs."""

    def __init__(self, role: str):
        self.role = role
        self.level = 0

    def current(self, call: Call) -> ResponseFormat | None:
        return call.formats[min(self.level, len(call.formats) - 1)] if call.formats else None

    def step_down(self, call: Call, fmt: ResponseFormat, exc: openai.APIStatusError, redact: Redactor) -> bool:
        """After a 400/422 to ``fmt``, use the next simpler format from now on; whether to resend."""
        if self.current(call) != fmt:  # another request already stepped down
            return True
        if _NOT_ABOUT_FORMAT.search(error_message(exc).lower()) or self.level + 1 >= len(call.formats):
            return False
        self.level += 1
        log.warning(
            "%s: the server refused response_format=%s (%s); using %s from now on",
            self.role,
            fmt.name,
            redact(error_message(exc))[:200],
            call.formats[self.level].name,
        )
        return True


class _ServerQuirks:
    """What the server turned out not to take, learnt once and applied to every later request
    of the run: ``max_tokens`` (it wants ``max_completion_tokens``) and response formats."""

    def __init__(self, settings: Settings, formats: FormatLadder, redact: Redactor):
        self.formats, self.redact = formats, redact
        self.max_completion_tokens = settings.max_tokens_param == "max_completion_tokens"

    def body(self, call: Call, fmt: ResponseFormat | None) -> dict:
        """The body to send: the token limit under the name the server takes (renamed in the
        call itself, once) and the response format being tried."""
        if self.max_completion_tokens and "max_tokens" in call.body:
            call.body["max_completion_tokens"] = call.body.pop("max_tokens")
        body = dict(call.body)
        if fmt is not None and fmt.body is not None:
            body["response_format"] = fmt.body
        return body

    def adapt(self, exc: openai.APIStatusError, body: dict, call: Call, fmt: ResponseFormat | None) -> bool:
        """Whether the error names a parameter the server does not take and we now leave out
        (``max_tokens``, a response format): then the request is sent again."""
        status = exc.status_code
        if status == 400 and "max_tokens" in body and "max_completion_tokens" in error_message(exc):
            if not self.max_completion_tokens:  # OpenAI reasoning models
                log.warning("the server wants max_completion_tokens instead of max_tokens; switching")
            self.max_completion_tokens = True
            return True
        if fmt is None or fmt.body is None or status not in (400, 422):
            return False
        return self.formats.step_down(call, fmt, exc, self.redact)


class Sender:
    """Sends one request until it succeeds, fails for good, or the run is stopped."""

    def __init__(
        self, settings: Settings, formats: FormatLadder, prices: PriceTable, redact: Redactor, tracker: Progress
    ):
        self.settings, self.formats, self.prices, self.redact, self.tracker = settings, formats, prices, redact, tracker
        self.pacer = Pacer(settings)
        self.backoff = Backoff(settings, self.pacer)
        self.quirks = _ServerQuirks(settings, formats, redact)
        self.fatal: str | None = None  # set by a 401/403/404: the run's remaining requests are not sent

    async def send(self, client: openai.AsyncOpenAI, call: Call) -> tuple[Outcome, dict | None]:
        """The outcome and, for a paid response, the cache entry to journal."""
        settings = self.settings
        attempts = 0
        started = time.monotonic()
        while True:
            if self.fatal:
                return failed(self.fatal, attempts), None
            attempts += 1
            await self.pacer.wait(call.estimate)
            fmt = self.formats.current(call)
            body = self.quirks.body(call, fmt)
            try:
                completion = await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
                choice = completion.choices[0]  # IndexError/TypeError: an unusable body, retried
                message = choice.message
            except openai.APIStatusError as exc:
                if self.quirks.adapt(exc, body, call, fmt):
                    attempts -= 1  # the server told us what it does not support; not a failure
                    continue
                failure = self._status_failure(exc)
            except openai.APITimeoutError:
                failure = _Failure(f"timeout after {settings.request_timeout_s:g}s", retryable=True)
            except openai.APIConnectionError as exc:
                failure = _Failure(f"connection error: {self.redact(exc)}", retryable=True)
            except (ValueError, TypeError, IndexError, AttributeError, openai.APIResponseValidationError) as exc:
                failure = _Failure(f"unreadable response: {type(exc).__name__}: {self.redact(exc)[:200]}", True)
            else:
                return self._read(call, completion, choice, message, fmt, attempts, started)
            error, delay = self._after(failure, attempts)
            if error is not None:
                return failed(error, attempts, time.monotonic() - started), None
            self.tracker.retries += 1
            await asyncio.sleep(delay)

    def _status_failure(self, exc: openai.APIStatusError) -> _Failure:
        status = exc.status_code
        return _Failure(
            f"HTTP {status}: {self.redact(error_message(exc))}",
            retryable=status in _RETRYABLE_STATUS or status >= 500,
            headers=exc.response.headers,
            rate_limited=status == 429,
            fatal=status in _FATAL_STATUS,
        )

    def _after(self, failure: _Failure, attempts: int) -> tuple[str | None, float]:
        """(the error that ends the request, None to retry it; the wait before the retry)."""
        if failure.fatal:
            self.fatal = f"{failure.reason} (remaining requests not sent)"
            return failure.reason, 0.0
        if not failure.retryable:
            return failure.reason, 0.0
        # Read even before the last attempt gives up: a rate limit pauses the run's other sends.
        delay = self.backoff.delay(attempts, failure.headers, failure.rate_limited)
        if delay is None:
            return f"{failure.reason}; Retry-After exceeds {self.settings.max_retry_after_s:g}s", 0.0
        if attempts >= self.settings.max_attempts:
            return f"{failure.reason} (gave up after {attempts} attempts)", 0.0
        return None, delay

    def _read(self, call: Call, completion, choice, message, fmt: ResponseFormat | None, attempts: int, started):
        """A completion into its outcome and its cache entry."""
        usage = completion.usage
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached_prompt = int(getattr(details, "cached_tokens", 0) or 0)
        if usage is not None:
            self.pacer.used(call.estimate, prompt_tokens + completion_tokens)
        text, finish = message.content, choice.finish_reason
        refusal = getattr(message, "refusal", None)
        cost = self.prices.cost(call.model, prompt_tokens, completion_tokens, cached_prompt)
        extra = {"response_format": fmt.name} if fmt is not None else {}
        if refusal and not text:
            extra["refusal"] = self.redact(refusal)[:500]
        latency = time.monotonic() - started
        outcome = Outcome(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=cost,
            error=finish_error(finish, text, refusal),
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


def finish_error(finish: str | None, text: str | None, refusal: str | None = None) -> str | None:
    if finish == "content_filter":
        return "content_filter: the provider withheld or cut the completion"
    if refusal and not text:
        return "refusal: the model refused the structured answer"
    if not text:
        return f"empty completion (finish_reason={finish})"
    return None
