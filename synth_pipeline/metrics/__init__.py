"""Quality metrics of synthetic vs real text: diversity, drift, bias, leakage.

Every function takes plain lists of strings and returns plain floats or polars
DataFrames. :func:`quality_metrics` computes all scalar metrics of one scope under the
stable names stored in ``synth.quality_metrics.metric`` (see ``docs/metrics.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .bias import DEFAULT_TERM_GROUPS, term_group_drift, term_group_summary
from .diversity import (
    compression_ratio,
    distinct_n,
    diversity_metrics,
    ngram_diversity_score,
    self_bleu,
    self_repetition_score,
)
from .drift import drift_metrics, jensen_shannon_divergence, ks_statistic, overrepresented_ngrams
from .leakage import contamination_flags, contamination_rate, copy_leakage, copy_leakage_flags

__all__ = [
    "DEFAULT_TERM_GROUPS",
    "RELATIVE_METRICS",
    "compression_ratio",
    "contamination_flags",
    "contamination_rate",
    "copy_leakage",
    "copy_leakage_flags",
    "distinct_n",
    "diversity_metrics",
    "drift_metrics",
    "jensen_shannon_divergence",
    "ks_statistic",
    "ngram_diversity_score",
    "overrepresented_ngrams",
    "quality_metrics",
    "self_bleu",
    "self_repetition_score",
    "term_group_drift",
    "term_group_summary",
]

# Diversity metrics also stored as synthetic / real ("relative.<name>"): the honest
# comparison for thresholds, since the real corpus of the same partition shares topic,
# length and domain with the synthetic text grounded in it.
RELATIVE_METRICS = (
    "distinct_1", "distinct_2", "distinct_3", "distinct_4", "compression_ratio",
    "ngram_diversity", "self_repetition", "self_bleu",
)


def _ratio(a: float, b: float) -> float:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return float("nan")
    return a / b


def quality_metrics(
    synthetic: Sequence[str],
    real: Sequence[str],
    *,
    sources: Sequence[str] | None = None,
    decontamination: Sequence[str] | None = None,
    term_groups: Mapping[str, Sequence[str]] | None = None,
    self_bleu_sample: int = 200,
    seed: int = 0,
    leakage_n: int = 13,
    bias_min_support: int = 20,
) -> dict[str, float]:
    """All scalar metrics of one scope as ``{metric_name: value}``.

    Names: ``synthetic.<d>`` and ``real.<d>`` for each diversity key ``d``;
    ``relative.<d>`` = synthetic / real for :data:`RELATIVE_METRICS`;
    ``drift.<k>`` for each drift key; ``bias.<group>.{share_synthetic,share_real,ratio}``
    and ``bias.max_abs_log_ratio``; ``leakage.copy_rate`` when ``sources`` (aligned
    with ``synthetic``) is given and ``leakage.contamination_rate`` when
    ``decontamination`` is given.
    """
    out: dict[str, float] = {}
    div = {
        "synthetic": diversity_metrics(synthetic, self_bleu_sample=self_bleu_sample, seed=seed),
        "real": diversity_metrics(real, self_bleu_sample=self_bleu_sample, seed=seed),
    }
    for scope, values in div.items():
        out.update({f"{scope}.{k}": float(v) for k, v in values.items()})
    for k in RELATIVE_METRICS:
        out[f"relative.{k}"] = _ratio(div["synthetic"][k], div["real"][k])
    out.update({f"drift.{k}": float(v) for k, v in drift_metrics(synthetic, real).items()})
    table = term_group_drift(synthetic, real, term_groups)
    for row in table.iter_rows(named=True):
        for col in ("share_synthetic", "share_real", "ratio"):
            out[f"bias.{row['group']}.{col}"] = float(row[col])
    out["bias.max_abs_log_ratio"] = float(
        term_group_summary(table, min_support=bias_min_support)["max_abs_log_ratio"]
    )
    if sources is not None:
        out["leakage.copy_rate"] = copy_leakage(synthetic, sources, n=leakage_n)
    if decontamination is not None:
        out["leakage.contamination_rate"] = contamination_rate(synthetic, decontamination, n=leakage_n)
    return out
