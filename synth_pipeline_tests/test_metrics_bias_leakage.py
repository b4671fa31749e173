"""Term-group drift detects a planted skew; copy leakage and contamination on crafted pairs."""

from __future__ import annotations

import math
import re
from pydoc_data.topics import topics

import numpy as np
import pytest

from synth_pipeline.metrics import (
    DEFAULT_TERM_GROUPS,
    contamination_flags,
    contamination_rate,
    copy_leakage,
    copy_leakage_flags,
    quality_metrics,
    term_group_drift,
    term_group_summary,
)

pytestmark = pytest.mark.unit

WORDS = " ".join(topics[k] for k in sorted(topics)).split()

PEOPLE = [
    "She said her mother was a doctor and she wanted to be one too.",
    "He told his father that the engineer fixed the code himself.",
    "The children asked their parents about the people in town.",
    "My sister and my brother visited our aunt and uncle.",
    "The woman met the man, and they talked about their work.",
]


def _corpus(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        PEOPLE[int(rng.integers(0, len(PEOPLE)))] + " " + " ".join(WORDS[s : s + 40])
        for s in rng.integers(0, len(WORDS) - 50, n)
    ]


def _swap_female_to_male(text: str) -> str:
    table = {
        "she": "he",
        "She": "He",
        "her": "his",
        "mother": "father",
        "sister": "brother",
        "aunt": "uncle",
        "woman": "man",
    }
    return re.sub(r"\w+", lambda m: table.get(m.group(0), m.group(0)), text)


def test_no_drift_on_identical_corpora():
    real = _corpus(300, 0)
    table = term_group_drift(real, list(real))
    assert table["group"].to_list() == ["female", "male", "neutral"]
    assert table.columns == [
        "group",
        "count_synthetic",
        "count_real",
        "share_synthetic",
        "share_real",
        "ratio",
        "log_ratio",
        "support",
    ]
    assert np.allclose(table["ratio"].to_numpy(), 1.0)
    assert term_group_summary(table)["max_abs_log_ratio"] == pytest.approx(0.0, abs=1e-12)


def test_detects_planted_gender_skew():
    real = _corpus(400, 1)
    synthetic = [_swap_female_to_male(t) for t in _corpus(400, 2)]
    table = {r["group"]: r for r in term_group_drift(synthetic, real).iter_rows(named=True)}
    assert table["female"]["count_synthetic"] == 0 and table["female"]["count_real"] > 50
    assert table["female"]["ratio"] < 0.05
    assert table["male"]["ratio"] > 1.5
    assert 0.7 < table["neutral"]["ratio"] < 1.4
    summary = term_group_summary(term_group_drift(synthetic, real))
    assert summary["max_abs_log_ratio_group"] == "female" and summary["max_abs_log_ratio"] > 3


def test_counts_shares_and_custom_groups():
    synthetic = ["Machine learning and deep learning. Machine   LEARNING!", "python python"]
    real = ["machine learning is a field of study", "learning machine"]
    groups = {"ml": ["machine learning", "deep learning"], "py": ["Python"]}
    table = {r["group"]: r for r in term_group_drift(synthetic, real, groups).iter_rows(named=True)}
    assert table["ml"]["count_synthetic"] == 3 and table["ml"]["count_real"] == 1
    assert table["py"]["count_synthetic"] == 2 and table["py"]["count_real"] == 0
    assert table["ml"]["share_synthetic"] == pytest.approx(3 / 9)
    assert table["ml"]["share_real"] == pytest.approx(1 / 9)
    assert table["ml"]["ratio"] == pytest.approx((3.5 / 9) / (1.5 / 9))
    assert table["ml"]["log_ratio"] == pytest.approx(math.log(3.5 / 1.5))
    # below the support floor nothing counts towards the summary
    assert term_group_summary(term_group_drift(synthetic, real, groups))["max_abs_log_ratio"] == 0.0
    assert (
        term_group_summary(term_group_drift(synthetic, real, groups), min_support=1)["max_abs_log_ratio_group"] == "py"
    )


def test_default_groups_are_single_or_multi_word_lowercase():
    for terms in DEFAULT_TERM_GROUPS.values():
        assert all(t == t.lower() for t in terms)
    assert not set(DEFAULT_TERM_GROUPS["female"]) & set(DEFAULT_TERM_GROUPS["male"])


ALPHA = [w for w in WORDS if w.isalpha()]  # one whitespace token = one project word
SOURCE = " ".join(ALPHA[1000:1060])
SOURCE_WORDS = SOURCE.split()


def test_copy_leakage_on_crafted_pairs():
    verbatim = "Summary: " + " ".join(SOURCE_WORDS[10:25]) + " That is all."  # 15 copied words
    recased = " ".join(SOURCE_WORDS[5:20]).upper().replace(" ", " ,  ")  # case/punct differ
    twelve = "In short, " + " ".join(SOURCE_WORDS[0:12]) + " and more."  # only 12 words copied
    paraphrase = " ".join(w if i % 8 else "CHANGED" for i, w in enumerate(SOURCE_WORDS))
    unrelated = " ".join(ALPHA[5000:5060])
    samples = [verbatim, recased, twelve, paraphrase, unrelated]
    sources = [SOURCE] * 5
    assert copy_leakage_flags(samples, sources).tolist() == [True, True, False, False, False]
    assert copy_leakage(samples, sources) == pytest.approx(2 / 5)
    assert copy_leakage_flags(samples, sources, n=8).tolist() == [True, True, True, False, False]


def test_copy_leakage_is_pairwise_but_contamination_is_global():
    other_source = " ".join(ALPHA[3000:3060])
    copy_of_first = " ".join(SOURCE_WORDS[:30])
    samples = [copy_of_first, copy_of_first]
    sources = [SOURCE, other_source]  # second sample copies a passage that is not its own
    assert copy_leakage_flags(samples, sources).tolist() == [True, False]
    assert contamination_flags(samples, [other_source, SOURCE]).tolist() == [True, True]
    assert contamination_rate(samples + ["nothing in common here at all"], [SOURCE]) == pytest.approx(2 / 3)
    assert contamination_rate(samples, []) == 0.0


def test_copy_leakage_edge_cases():
    with pytest.raises(ValueError):
        copy_leakage(["a"], [])
    assert math.isnan(copy_leakage([], []))
    short = "too short to hold thirteen words"
    assert copy_leakage([short], [short]) == 0.0
    assert copy_leakage(["", SOURCE], [SOURCE, SOURCE]) == pytest.approx(0.5)


def test_quality_metrics_names_are_stable():
    real = _corpus(200, 3)
    synthetic = [_swap_female_to_male(t) for t in _corpus(200, 4)]
    m = quality_metrics(synthetic, real, sources=real, decontamination=real[:10], self_bleu_sample=30)
    for scope in ("synthetic", "real"):
        for k in (
            "distinct_1",
            "distinct_2",
            "distinct_3",
            "distinct_4",
            "compression_ratio",
            "ngram_diversity",
            "self_repetition",
            "self_bleu",
            "vocabulary_size",
            "n_texts",
            "n_tokens",
        ):
            assert f"{scope}.{k}" in m
    for k in (
        "unigram_jsd",
        "bigram_jsd",
        "length_mean_synthetic",
        "length_mean_real",
        "length_ks",
        "synthetic_oov_rate",
    ):
        assert f"drift.{k}" in m
    assert m["relative.matched_tokens"] == min(m["synthetic.n_tokens"], m["real.n_tokens"])
    assert 0.8 < m["relative.distinct_2"] < 1.25  # same generator of text on both sides
    assert m["bias.female.ratio"] < 0.1 and m["bias.max_abs_log_ratio"] > 2
    assert 0.0 <= m["leakage.copy_rate"] <= 1.0 and 0.0 < m["leakage.contamination_rate"] <= 1.0
    assert all(isinstance(v, float) for v in m.values())


def test_size_matched_subsamples_the_larger_corpus():
    from synth_pipeline.metrics import size_matched

    small, large = _corpus(50, 5), _corpus(400, 6)
    a, b = size_matched(large, small, seed=1)
    assert b == small and set(a) <= set(large) and len(a) < len(large)
    words = lambda ts: sum(len(re.findall(r"\w+", t.lower())) for t in ts)  # noqa: E731
    assert words(small) <= words(a) < words(small) + 60
    assert size_matched(small, large, seed=1)[0] == small
    # a corpus twice as large has lower distinct-2; matching removes the size effect
    big = _corpus(800, 7)
    m = quality_metrics(big, _corpus(400, 8), self_bleu_sample=20)
    assert m["synthetic.distinct_2"] < m["real.distinct_2"]
    assert abs(m["relative.distinct_2"] - 1) < 0.05
