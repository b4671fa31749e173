"""Which partitions are stale, and why: the same answer the Dagster UI gives.

Dagster marks an asset partition stale when the code version recorded with its last
materialisation differs from the asset's code version now (``CODE``), or when an
upstream partition was materialised again after it or its upstream code changed
(``DATA``/``DEPENDENCIES``). Our code versions are hashes of the source that computes
each asset (SQL models: the file's hash; ``seed_prompts``: the templates too), so
editing a template or a SQL model marks it and everything downstream stale.

:func:`stale_status` asks Dagster's own resolver for one partition of every asset,
with an instance and the definitions as they are now; ``synth stale`` prints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dagster import AssetsDefinition, DagsterInstance
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph
from dagster._core.definitions.data_version import CachingStaleStatusResolver
from dagster._time import get_current_datetime


@dataclass(frozen=True)
class PartitionStatus:
    asset: str
    partition: str
    status: str  # FRESH, STALE or MISSING
    causes: tuple[str, ...]  # root causes, e.g. "deduplicated_mix: code version changed"


def resolver(instance: DagsterInstance, assets: Sequence[AssetsDefinition]) -> CachingStaleStatusResolver:
    """Dagster's stale-status resolver over ``assets`` as they are defined now."""
    graph = AssetGraph.from_assets(list(assets))
    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    return CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)


def stale_status(
    instance: DagsterInstance, assets: Sequence[AssetsDefinition], partition: str
) -> dict[str, PartitionStatus]:
    """Status of ``partition`` of every asset, with its root causes when stale."""
    res = resolver(instance, assets)
    out: dict[str, PartitionStatus] = {}
    for assets_def in assets:
        for key in assets_def.keys:
            status = res.get_status(key, partition)
            causes = (
                tuple(
                    f"{c.key.asset_key.to_user_string()}: {c.reason}" for c in res.get_stale_root_causes(key, partition)
                )
                if status.value == "STALE"
                else ()
            )
            name = key.to_user_string()
            out[name] = PartitionStatus(name, partition, status.value, causes)
    return out


def transitions(before: dict[str, PartitionStatus], after: dict[str, PartitionStatus]) -> list[str]:
    """Lines ``asset: FRESH -> STALE`` for every asset whose status changed."""
    return [
        f"{name}: {before[name].status} -> {after[name].status}"
        for name in before
        if before[name].status != after[name].status
    ]
