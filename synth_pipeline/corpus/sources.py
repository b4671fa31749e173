"""Read every configured source into documents and rejects; nothing raises, nothing is lost.

A source is ``builtin:python-docs``, a file, a folder (read recursively) or a glob.
A file that cannot be read, or a row that cannot be parsed, becomes a reject row with
its reason, so one bad file never fails a run and every input is accounted for.
"""

from __future__ import annotations

import csv
import glob
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from synth_pipeline.corpus.builtin import NAME as BUILTIN_PYTHON_DOCS
from synth_pipeline.corpus.builtin import load_builtin_python_docs

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl", ".csv", ".parquet")
DOCUMENT_SCHEMA = {"source": pl.Utf8, "source_file": pl.Utf8, "source_row": pl.Int64, "text": pl.Utf8}
REJECT_SCHEMA = {
    "source": pl.Utf8,
    "source_file": pl.Utf8,
    "source_row": pl.Int64,
    "scope": pl.Utf8,  # "file": nothing of the file was read; "row": one record
    "reason": pl.Utf8,
    "detail": pl.Utf8,
}


@dataclass
class SourceRead:
    documents: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)

    def document(self, source: str, file: str, row: int, text: str) -> None:
        self.documents.append({"source": source, "source_file": file, "source_row": row, "text": text})

    def reject(self, source: str, file: str, row: int | None, scope: str, reason: str, detail: str = "") -> None:
        self.rejects.append(
            {"source": source, "source_file": file, "source_row": row, "scope": scope, "reason": reason, "detail": detail[:500]}
        )

    def frames(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return (
            pl.DataFrame(self.documents, schema=DOCUMENT_SCHEMA),
            pl.DataFrame(self.rejects, schema=REJECT_SCHEMA),
        )


def split_sources(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def expand_source(source: str) -> list[Path]:
    """Files a path, folder or glob names, sorted so every run reads them in one order."""
    if any(ch in source for ch in "*?["):
        paths = [Path(p) for p in glob.glob(source, recursive=True)]
    else:
        path = Path(source)
        paths = sorted(path.rglob("*")) if path.is_dir() else [path]
    return sorted(p for p in paths if not p.is_dir())


def read_sources(sources: Iterable[str], text_field: str, cache_dir: Path) -> SourceRead:
    out = SourceRead()
    for source in sources:
        if source.startswith("builtin:"):
            if source != BUILTIN_PYTHON_DOCS:
                out.reject(source, source, None, "file", "unknown_builtin", f"known: {BUILTIN_PYTHON_DOCS}")
                continue
            for row in load_builtin_python_docs(cache_dir).iter_rows(named=True):
                out.document(source, row["source_file"], row["source_row"], row["text"])
            continue
        files = expand_source(source)
        if not files:
            out.reject(source, source, None, "file", "not_found", "no file matches this source")
        for path in files:
            _read_file(out, source, path, text_field)
    return out


def _read_file(out: SourceRead, source: str, path: Path, text_field: str) -> None:
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        out.reject(source, name, None, "file", "unsupported_type", f"suffix {suffix!r}; supported: {SUPPORTED_SUFFIXES}")
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        out.reject(source, name, None, "file", "unreadable_file", f"{type(exc).__name__}: {exc}")
        return
    if not data.strip():
        out.reject(source, name, None, "file", "empty_file")
        return
    if suffix == ".parquet":
        _read_parquet(out, source, name, data, text_field)
        return
    if b"\x00" in data[:8192]:
        out.reject(source, name, None, "file", "binary_file", "NUL bytes in a text file")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.reject(source, name, None, "file", "broken_encoding", f"not UTF-8: {exc}")
        return
    if suffix in (".txt", ".md"):
        out.document(source, name, 0, text)
    elif suffix == ".jsonl":
        _read_jsonl(out, source, name, text, text_field)
    else:
        _read_csv(out, source, name, text, text_field)


def _read_jsonl(out: SourceRead, source: str, name: str, text: str, text_field: str) -> None:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            out.reject(source, name, lineno, "row", "malformed_json", str(exc))
            continue
        value = record.get(text_field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            out.reject(source, name, lineno, "row", "missing_text_field", f"no string field {text_field!r}")
            continue
        out.document(source, name, lineno, value)


def _read_csv(out: SourceRead, source: str, name: str, text: str, text_field: str) -> None:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or text_field not in reader.fieldnames:
            out.reject(source, name, None, "file", "missing_text_field", f"header has no column {text_field!r}")
            return
        for rowno, record in enumerate(reader, start=1):
            value = record.get(text_field)
            if value is None or None in record:
                out.reject(source, name, rowno, "row", "malformed_row", "wrong number of fields")
                continue
            out.document(source, name, rowno, value)
    except csv.Error as exc:
        out.reject(source, name, None, "file", "unreadable_file", f"csv: {exc}")


def _read_parquet(out: SourceRead, source: str, name: str, data: bytes, text_field: str) -> None:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for corrupt files
        out.reject(source, name, None, "file", "unreadable_file", f"parquet: {exc}")
        return
    if text_field not in frame.columns:
        out.reject(source, name, None, "file", "missing_text_field", f"no column {text_field!r}")
        return
    for rowno, value in enumerate(frame.get_column(text_field).to_list(), start=1):
        if isinstance(value, str):
            out.document(source, name, rowno, value)
        else:
            out.reject(source, name, rowno, "row", "missing_text_field", "null or non-text value")
