"""The synthetic share of the mix and the caps on it, defined once.

``dbt_like_sql/queries/mix_shares.sql`` counts; :func:`within_caps` compares. The blocking
check, the quality report and the release gate all read these two, so they cannot disagree
on what "synthetic share" means or on when it is too high.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from synth_pipeline.settings import Settings
from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import partition_date

_FIRST = dt.date(1, 1, 1)


@dataclass(frozen=True)
class MixShares:
    items: int
    synthetic_items: int
    real_items: int
    tokens: int
    synthetic_tokens: int
    real_tokens: int
    partitions: int
    synthetic_item_share: float
    synthetic_token_share: float


def mix_shares(con: duckdb.DuckDBPyConnection, partition: str | dt.date, *, cumulative: bool = False) -> MixShares:
    """Shares of one partition's mix, or of every partition up to and including it."""
    until = partition_date(partition)
    row = queries.one(con, "mix_shares", since=_FIRST if cumulative else until, until=until)
    items, synthetic_items, real_items, tokens, synthetic_tokens, real_tokens, partitions, item_share, token_share = row
    return MixShares(
        items=int(items),
        synthetic_items=int(synthetic_items),
        real_items=int(real_items),
        tokens=int(tokens),
        synthetic_tokens=int(synthetic_tokens),
        real_tokens=int(real_tokens),
        partitions=int(partitions),
        synthetic_item_share=float(item_share),
        synthetic_token_share=float(token_share),
    )


def within_caps(settings: Settings, *shares: MixShares) -> bool:
    """Every given share at or below its cap: ``max_synthetic_ratio`` on tokens,
    ``max_synthetic_item_ratio`` on items."""
    return all(
        s.synthetic_token_share <= settings.max_synthetic_ratio
        and s.synthetic_item_share <= settings.max_synthetic_item_ratio
        for s in shares
    )
