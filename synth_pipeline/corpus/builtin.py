"""``builtin:python-docs``: real human-written English that ships with the interpreter.

Two parts, both written by the Python documentation's authors: the reference topics
behind ``help()`` (``pydoc_data.topics``), split into sections, and the docstrings of
the standard library's modules, classes and functions (read with ``ast``; nothing is
imported or run). No download is needed, so a fresh machine has a corpus. Parsing the
stdlib takes a few seconds, so the result is cached per interpreter version.
"""

from __future__ import annotations

import ast
import os
import platform
import re
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import polars as pl

NAME = "builtin:python-docs"
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "lib2to3", "__pycache__", "turtledemo"}
_MIN_DOCSTRING_WORDS = 40
_SECTION_WORDS = 350


def _topic_sections(topic: str, text: str) -> Iterator[dict]:
    """Split a reference topic into sections of about ``_SECTION_WORDS`` words at paragraph breaks."""
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    chunk: list[str] = []
    count = 0
    part = 0
    for para in paragraphs:
        chunk.append(para)
        count += len(para.split())
        if count >= _SECTION_WORDS:
            yield {"source_file": f"pydoc_data/topics.py#{topic}", "source_row": part, "text": "\n\n".join(chunk)}
            chunk, count, part = [], 0, part + 1
    if chunk:
        yield {"source_file": f"pydoc_data/topics.py#{topic}", "source_row": part, "text": "\n\n".join(chunk)}


def _stdlib_docstrings(root: Path) -> Iterator[dict]:
    for path in sorted(root.rglob("*.py")):
        if _SKIP_DIRS.intersection(path.relative_to(root).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc.split()) >= _MIN_DOCSTRING_WORDS:
                    yield {
                        "source_file": str(path.relative_to(root)),
                        "source_row": getattr(node, "lineno", 0),
                        "text": doc,
                    }


def load_builtin_python_docs(cache_dir: Path) -> pl.DataFrame:
    """All documents of the built-in corpus: ``source_file``, ``source_row``, ``text``."""
    cache = cache_dir / f"builtin-python-docs-{platform.python_version()}.parquet"
    if cache.exists():
        return pl.read_parquet(cache)
    from pydoc_data.topics import topics

    rows = [row for name in sorted(topics) for row in _topic_sections(name, topics[name])]
    rows.extend(_stdlib_docstrings(Path(sysconfig.get_paths()["stdlib"])))
    frame = pl.DataFrame(rows, schema={"source_file": pl.Utf8, "source_row": pl.Int64, "text": pl.Utf8})
    cache.parent.mkdir(parents=True, exist_ok=True)
    # One temporary file per process: concurrent first runs (a backfill) must not interleave writes.
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    frame.write_parquet(tmp)
    tmp.replace(cache)
    return frame
