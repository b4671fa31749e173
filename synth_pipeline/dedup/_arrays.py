"""Small vectorised helpers over flat arrays with offsets (ragged arrays)."""

from __future__ import annotations

import numpy as np


def ragged_gather(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the flat array of the elements of ``rows`` (in that order), and new offsets."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    # index = start of its row + position within row
    idx = np.arange(total, dtype=np.int64) + np.repeat(starts - new_offsets[:-1], lengths)
    return idx, new_offsets


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask: True where a new run of equal keys begins."""
    starts = np.ones(len(sorted_keys), dtype=bool)
    if len(sorted_keys) > 1:
        starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return starts
