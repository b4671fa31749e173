"""Only ``\\n`` (or ``\\r\\n``) ends a JSONL record, in every reader of JSONL files.

JSON allows U+0085, U+2028 and U+2029 raw inside strings and a bare ``\\r`` between tokens;
``str.splitlines`` breaks at all of them and text-mode files at ``\\r``, which would cut one
record in two (both halves malformed, the record lost).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synth_pipeline.corpus.readers import ReadOptions, read_records
from synth_pipeline.dedup.decontamination import load_evaluation_set

pytestmark = pytest.mark.unit

# Line boundaries of str.splitlines that JSON allows unescaped inside a string.
RAW_IN_STRINGS = ["\u0085", "\u2028", "\u2029"]


def _corpus_texts(path: Path) -> list[tuple[str | None, str | None]]:
    return [(r["text"], r["reason"]) for batch in read_records(path, ReadOptions()) for r in batch.to_pylist()]


def _write(path: Path, lines: list[bytes], eol: bytes = b"\n") -> Path:
    path.write_bytes(eol.join(lines) + eol)
    return path


def test_the_separators_are_ones_splitlines_breaks_at():
    for sep in [*RAW_IN_STRINGS, "\r"]:
        assert f"a{sep}b".splitlines() == ["a", "b"]


@pytest.mark.parametrize("sep", RAW_IN_STRINGS, ids=["U+0085", "U+2028", "U+2029"])
@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_a_raw_line_separator_inside_a_json_string_stays_in_its_record(tmp_path, sep, eol):
    middle = json.dumps({"id": "m", "text": f"first half{sep}second half"}, ensure_ascii=False).encode()
    assert sep.encode() in middle  # raw, not a \\u escape
    path = _write(
        tmp_path / "c.jsonl", [b'{"id": "a", "text": "before"}', middle, b'{"id": "z", "text": "after"}'], eol
    )

    assert _corpus_texts(path) == [("before", None), (f"first half{sep}second half", None), ("after", None)]
    assert load_evaluation_set([str(path)]) == [
        ("c.jsonl:a", "before"),
        ("c.jsonl:m", f"first half{sep}second half"),
        ("c.jsonl:z", "after"),
    ]


def test_a_bare_cr_between_tokens_does_not_end_a_record(tmp_path):
    path = _write(tmp_path / "c.jsonl", [b'{"id": "a",\r"text": "carriage return between tokens"}', b'{"text": "b"}'])
    assert _corpus_texts(path) == [("carriage return between tokens", None), ("b", None)]
    assert load_evaluation_set([str(path)]) == [("c.jsonl:a", "carriage return between tokens"), ("c.jsonl:2", "b")]
