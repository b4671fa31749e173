"""The blocking diversity rules of the mix, as a pure function.

``defs/checks.diversity_above_thresholds`` reports them as an asset check; the collapse
probe (``synth_pipeline/probe``) applies the very same rules to each generation's
synthetic text, so the probe measures the gate the pipeline ships, not a copy of it.
"""

from __future__ import annotations

from collections.abc import Mapping

from synth_pipeline.settings import Settings


def diversity_rules(
    m: Mapping[str, float], settings: Settings, *, near_dup_rate: float, task_share: float
) -> dict[str, bool]:
    """``{rule: passed}`` for one scope's mix metrics ``m`` (``mix.metrics.compute``'s keys)."""
    return {
        "relative_distinct_2": m["relative.distinct_2"] >= settings.min_relative_distinct_2,
        "distinct_2_floor": m["synthetic.distinct_2_floor_sample"] >= settings.min_distinct_2,
        "relative_compression_ratio": m["relative.compression_ratio"] <= settings.max_relative_compression_ratio,
        "compression_ratio": m["synthetic.compression_ratio"] <= settings.max_compression_ratio,
        "near_duplicate_rate": near_dup_rate <= settings.max_near_dup_rate,
        "largest_task_share": task_share <= settings.max_task_share,
    }
