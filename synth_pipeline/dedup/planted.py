"""Seeded corpus with planted near duplicates, for the near-duplicate benchmark and tests
(``benchmarks/dedup.py``, ``synth_pipeline_tests/test_near_duplicates.py``); not used by the pipeline.

Documents are ~130 words drawn from a Zipf-distributed vocabulary of pseudo-words, with
sentence punctuation and capitalisation so that normalisation matters. A share of the
documents are *families*: a base document plus one or two variants made by word edits
(substitute, insert, delete at random positions). The number of edits is drawn so that the
exact Jaccard similarity of 5-gram shingle sets spreads over roughly 0.5-1.0, i.e. many
planted pairs sit close to the 0.8 threshold, which is where detectors differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Corpus:
    texts: list[str]
    families: list[list[int]]  # indices (into texts) of the documents of each planted family


def _vocabulary(rng: np.random.Generator, size: int) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = np.clip(rng.poisson(5, size) + 2, 2, 14)
    words = {"".join(rng.choice(letters, n)) for n in lengths}
    return rng.permutation(np.array(sorted(words)))


def _render(words: list[str], rng: np.random.Generator) -> str:
    out: list[str] = []
    start = True
    for w, r in zip(words, rng.random(len(words)).tolist(), strict=True):
        if start:
            w = w.capitalize()
        start = r < 0.07
        out.append(w + "." if start else (w + "," if r > 0.96 else w))
    return " ".join(out) + "."


def _edit(words: list[str], n_edits: int, rng: np.random.Generator, pool: list[str]) -> list[str]:
    words = list(words)
    for _ in range(n_edits):
        kind = rng.random()
        pos = int(rng.integers(0, len(words)))
        if kind < 0.7:
            words[pos] = pool[int(rng.integers(0, len(pool)))]
        elif kind < 0.85 and len(words) > 10:
            del words[pos]
        else:
            words.insert(pos, pool[int(rng.integers(0, len(pool)))])
    return words


def build_corpus(
    n_docs: int = 100_000,
    *,
    n_families: int | None = None,
    mean_words: int = 130,
    vocab_size: int = 40_000,
    max_edits: int = 9,
    seed: int = 20240,
) -> Corpus:
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng, vocab_size)
    ranks = np.arange(1, len(vocab) + 1, dtype=np.float64)
    probs = 1.0 / ranks**1.05
    probs /= probs.sum()
    if n_families is None:
        n_families = n_docs // 16
    lengths = np.clip(rng.normal(mean_words, 18, n_docs).astype(int), 40, 260)
    all_ids = rng.choice(len(vocab), size=int(lengths.sum()), p=probs)
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    docs_words = [vocab[all_ids[bounds[i] : bounds[i + 1]]].tolist() for i in range(n_docs)]

    pool = vocab[rng.choice(len(vocab), size=100_000, p=probs)].tolist()
    # Plant families: the base keeps its slot; each variant overwrites a random other slot.
    slots = rng.permutation(n_docs)
    families: list[list[int]] = []
    cursor = 0
    for _ in range(n_families):
        base = int(slots[cursor])
        cursor += 1
        fam = [base]
        for _ in range(1 + int(rng.random() < 0.35)):
            target = int(slots[cursor])
            cursor += 1
            n_edits = int(rng.integers(0, max_edits + 1))
            docs_words[target] = _edit(docs_words[base], n_edits, rng, pool)
            fam.append(target)
        families.append(fam)
    texts = [_render(w, rng) for w in docs_words]
    return Corpus(texts=texts, families=families)
