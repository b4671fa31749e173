"""Drift metrics: JSD known values and scipy equality, KS, log-odds ranking of a planted tic."""

from __future__ import annotations

import math
import re
from pydoc_data.topics import topics

import numpy as np
import pytest

from synth_pipeline.metrics import (
    drift_metrics,
    jensen_shannon_divergence,
    ks_statistic,
    overrepresented_ngrams,
)
from synth_pipeline.metrics.drift import log_odds_dirichlet

pytestmark = pytest.mark.unit


def _docs(n_docs: int, seed: int) -> list[str]:
    words = " ".join(topics[k] for k in sorted(topics)).split()
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(words) - 200, n_docs)
    lengths = rng.integers(20, 120, n_docs)
    return [" ".join(words[s : s + n]) for s, n in zip(starts, lengths, strict=True)]


REAL = _docs(600, 1)


def test_jsd_known_values():
    assert jensen_shannon_divergence([1, 2, 3], [2, 4, 6]) == 0.0
    assert jensen_shannon_divergence([1, 0], [0, 1]) == 1.0
    # P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4)
    expected = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25))
    assert jensen_shannon_divergence([1, 0], [1, 1]) == pytest.approx(expected, abs=1e-15)


def test_jsd_equals_scipy_squared_distance():
    import scipy.spatial.distance as scipy_distance

    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.integers(0, 50, 200) * (rng.random(200) < 0.7)
        q = rng.integers(0, 50, 200) * (rng.random(200) < 0.7)
        ref = scipy_distance.jensenshannon(p, q, base=2) ** 2
        assert jensen_shannon_divergence(p, q) == pytest.approx(ref, abs=1e-12)


def test_drift_identical_and_disjoint_corpora():
    same = drift_metrics(REAL, list(REAL))
    assert same["unigram_jsd"] == 0.0 and same["bigram_jsd"] == 0.0
    assert same["length_ks"] == 0.0 and same["synthetic_oov_rate"] == 0.0
    assert same["length_mean_synthetic"] == same["length_mean_real"]
    disjoint = drift_metrics(["alpha beta gamma", "beta delta"], ["one two", "three four five"])
    assert disjoint["unigram_jsd"] == 1.0 and disjoint["bigram_jsd"] == 1.0
    assert disjoint["synthetic_oov_rate"] == 1.0
    assert disjoint["length_mean_synthetic"] == 2.5 and disjoint["length_mean_real"] == 2.5
    assert disjoint["n_tokens_synthetic"] == 5 and disjoint["n_tokens_real"] == 5


def test_drift_is_monotone_in_mixing():
    other = [re.sub(r"\w+", lambda m: "zz" + m.group(0), d) for d in _docs(600, 2)]
    jsd = [drift_metrics(other[:k] + REAL[k:], REAL)["unigram_jsd"] for k in (0, 150, 300, 600)]
    assert jsd[0] == 0.0 and jsd == sorted(jsd) and jsd[-1] == pytest.approx(1.0)


def test_ks_statistic_equals_scipy():
    import scipy.stats as stats

    rng = np.random.default_rng(3)
    for _ in range(10):
        a = rng.poisson(80, 300)
        b = rng.poisson(90, 500)
        assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)
    # document lengths are counted in project words (lower-cased \w+)
    from synth_pipeline.metrics._tokens import word_lists

    m = drift_metrics(REAL[:300], REAL[300:])
    ls = word_lists(REAL[:300]).list.len().to_numpy()
    lr = word_lists(REAL[300:]).list.len().to_numpy()
    assert m["length_ks"] == pytest.approx(stats.ks_2samp(ls, lr).statistic, abs=1e-12)
    assert m["length_mean_synthetic"] == pytest.approx(ls.mean())
    assert m["length_median_real"] == pytest.approx(np.median(lr))


def test_log_odds_formula_by_hand():
    ya, yb, prior = np.array([10.0, 0.0, 5.0]), np.array([2.0, 8.0, 5.0]), np.array([1.0, 1.0, 2.0])
    delta, z = log_odds_dirichlet(ya, yb, prior)
    na, nb, a0 = 15.0, 15.0, 4.0
    d0 = math.log((10 + 1) / (na + a0 - 10 - 1)) - math.log((2 + 1) / (nb + a0 - 2 - 1))
    assert delta[0] == pytest.approx(d0)
    assert z[0] == pytest.approx(d0 / math.sqrt(1 / 11 + 1 / 3))
    assert z[0] > 0 > z[1]


def test_log_odds_ranks_planted_tic_first():
    rng = np.random.default_rng(5)
    synthetic = []
    for d in _docs(600, 9):
        words = d.split()
        if rng.random() < 0.3:  # the generator's verbal tic, in 30% of documents
            at = int(rng.integers(0, len(words)))
            words[at:at] = ["Moreover,", "it", "delves", "deeply", "into"]
        synthetic.append(" ".join(words))
    table = overrepresented_ngrams(synthetic, REAL, n=2, k=10)
    assert table.columns[:4] == ["ngram", "z_score", "count_synthetic", "count_real"]
    tic_bigrams = {"moreover it", "it delves", "delves deeply", "deeply into"}
    assert table["ngram"][0] in tic_bigrams
    assert set(table["ngram"][:4]) == tic_bigrams
    assert table["z_score"].to_list() == sorted(table["z_score"].to_list(), reverse=True)
    assert table["z_score"][0] > 5
    row = table.row(0, named=True)
    assert row["count_synthetic"] >= 150 and row["count_real"] == 0
    tri = overrepresented_ngrams(synthetic, REAL, n=3, k=3)
    assert set(tri["ngram"]) <= {"moreover it delves", "it delves deeply", "delves deeply into"}
    unigrams = overrepresented_ngrams(synthetic, REAL, n=1, k=3)
    assert set(unigrams["ngram"]) <= {"moreover", "delves", "deeply", "into", "it"}


def test_log_odds_no_tic_when_corpora_match():
    table = overrepresented_ngrams(REAL[:300], REAL[:300], n=2, k=5)
    assert table["z_score"].abs().max() < 1e-9


def test_overrepresented_empty_inputs():
    table = overrepresented_ngrams([], [], n=2)
    assert table.height == 0 and table.columns[:4] == ["ngram", "z_score", "count_synthetic", "count_real"]


def test_one_tokenisation_gives_the_same_drift_tics_and_term_groups():
    from synth_pipeline.metrics import drift_and_tables, drift_metrics, term_group_drift

    synthetic = [t.replace("the", "The police officer said she") for t in REAL[:200:2]] + ["", "police"]
    real = REAL[1:300:2] + ["officer police Officer he his", ""]
    groups = {"officers": ["police officer", "officer"], "she": ["she", "her"], "none": ["zzqx"], "he": ["he"]}
    drift, tics, bias = drift_and_tables(synthetic, real, seed=3, n=2, k=10, term_groups=groups)
    reference = drift_metrics(synthetic, real, seed=3)
    assert drift.keys() == reference.keys()
    assert all(math.isclose(drift[k], reference[k], rel_tol=1e-12, abs_tol=1e-15) for k in drift)
    assert tics.equals(overrepresented_ngrams(synthetic, real, n=2, k=10))
    assert bias.equals(term_group_drift(synthetic, real, groups))
    assert bias.filter(bias["group"] == "officers")["count_synthetic"][0] > 0
    empty = drift_and_tables([], [], term_groups=groups)
    assert empty[1].height == 0 and empty[2].equals(term_group_drift([], [], groups))
