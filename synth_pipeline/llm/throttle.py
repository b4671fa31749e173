"""When a request may go out: client-side rate limits, pauses a server asks for, backoff.

One :class:`Pacer` per run holds the optional requests/tokens-per-minute buckets and
the pause a 429 with ``Retry-After`` imposes on every new send of the run;
:class:`Backoff` says how long one request waits before its next attempt.
"""

from __future__ import annotations

import asyncio
import random
import time
from email.utils import parsedate_to_datetime

from synth_pipeline.settings import Settings


class Bucket:
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


class Pacer:
    """The run's send budget: request and token buckets, and the server's pause."""

    def __init__(self, settings: Settings):
        self.rpm = Bucket(settings.requests_per_minute) if settings.requests_per_minute else None
        self.tpm = Bucket(settings.tokens_per_minute) if settings.tokens_per_minute else None
        self.pause_until = 0.0

    async def wait(self, estimate: int) -> None:
        """Wait for the request and token budgets and for any pause the server asked for."""
        if self.rpm is not None:
            await self.rpm.take(1)
        if self.tpm is not None:
            await self.tpm.take(estimate)
        wait = self.pause_until - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def used(self, estimate: int, tokens: int) -> None:
        """A reply's usage is known: the reservation it did not need goes back to the bucket."""
        if self.tpm is not None:
            self.tpm.refund(max(0, estimate - tokens))

    def pause(self, seconds: float) -> None:
        self.pause_until = max(self.pause_until, time.monotonic() + seconds)


class Backoff:
    """Exponential backoff with full jitter, never shorter than what ``Retry-After`` asks."""

    def __init__(self, settings: Settings, pacer: Pacer):
        self.settings, self.pacer = settings, pacer

    def delay(self, attempt: int, headers, rate_limited: bool) -> float | None:
        """Seconds before attempt ``attempt + 1``; None when Retry-After is too long to wait.
        A rate limit with Retry-After also pauses the run's other sends for that long."""
        settings = self.settings
        backoff = min(settings.retry_max_delay_s, settings.retry_base_delay_s * 2 ** (attempt - 1))
        delay = backoff * (0.5 + random.random() / 2)
        after = retry_after(headers) if headers is not None else None
        if after is not None:
            if after > settings.max_retry_after_s:
                return None
            delay = after + random.random() * min(1.0, 0.1 * after + 0.05)
            if rate_limited:
                self.pacer.pause(after)
        return delay


def retry_after(headers) -> float | None:
    """``retry-after-ms``, else ``Retry-After`` in seconds or as an HTTP date; None if absent or unreadable."""
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
