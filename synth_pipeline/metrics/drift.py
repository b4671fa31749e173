"""Distribution drift between synthetic and real text.

All counts use the project tokenisation (lower-cased ``\\w+`` words, n-grams inside
documents; see ``_tokens.py``).

``unigram_jsd``, ``bigram_jsd``
    Jensen-Shannon divergence, base 2, between the word (bigram) frequency
    distributions of the two corpora:
    ``JSD(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M)``, ``M = (P + Q) / 2``, logs base 2,
    so 0 for identical distributions and 1 for disjoint supports. Equals
    ``scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2`` (scipy returns the
    distance, the square root of the divergence).
``unigram_jsd_real_halves``
    The same divergence between two seeded random halves of the real documents: the
    sampling-noise floor of ``unigram_jsd`` at this corpus size (finite-sample JSD is
    biased upwards because rare words fall on one side by chance).
``length_mean_*``, ``length_median_*``
    Mean and median document length in words.
``length_ks``
    Two-sample Kolmogorov-Smirnov statistic between the document-length (in words)
    distributions: ``max_x |F_synthetic(x) - F_real(x)|``, equal to
    ``scipy.stats.ks_2samp(...).statistic``. We report the statistic, an effect size in
    [0, 1], not the p-value: with thousands of documents every difference is
    "significant".
``synthetic_oov_rate``
    Share of synthetic word tokens whose word never occurs in the real corpus
    (invented or foreign vocabulary; also rises when the generator copies rare names).
``n_tokens_synthetic``, ``n_tokens_real``
    Word counts of both corpora.

:func:`overrepresented_ngrams` ranks the n-grams most over-represented in synthetic text
(the generator's verbal tics) by the z-score of the log-odds ratio with an informative
Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words", eqs. 16 and 18-22).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import numpy as np
import polars as pl

from ._tokens import explode_ids, ngram_key_exprs, ngram_keys_hashed, valid_expr, valid_mask, word_lists

NAN = float("nan")


def jensen_shannon_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """JSD in bits between two count (or probability) vectors over the same support."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return NAN
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    # Clip tiny negative/over-one rounding so the documented range [0, 1] holds.
    return min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0)


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (``scipy.stats.ks_2samp().statistic``)."""
    a = np.sort(np.asarray(a, dtype=np.float64))
    b = np.sort(np.asarray(b, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        return NAN
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _joint_frame(synthetic: Sequence[str], real: Sequence[str]) -> tuple[pl.DataFrame, np.ndarray, pl.Series]:
    """Exploded words of both corpora: ``corpus`` (0 synthetic, 1 real), ``doc``, ``id``
    (dense word id shared by both corpora), documents numbered across corpora; the word
    count of every document (synthetic first); and the vocabulary (word of each id).

    The corpora are tokenised one after the other into one id space (the ids are those
    of encoding their concatenation), so only one corpus's word lists exist at a time."""
    categories = pl.Categories.random()
    # A private mapping lives only while some column uses it: without this anchor the
    # second corpus would start a fresh mapping once the first one's lists are freed.
    anchor = pl.Series("anchor", [], dtype=pl.Categorical(categories))
    parts, lengths, vocab = [], [], None
    for corpus, (texts, offset) in enumerate(((synthetic, 0), (real, len(synthetic)))):
        lists = word_lists(texts)
        lengths.append(lists.list.len().fill_null(0).to_numpy())
        df, vocab = explode_ids(lists, categories)
        del lists
        parts.append(
            df.select(
                (pl.col("doc") + pl.lit(offset, dtype=pl.UInt32)).alias("doc"),
                "id",
                pl.lit(corpus, dtype=pl.UInt8).alias("corpus"),
            )
        )
        del df
    del anchor
    assert vocab is not None  # set by each of the two loop iterations
    return pl.concat(parts, rechunk=True), np.concatenate(lengths), vocab


def _ngram_counts(df: pl.DataFrame, n: int, *, with_pos: bool = False) -> pl.DataFrame:
    """Per n-gram: ``key``, ``count_synthetic``, ``count_real`` (and ``pos``, the first
    position, to print the n-gram)."""
    if df.height == 0:
        return pl.DataFrame(
            schema={"key": pl.UInt64, "count_synthetic": pl.UInt32, "count_real": pl.UInt32, "pos": pl.UInt32}
        )
    aggs = [(pl.col("corpus") == 0).sum().alias("count_synthetic"), pl.col("corpus").sum().alias("count_real")]
    if with_pos:
        aggs.append(pl.col("pos").min())  # the first occurrence (rows are in text order)
    if n > 4:
        hashed = ngram_keys_hashed(df["id"], n)
        grams = pl.DataFrame({"key": hashed, "corpus": df["corpus"]}).with_row_index("pos")
        return grams.filter(valid_mask(df["doc"], n)).lazy().group_by("key").agg(aggs).collect()
    # One lazy query, run by the streaming engine: only the order-n key is built and the
    # rows are counted in batches, instead of materialising every order's keys and a
    # filtered copy of the frame (about 450 MiB at 15M words).
    key = ngram_key_exprs("id", int(cast(int, df["id"].max())) + 1, n)[n - 1]
    return (
        df.lazy()
        .with_row_index("pos")
        .select(key.alias("key"), "corpus", "pos", valid_expr(n).alias("inside"))
        .filter(pl.col("inside"))
        .group_by("key")
        .agg(aggs)
        .collect(engine="streaming")
    )


def drift_metrics(synthetic: Sequence[str], real: Sequence[str], *, seed: int = 0) -> dict[str, float]:
    """Drift between a synthetic and a real corpus (keys in the module docstring)."""
    df, lengths, _ = _joint_frame(synthetic, real)
    return _drift_from_frame(df, lengths, len(synthetic), len(real), _ngram_counts(df, 2), seed=seed)


def drift_and_tables(
    synthetic: Sequence[str],
    real: Sequence[str],
    *,
    seed: int = 0,
    n: int = 2,
    k: int = 15,
    term_groups: Mapping[str, Sequence[str]] | None = None,
) -> tuple[dict[str, float], pl.DataFrame, pl.DataFrame]:
    """:func:`drift_metrics`, :func:`overrepresented_ngrams` (``n``, ``k``) and
    ``bias.term_group_drift`` from one tokenisation of both corpora.

    The three read the same words; tokenising once (and counting the bigrams once)
    saves two passes over both corpora in the mix step, and the report reads the
    stored tables instead of tokenising again.
    """
    from .bias import term_group_drift_from_frame

    df, lengths, vocab = _joint_frame(synthetic, real)
    counts = _ngram_counts(df, n, with_pos=True)
    bigrams = counts if n == 2 else _ngram_counts(df, 2)
    drift = _drift_from_frame(df, lengths, len(synthetic), len(real), bigrams, seed=seed)
    del bigrams
    tics = _overrepresented_from_counts(df, vocab, counts, n=n, k=k, prior_scale=None)
    del counts
    bias = term_group_drift_from_frame(df, vocab, term_groups)
    return drift, tics, bias


def _drift_from_frame(
    df: pl.DataFrame, lengths: np.ndarray, n_syn: int, n_real: int, bi: pl.DataFrame, *, seed: int
) -> dict[str, float]:
    out: dict[str, float] = {}
    ids = df["id"].to_numpy().astype(np.int64)
    real_row = df["corpus"].to_numpy().astype(bool)
    vocab = int(ids.max()) + 1 if ids.size else 0
    uni_s = np.bincount(ids[~real_row], minlength=vocab)
    uni_r = np.bincount(ids[real_row], minlength=vocab)
    out["unigram_jsd"] = jensen_shannon_divergence(uni_s, uni_r) if ids.size else NAN
    out["bigram_jsd"] = (
        jensen_shannon_divergence(bi["count_synthetic"].to_numpy(), bi["count_real"].to_numpy()) if bi.height else NAN
    )
    # Sampling-noise baseline: the same divergence between two random halves of the
    # real documents. JSD of finite samples is biased upwards (rare words fall on one
    # side by chance), more so for small corpora; the baseline shows how much.
    if n_real >= 2:
        side = np.random.default_rng(seed).permutation(n_real) % 2
        docs = df["doc"].to_numpy()[real_row].astype(np.int64) - n_syn
        first = side[docs] == 0
        real_ids = ids[real_row]
        out["unigram_jsd_real_halves"] = jensen_shannon_divergence(
            np.bincount(real_ids[first], minlength=vocab), np.bincount(real_ids[~first], minlength=vocab)
        )
    else:
        out["unigram_jsd_real_halves"] = NAN
    len_s, len_r = lengths[:n_syn], lengths[n_syn:]
    out["length_mean_synthetic"] = float(len_s.mean()) if len_s.size else NAN
    out["length_mean_real"] = float(len_r.mean()) if len_r.size else NAN
    out["length_median_synthetic"] = float(np.median(len_s)) if len_s.size else NAN
    out["length_median_real"] = float(np.median(len_r)) if len_r.size else NAN
    out["length_ks"] = ks_statistic(len_s, len_r)
    n_tok_s = int(uni_s.sum())
    out["synthetic_oov_rate"] = int(uni_s[uni_r == 0].sum()) / n_tok_s if n_tok_s else NAN
    out["n_tokens_synthetic"] = float(n_tok_s)
    out["n_tokens_real"] = float(uni_r.sum())
    return out


_TICS_SCHEMA = {
    "ngram": pl.String,
    "z_score": pl.Float64,
    "count_synthetic": pl.Int64,
    "count_real": pl.Int64,
    "log_odds": pl.Float64,
}


def log_odds_dirichlet(count_a: np.ndarray, count_b: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds ratio of a vs b with Dirichlet prior ``prior`` (pseudo-counts per item)
    and its z-score (Monroe et al. 2008, eqs. 16, 18-22)."""
    ya = np.asarray(count_a, dtype=np.float64)
    yb = np.asarray(count_b, dtype=np.float64)
    alpha = np.asarray(prior, dtype=np.float64)
    na, nb, a0 = ya.sum(), yb.sum(), alpha.sum()
    delta = np.log((ya + alpha) / (na + a0 - ya - alpha)) - np.log((yb + alpha) / (nb + a0 - yb - alpha))
    var = 1.0 / (ya + alpha) + 1.0 / (yb + alpha)
    return delta, delta / np.sqrt(var)


def overrepresented_ngrams(
    synthetic: Sequence[str],
    real: Sequence[str],
    *,
    n: int = 2,
    k: int = 20,
    prior_scale: float | None = None,
) -> pl.DataFrame:
    """The k n-grams most over-represented in synthetic vs real text.

    Informative Dirichlet prior: ``alpha_w = alpha_0 * (y_w_syn + y_w_real) / (n_syn + n_real)``,
    i.e. the pooled corpus frequencies, with ``alpha_0 = prior_scale`` (default: the pooled
    n-gram count, so the prior weighs as much as the data; this shrinks rare n-grams
    hard, which is what a list of *tics* wants). Ranked by z-score, highest first.

    Columns: ``ngram`` (words joined by one space), ``z_score``, ``count_synthetic``,
    ``count_real``, ``log_odds`` (the point estimate delta, natural log).
    """
    df, _, vocab = _joint_frame(synthetic, real)
    return _overrepresented_from_counts(
        df, vocab, _ngram_counts(df, n, with_pos=True), n=n, k=k, prior_scale=prior_scale
    )


def _overrepresented_from_counts(
    df: pl.DataFrame, vocab: pl.Series, counts: pl.DataFrame, *, n: int, k: int, prior_scale: float | None
) -> pl.DataFrame:
    schema = _TICS_SCHEMA
    if counts.height == 0:
        return pl.DataFrame(schema=schema)
    ys = counts["count_synthetic"].to_numpy().astype(np.float64)
    yr = counts["count_real"].to_numpy().astype(np.float64)
    if ys.sum() == 0 or yr.sum() == 0:  # nothing to compare against
        return pl.DataFrame(schema=schema)
    pooled = ys + yr
    a0 = float(pooled.sum()) if prior_scale is None else float(prior_scale)
    delta, z = log_odds_dirichlet(ys, yr, a0 * pooled / pooled.sum())
    top = (
        counts.with_columns(z_score=pl.Series(z), log_odds=pl.Series(delta))
        .sort(["z_score", "pos"], descending=[True, False])  # pos: deterministic ties
        .head(k)
    )
    ids = df["id"]
    ngrams = [" ".join(vocab.gather(ids.slice(int(p), n)).to_list()) for p in top["pos"]]
    return top.with_columns(ngram=pl.Series(ngrams, dtype=pl.String)).select(
        [pl.col(c).cast(t) for c, t in schema.items()]
    )
