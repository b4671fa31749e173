"""The collapse probe's language model and the probe itself on a tiny real corpus."""

from __future__ import annotations

import re

import numpy as np
import pytest

from synth_pipeline.cli import main
from synth_pipeline.mix.shares import within_caps
from synth_pipeline.probe import KneserNeyTrigram, ProbeConfig, Vocabulary, run_probe
from synth_pipeline.probe.collapse import _shares, cap_synthetic, split_real
from synth_pipeline.probe.lm import BOS, EOS
from synth_pipeline.settings import Settings

pytestmark = pytest.mark.unit


def _paragraphs(n: int) -> list[str]:
    """Real English paragraphs of the Python reference topics (ship with the interpreter)."""
    from pydoc_data.topics import topics

    paras = [p for name in sorted(topics) for p in re.split(r"\n\s*\n", topics[name]) if len(p.split()) >= 25]
    return paras[:n]


@pytest.fixture(scope="module")
def model_and_data():
    train, held = split_real(_paragraphs(400), 0.2, seed=1)
    vocab = Vocabulary.build(train)
    tr, he = vocab.encode(train), vocab.encode(held)
    return KneserNeyTrigram(tr, len(vocab)), vocab, tr, he


def test_distribution_sums_to_one_over_the_vocabulary(model_and_data):
    model, vocab, tr, _ = model_and_data
    seen = (int(tr[0][0]), int(tr[0][1]))
    unseen_pair = (int(tr[0][5]), int(tr[3][7]))
    for u, v in [(BOS, BOS), (BOS, int(tr[0][0])), seen, unseen_pair, (EOS, EOS)]:
        p = model.distribution(u, v)
        assert p.shape == (len(vocab),)
        assert p.sum() == pytest.approx(1.0, abs=1e-9)
        assert p[BOS] == 0.0 and (p[1:] > 0).all()
    # the seen continuation gets more than the uniform floor
    assert model.distribution(*seen)[int(tr[0][2])] > 10 / len(vocab)


def test_training_text_is_more_probable_than_held_out_text(model_and_data):
    model, _, tr, he = model_and_data
    train_ppl, held_ppl = model.perplexity(tr), model.perplexity(he)
    assert 1.0 < train_ppl < held_ppl / 3


def test_sampling_is_seeded(model_and_data):
    model = model_and_data[0]
    a = model.sample(np.random.default_rng(7), 20, 50)
    b = model.sample(np.random.default_rng(7), 20, 50)
    c = model.sample(np.random.default_rng(8), 20, 50)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert sum(len(x) for x in a) > 100


def test_cap_cuts_the_synthetic_pool_until_the_mix_passes():
    settings = Settings(max_synthetic_ratio=0.4)
    real = [np.arange(10) for _ in range(10)]
    pool = [np.arange(8) for _ in range(40)]
    assert not within_caps(settings, _shares(real, pool))
    kept = cap_synthetic(settings, real, pool, seed=0)
    assert within_caps(settings, _shares(real, kept))
    assert not within_caps(settings, _shares(real, [*kept, pool[0]]))  # the largest cut that passes


@pytest.fixture(scope="module")
def tiny_probe(tmp_path_factory):
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    cfg = ProbeConfig(generations=3, seed=11, vendi_docs=60, embedding_vendi=False)
    return run_probe(_paragraphs(240), settings, cfg)


def test_replace_degrades_and_accumulate_stays_bounded(tiny_probe):
    last = {r.regime: r for r in tiny_probe.rows if r.generation == 3}
    assert last["replace"].perplexity_ratio > 1.5
    assert last["replace"].perplexity_ratio > 1.2 * last["accumulate"].perplexity_ratio
    assert last["replace"].tail_mass < 0.6 * last["accumulate"].tail_mass
    # the gated regime's mix never exceeds the cap it enforces
    assert all(r.synthetic_token_share <= 0.5 for r in tiny_probe.rows if r.regime == "gated")
    marks = tiny_probe.first_failures()
    assert marks["replace"]["synthetic_token_share"] == 1 and marks["gated"]["synthetic_token_share"] is None


def test_a_diversity_gate_above_the_samples_refuses_every_generation(tmp_path):
    """Through a real probe run: a floor no sample meets drops every sample, so gated trains on real text only."""
    settings = Settings(home=tmp_path, min_relative_distinct_2=5.0)
    cfg = ProbeConfig(generations=2, seed=11, vendi_docs=60, embedding_vendi=False)
    result = run_probe(_paragraphs(160), settings, cfg)
    gated = [r for r in result.rows if r.regime == "gated"]
    assert all("relative_distinct_2" in r.diversity_failed and not r.accepted for r in gated)
    assert [r.perplexity_ratio for r in gated] == [1.0, 1.0, 1.0]
    assert result.first_failures()["replace"]["relative_distinct_2"] == 0


def test_cli_probe_writes_table_chart_and_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SYNTH_HOME", str(tmp_path / "home"))
    code = main(["probe", "--docs", "120", "--generations", "1", "--out", str(tmp_path / "out"), "--seed", "3"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "| replace | 1 |" in out
    svg = (tmp_path / "out" / "collapse_probe.svg").read_text()
    assert svg.startswith("<svg") and svg.count("<polyline") == 12
    assert (tmp_path / "out" / "collapse_probe.json").stat().st_size > 0


def test_probe_reads_a_partitions_raw_corpus_from_the_warehouse(tmp_path):
    import polars as pl

    from synth_pipeline.probe import load_texts
    from synth_pipeline.storage.warehouse import Warehouse

    settings = Settings(home=tmp_path)
    texts = _paragraphs(50)
    frame = pl.DataFrame({"doc_id": [f"d{i:03}" for i in range(50)], "text": texts})
    Warehouse(settings.warehouse_path).write_partition("raw_corpus", "2026-01-02", frame)
    got, source = load_texts(settings, "2026-01-02", docs=0, seed=0)
    assert sorted(got) == sorted(texts) and "2026-01-02" in source
    with pytest.raises(ValueError, match="no documents for partition 2026-01-03"):
        load_texts(settings, "2026-01-03", docs=0, seed=0)
