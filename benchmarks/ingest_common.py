"""Shared by benchmarks/ingest.py and benchmarks/partition_cost.py: the corpus, the measurement, ours.

* :func:`write_corpus`: real human-written text, offline, at any size.
* :func:`measure`: one command in a fresh process; wall, CPU of the whole process tree, peak RSS.
* :func:`build_batch`: the ONE call into our ingestion (a signature change is fixed here).

Corpus recipe (documented in docs/scaling.md):

1. The pool: every docstring of >= 40 words of the installed packages and the standard
   library (read with ``ast``, nothing imported), deduplicated. Harvesting takes a minute
   or two, so the pool is cached per interpreter under ``$TMPDIR/synth-bench-pool``.
2. Document k of a corpus is pool[k % P] as written for the first P documents; after that
   (round r = k // P >= 1) its sentences are shuffled with a generator seeded by k and the
   line ``[variant r]`` is appended, so no two documents are exact duplicates while words,
   sentence lengths and vocabulary stay real.
3. Optional bad lines, inserted at positions drawn by a seeded generator, in four kinds
   taken in turn: ``malformed_json`` (a line cut in half), ``invalid_utf8`` (bytes FF FE
   inside the text string), ``missing_text_field`` (the text under another key) and
   ``empty_text`` (``"text": ""``).
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import sysconfig
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BAD_KINDS = ("malformed_json", "invalid_utf8", "missing_text_field", "empty_text")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def docstring_pool(min_words: int = 40) -> list[str]:
    roots = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]})
    key = hashlib.sha256(f"{sys.version}|{roots}|{min_words}".encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / "synth-bench-pool" / f"docstrings-{key}.jsonl"
    if cache.exists():
        with cache.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f]
    seen: dict[str, None] = {}
    for root in roots:
        for file in sorted(Path(root).rglob("*.py")):
            try:
                tree = ast.parse(file.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError, MemoryError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and len(doc.split()) >= min_words:
                        seen.setdefault(doc, None)
    pool = list(seen)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for doc in pool:
            f.write(json.dumps(doc) + "\n")
    tmp.replace(cache)
    return pool


def document(pool: list[str], k: int) -> str:
    base = pool[k % len(pool)]
    variant = k // len(pool)
    if variant == 0:
        return base
    sentences = _SENTENCE.split(base)
    random.Random(k).shuffle(sentences)
    return " ".join(sentences) + f"\n[variant {variant}]"


def _bad_line(kind: str, text: str) -> bytes:
    if kind == "malformed_json":
        line = json.dumps({"text": text}, ensure_ascii=False).encode()
        return line[: max(4, len(line) // 2)]
    if kind == "invalid_utf8":
        return (
            b'{"text": "'
            + json.dumps(text[:80], ensure_ascii=False)[1:-1].encode()
            + b"\xff\xfe "
            + json.dumps(text[80:], ensure_ascii=False)[1:].encode()
            + b"}"
        )
    if kind == "missing_text_field":
        return json.dumps({"content": text}, ensure_ascii=False).encode()
    if kind == "empty_text":
        return b'{"text": ""}'
    raise ValueError(kind)


@dataclass
class Written:
    files: list[Path]
    lines: int  # every line written, good and bad
    good: int  # lines holding a well-formed document
    bad: Counter = field(default_factory=Counter)  # bad lines by kind
    bytes_uncompressed: int = 0
    bytes_on_disk: int = 0


def write_corpus(
    out_dir: Path,
    docs: int,
    *,
    pool: list[str] | None = None,
    docs_per_shard: int | None = 10_000,
    compress: str | None = "gzip",
    bad_rate: float = 0.0,
    seed: int = 7,
) -> Written:
    """Write ``docs`` documents (plus ``bad_rate`` x docs bad lines) as JSONL shards or one file.

    ``docs_per_shard=None`` writes one file. ``compress`` is "gzip", "zstd" or None.
    """
    pool = pool if pool is not None else docstring_pool()
    out_dir.mkdir(parents=True, exist_ok=True)
    n_bad = round(docs * bad_rate)
    total = docs + n_bad
    rng = random.Random(seed)
    bad_at = dict(
        zip(sorted(rng.sample(range(total), n_bad)), (BAD_KINDS[i % len(BAD_KINDS)] for i in range(n_bad)), strict=True)
    )
    written = Written(files=[], lines=0, good=0)
    suffix = {"gzip": ".jsonl.gz", "zstd": ".jsonl.zst", None: ".jsonl"}[compress]
    handle = None
    in_shard = 0
    k = 0  # next document index

    def open_shard():
        path = out_dir / (f"part-{len(written.files):05d}{suffix}" if docs_per_shard else f"corpus{suffix}")
        written.files.append(path)
        if compress == "gzip":
            return gzip.open(path, "wb", compresslevel=6)
        if compress == "zstd":
            import zstandard

            return zstandard.ZstdCompressor(level=3).stream_writer(open(path, "wb"), closefd=True)
        return open(path, "wb", buffering=8 << 20)

    try:
        for line_no in range(total):
            if handle is None or (docs_per_shard and in_shard >= docs_per_shard):
                if handle is not None:
                    handle.close()
                handle, in_shard = open_shard(), 0
            kind = bad_at.get(line_no)
            if kind:
                data = _bad_line(kind, document(pool, line_no))
                written.bad[kind] += 1
            else:
                data = json.dumps({"id": k, "text": document(pool, k)}, ensure_ascii=False).encode()
                written.good += 1
                k += 1
            handle.write(data + b"\n")
            written.lines += 1
            in_shard += 1
            written.bytes_uncompressed += len(data) + 1
    finally:
        if handle is not None:
            handle.close()
    written.bytes_on_disk = sum(p.stat().st_size for p in written.files)
    return written


def docs_for_bytes(pool: list[str], target_bytes: int) -> int:
    """Documents whose JSONL lines add up to about ``target_bytes``."""
    sample = pool[:: max(1, len(pool) // 2000)]
    mean = sum(len(json.dumps({"id": 0, "text": t}, ensure_ascii=False).encode()) + 1 for t in sample) / len(sample)
    return max(1, round(target_bytes / mean))


def iter_lines(pool: list[str], start: int = 0) -> Iterator[bytes]:
    k = start
    while True:
        yield json.dumps({"id": k, "text": document(pool, k)}, ensure_ascii=False).encode() + b"\n"
        k += 1


# --- ours: the one call into the ingestion stage ------------------------------------------
def preload_ours() -> None:
    """Import our ingestion modules, so a timed call measures the work and not the imports."""
    import synth_pipeline.corpus.batch  # noqa: F401
    import synth_pipeline.settings  # noqa: F401
    import synth_pipeline.storage.warehouse  # noqa: F401


def build_batch(home: str | Path, sources: str, docs_per_partition: int, partition_key: str):
    """One partition of ``raw_corpus``'s batch, as the asset builds it. Returns the batch."""
    from synth_pipeline.corpus.batch import build_corpus_batch
    from synth_pipeline.settings import Settings
    from synth_pipeline.storage.warehouse import Warehouse

    settings = Settings(
        home=Path(home), corpus=sources, docs_per_partition=docs_per_partition, corpus_text_field="text"
    )
    return build_corpus_batch(settings, Warehouse(settings.warehouse_path), partition_key)


# --- measurement ----------------------------------------------------------------------------
# A fresh wrapper process per measurement makes itself the subreaper of the measured command,
# so every descendant (pool workers, fork servers) is reaped into its RUSAGE_CHILDREN: CPU
# time is the whole process tree's; ru_maxrss is the largest single process of the tree.
_WRAPPER = r"""
import ctypes, json, os, resource, subprocess, sys, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
out_path, cmd = sys.argv[1], sys.argv[2:]
t0 = time.perf_counter()
proc = subprocess.Popen(cmd)
rc = proc.wait()
wall = time.perf_counter() - t0
while True:  # reap orphaned descendants so their CPU is counted
    try:
        os.wait()
    except ChildProcessError:
        break
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out_path, "w") as f:
    json.dump({"rc": rc, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "user_s": ru.ru_utime,
               "sys_s": ru.ru_stime, "peak_rss_mib": ru.ru_maxrss / 1024}, f)
"""


def measure(
    cmd: list[str], *, env: dict | None = None, cwd: str | Path | None = None, timeout: float | None = None
) -> dict:
    """Run ``cmd`` in a fresh process; its last stdout line must be JSON (merged into the result)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rusage.json"
        stdout = Path(tmp) / "stdout"
        stderr = Path(tmp) / "stderr"
        with stdout.open("wb") as so, stderr.open("wb") as se:
            subprocess.run(
                [sys.executable, "-c", _WRAPPER, str(out), *cmd],
                env=env,
                cwd=cwd,
                stdout=so,
                stderr=se,
                timeout=timeout,
                check=False,
            )
        figures = json.loads(out.read_text()) if out.exists() else {"rc": -1}
        lines = [ln for ln in stdout.read_text(errors="replace").splitlines() if ln.startswith("{")]
        if lines:
            figures.update(json.loads(lines[-1]))
        if figures.get("rc") != 0:
            figures["stderr_tail"] = stderr.read_text(errors="replace")[-3000:]
        return figures


def code_line() -> str:
    """Which synth_pipeline the children import (PYTHONPATH may point at a pinned export)."""
    import importlib.util

    origin = Path(importlib.util.find_spec("synth_pipeline").origin).parent.parent
    commit = subprocess.run(
        ["git", "-C", str(origin), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    if not commit and (origin / "COMMIT").exists():
        commit = (origin / "COMMIT").read_text().strip()
    return f"code measured: synth_pipeline from {origin} (commit {commit or 'unknown'})"


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min; shared machine, figures taken "
        "under that load)"
    )
