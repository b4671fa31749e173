"""Decontamination: exclude candidates that share long word n-grams with an evaluation set.

Follows the GPT-3 paper (Brown et al. 2020, appendix C): a training document is contaminated
when it shares at least one 13-gram with an evaluation example. Words are the same as for
near-duplicate detection (lowercase, ``\\w+`` runs: :mod:`synth_pipeline.dedup.shingles`), so
punctuation, case and whitespace differences do not hide an overlap. An n-gram is identified by
a 64-bit hash of its words (false matches have probability ~ 2^-64 per comparison).

Texts (candidate or evaluation) with fewer than ``n`` words have no n-grams and never match.

``similarity`` in the result is the *share* of the candidate's distinct n-grams that also
occur in the evaluation example it is charged to (``duplicate_of``: the example with the most
shared n-grams, ties broken by evaluation-set order). The number of shared n-grams is
``overlap`` (an extra column, only with ``with_overlap=True``).
"""

from __future__ import annotations

import glob
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from synth_pipeline.dedup.shingles import shingle_hashes, token_hashes

DEFAULT_N = 13
CHUNK_DOCS = 8192
WORKERS = max(1, min(8, os.cpu_count() or 1))
REASON_CONTAMINATED = "contaminated"
RESULT_SCHEMA = pl.Schema(
    {"item_id": pl.String, "reason": pl.String, "duplicate_of": pl.String, "similarity": pl.Float64}
)
TEXT_FIELDS = ("text", "content", "question", "prompt", "input")
ID_FIELDS = ("eval_id", "id", "uid", "qid")


def _expand(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        raw = os.path.expanduser(str(raw).strip())
        if not raw:
            continue
        matches = sorted(glob.glob(raw, recursive=True)) if any(c in raw for c in "*?[") else [raw]
        for m in matches:
            p = Path(m)
            if p.is_dir():
                out.extend(sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in _READERS))
            elif p.exists():
                out.append(p)
            else:
                raise FileNotFoundError(f"evaluation set path not found: {raw}")
    return out


def _read_text(p: Path, skipped: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
    """Plain text / Markdown: one example per blank-line separated block."""
    text = p.read_text(encoding="utf-8", errors="replace")
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    return [(f"{p.name}#{i}", b) for i, b in enumerate(blocks) if b]


def _pick(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lower = {c.lower(): c for c in columns}
    return next((lower[w] for w in wanted if w in lower), None)


def _read_jsonl(p: Path, skipped: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    # Only "\n" ends a record: text mode would also end one at a bare "\r", which JSON allows
    # between tokens, and str.splitlines at U+2028 and others, which JSON allows inside strings.
    with p.open("rb") as fh:
        for line_no, raw in enumerate(fh, 1):
            line = raw.decode("utf-8", errors="replace").strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                skipped.append((p.name, line_no, f"malformed_json: {exc.msg}"))
                continue  # nothing to match against; said, never silent
            if isinstance(rec, str):
                rec = {"text": rec}
            if not isinstance(rec, dict):
                skipped.append((p.name, line_no, f"not_an_object: {type(rec).__name__}"))
                continue
            key = _pick(list(rec), TEXT_FIELDS)
            text = rec.get(key) if key else None
            if not isinstance(text, str):  # no text field: every string value of the record
                text = "\n".join(v for v in rec.values() if isinstance(v, str))
            id_key = _pick(list(rec), ID_FIELDS)
            eid = f"{p.name}:{rec[id_key]}" if id_key else f"{p.name}:{line_no}"
            if text.strip():
                out.append((eid, text))
    return out


def _read_table(p: Path, skipped: list[tuple[str, int, str]]) -> list[tuple[str, str]]:
    df = pl.read_parquet(p) if p.suffix.lower() == ".parquet" else pl.read_csv(p, infer_schema=False)
    text_col = _pick(df.columns, TEXT_FIELDS) or next((c for c, t in df.schema.items() if t == pl.String), None)
    if text_col is None:
        raise ValueError(f"{p}: no text column")
    id_col = _pick(df.columns, ID_FIELDS)
    ids = df[id_col].cast(pl.String).to_list() if id_col else [str(i) for i in range(df.height)]
    texts = df[text_col].cast(pl.String).to_list()
    return [(f"{p.name}:{i}", t) for i, t in zip(ids, texts, strict=True) if t and t.strip()]


_READERS = {".txt": _read_text, ".md": _read_text, ".jsonl": _read_jsonl, ".csv": _read_table, ".parquet": _read_table}


def load_evaluation_set(
    paths: list[str] | str, skipped: list[tuple[str, int, str]] | None = None
) -> list[tuple[str, str]]:
    """(eval_id, text) pairs from files, directories or globs (``SYNTH_DECONTAMINATE``).

    ``.txt``/``.md``: one example per blank-line separated block, id ``name#k``;
    ``.jsonl``: field ``text`` (else content/question/prompt/input, else all string values),
    id ``name:<id field or line number>``; ``.csv``/``.parquet``: column ``text`` (else the
    first string column), id ``name:<id column or row number>``. A string is split on
    ``os.pathsep`` and commas. A JSONL line that cannot be read is left out and, when
    ``skipped`` is given, appended to it as (file, line, reason), so the caller can say so
    (text and table readers read every block or row and leave it untouched)."""
    if isinstance(paths, str):
        paths = [q for part in paths.split(os.pathsep) for q in part.split(",")]
    out: list[tuple[str, str]] = []
    unread: list[tuple[str, int, str]] = [] if skipped is None else skipped
    for p in _expand(paths):
        reader = _READERS.get(p.suffix.lower())
        if reader is None:
            raise ValueError(f"unsupported evaluation file type: {p}")
        out.extend(reader(p, unread))
    return out


def ngram_hashes(texts: list[str] | pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of all word n-grams (none for texts shorter than n words), with offsets."""
    series = texts if isinstance(texts, pl.Series) else pl.Series(list(texts), dtype=pl.String)
    tok, off = token_hashes(series)
    return shingle_hashes(tok, off, n, whole_short=False)


def _chunk_hits(texts: pl.Series, lo: int, n: int, eval_sorted: np.ndarray) -> tuple[pl.DataFrame, pl.DataFrame]:
    """For one chunk of candidates: distinct (doc, n-gram hash) pairs whose n-gram is in the
    evaluation set, and the number of distinct n-grams of each such doc."""
    ch, coff = ngram_hashes(texts, n)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(coff))
    if len(eval_sorted) == 0 or len(ch) == 0:
        return pl.DataFrame(schema={"doc": pl.Int64, "h": pl.UInt64}), pl.DataFrame(
            schema={"doc": pl.Int64, "total": pl.UInt32}
        )
    pos = np.minimum(np.searchsorted(eval_sorted, ch), len(eval_sorted) - 1)
    hit = eval_sorted[pos] == ch
    hit_docs = np.unique(doc[hit])
    in_hit_doc = np.isin(doc, hit_docs)
    grams = pl.DataFrame({"doc": doc[in_hit_doc] + lo, "h": ch[in_hit_doc]})
    totals = grams.group_by("doc").agg(pl.col("h").n_unique().alias("total"))
    return grams.filter(pl.col("h").is_in(pl.Series(eval_sorted).implode())).unique(), totals


def find_contaminated(
    candidates: pl.DataFrame,
    evaluation: list[tuple[str, str]],
    *,
    n: int = DEFAULT_N,
    min_overlap: int = 1,
    with_overlap: bool = False,
) -> pl.DataFrame:
    """Candidates sharing at least ``min_overlap`` distinct word n-grams with an evaluation
    example: item_id, reason='contaminated', duplicate_of=eval_id, similarity (share of the
    candidate's distinct n-grams found in that example), and overlap (their count) if
    ``with_overlap``. Candidates are processed in chunks on two threads; only the n-grams of
    candidates with a hit are kept."""
    schema = pl.Schema({**RESULT_SCHEMA, "overlap": pl.Int64()}) if with_overlap else RESULT_SCHEMA
    empty = pl.DataFrame(schema=schema)
    if not evaluation or candidates.height == 0:
        return empty
    eval_ids = [e for e, _ in evaluation]
    eh, eoff = ngram_hashes([t for _, t in evaluation], n)
    if len(eh) == 0:
        return empty
    ev = pl.DataFrame({"h": eh, "ev": np.repeat(np.arange(len(evaluation), dtype=np.int64), np.diff(eoff))}).unique()
    eval_sorted = np.unique(eh)
    texts = candidates["text"].cast(pl.String).fill_null("")
    starts = list(range(0, candidates.height, CHUNK_DOCS))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        parts = list(pool.map(lambda lo: _chunk_hits(texts.slice(lo, CHUNK_DOCS), lo, n, eval_sorted), starts))
    cand = pl.concat([p[0] for p in parts])
    totals = pl.concat([p[1] for p in parts])
    hits = (
        cand.join(ev, on="h")
        .group_by("doc", "ev")
        .agg(pl.len().alias("overlap"))
        .filter(pl.col("overlap") >= min_overlap)
        .sort(["doc", "overlap", "ev"], descending=[False, True, False])
        .unique("doc", keep="first", maintain_order=True)
        .join(totals, on="doc")
        .sort("doc")
    )
    if hits.height == 0:
        return empty
    ids = candidates["item_id"].cast(pl.String)
    out = pl.DataFrame(
        {
            "item_id": ids.gather(hits["doc"]),
            "reason": [REASON_CONTAMINATED] * hits.height,
            "duplicate_of": [eval_ids[i] for i in hits["ev"].to_list()],
            "similarity": (hits["overlap"] / hits["total"]).cast(pl.Float64),
            "overlap": hits["overlap"].cast(pl.Int64),
        }
    )
    return out.select(list(schema)).cast(schema)
