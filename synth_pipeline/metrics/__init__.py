"""Quality metrics of synthetic vs real text: diversity, drift, bias, leakage.

Every function takes plain lists of strings and returns plain floats or polars
DataFrames; the report assets store them in ``synth.quality_metrics`` under the names
documented in ``docs/metrics.md``.
"""

from .diversity import diversity_metrics

__all__ = ["diversity_metrics"]
