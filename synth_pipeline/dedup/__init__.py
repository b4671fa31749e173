"""Near-duplicate and contamination detection for the deduplicated mix (issue 4).

* :func:`find_near_duplicates`: within a partition, against earlier partitions (persistent
  signature index), and synthetic-vs-real; see ``docs/dedup.md``.
* :func:`find_contaminated` / :func:`load_evaluation_set`: 13-gram decontamination.
"""

from synth_pipeline.dedup.decontamination import find_contaminated, load_evaluation_set
from synth_pipeline.dedup.near_duplicates import NearDuplicateResult, find_near_duplicates

__all__ = ["NearDuplicateResult", "find_contaminated", "find_near_duplicates", "load_evaluation_set"]
