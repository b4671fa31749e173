"""The streaming corpus readers lose no record: every written record comes back, in order,
either as its exact text or as a reject with its reason at its position."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from synth_pipeline.corpus.readers import (
    RECORD_SCHEMA,
    FileRejected,
    ReadOptions,
    detect_format,
    expand_source,
    read_records,
)

pytestmark = pytest.mark.unit

SMALL_BATCHES = 64 << 10  # many batches even for small test files


def read_all(path: Path, options: ReadOptions = ReadOptions()) -> list[dict]:
    rows = []
    for batch in read_records(path, options):
        assert batch.schema == RECORD_SCHEMA
        rows.extend(batch.to_pylist())
    assert [r["record_no"] for r in rows] == list(range(len(rows)))
    return rows


def compress(path: Path, data: bytes, compression: str | None) -> Path:
    if compression == "gzip":
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, compresslevel=1)
    elif compression == "zstd":
        path = path.with_name(path.name + ".zst")
        data = zstandard.ZstdCompressor(level=1).compress(data)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------------ generated corpora


def good_text(rng: random.Random, multiline: bool = True) -> str:
    pieces = ["alpha", "béta", "日本語", "emoji 😀", 'quote "q"', "back\\slash", "comma, here", "tab\there", "ü"]
    # Line boundaries of str.splitlines that end no record: raw in JSON (ensure_ascii=False) and CSV.
    pieces += ["ls\u2028ps\u2029nel\u0085end", "fs\x1cgs\x1drs\x1e", "vt\x0bff\x0c"]
    if multiline:
        pieces += ["line\nbreak", "crlf\r\nbreak"]
    return "T" + " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))) + "."


def jsonl_corpus(rng: random.Random, n: int, nested: bool) -> tuple[bytes, list]:
    """Lines and the expected (source_row, reason, text, source_id) per record."""

    def obj(text):
        return {"id": rng.randint(0, 99), "meta": {"text": text}} if nested else {"id": "x", "text": text}

    bad_lines = {
        "malformed_json": lambda: b'{"text": "no end"',
        "invalid_utf8": lambda: b'{"text": "caf\xe9 latin-1"}' if not nested else b'{"meta": {"text": "\xff"}}',
        "not_an_object": lambda: rng.choice([b"[1, 2]", b'"just a string"', b"42", b"null"]),
        "missing_text_field": lambda: b'{"id": 7, "body": "elsewhere"}',
        "non_string_text": lambda: json.dumps(obj(rng.choice([5, None, {"a": 1}, ["x"], True]))).encode(),
        "empty_text": lambda: json.dumps(obj(rng.choice(["", "   ", "\t\n", "\u3000"]))).encode(),
        "blank_line": lambda: rng.choice([b"", b"   ", b"\t", b" \r"]),
    }
    lines, expected = [], []
    for row in range(1, n + 1):
        if rng.random() < 0.15:
            reason = rng.choice(sorted(bad_lines))
            lines.append(bad_lines[reason]())
            expected.append((row, reason, None))
        else:
            text = good_text(rng)
            record = obj(text)
            separators = (",\r", ":\r") if rng.random() < 0.1 else None  # a bare CR is JSON whitespace
            lines.append(json.dumps(record, ensure_ascii=rng.random() < 0.5, separators=separators).encode())
            expected.append((row, None, text, str(record["id"])))
    eol = b"\r\n" if rng.random() < 0.3 else b"\n"
    return eol.join(lines) + (eol if rng.random() < 0.7 else b""), expected


def json_array_corpus(rng: random.Random, n: int) -> tuple[bytes, list]:
    parts, expected = [], []
    bad = {
        "not_an_object": lambda: b"[1]",
        "missing_text_field": lambda: b'{"id": 1}',
        "non_string_text": lambda: b'{"text": 3.5}',
        "empty_text": lambda: b'{"text": " "}',
        "invalid_utf8": lambda: b'{"text": "bad \xff byte"}',
    }
    for row in range(1, n + 1):
        if rng.random() < 0.15:
            reason = rng.choice(sorted(bad))
            parts.append(bad[reason]())
            expected.append((row, reason, None))
        else:
            text = good_text(rng)
            parts.append(json.dumps({"id": row, "text": text}, ensure_ascii=rng.random() < 0.5).encode())
            expected.append((row, None, text, str(row)))
    return b"[\n" + b",\n".join(parts) + b"\n]\n", expected


def delimited_corpus(rng: random.Random, n: int, delimiter: str) -> tuple[bytes, list]:
    out = io.BytesIO()

    def write(row):
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="\n").writerow(row)
        out.write(buf.getvalue().encode("utf-8", "surrogateescape"))

    write(["id", "text", "extra"])
    expected = []
    for row in range(1, n + 1):
        roll = rng.random()
        if roll < 0.05:
            extra = rng.choice(["many", "bad \udcff byte"])  # a bad row may hold invalid UTF-8 too
            out.write(f"{row}{delimiter}too{delimiter}{extra}{delimiter}fields\n".encode("utf-8", "surrogateescape"))
            expected.append((row, "malformed_row", None))
        elif roll < 0.10:
            out.write(f"{row}\n".encode())
            expected.append((row, "malformed_row", None))
        elif roll < 0.14:
            write([row, "not utf-8 \udcff here", "e"])
            expected.append((row, "invalid_utf8", None))
        elif roll < 0.17:
            write([row, rng.choice(["", "  "]), "e"])
            expected.append((row, "empty_text", None))
        elif roll < 0.20:  # a quote inside an unquoted field is an ordinary character
            out.write(f'{row}{delimiter}a 5" screen{delimiter}e\n'.encode())
            expected.append((row, None, 'a 5" screen', str(row)))
        else:
            text = good_text(rng)
            write([row, text, "e"])
            expected.append((row, None, text, str(row)))
    return out.getvalue(), expected


def check(rows: list[dict], expected: list) -> None:
    assert len(rows) == len(expected)
    for row, want in zip(rows, expected, strict=True):
        assert (row["source_row"], row["reason"]) == want[:2], row
        if want[1] is None:
            assert row["text"] == want[2]
            assert row["source_id"] == want[3]
        else:
            assert row["text"] is None
            assert row["detail"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fuzz_every_format_keeps_every_record(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    nested = seed % 2 == 0
    jsonl_options = ReadOptions(text_field="meta.text" if nested else "text", batch_bytes=SMALL_BATCHES)
    flat_options = ReadOptions(batch_bytes=SMALL_BATCHES)
    corpora = [
        ("c.jsonl", *jsonl_corpus(rng, 1500, nested), jsonl_options),
        ("c.ndjson", *jsonl_corpus(rng, 300, nested), jsonl_options),
        ("c.json", *json_array_corpus(rng, 800), flat_options),
        ("c.csv", *delimited_corpus(rng, 1500, ","), flat_options),
        ("c.tsv", *delimited_corpus(rng, 800, "\t"), flat_options),
    ]
    for name, data, expected, options in corpora:
        for compression in (None, "gzip", "zstd"):
            path = compress(tmp_path / f"{compression}-{name}", data, compression)
            check(read_all(path, options), expected)


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_parquet_and_arrow(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    texts, metas, expected = [], [], []
    for row in range(1, 2001):
        roll = rng.random()
        if roll < 0.1:
            value, reason = None, "null_text"
        elif roll < 0.2:
            value, reason = rng.choice(["", "  ", "\n"]), "empty_text"
        else:
            value, reason = good_text(rng), None
        texts.append(value)
        metas.append(None if value is None and rng.random() < 0.5 else {"text": value})
        expected.append((row, reason, value, str(row)) if reason is None else (row, reason, None))
    table = pa.table({"id": list(range(1, 2001)), "text": texts, "meta": metas})
    pq.write_table(table, tmp_path / "c.parquet", row_group_size=300)
    with pa.OSFile(str(tmp_path / "stream.arrow"), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=250):
            writer.write_batch(batch)
    with pa.OSFile(str(tmp_path / "file.arrow"), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=250)
    for name in ("c.parquet", "stream.arrow", "file.arrow"):
        for field in ("text", "meta.text"):
            check(read_all(tmp_path / name, ReadOptions(text_field=field, batch_bytes=SMALL_BATCHES)), expected)


def test_csv_positions_exact_with_quoted_multiline_fields_and_bad_rows(tmp_path: Path) -> None:
    data = b'id,text\n1,"two\nlines"\n2,a,b\n3,"q ""x"""\n4\n5,"a\n\nb"\n6,x,y,z\n7,end\n'
    rows = read_all(compress(tmp_path / "p.csv", data, None), ReadOptions())
    assert [(r["source_row"], r["reason"], r["text"]) for r in rows] == [
        (1, None, "two\nlines"),
        (2, "malformed_row", None),
        (3, None, 'q "x"'),
        (4, "malformed_row", None),
        (5, None, "a\n\nb"),
        (6, "malformed_row", None),
        (7, None, "end"),
    ]
    assert rows[1]["detail"] == "expected 2 fields, got 3" and rows[1]["preview"] == "2,a,b"


# ------------------------------------------------------------------ truncated streams


def decompressed_prefix(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return zlib.decompressobj(wbits=31).decompress(data)
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_truncated_jsonl_keeps_records_before_the_cut(tmp_path: Path, compression: str) -> None:
    rng = random.Random(5)
    data = b"".join(json.dumps({"text": good_text(rng) * 3, "r": rng.random()}).encode() + b"\n" for _ in range(4000))
    whole = compress(tmp_path / "t.jsonl", data, compression)
    cut_bytes = whole.read_bytes()[: whole.stat().st_size // 2]
    cut = tmp_path / ("cut" + "".join(whole.suffixes))
    cut.write_bytes(cut_bytes)
    prefix = decompressed_prefix(cut_bytes, compression)
    assert 0 < len(prefix) < len(data)
    rows = read_all(cut, ReadOptions(batch_bytes=SMALL_BATCHES))
    complete = prefix.count(b"\n")
    assert len(rows) == complete + 1
    assert all(r["reason"] is None for r in rows[:-1])
    assert [r["text"] for r in rows[:-1]] == [json.loads(line)["text"] for line in prefix.split(b"\n")[:complete]]
    last = rows[-1]
    assert last["reason"] == "truncated_stream" and last["source_row"] == complete + 1
    assert f"{len(prefix):,} decompressed bytes" in last["detail"] and f"line {complete + 1}" in last["detail"]


@pytest.mark.parametrize("name", ["t.csv", "t.json", "t.txt"])
def test_truncated_other_text_formats_end_with_one_truncated_record(tmp_path: Path, name: str) -> None:
    rng = random.Random(6)
    texts = [good_text(rng, multiline=False) for _ in range(3000)]
    if name == "t.csv":
        data = ("id,text\n" + "".join(f'{i},"{t}"\n'.replace('"q"', '""q""') for i, t in enumerate(texts, 1))).encode()
    elif name == "t.json":
        data = json.dumps([{"text": t} for t in texts]).encode()
    else:
        data = "\n".join(texts).encode()
    whole = compress(tmp_path / name, data, "gzip")
    whole.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    rows = read_all(whole, ReadOptions(batch_bytes=SMALL_BATCHES))
    assert [r["reason"] for r in rows].count("truncated_stream") == 1
    assert rows[-1]["reason"] == "truncated_stream" and "gzip stream ended" in rows[-1]["detail"]
    if name != "t.txt":
        kept = rows[:-1]
        assert len(kept) > 100 and all(r["reason"] is None for r in kept)
        assert [r["text"] for r in kept] == texts[: len(kept)]


def test_multi_member_gzip_and_multi_frame_zstd_read_whole(tmp_path: Path) -> None:
    one, two = b'{"text": "first"}\n', b'{"text": "second"}\n'
    (tmp_path / "m.jsonl.gz").write_bytes(gzip.compress(one) + gzip.compress(two) + b"\0" * 512)
    zc = zstandard.ZstdCompressor()
    (tmp_path / "m.jsonl.zst").write_bytes(zc.compress(one) + zc.compress(two))
    for name in ("m.jsonl.gz", "m.jsonl.zst"):
        assert [r["text"] for r in read_all(tmp_path / name)] == ["first", "second"]


# ------------------------------------------------------------------ txt / md


def test_txt_policy(tmp_path: Path) -> None:
    body = "word " * 2000  # 10,000 characters: up to 10 replacements are kept
    cases = {
        "valid.txt": ("\ufeff" + body).encode(),
        "few.md": body.encode() + b"\xff\xfe" + body.encode(),
        "many.txt": b"\xff" * 50 + body.encode(),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    valid, few, many = (read_all(tmp_path / name) for name in cases)
    assert [(r["source_row"], r["reason"], r["text"], r["detail"]) for r in valid] == [(1, None, body, None)]
    assert few[0]["reason"] is None and few[0]["text"].count("\ufffd") == 2 and "2 invalid" in few[0]["detail"]
    assert many[0]["reason"] == "broken_encoding" and many[0]["text"] is None
    compress(tmp_path / "z.md", body.encode(), "zstd")
    assert read_all(tmp_path / "z.md.zst")[0]["text"] == body


def test_document_too_large_is_rejected_unread(tmp_path: Path) -> None:
    big = b"x" * 5000
    (tmp_path / "big.txt").write_bytes(big)
    compress(tmp_path / "big.md", big, "gzip")
    options = ReadOptions(max_document_bytes=1000)
    for name in ("big.txt", "big.md.gz"):
        rows = read_all(tmp_path / name, options)
        assert [(r["source_row"], r["reason"]) for r in rows] == [(1, "document_too_large")]
    lines = b'{"text": "short"}\n{"text": "' + b"y" * 3000 + b'"}\n{"text": "after"}\n'
    (tmp_path / "long.jsonl").write_bytes(lines)
    rows = read_all(tmp_path / "long.jsonl", ReadOptions(max_document_bytes=1000, batch_bytes=1024))
    assert [(r["reason"], r["text"]) for r in rows] == [(None, "short"), ("document_too_large", None), (None, "after")]


# ------------------------------------------------------------------ file-level rejects


def test_file_level_rejects(tmp_path: Path) -> None:
    def rejected(name: str, data: bytes, options: ReadOptions = ReadOptions()) -> tuple[str, str]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(FileRejected) as caught:
            read_records(path, options)
        return caught.value.reason, caught.value.detail

    table = io.BytesIO()
    pq.write_table(pa.table({"body": ["a"], "n": [1]}), table)
    assert rejected("a.docx", b"x")[0] == "unsupported_type"
    assert rejected("a.parquet.gz", b"x")[0] == "unsupported_type"
    assert rejected("noext", b"x")[0] == "unsupported_type"
    assert rejected("e.jsonl", b"")[0] == "empty_file"
    assert rejected("w.csv", b" \n\t\n")[0] == "empty_file"
    assert rejected("w.txt", b"  \n")[0] == "empty_file"
    assert rejected("b.jsonl", b'{"text": "a"}\n\x00\x01\x02')[0] == "binary_file"
    assert rejected("c.jsonl.gz", b"this is not gzip at all")[0] == "unreadable_file"
    assert rejected("c.parquet", b"PAR1 corrupt footer")[0] == "unreadable_file"
    assert rejected("h.csv", b"id,body\n1,a\n")[0] == "missing_text_field"
    assert rejected("m.parquet", table.getvalue())[0] == "missing_text_field"
    assert rejected("n.parquet", table.getvalue(), ReadOptions(text_field="n"))[0] == "non_string_text"
    assert rejected("s.json", b'"a string"')[0] == "malformed_json"
    with pytest.raises(FileRejected) as missing:
        read_records(tmp_path / "absent.jsonl", ReadOptions())
    assert missing.value.reason == "unreadable_file"


def test_empty_parquet_and_single_json_object(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "e.parquet")
    assert read_all(tmp_path / "e.parquet") == []
    (tmp_path / "o.json").write_bytes(b'{"text": "only one", "id": 9}')
    assert [(r["source_row"], r["text"], r["source_id"]) for r in read_all(tmp_path / "o.json")] == [
        (1, "only one", "9")
    ]
    (tmp_path / "a.json").write_bytes(b"[]")
    assert read_all(tmp_path / "a.json") == []


def test_detect_format() -> None:
    assert detect_format(Path("a/b.JSONL.GZ")) == ("jsonl", "gzip")
    assert detect_format(Path("x.tsv.zstd")) == ("tsv", "zstd")
    assert detect_format(Path("x.v2.ndjson")) == ("jsonl", None)
    assert detect_format(Path("data-00000-of-00001.arrow")) == ("arrow", None)


# ------------------------------------------------------------------ sources


def test_expand_source_folders_globs_and_hf_datasets(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    (tmp_path / "plain").mkdir()
    for name in ("b.txt", "a.jsonl", ".hidden.txt", "notes.docx"):
        (tmp_path / "plain" / name).write_text("x")
    (tmp_path / "plain" / ".git").mkdir()
    (tmp_path / "plain" / ".git" / "config.txt").write_text("x")
    (tmp_path / "plain" / "sub").mkdir()
    (tmp_path / "plain" / "sub" / "c.csv").write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in expand_source(str(tmp_path / "plain"))] == [
        "plain/a.jsonl",
        "plain/b.txt",
        "plain/notes.docx",
        "plain/sub/c.csv",
    ]
    assert [p.name for p in expand_source(str(tmp_path / "plain" / "*.txt"))] == ["b.txt"]
    assert expand_source(str(tmp_path / "missing.jsonl")) == []

    rows = {"id": [10, 11, 12], "meta": [{"text": "one"}, {"text": "two"}, {"text": "  "}]}
    Dataset.from_dict(rows).save_to_disk(str(tmp_path / "hf"))
    shards = expand_source(str(tmp_path / "hf"))
    assert shards and all(p.suffix == ".arrow" for p in shards)
    assert expand_source(str(tmp_path / "hf" / "*")) == shards  # a glob skips the metadata too
    records = [r for shard in shards for r in read_all(shard, ReadOptions(text_field="meta.text"))]
    assert [(r["text"], r["source_id"], r["reason"]) for r in records] == [
        ("one", "10", None),
        ("two", "11", None),
        (None, "12", "empty_text"),
    ]

    splits = DatasetDict(
        {"train": Dataset.from_dict({"text": ["t1", "t2"]}), "test": Dataset.from_dict({"text": ["s1"]})}
    )
    splits.save_to_disk(str(tmp_path / "hfdict"))
    split_order = json.loads((tmp_path / "hfdict" / "dataset_dict.json").read_text())["splits"]
    shards = expand_source(str(tmp_path / "hfdict"))
    assert [p.parent.name for p in shards] == split_order
    texts = [r["text"] for shard in shards for r in read_all(shard, ReadOptions(id_field=None))]
    expected = {"train": ["t1", "t2"], "test": ["s1"]}
    assert texts == [t for split in split_order for t in expected[split]]


# ------------------------------------------------------------------ bounded memory


def test_streaming_memory_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    line = (json.dumps({"id": 1, "text": "streaming " * 100}) + "\n").encode()
    with path.open("wb") as out:
        block = line * 2000
        while out.tell() < 200 << 20:
            out.write(block)
    size = path.stat().st_size
    child = textwrap.dedent(
        f"""
        import resource, sys
        from pathlib import Path
        from synth_pipeline.corpus.readers import ReadOptions, read_records
        small = Path({str(tmp_path / "small.jsonl")!r})
        small.write_bytes({line!r} * 10)
        list(read_records(small, ReadOptions()))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        records = sum(b.num_rows for b in read_records(Path({str(path)!r}), ReadOptions(batch_bytes=4 << 20)))
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(records, (after - before) * 1024)
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    records, growth = map(int, result.stdout.split())
    assert records == size // len(line)
    assert growth < 64 << 20, f"peak RSS grew by {growth / 2**20:.0f} MiB reading {size / 2**20:.0f} MiB"


# ------------------------------------------------------------------ the JSON line parser


def reference_record(line: bytes, path: list[str]) -> tuple[str | None, str | None]:
    """(reason, text) as Python's json module sees the line."""
    if not line.strip(b" \t\r\n"):
        return "blank_line", None
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "invalid_utf8", None
    except ValueError:
        return "malformed_json", None
    if not isinstance(value, dict):
        return "not_an_object", None
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return "missing_text_field", None
        value = value[key]
    if not isinstance(value, str):
        return "non_string_text", None
    value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")  # a lone surrogate is U+FFFD
    return ("empty_text", None) if not value.strip() else (None, value)


TRICKY_LINES = [
    b'{"text": "esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00 end"}',
    b'{"text": "a", "text": "last wins"}',
    b'{"meta": {"text": "first"}, "meta": 5}',
    b'{"meta": 5, "meta": {"text": "second"}}',
    b'{"meta": {"other": {"text": "deep"}, "text": "mine"}}',
    b'{"list": [{"text": "inside array"}], "text": "top"}',
    b'{"n": [-0, 1e5, 1.5E-3, -12.25e+2], "text": "numbers"}',
    b'{"n": 01, "text": "x"}',
    b'{"n": 1., "text": "x"}',
    b'{"n": .5, "text": "x"}',
    b'{"text": "x",}',
    b'{"text": "x"} trailing',
    b'{"text": "raw\ttab"}',
    b'{"text": "bad escape \\x"}',
    b'{"text": "short \\u12"}',
    b"{'text': 'single quotes'}",
    b'{"text": "x" "y"}',
    b'{"text": "\xc3\xa9 ok"} ',
    b'{"text": "overlong \xc0\xaf"}',
    b'{"text": "surrogate \xed\xa0\x80"}',
    b"  [1, 2]  ",
    b'"text"',
    b"true",
    b"{}",
    b'{"text": ["a"]}',
    b'{"text": {"text": "x"}}',
    b'{"text": "\\u3000\\u2028 "}',
    b'{"text": "raw \xe2\x80\xa8 U+2028, \xe2\x80\xa9 U+2029, \xc2\x85 U+0085"}',
    b'{"text":\r"bare CR between tokens"\r}',
    b'{"text": "raw CR \r inside a string"}',
    b'{"text": "\xe2\x80\xa8"}',
    b'{"te\\u0078t": "escaped key is another key"}',
    b"{",
    b'{"text": "unterminated}',
]


@pytest.mark.parametrize("field", ["text", "meta.text"])
def test_json_line_parser_agrees_with_python_json(tmp_path: Path, field: str) -> None:
    rng = random.Random(11)
    lines = list(TRICKY_LINES)
    for _ in range(3000):  # random edits of valid lines: every kind of syntax error
        value = {
            "id": rng.randint(0, 9),
            "meta": {"text": good_text(rng)},
            "text": good_text(rng),
            "x": [1, {"y": None}],
        }
        raw = bytearray(json.dumps(value, ensure_ascii=rng.random() < 0.5).encode())
        for _ in range(rng.randint(0, 2)):
            at = rng.randrange(len(raw))
            if rng.random() < 0.5:
                del raw[at]
            else:
                raw.insert(at, rng.choice(b'{}[]",:\\ 0-e.tfn\x01'))
        lines.append(bytes(raw))
    lines = [line for line in lines if b"\n" not in line]  # an inserted newline would make two lines
    (tmp_path / "t.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rows = read_all(tmp_path / "t.jsonl", ReadOptions(text_field=field, id_field=None))
    assert len(rows) == len(lines)
    path = field.split(".")
    for line, row in zip(lines, rows, strict=True):
        assert (row["reason"], row["text"]) == reference_record(line, path), line


def test_cut_inside_a_quoted_multiline_csv_field(tmp_path: Path) -> None:
    rows = [(i, f"record {i}\nsecond line, with comma\nthird") for i in range(1, 400)]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "text"])
    writer.writerows(rows)
    data = gzip.compress(buf.getvalue().encode())
    for fraction in (0.3, 0.5, 0.77, 0.9):
        path = tmp_path / f"cut{fraction}.csv.gz"
        path.write_bytes(data[: int(len(data) * fraction)])
        records = read_all(path, ReadOptions(batch_bytes=4096))
        kept, last = records[:-1], records[-1]
        assert last["reason"] == "truncated_stream" and last["source_row"] == len(kept) + 1
        assert [(r["source_row"], r["text"], r["reason"]) for r in kept] == [(i, t, None) for i, t in rows[: len(kept)]]
