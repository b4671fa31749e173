"""The vectorised document preparation equals the scalar reference (``text`` and
``quality_failure``) document for document, on the real built-in corpus and on hostile text."""

from __future__ import annotations

import hashlib
import random
import sys
import unicodedata

import numpy as np
import polars as pl
import pytest
import xxhash

from synth_pipeline.corpus import documents
from synth_pipeline.corpus.builtin import load_builtin_python_docs
from synth_pipeline.corpus.documents import (
    ALPHA,
    COLLAPSED_SPACE,
    DOCUMENT_COLUMNS,
    NFC_UNSAFE,
    SPACE,
    WORD_CHAR,
    dedup_hash_expr,
    dedup_hashes,
    dedup_keys,
    normalized_text,
    prepare_documents,
)
from synth_pipeline.corpus.quality import python_fixed, quality_failure, with_quality
from synth_pipeline.text import (
    content_hash,
    count_tokens,
    dedup_key,
    normalize_text,
    stable_hash,
)

pytestmark = pytest.mark.unit

ALL_CHARS = [chr(cp) for cp in range(sys.maxunicode + 1) if not 0xD800 <= cp <= 0xDFFF]
ASSIGNED = [ch for ch in ALL_CHARS if unicodedata.category(ch) != "Cn"]
WHITESPACE = [ch for ch in ALL_CHARS if ch.isspace()] + ["\u200b", "\u00a0", "\u3000"]


def expected_row(raw: str) -> dict:
    text = normalize_text(raw)
    failure = quality_failure(text)
    rule, _, detail = (failure or "").partition(": ")
    return {
        "text": text,
        "doc_id": content_hash(text),
        "n_words": len(text.split()),
        "n_tokens": count_tokens(text),
        "dedup_hash": f"{stable_hash(dedup_key(text)):016x}",
        "quality_rule": rule or None,
        "quality_detail": detail if failure else None,
    }


def mismatches(raws: list[str]) -> list[tuple[int, dict]]:
    """(row, {column: (expected, got)}) for every document the two paths disagree on."""
    got = prepare_documents(pl.DataFrame({"text": raws}, schema={"text": pl.String}))
    out = []
    for i, (raw, row) in enumerate(zip(raws, got.iter_rows(named=True), strict=True)):
        want = expected_row(raw)
        diff = {k: (v, row[k]) for k, v in want.items() if row[k] != v}
        if diff:
            out.append((i, diff))
    return out


def hostile_texts(seed: int, count: int) -> list[str]:
    """Texts built from the pieces that break naive ports of the reference."""
    rng = random.Random(seed)
    pieces = [
        "the",
        "The",
        "THE",
        "of",
        "and",
        "to",
        "be",
        "that",
        "have",
        "with",
        "tHaT",
        "isn't",
        "don’t",
        "the's",
        "'the'",
        "x'the",
        "a''b",
        "’tis",
        "o'",
        "'",
        "’",
        "''",
        "word",
        "words",
        "python",
        "lorem ipsum",
        "Lorem  Ipsum",
        "LOREM\u00a0IPSUM",
        "lorem ipſum",
        "lorem İpsum",
        "ipsum",
        "...",
        "\u2026",
        "#",
        "##",
        "a...",
        "etc\u2026",
        "\ufffd",
        "\ufffd" * 5,
        "ß",
        "STRASSE",
        "straße",
        "İstanbul",
        "ΣΊΣΥΦΟΣ",
        "σοφός",
        "ς",
        "ﬁne",
        "µ",
        "\u212a",
        "Kelvin",
        "ǅ",
        "Ꭰ",
        "ꭰ",
        "e\u0301",
        "e\u0316\u0301",
        "\u1100\u1161\u11a8",
        "\u212b",
        "😀",
        "👍🏽",
        "🇫🇷",
        "x²",
        "½",
        "①",
        "٣",
        "_",
        "__init__",
        "a_b",
        "‿",
        "1.5",
        "42",
        "-",
        "—",
        "(",
        ")",
        ":",
        "\x00",
        "\x07",
        "\x1b",
        "\x1c",
        "\x1f",
        "\x7f",
        "\t",
        "\r\n",
        "\r",
        "\n",
        "\n\n\n",
        " \n \n ",
        "\x0b",
        "\x0c",
        "\u0085",
        "\u2028",
        "\u2029",
        "\u200b",
        "\u3000",
        "\u1680",
        "\u202f",
        "\u205f",
        "\u2003",
        "\u00a0",
        "\ud7a3",
        "क्षि",
        "ﷺ",
    ]
    texts = []
    for _ in range(count):
        shape = rng.random()
        parts = []
        n = rng.choice([0, 1, 3, 10, 29, 30, 31, 60, 200])
        for _ in range(n):
            r = rng.random()
            if r < 0.55:
                parts.append(rng.choice(pieces))
            elif r < 0.7:
                parts.append(rng.choice(WHITESPACE))
            elif r < 0.8:
                parts.append("".join(rng.choice(ASSIGNED) for _ in range(rng.randint(1, 4))))
            else:
                parts.append(rng.choice([" ", " ", "\n", "  ", " \t "]))
            parts.append(rng.choice([" ", " ", " ", "", "\n", " \u00a0", "\r\n"]))
        text = "".join(parts)
        if shape < 0.15:  # repeated lines
            text = "\n".join([text[:40]] * rng.randint(2, 6) + [text])
        elif shape < 0.25:  # ellipsis lines
            text = "\n".join(f"{line}..." for line in text.split(" ")[:10]) + "\n" + text
        texts.append(text)
    return texts


@pytest.fixture
def several_threads(monkeypatch):
    """Small batches are cut per core too, so the parallel path is compared as well."""
    monkeypatch.setattr(documents, "_MIN_BYTES_PER_THREAD", 1000)
    monkeypatch.setattr(documents.os, "cpu_count", lambda: 3)


def test_builtin_corpus_equals_reference(tmp_path, several_threads):
    raws = load_builtin_python_docs(tmp_path).get_column("text").to_list()
    assert len(raws) > 1000
    assert mismatches(raws) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_hostile_texts_equal_reference(seed, several_threads):
    raws = hostile_texts(seed, 1500)
    assert mismatches(raws) == []
    # Every rule fires somewhere, so the comparison covered each of them.
    rules = {quality_failure(normalize_text(t)).partition(":")[0] for t in raws if quality_failure(normalize_text(t))}
    assert {"empty_text", "broken_encoding", "too_short", "stopwords", "alpha_word_share", "duplicate_lines"} <= rules


def test_regex_quality_rules_equal_reference():
    """``with_quality`` (pure polars expressions, no compiled loop) gives the same verdicts."""
    raws = hostile_texts(7, 1500) + ["the and " * 20 + "lorem ipsum", ("the cat and a dog\n" * 3 + "x y z " * 10)]
    texts = [normalize_text(t) for t in raws]
    got = with_quality(pl.DataFrame({"text": texts}))
    for text, rule, detail in got.iter_rows():
        failure = quality_failure(text)
        assert (rule, detail) == (
            (failure.partition(": ")[0], failure.partition(": ")[2]) if failure else (None, None)
        ), text


def test_every_whitespace_character_normalises_like_python():
    for ch in WHITESPACE + [chr(c) for c in range(32)]:
        raws = [f"a{ch}b", f"{ch}a {ch} b{ch}", f"a\n{ch}\n{ch}\nb", f"a {ch}\n{ch} b", ch * 3, f"x{ch}{ch} \u00a0y"]
        assert mismatches(raws) == [], repr(ch)


def test_character_tables_follow_python_for_every_code_point():
    table = documents.char_classes()
    start, cps = documents.casefold_table()
    for ch in ALL_CHARS:
        cp = ord(ch)
        bits = int(table[cp])
        assert bool(bits & SPACE) == ch.isspace(), hex(cp)
        assert bool(bits & WORD_CHAR) == (ch.isalnum() or ch == "_"), hex(cp)
        assert bool(bits & ALPHA) == ch.isalpha(), hex(cp)
        if not bits & NFC_UNSAFE:
            assert unicodedata.normalize("NFC", ch) == ch and unicodedata.combining(ch) == 0, hex(cp)
        assert "".join(map(chr, cps[start[cp] : start[cp + 1]])) == ch.casefold(), hex(cp)
    assert [cp for cp in range(sys.maxunicode + 1) if table[cp] & COLLAPSED_SPACE] == sorted(documents._COLLAPSED)


def test_texts_without_nfc_unsafe_characters_are_nfc():
    rng = random.Random(5)
    table = documents.char_classes()
    safe = [ch for ch in ASSIGNED if not table[ord(ch)] & NFC_UNSAFE]
    unsafe = [ch for ch in ASSIGNED if table[ord(ch)] & NFC_UNSAFE]
    for _ in range(3000):
        text = "".join(rng.choice(safe) for _ in range(rng.randint(1, 12)))
        assert unicodedata.normalize("NFC", text) == text
    raws = [
        "".join(rng.choice(safe if rng.random() < 0.7 else unsafe) for _ in range(rng.randint(1, 12)))
        for _ in range(3000)
    ]
    assert normalized_text(pl.Series(raws)).to_list() == [normalize_text(t) for t in raws]


def test_only_the_kelvin_sign_lowercases_to_one_ascii_letter():
    """``ascii_caseless`` and the stop-word loop rely on it."""
    assert [ch for ch in ALL_CHARS if not ch.isascii() and len(ch.lower()) == 1 and ch.lower().isascii()] == ["\u212a"]


def test_random_unicode_equals_reference():
    rng = random.Random(11)
    raws = [
        " ".join("".join(rng.choice(ASSIGNED) for _ in range(rng.randint(1, 6))) for _ in range(rng.randint(0, 40)))
        for _ in range(2000)
    ]
    assert mismatches(raws) == []


def test_documented_difference_nfc_of_characters_newer_than_pythons_tables():
    """Polars' NFC knows compositions of characters that Python 3.11's Unicode 14 tables do
    not (here Gurung Khema, Unicode 16). They are composed only in a text that also holds a
    character NFC could change for Python; alone they are left as they are, as Python does."""
    newer = "\U0001611e\U0001611e"
    if unicodedata.category(newer[0]) != "Cn":
        pytest.skip("Python's Unicode tables know these characters: the difference does not exist")
    alone, with_combining = newer + " x", newer + " e\u0301"
    got = normalized_text(pl.Series([alone, with_combining])).to_list()
    assert got[0] == normalize_text(alone)
    assert got[1] == "\U00016121 \u00e9" != normalize_text(with_combining)


def test_dedup_keys_equal_reference_and_hashes_follow_keys():
    variants = [
        "The cat's hat, isn't it?",
        "the CAT'S hat  isn't it",
        "THE cat's hat... isn't\tit!",
        "the cat’s hat isn't it",
        "the cat s hat isn t it",
        "Straße",
        "STRASSE",
        "strasse",
        "ΣΟΦΌΣ",
        "σοφός",
        "σοφόσ",
        "",
        "...",
        "İx",
        "i\u0307x",
        "i x",
    ]
    hashes = dedup_hashes(pl.Series(variants)).to_list()
    keys = [dedup_key(v) for v in variants]
    assert dedup_keys(pl.Series(variants)).to_list() == keys
    for a in range(len(variants)):
        for b in range(len(variants)):
            assert (keys[a] == keys[b]) == (hashes[a] == hashes[b]), (variants[a], variants[b])
    assert hashes[0] == hashes[1] == hashes[2] != hashes[3] != hashes[4]  # ’ is not '
    assert hashes[5] == hashes[6] == hashes[7]
    assert hashes[8] == hashes[9] == hashes[10]


def test_dedup_hash_is_stable():
    """A fixed value: the hash must not change with the process or library versions."""
    assert dedup_hashes(pl.Series(["Hello, World! It's me."])).to_list() == ["c02dc52cf588606e"]
    assert f"{stable_hash(dedup_key('HELLO world, it' + chr(39) + 's me')):016x}" == "c02dc52cf588606e"
    frame = pl.DataFrame({"text": ["a B", "A b!"]}).with_columns(dedup_hash_expr(pl.col("text")).alias("h"))
    assert frame.get_column("h").n_unique() == 1


def test_compiled_xxh64_equals_xxhash():
    rng = np.random.default_rng(3)
    blobs = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in list(range(80)) + [255, 1000, 4099]]
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    hexes = documents._xxh64_hex(data, offsets).tobytes().decode()
    assert [hexes[16 * i : 16 * i + 16] for i in range(len(blobs))] == [
        f"{xxhash.xxh64_intdigest(b):016x}" for b in blobs
    ]


def test_compiled_sha256_equals_hashlib():
    rng = np.random.default_rng(4)
    blobs = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in list(range(140)) + [1000, 4099]]
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
    offsets = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    hexes = documents._sha256_hex16(data, offsets, documents._K, documents._H0, documents._HEX).tobytes().decode()
    assert [hexes[16 * i : 16 * i + 16] for i in range(len(blobs))] == [
        hashlib.sha256(b).hexdigest()[:16] for b in blobs
    ]


def test_python_fixed_formats_like_python():
    nums, dens = np.meshgrid(np.arange(0, 1300), np.arange(1, 401))
    frame = pl.DataFrame({"num": nums.ravel(), "den": dens.ravel()})
    for decimals in (1, 2):
        got = frame.select(python_fixed(pl.col("num"), pl.col("den"), decimals)).to_series().to_list()
        want = [f"{n / d:.{decimals}f}" for n, d in frame.iter_rows()]
        assert got == want


def test_columns_rows_and_order_are_kept():
    records = pl.DataFrame({"id": [3, 1, 2], "text": ["b  b", "a\r\na", "c"], "source": ["x", None, "z"]})
    got = prepare_documents(records)
    assert got.columns == ["id", "text", "source", *DOCUMENT_COLUMNS]
    assert got.select("id", "source").equals(records.select("id", "source"))
    assert got.get_column("text").to_list() == ["b b", "a\na", "c"]
    assert dict(got.schema) == {"id": pl.Int64, "text": pl.String, "source": pl.String, **DOCUMENT_COLUMNS}


def test_empty_input_gives_empty_output_with_full_schema():
    got = prepare_documents(pl.DataFrame(schema={"source": pl.String, "text": pl.String}))
    assert got.height == 0
    assert dict(got.schema) == {"source": pl.String, "text": pl.String, **DOCUMENT_COLUMNS}


def test_dedup_hash_of_null_is_null():
    assert dedup_hashes(pl.Series(["a", None], dtype=pl.String)).to_list()[1] is None


def _benchmark(n_docs: int = 100_000) -> None:
    """Docs/s and MB/s of prepare_documents against the per-row reference loop, medians of 3:
    ``python -m synth_pipeline_tests.test_corpus_documents``."""
    import statistics
    import tempfile
    import time
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        docs = load_builtin_python_docs(Path(tmp))
    copies = -(-n_docs // docs.height)
    variants = [
        docs.with_columns(pl.format("Variant {} of:\r\n{}", pl.lit(i), pl.col("text")).alias("text"))
        for i in range(copies)
    ]
    frame = pl.concat(variants).head(n_docs)
    megabytes = frame.get_column("text").str.len_bytes().sum() / 1e6
    prepare_documents(frame.head(100))  # compile and build the tables first

    def per_row() -> None:
        for raw in frame.get_column("text").to_list():
            text = normalize_text(raw)
            quality_failure(text), dedup_key(text), content_hash(text), count_tokens(text), len(text.split())

    print(f"{frame.height} documents, {megabytes:.1f} MB")
    for name, run in [("prepare_documents", lambda: prepare_documents(frame)), ("per-row reference", per_row)]:
        walls, cpus = [], []
        for _ in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        wall = statistics.median(walls)
        print(
            f"{name}: {wall:.2f} s wall (runs {', '.join(f'{w:.2f}' for w in walls)}; cpu "
            f"{statistics.median(cpus):.2f} s)"
            f" = {frame.height / wall:,.0f} docs/s, {megabytes / wall:.1f} MB/s"
        )


if __name__ == "__main__":
    _benchmark()
