"""Embeddings from the WordLlama weights inside the PyPI wheel (MIT licence), never from a hub."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=1)
def load_model(dim: int = 256) -> Any:
    """Load the shipped model with downloads disabled.

    ``cache_dir`` points at the installed package: wordllama 0.4.0.post1 looks for the tokenizer under
    ``<pkg>/tokenizer/`` in its project-root branch but ships it under ``<pkg>/tokenizers/``, which its cache
    branch finds.
    """
    import wordllama  # type: ignore[import-untyped]
    from wordllama import WordLlama

    pkg = Path(wordllama.__file__).parent
    return WordLlama.load(dim=dim, cache_dir=pkg, disable_download=True)


def embed_texts(texts: Sequence[str], dim: int = 256) -> np.ndarray:
    """Unit-norm float32 embeddings, one row per text (empty input gives a 0×dim array)."""
    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    emb = np.asarray(load_model(dim).embed(list(texts), norm=True), dtype=np.float32)
    return emb
