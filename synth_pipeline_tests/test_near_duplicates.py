"""Near-duplicate stage on real text (standard-library documentation) and on the seeded
benchmark corpus with planted near duplicates; exact Jaccard is recomputed independently."""

from __future__ import annotations

import importlib
import re

import duckdb
import polars as pl
import pytest

from synth_pipeline.dedup import near_duplicates as nd
from synth_pipeline.dedup.near_duplicates import (
    REASON_EARLIER,
    REASON_NEAR,
    REASON_SYNTH_REAL,
    choose_bands,
    find_near_duplicates,
    lsh_probability,
)
from synth_pipeline.dedup.planted import build_corpus

pytestmark = pytest.mark.unit

_WORD = re.compile(r"\w+")
MODULES = (
    "json argparse csv timeit socket uuid unittest heapq ssl subprocess inspect sqlite3 typing tempfile difflib".split()
)


def doc_words(module: str, limit: int = 130) -> list[str]:
    text = importlib.import_module(module).__doc__
    return text.split()[:limit]


@pytest.fixture(scope="module")
def real_texts() -> dict[str, str]:
    return {m: " ".join(doc_words(m)) for m in MODULES}


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    w = _WORD.findall(text.lower())
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def edit(text: str, positions: list[int], word: str = "zebra") -> str:
    w = text.split()
    for p in positions:
        w[p] = word
    return " ".join(w)


def frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"item_id": pl.String, "origin": pl.String, "text": pl.String}, orient="row")


def removal_map(result) -> dict[str, tuple[str, str, float]]:
    return {
        r["item_id"]: (r["reason"], r["duplicate_of"], r["similarity"]) for r in result.removals.iter_rows(named=True)
    }


def test_defaults_give_high_candidate_probability_at_threshold():
    bands, rows = choose_bands(0.8)
    assert (bands, rows) == (25, 5)
    assert lsh_probability(0.8, bands, rows) > 0.9999
    assert lsh_probability(0.3, bands, rows) < 0.07


def test_planted_near_duplicates_found_and_unrelated_texts_not(real_texts):
    rows = [(m, "real", t) for m, t in real_texts.items()]
    near = edit(real_texts["json"], [10, 70])  # two substituted words
    rows.append(("json-copy", "real", near))
    result = find_near_duplicates(frame(rows))
    j = jaccard(real_texts["json"], near)
    assert 0.8 <= j < 1.0
    assert removal_map(result) == {"json-copy": (REASON_NEAR, "json", pytest.approx(j))}
    # no two distinct module docs are reported (they share little)
    assert set(result.pairs["item_id"]) == {"json-copy"}
    # survivors (and only survivors) get signature rows
    assert sorted(result.signatures["item_id"]) == sorted(real_texts)


def test_recall_and_precision_on_seeded_corpus_with_planted_families():
    corpus = build_corpus(3000, seed=7)
    df = frame([(str(i), "real", t) for i, t in enumerate(corpus.texts)])
    result = find_near_duplicates(df)
    found = {tuple(sorted((int(a), int(b)))) for a, b in result.pairs.select("item_id", "other_id").iter_rows()}
    planted = {(min(a, b), max(a, b)) for fam in corpus.families for a in fam for b in fam if a < b or b < a}
    truth = {p: jaccard(corpus.texts[p[0]], corpus.texts[p[1]]) for p in planted}
    must = {p for p, j in truth.items() if j >= 0.8}
    assert len(must) > 100
    assert must <= found  # recall 1.0 on this corpus
    for a, b in found:  # precision 1.0 (exact verification)
        assert jaccard(corpus.texts[a], corpus.texts[b]) >= 0.8
    # similarity reported is the exact Jaccard for within-partition pairs
    for a, b, s in result.pairs.select("item_id", "other_id", "similarity").head(50).iter_rows():
        assert s == pytest.approx(jaccard(corpus.texts[int(a)], corpus.texts[int(b)]))


def test_survivor_follows_row_order_and_removed_items_point_at_survivor(real_texts):
    base = real_texts["argparse"]
    a, b, c = base, edit(base, [20]), edit(base, [40])
    first = find_near_duplicates(frame([("a", "real", a), ("b", "real", b), ("c", "real", c)]))
    assert {k: v[1] for k, v in removal_map(first).items()} == {"b": "a", "c": "a"}
    reverse = find_near_duplicates(frame([("c", "real", c), ("b", "real", b), ("a", "real", a)]))
    assert {k: v[1] for k, v in removal_map(reverse).items()} == {"b": "c", "a": "c"}


def test_no_transitive_chains(real_texts):
    # x ~ y and y ~ z but x !~ z: y is removed as a copy of x; z is not removed, because its
    # only partner y is gone and it is not within the threshold of the survivor x.
    x = real_texts["csv"]
    y = edit(x, [10, 40, 70])
    z = edit(y, [25, 55, 85], word="lion")
    assert min(jaccard(x, y), jaccard(y, z)) >= 0.7 > jaccard(x, z)
    result = find_near_duplicates(frame([("x", "real", x), ("y", "real", y), ("z", "real", z)]), threshold=0.7)
    assert removal_map(result) == {"y": (REASON_NEAR, "x", pytest.approx(jaccard(x, y)))}


def test_synthetic_copying_real_gets_its_own_reason(real_texts):
    real = real_texts["timeit"]
    rows = [
        ("real-1", "real", real),
        ("syn-1", "synthetic", edit(real, [30])),
        ("syn-2", "synthetic", real_texts["heapq"]),
        ("syn-3", "synthetic", edit(real_texts["heapq"], [50])),
    ]
    got = removal_map(find_near_duplicates(frame(rows)))
    assert got["syn-1"][:2] == (REASON_SYNTH_REAL, "real-1")
    assert got["syn-3"][:2] == (REASON_NEAR, "syn-2")
    assert set(got) == {"syn-1", "syn-3"}


def test_exact_duplicates_after_normalisation_are_jaccard_one(real_texts):
    t = real_texts["socket"]
    shouty = t.upper().replace(" ", "  ,")
    got = removal_map(find_near_duplicates(frame([("a", "real", t), ("b", "synthetic", shouty), ("c", "real", "")])))
    assert got == {"b": (REASON_SYNTH_REAL, "a", 1.0)}


def test_short_texts_and_many_copies(real_texts):
    rows = [("s1", "real", "Hello there, world"), ("s2", "real", "hello THERE world!")]
    rows += [(f"copy{i:03d}", "synthetic", real_texts["uuid"]) for i in range(150)]
    got = removal_map(find_near_duplicates(frame(rows)))
    assert got["s2"][:2] == (REASON_NEAR, "s1")
    assert all(got[f"copy{i:03d}"][1] == "copy000" for i in range(1, 150))
    assert "copy000" not in got and len(got) == 150


def test_cross_partition_through_duckdb_file(tmp_path, real_texts):
    db = tmp_path / "warehouse.duckdb"
    day1 = frame([("d1-json", "real", real_texts["json"]), ("d1-ssl", "synthetic", real_texts["ssl"])])
    r1 = find_near_duplicates(day1)
    assert r1.removals.height == 0
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA synth")
        rows = r1.signatures.with_columns(pl.lit("2026-01-01").str.to_date().alias("partition_date"))  # noqa: F841
        con.execute("CREATE TABLE synth.mix_signatures AS SELECT * FROM rows")  # DuckDB reads the frame `rows`
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'mix_signatures'"
            ).fetchall()
        )
    assert types == {
        "item_id": "VARCHAR",
        "origin": "VARCHAR",
        "minhash": "BLOB",
        "shingles": "BLOB",
        "shingles_complete": "BOOLEAN",
        "params": "VARCHAR",
        "partition_date": "DATE",
    }

    with duckdb.connect(str(db), read_only=True) as con:
        earlier = con.execute("SELECT * FROM synth.mix_signatures WHERE partition_date < DATE '2026-01-02'").pl()
    day2 = frame(
        [
            ("d2-json", "real", edit(real_texts["json"], [60])),  # real copy of an earlier real item
            ("d2-syn", "synthetic", edit(real_texts["json"], [90])),  # synthetic copy of an earlier real item
            ("d2-ssl", "synthetic", edit(real_texts["ssl"], [33])),  # synthetic copy of earlier synthetic
            ("d2-new", "real", real_texts["inspect"]),
        ]
    )
    r2 = find_near_duplicates(day2, earlier=earlier)
    got = removal_map(r2)
    assert got["d2-json"][:2] == (REASON_EARLIER, "d1-json")
    assert got["d2-syn"][:2] == (REASON_SYNTH_REAL, "d1-json")
    assert got["d2-ssl"][:2] == (REASON_EARLIER, "d1-ssl")
    assert "d2-new" not in got
    # the stored shingle sets make the cross-partition similarity exact
    assert got["d2-json"][2] == pytest.approx(jaccard(real_texts["json"], edit(real_texts["json"], [60])))
    assert r2.signatures["item_id"].to_list() == ["d2-new"]
    # deterministic whatever order the warehouse returns rows in
    again = find_near_duplicates(day2, earlier=earlier.reverse())
    assert again.removals.equals(r2.removals)
    # signatures of another shingle size are refused rather than silently never matching
    with pytest.raises(ValueError, match="shingle size"):
        find_near_duplicates(day2, shingle_size=7, earlier=earlier)


def test_deterministic_and_chunking_invariant(monkeypatch):
    corpus = build_corpus(800, seed=11)
    df = frame([(f"i{i}", "real" if i % 3 else "synthetic", t) for i, t in enumerate(corpus.texts)])
    a = find_near_duplicates(df)
    b = find_near_duplicates(df)
    assert a.removals.height > 20
    assert a.removals.equals(b.removals) and a.signatures.equals(b.signatures)
    monkeypatch.setattr(nd, "CHUNK_DOCS", 97)
    c = find_near_duplicates(df)
    assert c.removals.equals(a.removals) and c.signatures.equals(a.signatures)


def test_threshold_and_shingle_size_are_settable(real_texts):
    t = real_texts["unittest"]
    v = edit(t, [10, 30, 50, 70, 90, 110])  # about J=0.6 with 5-grams
    j = jaccard(t, v)
    assert 0.5 < j < 0.8
    rows = frame([("a", "real", t), ("b", "real", v)])
    assert find_near_duplicates(rows).removals.height == 0
    assert find_near_duplicates(rows, threshold=0.5).removals["item_id"].to_list() == ["b"]
    assert find_near_duplicates(rows, shingle_size=2).removals["item_id"].to_list() == ["b"]


def test_long_documents_across_partitions_use_bottom_k():
    long_text = " ".join(importlib.import_module("pdb").__doc__.split()[:900])  # > 512 shingles
    copy = edit(long_text, [100, 400, 700])
    other = edit(long_text, list(range(3, 900, 9)))  # a different text sharing little
    r1 = find_near_duplicates(frame([("old", "real", long_text)]))
    assert r1.signatures["shingles_complete"].to_list() == [False]
    assert len(r1.signatures["shingles"][0]) == 4 * nd.MAX_STORED_SHINGLES
    r2 = find_near_duplicates(frame([("new", "real", copy), ("far", "real", other)]), earlier=r1.signatures)
    got = removal_map(r2)
    assert set(got) == {"new"} and got["new"][:2] == (REASON_EARLIER, "old")
    assert abs(got["new"][2] - jaccard(long_text, copy)) < 0.05  # bottom-512 estimate


def test_normaliser_matches_lowercase_word_regex(real_texts):
    from synth_pipeline.dedup.shingles import word_lists

    texts = list(real_texts.values()) + [
        "Ça va? Très bien — merci!  Straße, naïve café; 東京 2024_x",
        " (leading",
        "trailing) ",
        "",
        "a-b_c.d",
    ]
    got = word_lists(pl.Series(texts)).to_list()
    assert got == [_WORD.findall(t.lower()) for t in texts]
