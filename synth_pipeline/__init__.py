"""synth_pipeline: a safe, measured mix of real and LLM-generated training data."""

__version__ = "0.1.0"
