"""One daily partition = one batch of corpus documents and everything derived from it."""

from __future__ import annotations

import os

from dagster import DailyPartitionsDefinition

DEFAULT_START = "2026-01-01"

daily_partitions = DailyPartitionsDefinition(
    start_date=os.environ.get("SYNTH_PARTITION_START", DEFAULT_START), end_offset=1
)
