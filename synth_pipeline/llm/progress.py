"""Progress of one backend run: the caller's callback, run-log lines and a terminal bar."""

from __future__ import annotations

import logging
import math
import os
import sys
import time

from synth_pipeline.chat import ProgressCallback

# Progress and run summaries go to the Dagster run log when a step is running: this is
# the logger ``dagster.get_dagster_logger("synth_pipeline.llm")`` returns, named without
# importing dagster (seconds of start-up in processes that do not need it).
runlog = logging.getLogger("dagster.builtin.synth_pipeline.llm")


class Progress:
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
