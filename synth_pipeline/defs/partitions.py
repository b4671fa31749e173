"""One daily partition = one batch of corpus documents and everything derived from it.

The first partition is fixed here, not read from the environment: the partitions are part
of the definitions every process of a deployment loads (webserver, daemon, run workers), and
part of the keys stored in the warehouse, so they must not depend on each process's
environment. Move the start by editing ``PARTITION_START``.
"""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

PARTITION_START = "2026-01-01"
DEFAULT_START = PARTITION_START  # the name earlier code imported

daily_partitions = DailyPartitionsDefinition(start_date=PARTITION_START, end_offset=1)
