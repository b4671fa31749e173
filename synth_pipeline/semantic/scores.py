"""Vendi score (Friedman & Dieng 2023) and coverage (Naeem et al. 2020) on embeddings."""

from __future__ import annotations

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def _entropy_exp(eigs: np.ndarray) -> float:
    p = np.clip(eigs, 0.0, None)
    p = p[p > 1e-12]
    p = p / p.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def vendi_score(x: np.ndarray) -> float:
    """Vendi (q=1) from the d×d covariance X^T X / n of unit rows: O(n d²), not O(n²).

    X X^T / n and X^T X / n share their non-zero eigenvalues, so this equals the kernel definition.
    """
    if len(x) == 0:
        return 0.0
    xn = _normalise(x)
    return _entropy_exp(np.linalg.eigvalsh(xn.T @ xn / len(xn)))


def vendi_score_kernel(x: np.ndarray) -> float:
    """Reference definition: exp entropy of eigenvalues of K/n, K the n×n cosine kernel (small n only)."""
    if len(x) == 0:
        return 0.0
    xn = _normalise(x)
    return _entropy_exp(np.linalg.eigvalsh(xn @ xn.T / len(xn)))


def coverage(real: np.ndarray, synthetic: np.ndarray, k: int = 5) -> float:
    """Share of real points whose k-NN ball (among real) holds at least one synthetic point (Naeem et al. 2020).

    Each real point's ball is its own neighbourhood, so rare regions count as much as dense ones.
    """
    if len(real) <= k or len(synthetic) == 0:
        return 0.0
    r, s = _normalise(real), _normalise(synthetic)
    d_rr = np.sqrt(np.clip(2.0 - 2.0 * (r @ r.T), 0.0, None))
    radius = np.sort(d_rr, axis=1)[:, k]  # column 0 is the point itself
    d_rs = np.sqrt(np.clip(2.0 - 2.0 * (r @ s.T), 0.0, None))
    return float((d_rs.min(axis=1) < radius).mean())
