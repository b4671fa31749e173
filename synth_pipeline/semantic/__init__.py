"""Offline semantic layer: embeddings from weights shipped in the ``wordllama`` wheel, Vendi score, coverage.

Dagster-free. The model never downloads: weights and tokenizer are read from the installed package.
"""

from synth_pipeline.semantic.embed import embed_texts, load_model
from synth_pipeline.semantic.scores import coverage, vendi_score, vendi_score_kernel

__all__ = ["coverage", "embed_texts", "load_model", "vendi_score", "vendi_score_kernel"]
