"""Quality metrics of synthetic vs real text: diversity, drift, bias, leakage.

Every function takes plain lists of strings and returns plain floats or polars
DataFrames. :func:`quality_metrics` computes all scalar metrics of one scope under the
stable names stored in ``synth.quality_metrics.metric`` (see ``docs/metrics.md``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from ._tokens import word_counts
from .bias import DEFAULT_TERM_GROUPS, term_group_drift, term_group_summary
from .diversity import (
    DIVERSITY_METRICS,
    compression_and_ngram_diversity,
    compression_ratio,
    distinct_n,
    diversity_metrics,
    ngram_diversity_score,
    self_bleu,
    self_repetition_score,
)
from .drift import drift_and_tables, drift_metrics, jensen_shannon_divergence, ks_statistic, overrepresented_ngrams
from .leakage import contamination_flags, contamination_rate, copy_leakage, copy_leakage_flags

__all__ = [
    "DEFAULT_TERM_GROUPS",
    "RELATIVE_METRICS",
    "compression_and_ngram_diversity",
    "compression_ratio",
    "contamination_flags",
    "contamination_rate",
    "copy_leakage",
    "copy_leakage_flags",
    "distinct_n",
    "diversity_metrics",
    "drift_and_tables",
    "drift_metrics",
    "jensen_shannon_divergence",
    "ks_statistic",
    "ngram_diversity_score",
    "overrepresented_ngrams",
    "quality_metrics",
    "self_bleu",
    "self_repetition_score",
    "size_matched",
    "term_group_drift",
    "term_group_summary",
]

# Diversity metrics also stored as synthetic / real ("relative.<name>"): the honest
# comparison for thresholds, since the real corpus of the same partition shares topic,
# length and domain with the synthetic text grounded in it.
RELATIVE_METRICS = DIVERSITY_METRICS[:8]


def size_matched(synthetic: Sequence[str], real: Sequence[str], *, seed: int = 0) -> tuple[list[str], list[str]]:
    """Subsample the corpus with more words to (just over) the other's word count.

    Distinct-n, n-gram diversity and self-repetition depend on corpus size (more text
    repeats more), so synthetic/real ratios are taken on word-matched corpora: a seeded
    random subset of whole documents of the larger corpus, the smaller one unchanged.
    """
    syn, rea = list(synthetic), list(real)
    lens_s = word_counts(syn) if syn else np.zeros(0, dtype=np.int64)
    lens_r = word_counts(rea) if rea else np.zeros(0, dtype=np.int64)
    n_s, n_r = int(lens_s.sum()), int(lens_r.sum())

    def cut(texts: list[str], lens: np.ndarray, target: int) -> list[str]:
        order = np.random.default_rng(seed).permutation(len(texts))
        k = int(np.searchsorted(np.cumsum(lens[order]), target)) + 1
        return [texts[i] for i in np.sort(order[:k])]

    if n_s > n_r > 0:
        syn = cut(syn, lens_s, n_r)
    elif n_r > n_s > 0:
        rea = cut(rea, lens_r, n_s)
    return syn, rea


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
    bias_min_support: int = 100,
    tables: dict[str, pl.DataFrame] | None = None,
    tics_n: int = 2,
    tics_k: int = 15,
) -> dict[str, float]:
    """All scalar metrics of one scope as ``{metric_name: value}``.

    Names: ``synthetic.<d>`` and ``real.<d>`` for each diversity key ``d``;
    ``relative.<d>`` = synthetic / real for :data:`RELATIVE_METRICS`, both measured on
    word-matched corpora (:func:`size_matched`), and ``relative.matched_tokens``;
    ``drift.<k>`` for each drift key; ``bias.<group>.{share_synthetic,share_real,ratio}``
    and ``bias.max_abs_log_ratio``; ``leakage.copy_rate`` when ``sources`` (aligned
    with ``synthetic``) is given and ``leakage.contamination_rate`` when
    ``decontamination`` is given. A ``tables`` dict receives the two tables the report
    shows, computed from the same tokenisation as the drift metrics: ``"bias"``
    (:func:`term_group_drift`) and ``"overrepresented"`` (:func:`overrepresented_ngrams`
    with ``n=tics_n, k=tics_k``).
    """
    out: dict[str, float] = {}
    div = {
        "synthetic": diversity_metrics(synthetic, self_bleu_sample=self_bleu_sample, seed=seed),
        "real": diversity_metrics(real, self_bleu_sample=self_bleu_sample, seed=seed),
    }
    for scope, values in div.items():
        out.update({f"{scope}.{k}": float(v) for k, v in values.items()})
    matched_s, matched_r = size_matched(synthetic, real, seed=seed)
    rel = {
        "synthetic": div["synthetic"]
        if len(matched_s) == len(synthetic)
        else diversity_metrics(matched_s, self_bleu_sample=self_bleu_sample, seed=seed),
        "real": div["real"]
        if len(matched_r) == len(real)
        else diversity_metrics(matched_r, self_bleu_sample=self_bleu_sample, seed=seed),
    }
    for k in RELATIVE_METRICS:
        out[f"relative.{k}"] = _ratio(rel["synthetic"][k], rel["real"][k])
    out["relative.matched_tokens"] = float(min(rel["synthetic"]["n_tokens"], rel["real"]["n_tokens"]))
    drift, tics, table = drift_and_tables(synthetic, real, seed=seed, n=tics_n, k=tics_k, term_groups=term_groups)
    out.update({f"drift.{k}": float(v) for k, v in drift.items()})
    if tables is not None:
        tables.update(bias=table, overrepresented=tics)
    for row in table.iter_rows(named=True):
        for col in ("share_synthetic", "share_real", "ratio"):
            out[f"bias.{row['group']}.{col}"] = float(row[col])
    out["bias.max_abs_log_ratio"] = float(term_group_summary(table, min_support=bias_min_support)["max_abs_log_ratio"])
    if sources is not None:
        out["leakage.copy_rate"] = copy_leakage(synthetic, sources, n=leakage_n)
    if decontamination is not None:
        out["leakage.contamination_rate"] = contamination_rate(synthetic, decontamination, n=leakage_n)
    return out
