"""The semantic layer loads offline and its Vendi shortcut equals the n×n kernel definition."""

from __future__ import annotations

import numpy as np
import pytest

from synth_pipeline.semantic import coverage, embed_texts, vendi_score, vendi_score_kernel


@pytest.mark.unit
@pytest.mark.parametrize(("n", "d"), [(5, 3), (20, 8), (40, 64)])
def test_vendi_covariance_equals_kernel(n: int, d: int) -> None:
    x = np.random.default_rng(n).normal(size=(n, d))
    assert vendi_score(x) == pytest.approx(vendi_score_kernel(x), rel=1e-9)


@pytest.mark.unit
def test_vendi_bounds() -> None:
    assert vendi_score(np.ones((10, 4))) == pytest.approx(1.0)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)


@pytest.mark.unit
def test_coverage_misses_an_unreached_cluster() -> None:
    rng = np.random.default_rng(0)
    a, b = np.eye(8)[0], np.eye(8)[1]
    real = np.vstack([a + 0.01 * rng.normal(size=(20, 8)), b + 0.01 * rng.normal(size=(20, 8))])
    only_a = a + 0.01 * rng.normal(size=(20, 8))
    assert coverage(real, real + 0.001) == pytest.approx(1.0)
    assert coverage(real, only_a) == pytest.approx(0.5, abs=0.05)


@pytest.mark.unit
def test_embeds_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    e = embed_texts(["the cat sat on the mat", "a feline rested on the rug", "stock markets fell sharply"])
    assert e.shape == (3, 256)
    sims = e @ e.T
    assert sims[0, 1] > sims[0, 2]
