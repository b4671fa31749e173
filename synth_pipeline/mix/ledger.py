"""``synth.real_item_ledger``: every real item that ever entered a partition's mix.

Real data must accumulate, never be replaced. The mix step writes the partition's ledger
after its checks ran (so the check compares the mix with what earlier materialisations
recorded); entries are never dropped by a later materialisation, only by a person who
deletes them on purpose (a takedown), and ``real_data_accumulates`` fails while a recorded
item is missing from the mix.
"""

from __future__ import annotations

import duckdb
import polars as pl

from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import _table_exists

LEDGER_TABLE = "real_item_ledger"


def ledger_partition(con: duckdb.DuckDBPyConnection, partition: str) -> pl.DataFrame:
    """The partition's ledger rows (item_id, first_seen) including the real items of its mix now."""
    name = "real_item_ledger" if _table_exists(con, LEDGER_TABLE) else "real_items_first_seen"
    return queries.frame(con, name, partition_date=partition)
