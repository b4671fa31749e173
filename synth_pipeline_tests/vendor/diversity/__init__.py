"""Three reference functions of ``diversity`` 0.3.1 (Shaib et al., PyPI ``diversity``), Apache-2.0.

Why vendored: the published package imports spaCy, transformers and sentence-transformers from
its ``__init__`` and declares them (and torch through them) as dependencies, although
``compression_ratio``, ``ngram_diversity_score`` and ``self_repetition_score`` need only
``nltk.ngrams``, numpy and tqdm. The three modules here are byte-identical to the files of the
published wheel (``PUBLISHED_SHA256``, from its ``RECORD``; a test checks them); this
``__init__`` is ours and replaces the package's. Licence: ``LICENSE.md``, copied from the
wheel's metadata.
"""

from synth_pipeline_tests.vendor.diversity.compression import compression_ratio
from synth_pipeline_tests.vendor.diversity.ngram_diversity import ngram_diversity_score
from synth_pipeline_tests.vendor.diversity.self_repetition import self_repetition_score

VERSION = "0.3.1"
# urlsafe-base64 SHA-256 of each file, as the wheel diversity-0.3.1-py3-none-any.whl lists them.
PUBLISHED_SHA256 = {
    "compression.py": "75mnCgBGZ7096M16T1Ek_9S56tyYisEAnAjcF92VE_4",
    "ngram_diversity.py": "6Bhhl0N3u12vHdEQwKfCNpNTLJa9-KlyM9Dj0ddBti0",
    "self_repetition.py": "S2LFaxS9pBfxNFV1m0HrnIGdqEX5nc9qTeyevr756OA",
    "LICENSE.md": "z8d0m5b2O9McPEK1xHG_dWgUBT6EfBDz6wA0F7xSPTA",
}

__all__ = ["PUBLISHED_SHA256", "VERSION", "compression_ratio", "ngram_diversity_score", "self_repetition_score"]
