"""Diversity metrics equal the reference implementations on the same texts.

References: the ``diversity`` package of Shaib et al. (compression ratio, n-gram
diversity, self-repetition) and sacrebleu (Self-BLEU). Tolerances are the ones stated
in docs/metrics.md.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import math
import re
import sys
import types
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import polars as pl
import pytest
import sacrebleu

from synth_pipeline.metrics import diversity_metrics
from synth_pipeline.metrics._tokens import word_lists
from synth_pipeline.metrics.diversity import (
    _tokenize_13a,
    compression_ratio,
    compression_sizes,
    distinct_n,
    ngram_diversity_score,
    sample_indices,
    self_bleu,
    self_repetition_score,
)
from synth_pipeline_tests.vendor import diversity as REF

pytestmark = pytest.mark.unit


EDGE_CASES = [
    "Hello  world\n\nnew  paragraph\twith a tab and a \x1c separator",
    "",
    "   leading and trailing spaces   ",
    "Ünïcödé wörds, naïve café — and an em dash; «quotes» and 3.14 or 1,000 items.",
    "The the THE the. The the THE the. Repetition repetition repetition.",
    "A-\nhyphenated line &amp; an entity &quot;quoted&quot; <skipped> and a 5-4 score.",
]


def _corpus(n_docs: int = 400, seed: int = 0) -> list[str]:
    """Deterministic documents: word windows from the Python docs topics plus edge cases."""
    words = " ".join(topics[k] for k in sorted(topics)).split(" ")
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(words) - 200, n_docs)
    lengths = rng.integers(5, 150, n_docs)
    docs = [" ".join(words[s : s + n]) for s, n in zip(starts, lengths, strict=True)]
    return docs + EDGE_CASES + [docs[0], docs[1]]  # exact duplicates too


CORPUS = _corpus()


@pytest.fixture
def fixed_gzip_time(monkeypatch):
    """The reference writes time.time() into the inner gzip header; pin it to ours."""
    from synth_pipeline.metrics import diversity as mod

    monkeypatch.setattr(gzip, "time", types.SimpleNamespace(time=lambda: mod._INNER_MTIME))


@pytest.mark.parametrize("texts", [CORPUS, CORPUS[:3], EDGE_CASES, ["a"], ["x" * 10_000, "y"]])
def test_compression_sizes_are_byte_identical_to_reference(texts, fixed_gzip_time):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        ref_ratio = REF.compression_ratio(texts, "gzip", verbose=True)
    sizes = [int(x) for x in re.findall(r"Size: (\d+)", buf.getvalue())]
    assert compression_sizes(texts) == (sizes[0], sizes[1])
    assert round(compression_ratio(texts), 3) == ref_ratio


def test_compression_ratio_equal_to_reference_without_pinning():
    # Unpinned, the reference's own value can move by one byte between runs; at
    # 3 decimals (its rounding) the values agree.
    assert abs(compression_ratio(CORPUS) - REF.compression_ratio(CORPUS)) <= 1e-3


def _ngram_diversity_unrounded(data: list[str], num_n: int = 4) -> float:
    """The reference's loop without its final round(), to check beyond 3 decimals."""
    toks = " ".join(data).split(" ")
    score = 0.0
    for n in range(1, num_n + 1):
        grams = [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
        score += len(set(grams)) / len(grams)
    return score


@pytest.mark.parametrize("texts", [CORPUS, EDGE_CASES, CORPUS[:2] + [""] + CORPUS[2:5]])
def test_ngram_diversity_equals_reference(texts):
    ours = ngram_diversity_score(texts)
    assert round(ours, 3) == REF.ngram_diversity_score(texts, 4)
    assert ours == pytest.approx(_ngram_diversity_unrounded(texts), abs=1e-12)


def test_space_ngram_counts_are_exact_on_hostile_tokens():
    """Distinct counts equal Python sets of token tuples: repeated and edge spaces (empty
    tokens), empty texts, non-ASCII, tokens over 240 bytes that share their first 240 bytes
    (same slot hash prefix, told apart byte for byte), and enough distinct tokens to grow
    the id table several times."""
    from synth_pipeline.metrics._ngram_counts import space_ngram_counts

    rng = np.random.default_rng(3)
    long_a, long_b = "x" * 240 + "a" * 30, "x" * 240 + "b" * 30
    texts = ["", "  double  spaces ", "é ß 東京 😀", long_a, long_b + " " + long_a, "", "tail "]
    texts += [" ".join(f"w{int(v)}" for v in rng.zipf(1.3, int(rng.integers(0, 40))) % 50_000) for _ in range(3000)]
    toks = " ".join(texts).split(" ")
    expected = [
        (len({tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)}), len(toks) - n + 1) for n in range(1, 6)
    ]
    assert space_ngram_counts(pl.Series(texts), 5) == expected
    assert ngram_diversity_score(texts) == pytest.approx(_ngram_diversity_unrounded(texts), abs=1e-12)


def test_ngram_diversity_undefined_for_too_few_tokens():
    assert math.isnan(ngram_diversity_score(["a b"]))


@pytest.mark.parametrize("texts", [CORPUS, EDGE_CASES, CORPUS[:50] * 3])
def test_self_repetition_equals_reference(texts):
    ref = REF.self_repetition_score(texts, n=4, verbose=False)
    assert self_repetition_score(texts, 4) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_reference_tokenisations_equal_python_split():
    """The compiled tokenisers give str.split() (every str.isspace character, runs) and
    str.split(" ") (every single space, empty tokens kept) token for token."""
    from synth_pipeline.metrics._ngram_counts import _tokens

    every_space = "".join(chr(c) for c in range(0x3100) if chr(c).isspace())
    texts = [
        "a" + every_space.join("bcdefghijklmnopqrstuvwxyz0123456789") + "\u200bz",
        "",
        "  x  y ",
        "é\u00a0ß 東京\t😀",
    ]
    for kind, keep_empty, split in (("whitespace", False, str.split), ("space", True, lambda t: t.split(" "))):
        ids, offsets, vocab = _tokens(pl.Series(texts), kind, keep_empty)
        tokens = [split(t) for t in texts]
        first_seen = {tok: None for toks in tokens for tok in toks}  # ids are in first-seen order
        expected = [list(first_seen).index(tok) for toks in tokens for tok in toks]
        assert ids.tolist() == expected and vocab == len(first_seen)
        assert np.diff(offsets).tolist() == [len(t) for t in tokens]


def _distinct_naive(texts: list[str], n: int) -> float:
    grams = []
    for t in texts:
        toks = re.findall(r"\w+", t.lower())
        grams += [tuple(toks[i : i + n]) for i in range(len(toks) - n + 1)]
    return len(set(grams)) / len(grams)


def test_word_tokenisation_is_lowercase_word_runs():
    assert word_lists(["Don't STOP, naïve_x 3.14!"])[0].to_list() == ["don", "t", "stop", "naïve_x", "3", "14"]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_distinct_n_equals_naive_definition(n):
    assert distinct_n(CORPUS)[f"distinct_{n}"] == pytest.approx(_distinct_naive(CORPUS, n), abs=1e-15)


def test_distinct_n_known_values():
    d = distinct_n(["a b a b", "a b"])
    # unigrams a,b,a,b,a,b -> 2/6; bigrams ab,ba,ab | ab -> 2/4 (no bigram across docs)
    assert d["distinct_1"] == pytest.approx(2 / 6)
    assert d["distinct_2"] == pytest.approx(2 / 4)
    assert d["distinct_3"] == pytest.approx(2 / 2)
    assert math.isnan(distinct_n(["a b"])["distinct_3"])


def test_13a_tokeniser_equals_sacrebleu():
    tok = sacrebleu.BLEU().tokenizer
    for text in CORPUS[:100] + EDGE_CASES:
        assert _tokenize_13a(text) == tok(text.rstrip()).split()


def test_self_bleu_equals_sacrebleu_sentence_bleu_average():
    texts = CORPUS[:30] + EDGE_CASES + [CORPUS[3]]
    for sample, seed in ((20, 0), (20, 7), (len(texts), 0)):
        idx = sample_indices(len(texts), sample, seed)
        docs = [texts[i] for i in idx]
        ref = np.mean([sacrebleu.sentence_bleu(d, docs[:i] + docs[i + 1 :]).score for i, d in enumerate(docs)])
        assert self_bleu(texts, sample=sample, seed=seed) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_self_bleu_extremes():
    assert self_bleu(["the same sentence here"] * 5) == pytest.approx(100.0)
    assert self_bleu(["alpha beta gamma delta", "one two three four"]) == 0.0
    assert math.isnan(self_bleu(["only one"]))


def test_diversity_metrics_keys_and_consistency():
    m = diversity_metrics(CORPUS, self_bleu_sample=50)
    assert list(m) == [
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
    ]
    assert m["n_texts"] == len(CORPUS)
    assert m["n_tokens"] == sum(len(re.findall(r"\w+", t.lower())) for t in CORPUS)
    assert m["vocabulary_size"] == len({w for t in CORPUS for w in re.findall(r"\w+", t.lower())})
    assert m["compression_ratio"] == compression_ratio(CORPUS)
    assert m["ngram_diversity"] == ngram_diversity_score(CORPUS)
    assert m["self_bleu"] == self_bleu(CORPUS, sample=50)


def test_repetitive_corpus_scores_less_diverse():
    diverse = diversity_metrics(CORPUS[:200])
    collapsed = diversity_metrics([CORPUS[i % 5] for i in range(200)])
    assert collapsed["distinct_2"] < 0.1 * diverse["distinct_2"]
    assert collapsed["compression_ratio"] > 3 * diverse["compression_ratio"]
    assert collapsed["self_bleu"] > 99 and collapsed["self_bleu"] > 1.5 * diverse["self_bleu"]
    assert collapsed["self_repetition"] > diverse["self_repetition"]


def test_diversity_metrics_empty_corpus_is_nan_not_error():
    m = diversity_metrics([])
    assert m["n_texts"] == 0 and m["n_tokens"] == 0
    assert math.isnan(m["distinct_1"]) and math.isnan(m["self_bleu"]) and math.isnan(m["compression_ratio"])


def test_the_vendored_reference_is_the_published_code():
    # The three modules and the licence are the files of the diversity 0.3.1 wheel, byte for byte.
    folder = Path(REF.__file__).parent
    for name, published in REF.PUBLISHED_SHA256.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256((folder / name).read_bytes()).digest()).rstrip(b"=")
        assert digest.decode() == published, name
    assert "spacy" not in sys.modules and "transformers" not in sys.modules


def test_self_repetition_equals_reference_for_other_n():
    for n in (2, 6):
        ref = REF.self_repetition_score(CORPUS, n=n, verbose=False)
        assert self_repetition_score(CORPUS, n) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_exact_keys_switch_to_128_bits_for_large_vocabularies():
    # > 65536 distinct words: V**3 < 2**64 <= V**4, so 4-gram keys use the u128 branch.
    rng = np.random.default_rng(1)
    docs = [" ".join(f"w{j}" for j in rng.integers(0, 200_000, 40)) for _ in range(4_000)]
    docs += docs[:100]
    assert len({w for d in docs for w in d.split()}) > 65_536
    assert distinct_n(docs)["distinct_4"] == pytest.approx(_distinct_naive(docs, 4), abs=1e-15)
    assert distinct_n(docs)["distinct_3"] == pytest.approx(_distinct_naive(docs, 3), abs=1e-15)
