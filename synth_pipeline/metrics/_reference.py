"""Access to the reference implementations, for the tests and ``benchmarks/metrics.py``.

Not used at run time. ``diversity`` (Shaib et al., PyPI ``diversity``) imports spaCy,
transformers and sentence-transformers from its package ``__init__`` although the three
lexical functions we compare with need none of them (only ``nltk.ngrams``, which needs
no NLTK data download). We therefore register an empty parent package pointing at the
installed directory and import just the submodules ``compression``,
``ngram_diversity`` and ``self_repetition``; their code runs unmodified.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path


def load_diversity() -> types.SimpleNamespace | None:
    """The reference functions, or None when the ``diversity`` package is not installed."""
    spec = importlib.util.find_spec("diversity")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    if "diversity" not in sys.modules:
        stub = types.ModuleType("diversity")
        stub.__path__ = [str(pkg_dir)]
        sys.modules["diversity"] = stub
    compression = importlib.import_module("diversity.compression")
    ngram = importlib.import_module("diversity.ngram_diversity")
    selfrep = importlib.import_module("diversity.self_repetition")
    return types.SimpleNamespace(
        compression_ratio=compression.compression_ratio,
        ngram_diversity_score=ngram.ngram_diversity_score,
        self_repetition_score=selfrep.self_repetition_score,
    )
