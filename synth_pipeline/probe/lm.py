"""Interpolated Kneser–Ney word trigram LM in numpy: small enough to retrain many times on 2 cores.

Why not a library: ``nltk.lm.KneserNeyInterpolated`` (nltk is a dev dependency here) scores
one token per Python call, and its ``generate`` is reported to take minutes for ten words on
the Brown news section (nltk issue #3317); its perplexity is infinite on some inputs (#3065,
#3211). This model keeps every table as sorted integer keys and answers whole arrays of
contexts with ``np.searchsorted``: training and sampling 100k words take well under a second.

Model (interpolated Kneser–Ney, Chen & Goodman 1996/1998, one discount per order)::

    P3(w|u,v) = (max(c(uvw) - D3, 0) + D3 * N1+(uv.) * P2(w|v)) / c(uv.)     (P2 if c(uv.) = 0)
    P2(w|v)   = (max(N1+(.vw) - D2, 0) + D2 * T(v) * P1(w)) / N1+(.v.)       (P1 if N1+(.v.) = 0)
    P1(w)     = (max(N1+(.w) - D1, 0) + D1 * T * 1/|V|) / N1+(..)

``N1+(.vw)`` counts distinct left words of the bigram (continuation counts), ``T(v)`` the
distinct continuations of ``v``; the uniform floor spans the fixed predicted vocabulary
(every word id except ``<s>``), so the perplexities of models trained on different
corpora over one :class:`Vocabulary` are comparable. ``D_n = n1 / (n1 + 2 n2)`` (the usual
estimate from each order's count-of-counts), clipped to [0.05, 0.95].
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

BOS, EOS, UNK = 0, 1, 2
SPECIALS = ("<s>", "</s>", "<unk>")
_WORD = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """The project tokenisation (``metrics/_tokens.py``): lower-cased ``\\w+`` runs."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class Vocabulary:
    """Word <-> id, fixed for a whole probe: ids 0-2 are ``<s> </s> <unk>``."""

    words: tuple[str, ...]

    @classmethod
    def build(cls, texts: Iterable[str]) -> Vocabulary:
        seen = dict.fromkeys(w for t in texts for w in tokenize(t))
        return cls(SPECIALS + tuple(sorted(seen)))

    def __len__(self) -> int:
        return len(self.words)

    @property
    def index(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.words)}

    def encode(self, texts: Iterable[str]) -> list[np.ndarray]:
        index = self.index
        return [np.array([index.get(w, UNK) for w in tokenize(t)], dtype=np.int64) for t in texts]

    def decode(self, docs: Iterable[np.ndarray]) -> list[str]:
        words = np.array(self.words, dtype=object)
        return [" ".join(words[d]) for d in docs]


def _discount(counts: np.ndarray) -> float:
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    if n1 + n2 == 0:
        return 0.5
    return float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95))


def _lookup(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, found) of each query in the sorted ``keys``."""
    pos = np.searchsorted(keys, query)
    pos_c = np.minimum(pos, max(len(keys) - 1, 0))
    found = (keys[pos_c] == query) if len(keys) else np.zeros(len(query), dtype=bool)
    return pos_c, found


@dataclass
class _Order:
    """One order's n-gram table, grouped by context: keys sorted, so a context's rows are contiguous."""

    keys: np.ndarray  # context * V + word, sorted
    counts: np.ndarray  # raw counts (order 3) or continuation counts (orders 2, 1)
    discount: float
    ctx_keys: np.ndarray  # distinct contexts, sorted
    ctx_start: np.ndarray  # first row of each context
    ctx_types: np.ndarray  # distinct words after the context
    ctx_total: np.ndarray  # sum of counts after the context
    cum: np.ndarray  # cumulative discounted counts (sampling)

    @classmethod
    def build(cls, keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> _Order:
        ctx = keys // vocab_size
        ctx_keys, start, types = np.unique(ctx, return_index=True, return_counts=True)
        total = np.add.reduceat(counts, start) if len(counts) else np.zeros(0, dtype=np.int64)
        d = _discount(counts)
        return cls(keys, counts, d, ctx_keys, start, types, total, np.cumsum(counts - d))

    def mix(self, ctx: np.ndarray, word: np.ndarray, vocab_size: int, lower: np.ndarray) -> np.ndarray:
        """P(word | ctx) given the lower order's P(word | shorter ctx)."""
        j, has_ctx = _lookup(self.ctx_keys, ctx)
        i, found = _lookup(self.keys, ctx * vocab_size + word)
        c = np.where(found, self.counts[i], 0)
        total = np.where(has_ctx, self.ctx_total[j], 0).astype(np.float64)
        types = np.where(has_ctx, self.ctx_types[j], 0)
        p = (np.maximum(c - self.discount, 0.0) + self.discount * types * lower) / np.maximum(total, 1.0)
        return np.where(has_ctx, p, lower)

    def draw(self, ctx: np.ndarray, rng: np.random.Generator, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(word, backed_off): a word from the discounted counts of ``ctx``, or a back-off
        decision with probability D * T(ctx) / total (the interpolation weight)."""
        j, has_ctx = _lookup(self.ctx_keys, ctx)
        total = np.where(has_ctx, self.ctx_total[j], 1).astype(np.float64)
        types = np.where(has_ctx, self.ctx_types[j], 0)
        lam = np.where(has_ctx, self.discount * types / total, 1.0)
        back = rng.random(len(ctx)) < lam
        words = np.zeros(len(ctx), dtype=np.int64)
        take = ~back
        if take.any():
            lo = self.ctx_start[j[take]]
            hi = lo + types[take] - 1
            base = np.where(lo > 0, self.cum[np.maximum(lo - 1, 0)], 0.0)
            span = self.cum[hi] - base
            target = base + rng.random(int(take.sum())) * span
            row = np.clip(np.searchsorted(self.cum, target, side="right"), lo, hi)
            words[take] = self.keys[row] % vocab_size
        return words, back


class KneserNeyTrigram:
    """Interpolated Kneser–Ney trigram over a fixed vocabulary, trained on id arrays (one per document)."""

    def __init__(self, docs: Sequence[np.ndarray], vocab_size: int):
        if vocab_size**3 >= 2**62:
            raise ValueError(f"vocabulary of {vocab_size} words is too large for int64 trigram keys")
        self.V = V = int(vocab_size)
        padded = [np.concatenate(([BOS, BOS], d, [EOS])).astype(np.int64) for d in docs]
        if not padded:
            raise ValueError("no training documents")
        u = np.concatenate([p[:-2] for p in padded])
        v = np.concatenate([p[1:-1] for p in padded])
        w = np.concatenate([p[2:] for p in padded])
        self.n_tokens = int(len(w))
        tri_keys, tri_counts = np.unique((u * V + v) * V + w, return_counts=True)
        # continuation counts: distinct left words of each bigram, of each word
        bi_keys, bi_cont = np.unique(tri_keys % (V * V), return_counts=True)
        uni_keys, uni_cont = np.unique(bi_keys % V, return_counts=True)
        self.o3 = _Order.build(tri_keys, tri_counts.astype(np.int64), V)
        self.o2 = _Order.build(bi_keys, bi_cont.astype(np.int64), V)
        self.o1 = _Order.build(uni_keys, uni_cont.astype(np.int64), V)  # one context: 0
        p1 = np.zeros(V)
        d1, total1 = self.o1.discount, float(uni_cont.sum())
        p1[uni_keys] = np.maximum(uni_cont - d1, 0.0) / total1
        p1[1:] += d1 * len(uni_keys) / total1 / (V - 1)  # uniform floor over every word but <s>
        self.p1 = p1
        self.p1_cum = np.cumsum(p1)

    def prob(self, u: np.ndarray, v: np.ndarray, w: np.ndarray) -> np.ndarray:
        """P(w | u, v) for aligned id arrays."""
        u, v, w = (np.asarray(a, dtype=np.int64) for a in (u, v, w))
        p1 = self.p1[w]
        p2 = self.o2.mix(v, w, self.V, p1)
        return self.o3.mix(u * self.V + v, w, self.V, p2)

    def distribution(self, u: int, v: int) -> np.ndarray:
        """P(. | u, v) over the whole vocabulary (sums to 1; ``<s>`` gets 0)."""
        w = np.arange(self.V)
        return self.prob(np.full(self.V, u), np.full(self.V, v), w)

    def log_probs(self, docs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(log P, u, v, w) of every predicted position of ``docs`` (each word and ``</s>``)."""
        padded = [np.concatenate(([BOS, BOS], d, [EOS])).astype(np.int64) for d in docs]
        u = np.concatenate([p[:-2] for p in padded])
        v = np.concatenate([p[1:-1] for p in padded])
        w = np.concatenate([p[2:] for p in padded])
        return np.log(self.prob(u, v, w)), u, v, w

    def perplexity(self, docs: Sequence[np.ndarray]) -> float:
        lp, *_ = self.log_probs(docs)
        return float(np.exp(-lp.mean()))

    def sample(self, rng: np.random.Generator, n_docs: int, max_len: int) -> list[np.ndarray]:
        """``n_docs`` documents sampled in parallel at temperature 1, each ending at ``</s>`` or ``max_len`` words."""
        V = self.V
        u = np.full(n_docs, BOS, dtype=np.int64)
        v = np.full(n_docs, BOS, dtype=np.int64)
        out = np.zeros((n_docs, max_len), dtype=np.int64)
        length = np.zeros(n_docs, dtype=np.int64)
        active = np.arange(n_docs)
        for step in range(max_len):
            if not len(active):
                break
            w, back = self.o3.draw(u[active] * V + v[active], rng, V)
            if back.any():
                w2, back2 = self.o2.draw(v[active][back], rng, V)
                if back2.any():
                    r = rng.random(int(back2.sum())) * self.p1_cum[-1]
                    w2[back2] = np.minimum(np.searchsorted(self.p1_cum, r, side="right"), V - 1)
                w[back] = w2
            ended = w == EOS
            keep = active[~ended]
            out[keep, step] = w[~ended]
            length[keep] += 1
            u[active], v[active] = v[active], w
            active = keep
        return [out[i, : length[i]].copy() for i in range(n_docs)]
