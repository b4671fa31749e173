"""Lexical diversity of one corpus (a list of documents).

Definitions (``docs/metrics.md`` has the reference comparisons and tolerances):

``distinct_n`` (n = 1..4)
    Distinct-n of Li et al. (2016) at corpus level: number of distinct word n-grams
    divided by the number of word n-grams, words being the project tokenisation
    (lower-cased ``\\w+``, see ``_tokens.py``), n-grams inside documents only.
    In (0, 1]; NaN when the corpus has no n-gram of that order.
``compression_ratio``
    ``diversity.compression_ratio(texts, "gzip")`` of Shaib et al. exactly: bytes of
    ``" ".join(texts)`` (UTF-8) divided by the size of the file the package writes,
    which is a gzip file (level 9, header naming ``compressed``) whose payload is
    ``gzip.compress`` of the text, i.e. the text is gzip-compressed twice. Higher
    means more redundant text. Not rounded (the package rounds to 3 decimals).
``ngram_diversity``
    ``diversity.ngram_diversity_score(texts, 4)`` exactly: sum over n = 1..4 of
    distinct/total n-grams of ``" ".join(texts).split(" ")`` (case and punctuation
    kept, n-grams cross document boundaries). In (0, 4]. Not rounded.
``self_repetition``
    ``diversity.self_repetition_score(texts, n=4)`` exactly (Salkar et al. 2022 as
    implemented by Shaib et al.): mean over documents of ``log(1 + sum over the
    document's distinct 4-grams of the number of *other* documents containing it)``,
    4-grams of ``doc.split()``.
``self_bleu``
    Self-BLEU (Zhu et al. 2018) on a seeded sample of at most ``self_bleu_sample``
    documents: mean over sampled documents of
    ``sacrebleu.sentence_bleu(doc, other sampled docs).score`` (13a tokenisation,
    exponential smoothing, effective order, case-sensitive), on sacrebleu's 0-100 scale.
    NaN for fewer than two documents.
``vocabulary_size``
    Number of distinct words (project tokenisation).
``n_texts``, ``n_tokens``
    Number of documents and of words (project tokenisation).
"""

from __future__ import annotations

import math
import queue
import re
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import numpy as np
import polars as pl

from ._ngram_counts import space_ngram_counts, whitespace_self_repetition
from ._tokens import (
    explode_ids,
    ngram_key_exprs,
    text_series,
    valid_expr,
    word_lists,
)

NAN = float("nan")

# --------------------------------------------------------------------------- gzip ratio

# The reference embeds time.time() in the header of the inner gzip stream; those four
# bytes are then compressed again, which can move the outer size by a byte between
# runs of the reference itself. We pin the timestamp to make the value reproducible.
_INNER_MTIME = 1_700_000_000
# Outer file written by gzip.GzipFile(".../compressed.gz"): 10-byte header, the file
# name "compressed" + NUL (11 bytes, FNAME flag), raw deflate, 8-byte trailer.
_OUTER_OVERHEAD = 10 + len(b"compressed\x00") + 8

# The figures diversity_metrics returns, in this order; the first eight are also stored as
# synthetic / real ratios (metrics.RELATIVE_METRICS).
DIVERSITY_METRICS = (
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
)


_CHUNK_TEXTS = 2_000  # texts joined and encoded per deflate call


def compression_sizes(texts: Sequence[str]) -> tuple[int, int]:
    """(original bytes, compressed bytes) exactly as ``diversity.compression_ratio``.

    The reference gzips ``" ".join(texts)`` and gzips the result again. Deflate's output
    does not depend on how its input is split, so both passes stream: the text is
    joined and encoded a chunk at a time, and the outer pass compresses the inner
    pass's output in a second thread as it is produced (zlib releases the GIL). The
    bytes, and so the sizes, are those of the two one-shot calls.
    """
    inner = zlib.compressobj(9, zlib.DEFLATED, -15)
    outer = zlib.compressobj(9, zlib.DEFLATED, -15)
    outer_size = 0
    feed: queue.Queue[bytes | None] = queue.Queue(maxsize=8)

    def outer_pass() -> None:
        nonlocal outer_size
        while (block := feed.get()) is not None:
            outer_size += len(outer.compress(block))
        outer_size += len(outer.flush())

    worker = threading.Thread(target=outer_pass, daemon=True)
    worker.start()
    header = gzip_header(_INNER_MTIME)
    feed.put(header)
    original, crc = 0, 0
    for start in range(0, len(texts), _CHUNK_TEXTS):
        piece = " ".join(texts[start : start + _CHUNK_TEXTS])
        data = (" " + piece if start else piece).encode("utf-8")
        original += len(data)
        crc = zlib.crc32(data, crc)
        if out := inner.compress(data):
            feed.put(out)
    feed.put(inner.flush() + struct.pack("<LL", crc, original & 0xFFFFFFFF))
    feed.put(None)
    worker.join()
    return original, outer_size + _OUTER_OVERHEAD


def gzip_header(mtime: int) -> bytes:
    """The 10-byte header ``gzip.compress(..., compresslevel=9, mtime=mtime)`` writes."""
    return b"\x1f\x8b\x08\x00" + struct.pack("<L", mtime) + b"\x02\xff"


def compression_ratio(texts: Sequence[str]) -> float:
    """Original size / gzip size as ``diversity.compression_ratio`` (unrounded)."""
    original, compressed = compression_sizes(texts)
    return original / compressed


# --------------------------------------------------------------------------- n-grams


def _distinct_ratios(df: pl.DataFrame, max_n: int) -> list[tuple[int, int]]:
    """[(distinct, total)] for n = 1..max_n over an exploded (doc, id) frame of dense ids,
    n-grams inside documents.

    Exact keys (see ``_tokens.ngram_key_exprs``); polars hashes each order's keys.
    """
    if df.height == 0:
        return [(0, 0)] * max_n
    lf, vocab = df.lazy(), int(cast(int, df["id"].max())) + 1
    exprs = []
    for n, key in enumerate(ngram_key_exprs("id", vocab, max_n), start=1):
        if n == 1:  # ids are dense 0..V-1: V distinct unigrams, one per row
            exprs += [pl.lit(vocab, dtype=pl.Int64).alias("d1"), pl.len().cast(pl.Int64).alias("t1")]
            continue
        kept = key.filter(key.is_not_null() & valid_expr(n))
        exprs += [kept.n_unique().alias(f"d{n}"), kept.len().alias(f"t{n}")]
    # One order at a time: evaluating all orders in one select runs them in parallel
    # but holds every key column and hash table at once (~+40 % peak memory at 10M
    # tokens) for little gain on two cores. The streaming engine builds the keys in
    # batches instead of a whole u128 column: at 8.5M words, peak -250 MiB and 2.5x faster.
    row: list[int] = []
    for i in range(max_n):
        row += lf.select(exprs[2 * i : 2 * i + 2]).collect(engine="streaming").row(0)
    return [(int(row[2 * i]), int(row[2 * i + 1])) for i in range(max_n)]


def distinct_n(texts: Sequence[str] | pl.Series, max_n: int = 4) -> dict[str, float]:
    """``distinct_1`` .. ``distinct_{max_n}`` (project tokenisation, inside documents)."""
    df, _ = explode_ids(word_lists(texts))
    return {f"distinct_{n}": (d / t if t else NAN) for n, (d, t) in enumerate(_distinct_ratios(df, max_n), start=1)}


def ngram_diversity_score(texts: Sequence[str] | pl.Series, num_n: int = 4) -> float:
    """``diversity.ngram_diversity_score`` (unrounded); NaN when some order has no n-gram."""
    ratios = space_ngram_counts(text_series(texts), num_n)
    if any(t == 0 for _, t in ratios):
        return NAN
    return float(sum(d / t for d, t in ratios))


def self_repetition_score(texts: Sequence[str] | pl.Series, n: int = 4) -> float:
    """``diversity.self_repetition_score(texts, n)`` exactly (any n); NaN for an empty corpus."""
    return whitespace_self_repetition(text_series(texts), n)


# --------------------------------------------------------------------------- Self-BLEU

# sacrebleu's 13a tokeniser (mteval-v13a), reimplemented so that sacrebleu is only
# needed by the tests that prove equality.
_RE_13A = [
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
]


def _tokenize_13a(line: str) -> list[str]:
    """Tokens of sacrebleu's default BLEU preprocessing (``rstrip`` then 13a)."""
    line = line.rstrip()
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = line.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    line = f" {line} "
    for pattern, repl in _RE_13A:
        line = pattern.sub(repl, line)
    return line.split()


def _all_ngrams(tokens: list[str], max_order: int = 4) -> Counter:
    grams: list[tuple[str, ...]] = []
    for n in range(1, max_order + 1):
        grams.extend(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return Counter(grams)


def _sentence_bleu_exp(correct: list[int], total: list[int], sys_len: int, ref_len: int) -> float:
    """sacrebleu ``BLEU.compute_bleu`` with smooth_method='exp', effective_order=True."""
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    if not any(correct):
        return 0.0
    precisions = [0.0] * len(correct)
    smooth = 1.0
    eff_order = len(correct)
    for n in range(1, len(correct) + 1):
        if total[n - 1] == 0:
            break
        eff_order = n
        if correct[n - 1] == 0:
            smooth *= 2
            precisions[n - 1] = 100.0 / (smooth * total[n - 1])
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = [math.log(p) if p != 0.0 else -9999999999 for p in precisions[:eff_order]]
    return bp * math.exp(sum(logs) / eff_order)


def sample_indices(n: int, k: int, seed: int) -> list[int]:
    """The seeded sample used by Self-BLEU: all indices if n <= k, else k sorted indices."""
    if n <= k:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=k, replace=False).tolist())


def self_bleu(texts: Sequence[str], *, sample: int = 200, seed: int = 0) -> float:
    """Mean sentence BLEU (sacrebleu-compatible, 0-100) of each sampled text against
    all other sampled texts. Each text's n-grams are counted once; for every n-gram
    the two largest per-document counts are kept, so the clipping count "max over the
    other documents" costs O(1) instead of re-reading all references."""
    idx = sample_indices(len(texts), sample, seed)
    if len(idx) < 2:
        return NAN
    toks = [_tokenize_13a(texts[i] or "") for i in idx]
    counts = [_all_ngrams(t) for t in toks]
    lens = np.array([len(t) for t in toks], dtype=np.int64)
    best: dict[tuple[str, ...], list[int]] = {}  # ngram -> [max, argmax, second max]
    for i, c in enumerate(counts):
        for g, v in c.items():
            b = best.get(g)
            if b is None:
                best[g] = [v, i, 0]
            elif v > b[0]:
                b[2], b[0], b[1] = b[0], v, i
            elif v > b[2]:
                b[2] = v
    # closest other length, ties to the shorter (sacrebleu _get_closest_ref_len)
    diff = np.abs(lens[:, None] - lens[None, :]).astype(np.float64)
    np.fill_diagonal(diff, np.inf)
    order_key = diff * (lens.max() + 1) + lens[None, :]
    ref_lens = lens[np.argmin(order_key, axis=1)]
    scores = []
    for i, c in enumerate(counts):
        correct = [0, 0, 0, 0]
        total = [0, 0, 0, 0]
        for g, v in c.items():
            n = len(g) - 1
            total[n] += v
            b = best[g]
            ref = b[2] if b[1] == i else b[0]
            if ref:
                correct[n] += min(v, ref)
        scores.append(_sentence_bleu_exp(correct, total, int(lens[i]), int(ref_lens[i])))
    return float(np.mean(scores))


# --------------------------------------------------------------------------- all


def compression_and_ngram_diversity(texts: Sequence[str], num_n: int = 4) -> tuple[float, float]:
    """``(compression_ratio, ngram_diversity)`` with the gzip pass overlapped.

    The two metrics the ``diversity`` package is usually run for. zlib releases the GIL,
    so the single-threaded gzip pass runs in a worker thread while the compiled n-gram
    counter (one core, GIL released) runs here: wall time is about the gzip pass alone.
    """
    texts = list(texts)
    if not texts:
        return NAN, NAN
    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(compression_ratio, texts)
        ngram = ngram_diversity_score(texts, num_n)
        return fut.result(), ngram


def diversity_metrics(
    texts: Sequence[str] | pl.Series, *, self_bleu_sample: int = 200, seed: int = 0
) -> dict[str, float]:
    """All diversity metrics of one corpus (keys in the module docstring).

    The gzip pass (single-threaded zlib, the slowest part) runs in a worker thread
    while the n-grams are counted; zlib releases the GIL.
    """
    s = text_series(texts).fill_null("")
    texts_list = list(texts) if isinstance(texts, list) and None not in texts else s.to_list()
    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(compression_ratio, texts_list) if texts_list else None
        words, _ = explode_ids(word_lists(s))
        ratios = _distinct_ratios(words, 4)
        n_tokens = words.height
        del words  # keep the peak low: the next metrics build their own token frames
        out: dict[str, float] = {f"distinct_{n}": (d / t if t else NAN) for n, (d, t) in enumerate(ratios, start=1)}
        out["ngram_diversity"] = ngram_diversity_score(s, 4)
        out["self_repetition"] = self_repetition_score(s, 4)
        out["self_bleu"] = self_bleu(texts_list, sample=self_bleu_sample, seed=seed)
        out["vocabulary_size"] = float(ratios[0][0])
        out["n_texts"] = float(len(texts_list))
        out["n_tokens"] = float(n_tokens)
        out["compression_ratio"] = fut.result() if fut is not None else NAN
    return {k: out[k] for k in DIVERSITY_METRICS}
