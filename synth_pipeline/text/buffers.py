"""Zero-copy access to a polars String column as the UTF-8 bytes and offsets that compiled
loops (numba) read."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa


def utf8_buffers(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 bytes, int64 offsets into them, len(texts) + 1) of a String series; nulls read
    as empty strings."""
    arr = texts.cast(pl.String).fill_null("").rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(1, dtype=np.uint8)
    return data, offsets
