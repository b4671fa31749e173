"""One headline score (0-100) with grade bands and a "fit for" verdict, from five subscores.

Modelled on the synthetic-data quality reports that data scientists already read (a
single score, subscores with their details, grade bands), but every subscore here is a
documented function of metrics in ``synth.quality_metrics``:

* composition: real data dominates: 100 while the synthetic token share is at most the
  cap, falling linearly to 0 at twice the cap;
* diversity: synthetic text as varied as the real text it came from: the worst of
  relative distinct-2 (1.0 = as varied as real) and the inverse relative compression
  ratio, mapped so that the blocking thresholds (0.70, 1/1.30) sit at 50;
* fidelity: vocabulary close to the real text: 100 x (1 - unigram JSD / 0.5);
* grading: the judge works: acceptance inside its band and few parse failures;
* safety: no copying of passages (model backends), no contamination, no flagged samples.

Bands: >= 80 excellent, >= 60 good, >= 40 moderate, otherwise poor. A partition that
adds no items to the mix (0 documents, or every candidate excluded) has no score (NaN,
shown "n/a") and the band ``empty``: there is nothing to grade, which is not a 0.
"""

from __future__ import annotations

import math

WEIGHTS = {"composition": 0.25, "diversity": 0.3, "fidelity": 0.15, "grading": 0.15, "safety": 0.15}
BANDS = [
    (80, "excellent", "pre-training and fine-tuning mixes, after the usual spot checks"),
    (60, "good", "fine-tuning mixes, after reading the examples and the over-represented n-grams"),
    (40, "moderate", "experiments and ablations only, not a production training run"),
    (0, "poor", "nothing yet: fix the failing subscores first"),
]


def _clip(x: float) -> float:
    return 0.0 if math.isnan(x) else max(0.0, min(100.0, x))


def _value(m: dict[str, float], key: str, default: float = float("nan")) -> float:
    v = m.get(key, default)
    return default if v is None else float(v)


def subscores(
    m: dict[str, float], *, max_ratio: float, acceptance_band: tuple[float, float], offline: bool
) -> dict[str, float]:
    share = _value(m, "mix.synthetic_token_share", 0.0)
    composition = 100.0 if share <= max_ratio else 100.0 * (1 - (share - max_ratio) / max_ratio)

    rel_d2 = _value(m, "relative.distinct_2", 1.0)
    rel_cr = _value(m, "relative.compression_ratio", 1.0)
    worst = min(rel_d2, 1.0 / rel_cr if rel_cr > 0 else 0.0)
    # 1.0 -> 100, 0.70 -> 50, 0.4 -> 0: the blocking threshold sits mid-scale.
    diversity = 100.0 * (worst - 0.4) / 0.6 if worst < 1.0 else 100.0

    fidelity = 100.0 * (1 - _value(m, "drift.unigram_jsd", 0.0) / 0.5)

    acceptance = _value(m, "grading.acceptance_rate", 0.0)
    low, high = acceptance_band
    distance = max(0.0, low - acceptance, acceptance - high)
    grading = 100.0 * (1 - distance / 0.2) - 200.0 * _value(m, "grading.judge_parse_failure_rate", 0.0)

    copy_rate = 0.0 if offline else _value(m, "leakage.copy_rate", 0.0)
    contamination = _value(m, "leakage.contamination_rate", 0.0)
    flagged = _value(m, "grading.blocking_flag_rate", 0.0)
    safety = 100.0 * (1 - copy_rate) - 1000.0 * contamination - 100.0 * flagged

    return {
        k: round(_clip(v), 1)
        for k, v in {
            "composition": composition,
            "diversity": diversity,
            "fidelity": fidelity,
            "grading": grading,
            "safety": safety,
        }.items()
    }


EMPTY_BAND = "empty"
EMPTY_PARTITION = (float("nan"), EMPTY_BAND, "nothing: the partition has 0 documents, so it adds no items")
NO_ITEMS = (float("nan"), EMPTY_BAND, "nothing: every candidate of this partition was excluded, so it adds no items")


def headline(scores: dict[str, float], mix_items: float = 1, documents: float | None = None) -> tuple[float, str, str]:
    """(score, band, fit for); ``documents`` tells an empty partition from one whose items were all excluded."""
    if not mix_items:
        return EMPTY_PARTITION if documents == 0 else NO_ITEMS
    total = round(sum(WEIGHTS[k] * scores[k] for k in WEIGHTS), 1)
    for floor, band, fit_for in BANDS:
        if total >= floor:
            return total, band, fit_for
    return total, BANDS[-1][1], BANDS[-1][2]
