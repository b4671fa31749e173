"""Model-collapse probe: does the pipeline's guard catch recursive training on synthetic text?

A Kneser–Ney trigram (:mod:`.lm`) is trained on a partition's real text, samples a synthetic
corpus of the same size, and is retrained for ``generations`` rounds under three regimes
(Shumailov et al. 2024; Gerstgrasser et al. 2024):

``replace``     generation g+1 trains on generation g's sample only;
``accumulate``  on the real text plus every sample so far;
``gated``       on what the pipeline lets through: a sample refused by the blocking
                diversity rules (``mix.gates.diversity_rules`` on ``mix.metrics.compute``)
                is dropped, and the accumulated synthetic text is cut (seeded, whole
                documents) until the mix passes ``mix.shares.within_caps``.

Row g describes model g (trained on ``data_g``; g = 0 is the real text) and its sample
``S_g``: held-out real perplexity, tail mass, distinct-n and Vendi of ``S_g``, the diversity
rules on ``S_g`` against the real training text, and the share caps on ``data_g``.
Everything is seeded: the same inputs give the same figures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from synth_pipeline.metrics import distinct_n
from synth_pipeline.mix import metrics as mix_metrics
from synth_pipeline.mix.gates import diversity_rules
from synth_pipeline.mix.shares import MixShares, within_caps
from synth_pipeline.settings import Settings

from .lm import EOS, UNK, KneserNeyTrigram, Vocabulary

REGIMES = ("replace", "accumulate", "gated")
DIVERSITY_GATES = ("relative_distinct_2", "distinct_2_floor", "relative_compression_ratio", "compression_ratio")
SHARE_GATES = ("synthetic_token_share", "synthetic_item_share")
PPL_DEGRADATION = 1.10  # "10 % worse than generation 0"
RARE_BIGRAM_MAX_COUNT = 1  # a held-out bigram seen at most this often in the real training text is "rare"


@dataclass
class ProbeConfig:
    generations: int = 6
    held_out_fraction: float = 0.2
    seed: int = 20240101
    vendi_docs: int = 300  # documents per Vendi sample (Vendi grows with n, so n is fixed)
    embedding_vendi: bool = True


@dataclass
class Row:
    regime: str
    generation: int
    train_tokens: int
    synthetic_token_share: float
    perplexity: float
    perplexity_ratio: float
    tail_mass: float
    distinct_1: float
    distinct_2: float
    distinct_3: float
    vendi_ngram: float
    vendi_embedding: float
    relative_distinct_2: float
    relative_compression_ratio: float
    diversity_failed: list[str] = field(default_factory=list)
    shares_failed: list[str] = field(default_factory=list)
    accepted: bool = True  # gated: was S_g admitted to the pool


@dataclass
class ProbeResult:
    config: ProbeConfig
    source: str
    real_train_docs: int
    real_train_tokens: int
    held_out_docs: int
    held_out_tokens: int
    vocabulary: int
    rows: list[Row]
    seconds: float
    vendi_embedding_source: str

    def frame(self) -> pl.DataFrame:
        recs = []
        for r in self.rows:
            d = asdict(r)
            d["diversity_failed"] = ",".join(r.diversity_failed)
            d["shares_failed"] = ",".join(r.shares_failed)
            recs.append(d)
        return pl.DataFrame(recs)

    def first_failures(self) -> dict[str, dict[str, int | None]]:
        """``{regime: {gate or 'perplexity+10%': first generation, None if never}}``."""
        out: dict[str, dict[str, int | None]] = {}
        for regime in REGIMES:
            rows = [r for r in self.rows if r.regime == regime]
            marks: dict[str, int | None] = {}
            for gate in DIVERSITY_GATES:
                marks[gate] = next((r.generation for r in rows if gate in r.diversity_failed), None)
            for gate in SHARE_GATES:
                marks[gate] = next((r.generation for r in rows if gate in r.shares_failed), None)
            marks["any_diversity_gate"] = next((r.generation for r in rows if r.diversity_failed), None)
            marks["perplexity+10%"] = next((r.generation for r in rows if r.perplexity_ratio >= PPL_DEGRADATION), None)
            out[regime] = marks
        return out


def split_real(texts: Sequence[str], fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Seeded document-level split into (train, held-out)."""
    texts = [t for t in texts if t and t.strip()]
    if len(texts) < 4:
        raise ValueError(f"the probe needs at least 4 non-empty real documents, got {len(texts)}")
    order = np.random.default_rng(seed).permutation(len(texts))
    k = max(1, int(round(len(texts) * fraction)))
    return [texts[i] for i in sorted(order[k:])], [texts[i] for i in sorted(order[:k])]


def sample_corpus(model: KneserNeyTrigram, rng: np.random.Generator, n_tokens: int, n_docs: int, max_len: int):
    """Documents sampled until they hold ``n_tokens`` words (the last one cut), the size of the real text."""
    docs: list[np.ndarray] = []
    have = 0
    for _ in range(64):  # a model that mostly ends documents at once still stops
        for d in model.sample(rng, n_docs, max_len):
            if not len(d):
                continue
            if have + len(d) >= n_tokens:
                docs.append(d[: n_tokens - have])
                return docs
            docs.append(d)
            have += len(d)
    return docs


def tail_mass(model: KneserNeyTrigram, held: Sequence[np.ndarray], frequent: np.ndarray) -> float:
    """Mean probability the model gives the held-out positions whose bigram is rare (not in
    ``frequent``) in the real training text: the tail that recursive training loses first."""
    _, u, v, w = model.log_probs(held)
    pick = ~np.isin(v * model.V + w, frequent) & (w != UNK)
    if not pick.any():
        return math.nan
    return float(model.prob(u[pick], v[pick], w[pick]).mean())


def frequent_bigrams(docs: Sequence[np.ndarray], vocab_size: int) -> np.ndarray:
    """Bigram keys seen more than :data:`RARE_BIGRAM_MAX_COUNT` times in ``docs`` (sorted)."""
    padded = [np.concatenate(([0, 0], d, [EOS])).astype(np.int64) for d in docs]
    keys = np.concatenate([p[1:-1] * vocab_size + p[2:] for p in padded])
    uniq, counts = np.unique(keys, return_counts=True)
    return uniq[counts > RARE_BIGRAM_MAX_COUNT]


def vendi_ngram(docs: Sequence[np.ndarray], vocab_size: int, k: int, seed: int) -> float:
    """Vendi score (Friedman & Dieng 2023, q = 1) of ``k`` seeded documents under the cosine
    kernel of their unigram + bigram count vectors: exp(entropy of the eigenvalues of K / k)."""
    docs = [d for d in docs if len(d)]
    if len(docs) < 2:
        return math.nan
    idx = np.random.default_rng(seed).choice(len(docs), size=min(k, len(docs)), replace=False)
    rows, keys = [], []
    for r, i in enumerate(idx):
        d = docs[i].astype(np.int64)
        feats = np.concatenate((d, vocab_size + d[:-1] * vocab_size + d[1:]))
        rows.append(np.full(len(feats), r))
        keys.append(feats)
    cols, inv = np.unique(np.concatenate(keys), return_inverse=True)
    x = np.zeros((len(idx), len(cols)), dtype=np.float32)
    np.add.at(x, (np.concatenate(rows), inv), 1.0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.clip(np.linalg.eigvalsh((x @ x.T).astype(np.float64) / len(idx)), 0.0, None)
    eig = eig[eig > 1e-12]
    eig /= eig.sum()
    return float(np.exp(-(eig * np.log(eig)).sum()))


def _embedding_vendi() -> tuple[Callable[[list[str]], float] | None, str]:
    """The semantic layer's Vendi over embeddings when it is installed, else None (n-gram Vendi only)."""
    try:
        from synth_pipeline.semantic import embed_texts, vendi_score
    except ImportError as err:
        return None, f"unavailable ({err})"
    return (lambda texts: float(vendi_score(embed_texts(texts)))), "synth_pipeline.semantic (WordLlama embeddings)"


def _shares(real_docs: Sequence[np.ndarray], syn_docs: Sequence[np.ndarray]) -> MixShares:
    rt, st = int(sum(len(d) for d in real_docs)), int(sum(len(d) for d in syn_docs))
    ri, si = len(real_docs), len(syn_docs)
    return MixShares(
        items=ri + si,
        synthetic_items=si,
        real_items=ri,
        tokens=rt + st,
        synthetic_tokens=st,
        real_tokens=rt,
        partitions=1,
        synthetic_item_share=si / (ri + si) if ri + si else 0.0,
        synthetic_token_share=st / (rt + st) if rt + st else 0.0,
    )


def _failed_shares(settings: Settings, s: MixShares) -> list[str]:
    out = []
    if s.synthetic_token_share > settings.max_synthetic_ratio:
        out.append("synthetic_token_share")
    if s.synthetic_item_share > settings.max_synthetic_item_ratio:
        out.append("synthetic_item_share")
    assert bool(out) != within_caps(settings, s)  # the names above restate the project's cap check
    return out


def cap_synthetic(
    settings: Settings, real: Sequence[np.ndarray], pool: Sequence[np.ndarray], seed: int
) -> list[np.ndarray]:
    """The pool cut to whole documents in a seeded order until the mix passes ``within_caps``."""
    kept = list(pool)
    if within_caps(settings, _shares(real, kept)):
        return kept
    order = np.random.default_rng(seed).permutation(len(kept))
    lo, hi = 0, len(kept)  # largest prefix of the seeded order that passes (shares grow with the prefix)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if within_caps(settings, _shares(real, [kept[i] for i in order[:mid]])):
            lo = mid
        else:
            hi = mid - 1
    return [kept[i] for i in sorted(order[:lo])]


def run_probe(
    texts: Sequence[str],
    settings: Settings,
    config: ProbeConfig | None = None,
    *,
    source: str = "",
    log: Callable[[str], None] | None = None,
) -> ProbeResult:
    cfg = config or ProbeConfig()
    started = time.perf_counter()
    say = log or (lambda _m: None)
    train_txt, held_txt = split_real(texts, cfg.held_out_fraction, cfg.seed)
    vocab = Vocabulary.build(train_txt)
    V = len(vocab)
    real = [d for d in vocab.encode(train_txt) if len(d)]
    held = [d for d in vocab.encode(held_txt) if len(d)]
    real_text = vocab.decode(real)  # the gates compare like with like: both sides in the model's tokenisation
    n_tokens = int(sum(len(d) for d in real))
    max_len = int(max(len(d) for d in real))
    frequent = frequent_bigrams(real, V)
    embed_vendi, embed_source = _embedding_vendi() if cfg.embedding_vendi else (None, "off")
    rows: list[Row] = []
    for r_i, regime in enumerate(REGIMES):
        rng = np.random.default_rng([cfg.seed, r_i])
        data: list[np.ndarray] = list(real)
        synthetic_in_data: list[np.ndarray] = []
        pool: list[np.ndarray] = []
        ppl0 = math.nan
        for g in range(cfg.generations + 1):
            model = KneserNeyTrigram(data, V)
            ppl = model.perplexity(held)
            ppl0 = ppl if g == 0 else ppl0
            sample = sample_corpus(model, rng, n_tokens, len(real), max_len)
            sample_text = vocab.decode(sample)
            figures = mix_metrics.compute({"partition": (sample_text, [""] * len(sample_text), real_text)}, settings)
            m = figures["partition"]
            # The probe has no tasks and no near-duplicate step: those two rules are given passing values.
            rules = diversity_rules(m, settings, near_dup_rate=0.0, task_share=0.0)
            real_in_data = [] if regime == "replace" and g > 0 else real
            shares = _shares(real_in_data, synthetic_in_data)
            d = distinct_n(sample_text, max_n=3)
            vendi_e = math.nan
            if embed_vendi is not None:
                pick = np.random.default_rng(cfg.seed).choice(
                    len(sample_text), size=min(cfg.vendi_docs, len(sample_text)), replace=False
                )
                vendi_e = embed_vendi([sample_text[i] for i in pick])
            row = Row(
                regime=regime,
                generation=g,
                train_tokens=model.n_tokens - len(data),  # minus one </s> per document
                synthetic_token_share=shares.synthetic_token_share,
                perplexity=ppl,
                perplexity_ratio=ppl / ppl0,
                tail_mass=tail_mass(model, held, frequent),
                distinct_1=d["distinct_1"],
                distinct_2=d["distinct_2"],
                distinct_3=d["distinct_3"],
                vendi_ngram=vendi_ngram(sample, V, cfg.vendi_docs, cfg.seed),
                vendi_embedding=vendi_e,
                relative_distinct_2=m["relative.distinct_2"],
                relative_compression_ratio=m["relative.compression_ratio"],
                diversity_failed=[k for k in DIVERSITY_GATES if not rules[k]],
                shares_failed=_failed_shares(settings, shares),
            )
            # the next generation's training data
            if regime == "replace":
                synthetic_in_data = sample
                data = sample
            elif regime == "accumulate":
                synthetic_in_data = synthetic_in_data + sample
                data = real + synthetic_in_data
            else:
                row.accepted = all(rules.values())
                if row.accepted:
                    pool = pool + sample
                synthetic_in_data = cap_synthetic(settings, real, pool, cfg.seed + g)
                data = real + synthetic_in_data
            rows.append(row)
            say(
                f"{regime:<10} gen {g}: ppl {ppl:8.1f} ({row.perplexity_ratio:5.3f}x) tail {row.tail_mass:.4f} "
                f"d2 {row.distinct_2:.3f} rel_d2 {row.relative_distinct_2:.3f} "
                f"fails {','.join(row.diversity_failed + row.shares_failed) or '-'}"
            )
    return ProbeResult(
        config=cfg,
        source=source,
        real_train_docs=len(real),
        real_train_tokens=n_tokens,
        held_out_docs=len(held),
        held_out_tokens=int(sum(len(d) for d in held)),
        vocabulary=V,
        rows=rows,
        seconds=time.perf_counter() - started,
        vendi_embedding_source=embed_source,
    )


def load_texts(settings: Settings, partition: str | None, docs: int, seed: int) -> tuple[list[str], str]:
    """A partition's ``synth.raw_corpus`` text, or ``docs`` seeded documents of the built-in corpus."""
    if partition:
        from synth_pipeline.storage.warehouse import Warehouse

        warehouse = Warehouse(settings.warehouse_path)
        if not Path(warehouse.path).exists():
            raise FileNotFoundError(f"no warehouse at {warehouse.path}: run `synth run` first or omit --partition")
        frame = warehouse.query(
            "SELECT text FROM synth.raw_corpus WHERE partition_date = ? ORDER BY doc_id", [partition]
        )
        if frame.height == 0:
            raise ValueError(f"synth.raw_corpus has no documents for partition {partition}")
        return frame["text"].to_list(), f"synth.raw_corpus partition {partition} ({warehouse.path})"
    from synth_pipeline.corpus.builtin import NAME, load_builtin_python_docs

    frame = load_builtin_python_docs(settings.cache_dir)
    n = min(docs, frame.height)
    idx = np.sort(np.random.default_rng(seed).choice(frame.height, size=n, replace=False))
    return [frame["text"][int(i)] for i in idx], f"{NAME} ({n} seeded documents)"
