"""Streaming record readers for every corpus format: one row per input record, none lost.

Why: the corpus can be many gigabytes, and one bad line must never cost the lines around
it. Every reader streams the file in bounded chunks (about ``batch_bytes`` of decompressed
data at a time) and yields Arrow batches of :data:`RECORD_SCHEMA`: one row per record, in
file order, ``record_no`` contiguous from 0. A record that cannot be used is still a row,
with ``text`` null and a ``reason``:

``malformed_json``, ``invalid_utf8``, ``not_an_object``, ``missing_text_field``,
``non_string_text`` (a JSON ``null`` text included), ``null_text`` (Parquet/Arrow null),
``empty_text`` (empty or whitespace only), ``blank_line`` (an empty line inside a JSONL
file; the final newline makes no record), ``malformed_row`` (CSV/TSV field count),
``truncated_stream`` (a cut gzip/zstd stream or a cut JSON array: one final row saying where
it stopped), ``document_too_large``, ``broken_encoding`` (txt/md, below). A Parquet/Arrow file
whose data breaks after some batches were read ends with one ``unreadable_file`` row.

Only when nothing of a file can be read does :func:`read_records` raise :class:`FileRejected`
(``unsupported_type``, ``empty_file``, ``binary_file``, ``unreadable_file``,
``missing_text_field``, ``non_string_text``, ``malformed_json``), before yielding anything.

Formats (:data:`SUPPORTED`): ``.jsonl``/``.ndjson``, ``.json`` (an array of objects, or one
object), ``.csv``, ``.tsv`` (quoted like CSV, as pandas and the csv module write it),
``.txt``, ``.md``/``.markdown``, each optionally ``.gz`` or ``.zst``/``.zstd``; ``.parquet``
and ``.arrow`` (IPC stream, as Hugging Face ``save_to_disk`` writes it, or IPC file),
uncompressed. A UTF-8 byte-order mark is dropped.

txt/md policy: one file is one record (``source_row`` 1). Valid UTF-8 is the text. Otherwise
the bytes are decoded with U+FFFD replacing each invalid sequence: if the replacements are at
most 0.1 % of the characters (at least 1 is always tolerated) the text is kept, with the count
in ``detail`` and no reason (the quality rule ``broken_encoding`` downstream tolerates that
share); above it the record is rejected ``broken_encoding``. A document larger than
``max_document_bytes`` is rejected ``document_too_large`` without being read; a whitespace-only
file is a file-level ``empty_file``.

JSONL hot path (:mod:`synth_pipeline.corpus._line_kernels`): one compiled pass per chunk
validates every line as UTF-8 JSON and finds the text and id values; a second copies them
(unescaped) into Arrow buffers. No Python object is made per accepted line. JSON is read
strictly (no NaN/Infinity); a lone surrogate escape becomes U+FFFD; the last of repeated keys
wins, as in Python's json.

CSV/TSV: the stream is cut into chunks at record ends (a compiled scan that follows the quoting
rules, so quoted newlines stay inside their record) and each chunk is parsed by pyarrow
natively; rows with a wrong field count come back from its invalid-row handler with their
exact number. Empty lines are not records. An unterminated quote runs to the end of the file,
as CSV defines it (after ``max_document_bytes + batch_bytes`` without a record end, the rest is
one ``malformed_row``). In CSV/TSV and .json files, bytes that are not UTF-8 are marked with
the noncharacter U+FDD0 before parsing, so only the record holding them is rejected.
"""

from __future__ import annotations

import codecs
import csv
import glob
import io
import json
import os
import zlib
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ijson
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import zstandard

from synth_pipeline.corpus._line_kernels import (
    ABSENT,
    LINE_BLANK,
    LINE_INVALID_UTF8,
    LINE_MALFORMED,
    LINE_NOT_OBJECT,
    LINE_OK,
    NULL,
    STRING,
    TYPE_NAMES,
    csv_record_end,
    gather_values,
    parse_json_lines,
)

RECORD_SCHEMA = pa.schema(
    [
        ("record_no", pa.int64()),
        ("source_row", pa.int64()),
        ("text", pa.large_string()),
        ("source_id", pa.large_string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("preview", pa.string()),
    ]
)

REASONS = (
    "malformed_json",
    "invalid_utf8",
    "not_an_object",
    "missing_text_field",
    "non_string_text",
    "null_text",
    "empty_text",
    "blank_line",
    "malformed_row",
    "truncated_stream",
    "document_too_large",
    "broken_encoding",
    "unreadable_file",
)
_CODE = {reason: code for code, reason in enumerate(REASONS)}
_REASON_DICTIONARY = pa.array(REASONS, pa.string())

# suffix -> format; compression suffixes may follow the text formats
SUPPORTED = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".parquet": "parquet",
    ".arrow": "arrow",
}
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
COLUMNAR = ("parquet", "arrow")

DETAIL_CHARS = 300
PREVIEW_CHARS = 200
_BINARY_PROBE = 8192
_COMPRESSED_READ = 1 << 20
_BOM = b"\xef\xbb\xbf"
_ASCII_SPACE = b" \t\r\n\x0b\x0c"
_REPLACEMENT_SHARE = 0.001


class FileRejected(Exception):
    """Nothing of the file can be read: one file-level reject."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail[:DETAIL_CHARS]


@dataclass(frozen=True)
class ReadOptions:
    text_field: str = "text"  # dotted path for nested fields ("meta.text"); csv/tsv: a column name
    id_field: str | None = "id"  # same rules; a missing id is not an error
    max_document_bytes: int = 16 << 20  # a txt/md document or one JSONL line larger than this is rejected unread
    batch_bytes: int = 16 << 20  # approximate decompressed bytes per batch (bounds memory)


# ---------------------------------------------------------------- files and formats


def detect_format(path: Path) -> tuple[str, str | None]:
    """(format, compression) from the suffixes; FileRejected('unsupported_type') otherwise."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression:
        suffixes = suffixes[:-1]
    fmt = SUPPORTED.get(suffixes[-1]) if suffixes else None
    supported = ", ".join(SUPPORTED) + " (text formats also with " + ", ".join(COMPRESSIONS) + ")"
    if fmt is None:
        raise FileRejected("unsupported_type", f"suffix {''.join(Path(path).suffixes)!r}; supported: {supported}")
    if compression and fmt in COLUMNAR:
        raise FileRejected("unsupported_type", f"compressed {fmt} is not supported (Parquet/Arrow compress internally)")
    return fmt, compression


def expand_source(source: str) -> list[Path]:
    """Files a path, folder (recursive) or glob names, in one stable order; hidden entries
    skipped. A Hugging Face ``save_to_disk`` folder becomes its .arrow shards in the order its
    metadata lists them (a DatasetDict: each split's shards, splits in listed order). A path
    that does not exist names no file."""
    if any(ch in source for ch in "*?["):
        matches = sorted(Path(p) for p in glob.glob(source, recursive=True))
    else:
        matches = [Path(source)] if os.path.lexists(source) else []
    files: list[Path] = []
    for match in matches:
        if match.is_dir():
            files.extend(_walk(match))
        elif not _is_hf_metadata(match):
            files.append(match)
    return list(dict.fromkeys(files))  # first occurrence of each, in order


def _walk(folder: Path) -> list[Path]:
    shards = _hf_dataset_shards(folder)
    if shards is not None:
        return shards
    out: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.startswith("."):
            continue
        out.extend(_walk(entry) if entry.is_dir() else [entry])
    return out


_HF_METADATA = ("state.json", "dataset_info.json", "dataset_dict.json")


def _is_hf_metadata(path: Path) -> bool:
    """A `datasets` metadata file (met through a glob): not a corpus file."""
    if path.name not in _HF_METADATA:
        return False
    folder = path.parent
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def _hf_dataset_shards(folder: Path) -> list[Path] | None:
    """Shards of a `datasets` save_to_disk folder (Dataset or DatasetDict), else None."""
    dict_file = folder / "dataset_dict.json"
    if dict_file.is_file():
        try:
            splits = json.loads(dict_file.read_text())["splits"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        out: list[Path] = []
        for split in splits:
            out.extend(_hf_dataset_shards(folder / split) or [])
        return out
    state_file = folder / "state.json"
    if state_file.is_file() and (folder / "dataset_info.json").is_file():
        try:
            names = [entry["filename"] for entry in json.loads(state_file.read_text())["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return [folder / name for name in names]
    return None


def read_records(path: Path, options: ReadOptions = ReadOptions()) -> Iterator[pa.RecordBatch]:
    """Stream the file's records as RECORD_SCHEMA batches. Raises FileRejected (before
    yielding anything) when nothing of the file can be read."""
    path = Path(path)
    fmt, compression = detect_format(path)
    if fmt in COLUMNAR:
        return _numbered(_read_columnar(path, fmt, options))
    stream = _ByteStream(path, compression, options.batch_bytes)
    if fmt in ("txt", "md"):
        return _numbered(_read_document(stream, options))
    head, chunks = _prime(stream)
    if fmt == "jsonl":
        return _numbered(_read_jsonl(stream, head, chunks, options))
    if fmt == "json":
        return _numbered(_read_json(stream, head, chunks, options))
    return _numbered(_read_delimited(stream, head, chunks, options, "," if fmt == "csv" else "\t"))


def _numbered(parts: Iterator[dict]) -> Iterator[pa.RecordBatch]:
    """Give each batch its record numbers; the first part is produced eagerly so a
    FileRejected raised while opening surfaces at the call."""
    record_no = 0

    def batches(first):
        nonlocal record_no
        for part in first:
            n = len(part["source_row"])
            if n == 0:
                continue
            yield _record_batch(np.arange(record_no, record_no + n, dtype=np.int64), **part)
            record_no += n

    parts = iter(parts)
    try:
        first = next(parts)
    except StopIteration:
        return iter(())
    return batches(_chain([first], parts))


def _chain(head: Iterable, rest: Iterator) -> Iterator:
    yield from head
    yield from rest


# ---------------------------------------------------------------- output rows


def _record_batch(
    record_no, source_row, text, source_id=None, reason=None, detail=None, preview=None
) -> pa.RecordBatch:
    n = len(record_no)
    if isinstance(reason, np.ndarray):  # reason codes, -1 = readable
        reason = pa.DictionaryArray.from_arrays(pa.array(reason, pa.int8(), mask=reason < 0), _REASON_DICTIONARY).cast(
            pa.string()
        )
    return pa.RecordBatch.from_arrays(
        [
            pa.array(record_no, pa.int64()),
            pa.array(source_row, pa.int64()),
            _as(text, pa.large_string(), n),
            _as(source_id, pa.large_string(), n),
            _as(reason, pa.string(), n),
            _as(detail, pa.string(), n),
            _as(preview, pa.string(), n),
        ],
        schema=RECORD_SCHEMA,
    )


def _as(values, typ: pa.DataType, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, typ)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values if values.type == typ else values.cast(typ)
    return pa.array(values, typ)


def _sparse(n: int, at: dict[int, str]) -> list | None:
    """A column that is null except at a few rows (rejects' detail and preview)."""
    if not at:
        return None
    column: list[str | None] = [None] * n
    for i, value in at.items():
        column[i] = value
    return column


def _preview(raw: bytes) -> str:
    return raw[: PREVIEW_CHARS * 4].decode("utf-8", "replace").rstrip("\r\n")[:PREVIEW_CHARS]


def _utf8_error(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} of the record is not UTF-8"
    return "not UTF-8"


def _is_blank(texts: pa.Array) -> np.ndarray:
    """Empty or whitespace-only strings (null → False)."""
    trimmed = pc.utf8_length(pc.utf8_trim_whitespace(texts))
    return pc.fill_null(pc.equal(trimmed, 0), False).to_numpy(zero_copy_only=False)


def _field_path(field: str) -> list[str]:
    parts = field.split(".")
    if not all(parts):
        raise ValueError(f"bad field path {field!r}")
    return parts


# ---------------------------------------------------------------- byte streams


class _ByteStream:
    """A file's decompressed bytes, chunk by chunk. A compressed stream that is cut or
    corrupt ends early with everything decoded before the cut, and ``cut`` says where."""

    def __init__(self, path: Path, compression: str | None, chunk_bytes: int):
        self.path = path
        self.compression = compression
        self.chunk_bytes = max(1 << 12, chunk_bytes)
        self.decompressed = 0
        self.consumed = 0
        self.cut: str | None = None

    def chunks(self) -> Generator[bytes, None, None]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115  (closed by the generator's finally)
        except OSError as exc:
            raise FileRejected("unreadable_file", f"{type(exc).__name__}: {exc}") from exc
        return self._counted(fh)

    def _counted(self, fh) -> Generator[bytes, None, None]:
        decode = {None: self._plain, "gzip": self._gzip, "zstd": self._zstd}[self.compression]
        try:
            for chunk in decode(fh):
                if chunk:
                    self.decompressed += len(chunk)
                    yield chunk
        except OSError as exc:
            self.cut = f"read error after {self.decompressed:,} bytes: {exc}"
        finally:
            fh.close()

    def _read(self, fh, size: int) -> bytes:
        data = fh.read(size)
        self.consumed += len(data)
        return data

    def _plain(self, fh) -> Iterator[bytes]:
        while data := self._read(fh, self.chunk_bytes):
            yield data

    def _stopped(self, what: str) -> str:
        return (
            f"{self.compression} stream {what} after {self.decompressed:,} decompressed bytes "
            f"({self.consumed:,} compressed bytes read)"
        )

    def _gzip(self, fh) -> Iterator[bytes]:
        decoder = zlib.decompressobj(wbits=31)
        fed = False  # has the current member had input
        while data := self._read(fh, _COMPRESSED_READ):
            while data:
                fed = True
                try:
                    out = decoder.decompress(data, self.chunk_bytes)
                except zlib.error as exc:
                    self.cut = self._stopped(f"is corrupt ({exc})")
                    return
                yield out
                data = decoder.unconsumed_tail
                if decoder.eof:  # another gzip member may follow
                    data = decoder.unused_data + data
                    if not data.strip(b"\0"):
                        data = b""  # zero padding after a member, as tape and block writers leave it
                    decoder = zlib.decompressobj(wbits=31)
                    fed = False
        if fed and not decoder.eof:
            try:
                tail = decoder.flush()
            except zlib.error:
                pass
            else:
                yield tail
            self.cut = self._stopped("ended")

    def _zstd(self, fh) -> Iterator[bytes]:
        """zstd has no output cap per call here, so input is fed in pieces sized by the ratio
        seen so far: a piece decodes to about half a chunk (highly repetitive data included)."""
        decoder = zstandard.ZstdDecompressor().decompressobj()
        fed = False
        piece = 64 << 10
        while data := self._read(fh, _COMPRESSED_READ):
            view = memoryview(data)
            while view:
                fed = True
                take = view[:piece]
                try:
                    out = decoder.decompress(take)
                except zstandard.ZstdError as exc:
                    self.cut = self._stopped(f"is corrupt ({exc})")
                    return
                ratio = max(1, len(out) // len(take))
                piece = max(256, min(_COMPRESSED_READ, self.chunk_bytes // (2 * ratio)))
                for i in range(0, len(out), self.chunk_bytes):
                    yield out[i : i + self.chunk_bytes]
                view = view[len(take) :]
                if decoder.eof:  # another zstd frame may follow
                    view = memoryview(decoder.unused_data + bytes(view))
                    decoder = zstandard.ZstdDecompressor().decompressobj()
                    fed = bool(view)
        if fed and not decoder.eof:
            self.cut = self._stopped("ended")


def _prime(stream: _ByteStream) -> tuple[bytes, Iterator[bytes]]:
    """The first bytes of a text format (BOM dropped), checked: raises FileRejected when the
    stream is unreadable, binary or holds nothing but whitespace."""
    chunks = stream.chunks()
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= _BINARY_PROBE and head.strip(_ASCII_SPACE):
            break
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    if b"\x00" in head[:_BINARY_PROBE]:
        raise FileRejected("binary_file", "NUL bytes in the first 8 KiB of a text file")
    if not head.strip(_ASCII_SPACE):
        if stream.cut:
            raise FileRejected("unreadable_file", stream.cut)
        raise FileRejected("empty_file", "the file holds no bytes" if not head else "the file holds only whitespace")
    return head, chunks


class _ChunkFile(io.RawIOBase):
    """A read-only file over a chunk iterator (for parsers that want a file object)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._buffer = memoryview(b"")
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if self.closed:
            return 0
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = memoryview(chunk)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self.position += n
        return n


# ---------------------------------------------------------------- JSONL


class _JsonlParser:
    """Parses complete JSONL lines in two compiled passes: validate + locate the fields, then
    gather (and unescape) the values into Arrow buffers. No Python object per line."""

    def __init__(self, options: ReadOptions):
        self.options = options
        paths = [_field_path(options.text_field), _field_path(options.id_field) if options.id_field else []]
        encoded = [[key.encode("utf-8") for key in path] for path in paths]
        self.keys = np.frombuffer(b"".join(b"".join(path) for path in encoded) or b"\0", dtype=np.uint8)
        depth = max(len(path) for path in encoded)
        self.key_starts = np.zeros((2, depth), dtype=np.int64)
        self.key_ends = np.zeros((2, depth), dtype=np.int64)
        at = 0
        for p, path in enumerate(encoded):
            for k, key in enumerate(path):
                self.key_starts[p, k], self.key_ends[p, k] = at, at + len(key)
                at += len(key)
        self.path_len = np.array([len(path) for path in encoded], dtype=np.int64)

    def parse(self, data: np.ndarray, first_line: int) -> dict:
        """Records of ``data`` (whole lines, the last one possibly without its newline)."""
        newlines = np.flatnonzero(data == 10)
        ends = newlines + 1
        if len(data) and data[-1] != 10:
            ends = np.append(ends, len(data))
        starts = np.concatenate([np.zeros(1, dtype=np.int64), ends.astype(np.int64)])
        n = len(ends)
        status, types, spans, escapes = parse_json_lines(
            data, starts, self.keys, self.key_starts, self.key_ends, self.path_len
        )
        too_large = np.diff(starts) > self.options.max_document_bytes
        readable = (status == LINE_OK) & ~too_large
        has_text = readable & (types[0] == STRING)
        text_bytes, text_offsets, blank = gather_values(data, has_text, spans[0], escapes[0], True)

        codes = np.full(n, -1, dtype=np.int8)
        codes[readable & (types[0] != STRING)] = _CODE["non_string_text"]
        codes[readable & (types[0] == ABSENT)] = _CODE["missing_text_field"]
        codes[has_text & blank] = _CODE["empty_text"]
        codes[status == LINE_BLANK] = _CODE["blank_line"]
        codes[status == LINE_INVALID_UTF8] = _CODE["invalid_utf8"]
        codes[status == LINE_MALFORMED] = _CODE["malformed_json"]
        codes[status == LINE_NOT_OBJECT] = _CODE["not_an_object"]
        codes[too_large] = _CODE["document_too_large"]
        text = _string_array(text_bytes, text_offsets, codes < 0)

        source_id = None
        if self.path_len[1]:
            has_id = readable & (types[1] != ABSENT) & (types[1] != NULL)
            id_bytes, id_offsets, _ = gather_values(data, has_id, spans[1], escapes[1], True)
            source_id = _string_array(id_bytes, id_offsets, has_id)

        details: dict[int, str] = {}
        previews: dict[int, str] = {}
        for i in np.flatnonzero(codes >= 0).tolist():
            line = data[starts[i] : starts[i + 1]]
            previews[i] = _preview(bytes(line[: PREVIEW_CHARS * 4 + 1]))
            details[i] = self._detail(int(codes[i]), line, int(types[0, i]))
        return {
            "source_row": np.arange(first_line, first_line + n, dtype=np.int64),
            "text": text,
            "source_id": source_id,
            "reason": codes,
            "detail": _sparse(n, details),
            "preview": _sparse(n, previews),
        }

    def _detail(self, code: int, line: np.ndarray, text_type: int) -> str:
        reason = REASONS[code]
        field = self.options.text_field
        if reason == "malformed_json":
            try:
                json.loads(bytes(line))
            except ValueError as exc:
                return f"invalid JSON: {exc}"[:DETAIL_CHARS]
            return "invalid JSON (NaN/Infinity, or nested deeper than the reader allows)"
        if reason == "invalid_utf8":
            return _utf8_error(bytes(line))
        if reason == "not_an_object":
            start = bytes(line[:64]).lstrip()[:1]
            kind = {b"[": "an array", b'"': "a string", b"t": "a boolean", b"f": "a boolean", b"n": "null"}.get(
                start, "a number"
            )
            return f"the line is {kind}, not a JSON object"
        if reason == "missing_text_field":
            return f"no field {field!r}"
        if reason == "non_string_text":
            return f"field {field!r} is {TYPE_NAMES[text_type]}, not a string"
        if reason == "empty_text":
            return f"field {field!r} is empty or whitespace only"
        if reason == "blank_line":
            return "blank line"
        return f"line of {len(line):,} bytes is larger than {self.options.max_document_bytes:,}"


def _string_array(data: np.ndarray, offsets: np.ndarray, valid: np.ndarray) -> pa.Array:
    """A large_string array over compiled-pass output, without a Python object per value."""
    return pa.LargeStringArray.from_buffers(
        len(valid), pa.py_buffer(offsets), pa.py_buffer(data), pa.py_buffer(np.packbits(valid, bitorder="little"))
    )


def _read_jsonl(stream: _ByteStream, head: bytes, chunks: Iterator[bytes], options: ReadOptions) -> Iterator[dict]:
    parser = _JsonlParser(options)
    line_no = 1
    pending: list[bytes] = []
    size = 0
    skipping = False  # inside a line larger than max_document_bytes, dropping its bytes

    def complete(buf: bytes, end: int) -> dict:
        nonlocal line_no
        part = parser.parse(np.frombuffer(buf, dtype=np.uint8, count=end), line_no)
        line_no += len(part["source_row"])
        return part

    for chunk in _chain([head], chunks):
        if skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                continue
            chunk = chunk[newline + 1 :]
            skipping = False
            if not chunk:
                continue
        pending.append(chunk)
        size += len(chunk)
        if size < options.batch_bytes // 2:  # chunks are about batch_bytes: one is enough
            continue
        buf = b"".join(pending)
        cut = buf.rfind(b"\n")
        if cut < 0:
            if size > options.max_document_bytes:
                yield _one_reject(
                    line_no,
                    "document_too_large",
                    f"line longer than {options.max_document_bytes:,} bytes, not read",
                    _preview(buf[: PREVIEW_CHARS * 4]),
                )
                line_no += 1
                pending, size, skipping = [], 0, True
            else:
                pending, size = [buf], len(buf)
            continue
        yield complete(buf, cut + 1)
        pending = [buf[cut + 1 :]]
        size = len(pending[0])
    tail = b"".join(pending)
    if stream.cut:
        end = tail.rfind(b"\n") + 1
        if end:
            yield complete(tail, end)
        detail = f"{stream.cut} (line {line_no}); the file is cut"
        yield _one_reject(line_no, "truncated_stream", detail, _preview(tail[end:]))
    elif tail and not skipping:
        yield complete(tail, len(tail))


def _one_reject(source_row: int, reason: str, detail: str, preview: str | None) -> dict:
    return {
        "source_row": [source_row],
        "text": None,
        "source_id": None,
        "reason": [reason],
        "detail": [detail[:DETAIL_CHARS]],
        "preview": [preview],
    }


# ---------------------------------------------------------------- JSON arrays

# An invalid UTF-8 sequence in a .json file becomes this noncharacter, so the parser goes on
# and only the element holding it is rejected (`invalid_utf8`) instead of the rest of the file.
_INVALID_MARK = "\ufdd0"
_MARK_ERRORS = "synth_pipeline_mark_invalid_utf8"


def _mark_invalid(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return _INVALID_MARK, exc.end


codecs.register_error(_MARK_ERRORS, _mark_invalid)


def _marked_utf8(chunks: Iterable[bytes], seen: list[bool]) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors=_MARK_ERRORS)
    for chunk in chunks:
        text = decoder.decode(chunk)
        if _INVALID_MARK in text:
            seen[0] = True
        yield text.encode("utf-8")
    text = decoder.decode(b"", final=True)
    if text:
        seen[0] = seen[0] or _INVALID_MARK in text
        yield text.encode("utf-8")


class _RowBuffer:
    """Rows built one by one (formats parsed per element), flushed as ~batch_bytes parts."""

    def __init__(self, batch_bytes: int):
        self.batch_bytes = batch_bytes
        self.clear()

    def clear(self) -> None:
        self.rows: dict[str, list] = {k: [] for k in ("source_row", "text", "source_id", "reason", "detail", "preview")}
        self.size = 0

    def add(self, source_row, text=None, source_id=None, reason=None, detail=None, preview=None) -> None:
        for key, value in zip(self.rows, (source_row, text, source_id, reason, detail, preview), strict=True):
            self.rows[key].append(value)
        self.size += len(text) if text else 64

    def full(self) -> bool:
        return self.size >= self.batch_bytes or len(self.rows["source_row"]) >= 1 << 16

    def take(self) -> dict:
        part = self.rows
        self.clear()
        return part


def _render_id(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _lookup(obj, path: list[str]):
    """(found, value) of a dotted path in nested dicts."""
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return False, None
        obj = obj[key]
    return True, obj


def _json_record(element, text_path: list[str], id_path: list[str] | None, field: str, marked: bool) -> tuple:
    """(text, source_id, reason, detail) of one parsed JSON element."""
    if marked and _INVALID_MARK in json.dumps(element, ensure_ascii=False, default=str):
        return None, None, "invalid_utf8", "the element holds bytes that are not UTF-8"
    if not isinstance(element, dict):
        return None, None, "not_an_object", f"the element is a JSON {type(element).__name__}, not an object"
    source_id = _render_id(_lookup(element, id_path)[1]) if id_path else None
    found, text = _lookup(element, text_path)
    if not found:
        return None, source_id, "missing_text_field", f"no field {field!r}"
    if not isinstance(text, str):
        kind = "null" if text is None else type(text).__name__
        return None, source_id, "non_string_text", f"field {field!r} is {kind}, not a string"
    if not text.strip():
        return None, source_id, "empty_text", f"field {field!r} is empty or whitespace only"
    return text, source_id, None, None


def _read_json(stream: _ByteStream, head: bytes, chunks: Iterator[bytes], options: ReadOptions) -> Iterator[dict]:
    start = head.lstrip(_ASCII_SPACE)[:1]
    if start not in (b"[", b"{"):
        raise FileRejected("malformed_json", "the top level of a .json file must be an array or an object")
    text_path = _field_path(options.text_field)
    id_path = _field_path(options.id_field) if options.id_field else None
    marked = [False]
    source = _ChunkFile(_marked_utf8(_chain([head], chunks), marked))
    rows = _RowBuffer(options.batch_bytes)
    element_no = 0
    error: Exception | None = None
    try:
        for element in ijson.items(source, "item" if start == b"[" else "", use_float=True):
            element_no += 1
            text, source_id, reason, detail = _json_record(element, text_path, id_path, options.text_field, marked[0])
            preview = None
            if reason:
                preview = json.dumps(element, ensure_ascii=False, default=str)[:PREVIEW_CHARS]
            rows.add(element_no, text, source_id, reason, detail, preview)
            if rows.full():
                yield rows.take()
    except (ijson.JSONError, ijson.IncompleteJSONError) as exc:
        error = exc
    if stream.cut or error is not None:
        message = " ".join(str(error).split()) if error is not None else ""
        cut = stream.cut or "premature EOF" in message
        where = stream.cut or f"parser stopped at decompressed byte {source.position:,}"
        detail = f"{where} after element {element_no}: {message}" if message else f"{where} after element {element_no}"
        rows.add(
            element_no + 1, None, None, "truncated_stream" if cut else "malformed_json", detail[:DETAIL_CHARS], None
        )
    if rows.rows["source_row"]:
        yield rows.take()


# ---------------------------------------------------------------- CSV / TSV


def _read_delimited(
    stream: _ByteStream, head: bytes, chunks: Iterator[bytes], options: ReadOptions, delimiter: str
) -> Iterator[dict]:
    """CSV/TSV in chunks cut at record boundaries (quoted newlines respected), each parsed by
    pyarrow natively and synchronously, so a bad row's number in its chunk is exact."""
    delim = ord(delimiter)
    header_end = csv_record_end(np.frombuffer(head, dtype=np.uint8), delim, ord('"'), True)
    header_bytes = head if header_end < 0 else head[:header_end]
    try:
        header = next(csv.reader(io.StringIO(header_bytes.decode("utf-8", "replace"), newline=""), delimiter=delimiter))
    except (StopIteration, csv.Error) as exc:
        raise FileRejected("unreadable_file", f"no header row: {exc}") from exc
    text_column = options.text_field
    if text_column not in header:
        raise FileRejected("missing_text_field", f"the header has no column {text_column!r}")
    id_column = options.id_field if options.id_field in header and options.id_field != text_column else None
    columns = [text_column] + ([id_column] if id_column else [])
    header = [name if name in columns else f"column {i}" for i, name in enumerate(header)]  # unique names
    marked = [False]  # invalid UTF-8 arrives as _INVALID_MARK: pyarrow wants UTF-8 even in a bad row
    body = _marked_utf8(_chain([head[len(header_bytes) :]], chunks), marked)
    limit = options.max_document_bytes + options.batch_bytes
    placed = 0  # data records so far
    pending: list[bytes] = []
    size = 0
    carry = b""
    for chunk in body:
        pending.append(chunk)
        size += len(chunk)
        if size < options.batch_bytes // 2:  # chunks are about batch_bytes: one is enough
            continue
        buf = b"".join(pending)
        pending, size = [buf], len(buf)
        end = csv_record_end(np.frombuffer(buf, dtype=np.uint8), delim, ord('"'), False)
        if end < 0:
            if len(buf) > limit:
                yield _one_reject(
                    placed + 1,
                    "malformed_row",
                    f"no record ends within {limit:,} bytes (an unbalanced quote?); the rest of the file is not read",
                    _preview(buf),
                )
                return
            continue
        part = _parse_csv_chunk(buf[:end], header, delimiter, columns, text_column, id_column, placed, marked[0])
        placed += len(part["source_row"])
        yield part
        pending = [buf[end:]]
        size = len(pending[0])
    carry = b"".join(pending)
    if stream.cut:
        detail = f"{stream.cut} (data record {placed + 1}); the file is cut"
        end = csv_record_end(np.frombuffer(carry, dtype=np.uint8), delim, ord('"'), False)
        if end > 0:
            part = _parse_csv_chunk(carry[:end], header, delimiter, columns, text_column, id_column, placed, marked[0])
            placed += len(part["source_row"])
            yield part
            carry = carry[end:]
        yield _one_reject(placed + 1, "truncated_stream", detail, _preview(carry) if carry else None)
    elif carry.strip(_ASCII_SPACE):
        yield _parse_csv_chunk(carry, header, delimiter, columns, text_column, id_column, placed, marked[0])


def _parse_csv_chunk(
    data: bytes,
    header: list[str],
    delimiter: str,
    columns: list[str],
    text_column: str,
    id_column: str | None,
    placed: int,
    marked: bool,
) -> dict:
    """The records of whole CSV rows (no header): good rows and rows with a wrong field count,
    numbered from ``placed + 1`` in file order."""
    bad: list[tuple[int, str, str]] = []

    def on_invalid_row(row) -> str:
        detail = f"expected {row.expected_columns} fields, got {row.actual_columns}"
        bad.append((placed + row.number, (row.text or "")[:PREVIEW_CHARS].replace(_INVALID_MARK, "\ufffd"), detail))
        return "skip"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                use_threads=False, column_names=header, block_size=max(1 << 20, len(data) + 1)
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns, column_types={c: pa.large_string() for c in columns}
            ),
        )
    except pa.ArrowException as exc:  # the chunk cannot be split into rows at all
        return _one_reject(
            placed + 1, "malformed_row", f"rows after data record {placed} cannot be parsed: {exc}", _preview(data)
        )
    k = table.num_rows
    bad_numbers = np.array([number for number, _, _ in bad], dtype=np.int64)
    candidates = np.arange(placed + 1, placed + 1 + k + len(bad), dtype=np.int64)
    good_numbers = candidates[~np.isin(candidates, bad_numbers)]
    text = table.column(text_column).combine_chunks()
    source_id = table.column(id_column).combine_chunks() if id_column else None
    codes = np.full(k, -1, dtype=np.int8)
    codes[_is_blank(text)] = _CODE["empty_text"]
    if marked:
        for column in (text, source_id):
            if column is not None:
                holds_mark = pc.fill_null(pc.match_substring(column, _INVALID_MARK), False)
                codes[holds_mark.to_numpy(zero_copy_only=False)] = _CODE["invalid_utf8"]
    details: dict[int, str] = {}
    previews: dict[int, str] = {}
    for i in np.flatnonzero(codes >= 0).tolist():
        value = text[i].as_py() or ""
        if codes[i] == _CODE["invalid_utf8"]:
            where = "text" if _INVALID_MARK in value else "id"
            details[i] = f"the {where} field holds bytes that are not UTF-8"
        else:
            details[i] = f"column {text_column!r} is empty or whitespace only"
        previews[i] = value[:PREVIEW_CHARS].replace(_INVALID_MARK, "\ufffd")
    if details:
        text = pc.if_else(pa.array(codes < 0), text, pa.scalar(None, pa.large_string()))
        if source_id is not None:
            readable_id = pa.array(codes != _CODE["invalid_utf8"])
            source_id = pc.if_else(readable_id, source_id, pa.scalar(None, pa.large_string()))
    good = {
        "source_row": good_numbers,
        "text": text,
        "source_id": source_id,
        "reason": codes,
        "detail": _sparse(k, details),
        "preview": _sparse(k, previews),
    }
    if not bad:
        return good
    return _merge_by_row(_record_batch(np.zeros(k, np.int64), **good), _bad_rows_part(bad))


def _bad_rows_part(rows: list[tuple[int, str, str]]) -> dict:
    return {
        "source_row": [number for number, _, _ in rows],
        "text": None,
        "source_id": None,
        "reason": ["malformed_row"] * len(rows),
        "detail": [detail for _, _, detail in rows],
        "preview": [preview for _, preview, _ in rows],
    }


def _merge_by_row(good: pa.RecordBatch, bad_part: dict) -> dict:
    bad = _record_batch(np.zeros(len(bad_part["source_row"]), np.int64), **bad_part)
    table = pa.Table.from_batches([good, bad]).combine_chunks()
    table = table.take(pc.sort_indices(table, [("source_row", "ascending")]))
    return {name: table.column(name) for name in RECORD_SCHEMA.names if name != "record_no"}


# ---------------------------------------------------------------- txt / md


def _read_document(stream: _ByteStream, options: ReadOptions) -> Iterator[dict]:
    limit = options.max_document_bytes
    size = None
    if stream.compression is None:
        try:
            size = stream.path.stat().st_size
        except OSError as exc:
            raise FileRejected("unreadable_file", f"{type(exc).__name__}: {exc}") from exc
    chunks = stream.chunks()
    parts: list[bytes] = []
    total = 0
    for chunk in chunks:
        parts.append(chunk)
        total += len(chunk)
        if total > limit or (size is not None and size > limit and total >= _BINARY_PROBE):
            break
    chunks.close()
    data = b"".join(parts)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if b"\x00" in data[:_BINARY_PROBE]:
        raise FileRejected("binary_file", "NUL bytes in the first 8 KiB of a text file")
    if total > limit or (size is not None and size > limit):
        what = f"{size:,} bytes" if size is not None else f"more than {limit:,} decompressed bytes"
        yield _one_reject(
            1, "document_too_large", f"document of {what} is larger than {limit:,}; not read", _preview(data)
        )
        return
    text = data.decode("utf-8", "replace")
    if not text.strip():
        if stream.cut:
            raise FileRejected("unreadable_file", stream.cut)
        raise FileRejected("empty_file", "the file holds no bytes" if not data else "the file holds only whitespace")
    if stream.cut:
        yield _one_reject(1, "truncated_stream", f"{stream.cut}; the file is cut", _preview(data))
        return
    replaced = text.count("\ufffd") - data.count("\ufffd".encode())
    if replaced == 0:
        yield {"source_row": [1], "text": [text], "source_id": None, "reason": None, "detail": None, "preview": None}
        return
    detail = f"{replaced:,} invalid byte sequences replaced with U+FFFD"
    if replaced <= max(1, _REPLACEMENT_SHARE * len(text)):
        yield {
            "source_row": [1],
            "text": [text],
            "source_id": None,
            "reason": None,
            "detail": [detail],
            "preview": None,
        }
    else:
        share = f"{replaced:,} of {len(text):,} characters ({replaced / len(text):.2%}) are U+FFFD for invalid bytes"
        yield _one_reject(1, "broken_encoding", f"{share}; at most 0.1% is kept", _preview(data))


# ---------------------------------------------------------------- Parquet / Arrow


def _is_string_like(typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)


def _schema_path(schema: pa.Schema, field: str) -> tuple[list[str], pa.DataType] | None:
    """The column path of a (possibly dotted) field name, and its type; None if absent."""
    if field in schema.names:
        return [field], schema.field(field).type
    path = field.split(".")
    if path[0] not in schema.names:
        return None
    typ = schema.field(path[0]).type
    for key in path[1:]:
        if not pa.types.is_struct(typ) or typ.get_field_index(key) < 0:
            return None
        typ = typ.field(key).type
    return path, typ


def _column(batch: pa.RecordBatch, path: list[str]) -> pa.Array:
    array = batch.column(path[0])
    for key in path[1:]:
        array = pc.struct_field(array, key)  # a null parent makes the child null
    return array


def _ids_as_strings(array: pa.Array) -> pa.Array:
    try:
        return array.cast(pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([_render_id(v) for v in array.to_pylist()], pa.large_string())


def _open_columnar(path: Path, fmt: str):
    """(schema, batch iterator factory) of a Parquet or Arrow IPC file."""
    if fmt == "parquet":
        parquet = pq.ParquetFile(path)
        meta = parquet.metadata
        rows = max(1, meta.num_rows)
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))

        def batches(columns: list[str], batch_bytes: int) -> Iterator[pa.RecordBatch]:
            per_batch = int(min(1 << 20, max(1, batch_bytes * rows // max(1, size))))
            return parquet.iter_batches(batch_size=per_batch, columns=columns, use_threads=False)

        return parquet.schema_arrow, batches
    source = pa.memory_map(str(path))
    try:
        reader = pa.ipc.open_stream(source)
        return reader.schema, lambda columns, batch_bytes: iter(reader)
    except pa.ArrowInvalid:
        reader = pa.ipc.open_file(source)
        return reader.schema, lambda columns, batch_bytes: (
            reader.get_batch(i) for i in range(reader.num_record_batches)
        )


def _read_columnar(path: Path, fmt: str, options: ReadOptions) -> Iterator[dict]:
    try:
        schema, batches = _open_columnar(path, fmt)
    except (pa.ArrowException, OSError) as exc:
        raise FileRejected("unreadable_file", f"{type(exc).__name__}: {exc}") from exc
    text = _schema_path(schema, options.text_field)
    if text is None:
        raise FileRejected("missing_text_field", f"no column {options.text_field!r} in the {fmt} schema")
    text_path, text_type = text
    if not _is_string_like(text_type):
        raise FileRejected("non_string_text", f"column {options.text_field!r} is {text_type}, not a string")
    found_id = _schema_path(schema, options.id_field) if options.id_field else None
    id_path = found_id[0] if found_id else None
    columns = list(dict.fromkeys([text_path[0]] + ([id_path[0]] if id_path else [])))
    row = 0
    try:
        for batch in batches(columns, options.batch_bytes):
            k = batch.num_rows
            texts = _column(batch, text_path).cast(pa.large_string())
            codes = np.full(k, -1, dtype=np.int8)
            codes[_is_blank(texts)] = _CODE["empty_text"]
            codes[pc.is_null(texts).to_numpy(zero_copy_only=False)] = _CODE["null_text"]
            rejected = np.flatnonzero(codes >= 0).tolist()
            details = {
                i: f"column {options.text_field!r} is "
                + ("null" if codes[i] == _CODE["null_text"] else "empty or whitespace only")
                for i in rejected
            }
            if rejected:
                texts = pc.if_else(pa.array(codes < 0), texts, pa.scalar(None, pa.large_string()))
            yield {
                "source_row": np.arange(row + 1, row + 1 + k, dtype=np.int64),
                "text": texts,
                "source_id": _ids_as_strings(_column(batch, id_path)) if id_path else None,
                "reason": codes,
                "detail": _sparse(k, details),
                "preview": None,
            }
            row += k
    except (pa.ArrowException, OSError) as exc:
        yield _one_reject(row + 1, "unreadable_file", f"the file cannot be read past row {row}: {exc}", None)
