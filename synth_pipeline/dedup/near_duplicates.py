"""Near-duplicate detection: one-permutation MinHash with optimal densification, LSH banding,
exact verification, deterministic survivor choice, and a persistent signature index.

Pipeline (steps 1-2 and the band keys of step 3 in compiled loops, :mod:`synth_pipeline.dedup._kernels`,
over chunks of documents on one thread per core; the rest vectorised with numpy/polars):

1. Words and 5-word shingles (see :mod:`synth_pipeline.dedup.shingles`); one 64-bit hash per
   shingle.
2. Signature: one-permutation hashing (Li, Owen & Zhang 2012), ``num_perm`` = 128 values as
   two independent sketches of 64 bins (top 6 bits of the hash pick the bin, the low 32 bits
   are the value, min per bin), then *optimal densification* (Shrivastava 2017): an empty bin
   copies the value of the first non-empty bin in a fixed pseudo-random probe sequence that
   depends only on the bin index, so two documents fill their empty bins consistently. Two
   documents' values agree in a bin with probability ~ their Jaccard similarity, as for
   128-permutation MinHash, at two hashes per shingle instead of 128.
3. LSH banding: ``bands`` x ``rows`` (25 x 5 at the default threshold 0.8, see
   :func:`choose_bands`); a pair becomes a candidate when any band agrees. Band keys are sorted
   once; within a bucket each member is paired with the first and the previous
   ``_MAX_PARTNERS`` members in priority order, so a thousand copies of one text cost linear,
   not quadratic, work.
4. Verification: candidates are verified with the *exact* Jaccard of the shingle-hash sets
   (top 32 bits of each shingle hash), so precision against exact Jaccard is 1 up to hash
   collisions. Against earlier partitions, whose text is not re-read, the index stores each
   item's 32-bit shingle hashes (all of them up to ``MAX_STORED_SHINGLES`` = 512, i.e. a
   ~500-word text; beyond that the 512 smallest, and the bottom-k estimator is used).
5. Survivors: rows are processed in input (priority) order; a row is removed when it has a
   verified partner that is kept (or an earlier-partition item). ``duplicate_of`` is the
   highest-priority kept partner (for earlier partitions: the most similar earlier item), so a
   removed item is always within the threshold of its survivor (no transitive chains).
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from synth_pipeline.dedup import _kernels
from synth_pipeline.dedup._arrays import group_starts, ragged_gather
from synth_pipeline.dedup.shingles import _mult, fmix64, shingle_hashes, token_hashes

NUM_PERM = 128
SIGNATURE_ALGORITHM = "oph-optdens-v4"
OPH_SKETCHES = 2  # two sketches from disjoint bits of one hash (the compiled loop's layout)
_MAX_PARTNERS = 32
_PROBE_ROUNDS = 64
# Signatures are computed in chunks of this many documents on WORKERS threads. The top 32 bits
# of every shingle hash are kept in memory (4 bytes per word) for exact verification.
CHUNK_DOCS = 8192
WORKERS = max(1, min(8, os.cpu_count() or 1))
# Stored per indexed item: up to this many 32-bit shingle hashes (all of a ~500-word text).
MAX_STORED_SHINGLES = 512
# Within-partition candidates whose signature estimate is this far below the threshold are
# rejected without the exact check (about 8 standard deviations of the 128-value estimate).
_EXACT_MARGIN = 0.3

REMOVAL_SCHEMA = {"item_id": pl.String, "reason": pl.String, "duplicate_of": pl.String, "similarity": pl.Float64}
PAIR_SCHEMA = {"item_id": pl.String, "other_id": pl.String, "similarity": pl.Float64, "exact": pl.Boolean}
SIGNATURE_SCHEMA = {
    "item_id": pl.String,
    "origin": pl.String,
    "minhash": pl.Binary,  # NUM_PERM little-endian uint32: the densified OPH signature
    "shingles": pl.Binary,  # little-endian uint32 shingle hashes (see _stored_sets)
    "shingles_complete": pl.Boolean,
    "params": pl.String,
}

REASON_NEAR = "near_duplicate"
REASON_SYNTH_REAL = "synthetic_copies_real"
REASON_EARLIER = "near_duplicate_earlier_partition"


@dataclass
class NearDuplicateResult:
    removals: pl.DataFrame  # item_id, reason, duplicate_of, similarity (Float64)
    signatures: pl.DataFrame  # index rows of the survivors: SIGNATURE_SCHEMA
    pairs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAIR_SCHEMA))
    # every verified pair (item_id = later/current item, other_id = the partner), for metrics


def signature_params(shingle_size: int, num_perm: int = NUM_PERM) -> str:
    """Identifies how a stored signature was computed; only equal params are comparable."""
    return f"{SIGNATURE_ALGORITHM};words=lower\\w+;xxh3;n={shingle_size};k={OPH_SKETCHES}x{num_perm // OPH_SKETCHES}"


def lsh_probability(j: float, bands: int, rows: int) -> float:
    """Probability that a pair of Jaccard ``j`` becomes an LSH candidate."""
    return 1.0 - (1.0 - j**rows) ** bands


def choose_bands(threshold: float, num_perm: int = NUM_PERM, target: float = 0.999) -> tuple[int, int]:
    """Most rows per band (fewest spurious candidates) whose candidate probability at the
    threshold is still >= ``target``; bands = num_perm // rows."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        if lsh_probability(threshold, bands, rows) >= target:
            best = (bands, rows)
    return best


# ---------------------------------------------------------------- signatures


@functools.cache
def _probe_table(num_perm: int) -> np.ndarray:
    """(rounds, num_perm) probe sequence of optimal densification; the same for every chunk."""
    j = np.arange(num_perm, dtype=np.uint64)[None, :]
    t = np.arange(1, _PROBE_ROUNDS + 1, dtype=np.uint64)[:, None]
    return (fmix64(j * np.uint64(0x9E3779B97F4A7C15) + t * np.uint64(0xD6E8FEB86659FD93)) % np.uint64(num_perm)).astype(
        np.int64
    )


def oph_signatures(sh: np.ndarray, sh_offsets: np.ndarray, num_perm: int = NUM_PERM) -> np.ndarray:
    """(n_docs, num_perm) uint32 densified one-permutation MinHash signatures.

    The ``num_perm`` values are ``OPH_SKETCHES`` independent one-permutation sketches of
    ``num_perm / OPH_SKETCHES`` bins each (bins ~ half the shingles of a typical document, so
    few bins are empty and densification is cheap). Sketch 0 takes its bin from the top 6 bits
    of the shingle hash and its value from the low 32; sketch 1 uses the disjoint bits 52-57
    (bin) and 32-51 (a 20-bit value: two different shingles tie with probability 2^-20, a
    negligible bias). Empty bins are then filled by optimal densification (module docstring)."""
    bins = num_perm // OPH_SKETCHES
    bits = int(math.log2(bins))
    if 1 << bits != bins or bins * OPH_SKETCHES != num_perm:
        raise ValueError("num_perm / OPH_SKETCHES must be a power of two")
    return _kernels.oph_signatures(
        np.ascontiguousarray(sh, dtype=np.uint64),
        np.ascontiguousarray(sh_offsets, dtype=np.int64),
        bins,
        bits,
        _probe_table(bins),
    )


@dataclass
class _Sketch:
    sig: np.ndarray  # (n, k) uint32 signatures
    has_words: np.ndarray  # (n,) bool
    sh32: np.ndarray  # flat uint32: top 32 bits of every shingle hash (with in-document repeats)
    sh_offsets: np.ndarray  # (n + 1,) int64
    keys: np.ndarray | None = None  # (n, bands) uint64 LSH band keys, if bands were given


def _sketch_chunk(texts: pl.Series, shingle_size: int, sig: np.ndarray, keys: np.ndarray | None, banding):
    """Sketch one chunk, writing its rows of ``sig`` and ``keys`` in place (in the worker
    thread); returns the chunk's 32-bit shingle hashes and shingles per text."""
    tok, off = token_hashes(texts)
    sh, sh_off = shingle_hashes(tok, off, shingle_size)
    del tok
    sig[:] = oph_signatures(sh, sh_off, sig.shape[1])
    if keys is not None:
        keys[:] = band_keys(sig, *banding)
    return (sh >> np.uint64(32)).astype(np.uint32), np.diff(sh_off)


def sketch(
    texts: pl.Series, shingle_size: int, num_perm: int = NUM_PERM, banding: tuple[int, int] | None = None
) -> _Sketch:
    """Signatures and 32-bit shingle hashes of all texts, computed in chunks of ``CHUNK_DOCS``
    on ``WORKERS`` threads (the compiled loops, numpy and polars release the GIL; chunks keep
    arrays cache-sized)."""
    n = len(texts)
    sig = np.empty((n, num_perm), dtype=np.uint32)
    keys = np.empty((n, banding[0]), dtype=np.uint64) if banding else None
    # equal chunks, a multiple of WORKERS of them, each at most CHUNK_DOCS long
    n_chunks = max(1, -(-n // CHUNK_DOCS))
    n_chunks = -(-n_chunks // WORKERS) * WORKERS if n >= 2 * WORKERS else 1
    size = max(1, -(-n // n_chunks))

    def run(lo: int):
        rows = slice(lo, lo + size)
        return _sketch_chunk(
            texts.slice(lo, size), shingle_size, sig[rows], None if keys is None else keys[rows], banding
        )

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        parts_sh, parts_len = zip(*pool.map(run, range(0, n, size)), strict=True) if n else ((), ())
    lengths = np.concatenate(parts_len) if parts_len else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    sh32 = np.concatenate(parts_sh) if parts_sh else np.zeros(0, dtype=np.uint32)
    return _Sketch(sig=sig, has_words=lengths > 0, sh32=sh32, sh_offsets=offsets, keys=keys)


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint64 band hashes."""
    mult = np.array([_mult(j) for j in range(rows)], dtype=np.uint64)
    return _kernels.band_keys(np.ascontiguousarray(sig, dtype=np.uint32), bands, rows, mult)


def estimated_jaccard(sig: np.ndarray, a: np.ndarray, b: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    other = sig if other is None else other
    out = np.empty(len(a), dtype=np.float64)
    step = 1 << 16
    for lo in range(0, len(a), step):
        out[lo : lo + step] = (sig[a[lo : lo + step]] == other[b[lo : lo + step]]).mean(axis=1)
    return out


# ---------------------------------------------------------------- candidates


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    x = np.sort(x)
    return x[group_starts(x)]


def candidate_pairs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (lo, hi), lo < hi, of rows sharing a band key. ``keys`` is (n, bands) uint64.

    Within a bucket, each row pairs with the first and the previous ``_MAX_PARTNERS`` rows."""
    n, bands = keys.shape
    # Pack (key, row) in one uint64: the key's top 64-b bits, then the row in b bits, and sort
    # once (numpy's SIMD sort): equal keys become runs ordered by row (priority). Truncating
    # the random 64-bit keys can merge different buckets with probability ~(n*bands)^2/2^(65-b):
    # such spurious candidates only cost a verification.
    row_bits = max(1, int(n - 1).bit_length())
    low = np.uint64((1 << row_bits) - 1)
    packed = keys.ravel() & ~low
    packed |= np.repeat(np.arange(n, dtype=np.uint64), bands)
    packed.sort()
    by_key = packed & ~low
    eq = by_key[1:] == by_key[:-1]
    shared = np.zeros(len(packed), dtype=bool)
    shared[1:] |= eq
    shared[:-1] |= eq
    if not shared.any():
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    flat = by_key[shared]
    rows = (packed[shared] & low).astype(np.int64)
    starts = group_starts(flat)
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(len(flat)), 0))
    rank = np.arange(len(flat)) - start_pos
    los, his = [], []
    max_rank = int(rank.max())
    for d in range(1, min(_MAX_PARTNERS, max_rank) + 1):  # previous members
        sel = np.flatnonzero(rank >= d)
        los.append(rows[sel - d])
        his.append(rows[sel])
    for q in range(0, min(_MAX_PARTNERS, max_rank)):  # first members of big buckets
        sel = np.flatnonzero(rank > q + _MAX_PARTNERS)
        if len(sel) == 0:
            break
        los.append(rows[start_pos[sel] + q])
        his.append(rows[sel])
    lo = np.concatenate(los)
    hi = np.concatenate(his)
    keep = lo != hi
    code = _sorted_unique(lo[keep].astype(np.uint64) * np.uint64(n) + hi[keep].astype(np.uint64))
    return (code // np.uint64(n)).astype(np.int64), (code % np.uint64(n)).astype(np.int64)


# ---------------------------------------------------------------- exact Jaccard


def exact_jaccard(sh32: np.ndarray, sh_offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Jaccard of the (32-bit) shingle-hash sets of documents a[i], b[i], vectorised: sort each
    involved document's hashes once, then binary-search the smaller set's in the larger's."""
    if len(a) == 0:
        return np.zeros(0, dtype=np.float64)
    docs, inv = np.unique(np.concatenate([a, b]), return_inverse=True)
    la, lb = inv[: len(a)], inv[len(a) :]
    idx, _ = ragged_gather(sh_offsets, docs)
    local = np.repeat(np.arange(len(docs), dtype=np.uint64), np.diff(sh_offsets)[docs])
    shift = np.uint64(32)
    low = np.uint64(0xFFFFFFFF)
    u = _sorted_unique((local << shift) | sh32[idx].astype(np.uint64))  # per-doc sorted distinct
    seg = np.searchsorted(u, np.arange(len(docs) + 1, dtype=np.uint64) << shift)
    size = np.diff(seg)
    swap = size[la] > size[lb]
    small = np.where(swap, lb, la)
    big = np.where(swap, la, lb)
    inter = np.zeros(len(a), dtype=np.int64)
    step = 1 << 15
    for lo in range(0, len(a), step):
        s_small, s_big = small[lo : lo + step], big[lo : lo + step]
        pidx, poff = ragged_gather(seg, s_small)
        pair = np.repeat(np.arange(len(s_small)), np.diff(poff))
        query = (s_big[pair].astype(np.uint64) << shift) | (u[pidx] & low)
        pos = np.minimum(np.searchsorted(u, query), len(u) - 1)
        inter[lo : lo + step] = np.bincount(pair, weights=(u[pos] == query), minlength=len(s_small)).astype(np.int64)
    union = size[la] + size[lb] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def bottom_k_jaccard(
    a: np.ndarray, a_complete: bool, b: np.ndarray, b_complete: bool, k: int = MAX_STORED_SHINGLES
) -> float:
    """Jaccard of two sets given as sorted distinct uint32 arrays. Exact when both are complete;
    otherwise the bottom-k estimator (Broder 1997): among the k smallest values of the union,
    the share present in both."""
    if a_complete and b_complete:
        inter = len(np.intersect1d(a, b, assume_unique=True))
        union = len(a) + len(b) - inter
        return inter / union if union else 1.0
    a, b = a[:k], b[:k]
    u = np.union1d(a, b)[:k]
    if len(u) == 0:
        return 1.0
    both = np.isin(u, a, assume_unique=True) & np.isin(u, b, assume_unique=True)
    return float(both.sum()) / len(u)


# ---------------------------------------------------------------- index (earlier partitions)


def _binary_column(flat: np.ndarray, offsets: np.ndarray) -> pl.Series:
    """A polars Binary column whose row i is the bytes of flat[offsets[i]:offsets[i+1]] (no copy
    per row: built from one buffer through Arrow)."""
    data = np.ascontiguousarray(flat).view(np.uint8)
    byte_offsets = (offsets * flat.dtype.itemsize).astype(np.int64)
    arr = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(byte_offsets), pa.py_buffer(data)]
    )
    return pl.Series(arr).cast(pl.Binary)


def _stored_sets(sk: _Sketch, rows: np.ndarray) -> tuple[pl.Series, np.ndarray]:
    """Per row (``rows`` ascending): its 32-bit shingle hashes as little-endian bytes (all of
    them, repeats included, when there are at most MAX_STORED_SHINGLES; else the
    MAX_STORED_SHINGLES smallest distinct), and whether that is the complete set."""
    off = sk.sh_offsets
    counts = off[rows + 1] - off[rows]
    is_long = counts > MAX_STORED_SHINGLES
    take = np.zeros(len(off) - 1, dtype=bool)
    take[rows[~is_long]] = True
    flat = sk.sh32[np.repeat(take, np.diff(off))]  # short rows' hashes, in row order
    new_counts = np.where(is_long, 0, counts)
    complete = np.ones(len(rows), dtype=bool)
    long_idx = np.flatnonzero(is_long)
    if len(long_idx):
        before = np.concatenate([[0], np.cumsum(new_counts)])[long_idx]  # insertion points in flat
        bottoms = [np.unique(sk.sh32[off[rows[i]] : off[rows[i] + 1]]) for i in long_idx]
        complete[long_idx] = [len(v) <= MAX_STORED_SHINGLES for v in bottoms]
        bottoms = [v[:MAX_STORED_SHINGLES] for v in bottoms]
        new_counts[long_idx] = [len(v) for v in bottoms]
        flat = np.insert(flat, np.repeat(before, [len(v) for v in bottoms]), np.concatenate(bottoms))
    new_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(new_counts, out=new_off[1:])
    return _binary_column(flat.astype("<u4", copy=False), new_off), complete


def _signatures_frame(
    item_ids: pl.Series, origins: pl.Series, sk: _Sketch, rows: np.ndarray, params: str
) -> pl.DataFrame:
    sig = np.ascontiguousarray(sk.sig[rows], dtype="<u4")  # the fancy index already copies
    k = sig.shape[1]
    minhash = _binary_column(sig.reshape(-1), np.arange(len(rows) + 1, dtype=np.int64) * k)
    sets, complete = _stored_sets(sk, rows)
    return pl.DataFrame(
        {
            "item_id": item_ids.gather(rows),
            "origin": origins.gather(rows),
            "minhash": minhash,
            "shingles": sets,
            "shingles_complete": pl.Series(complete, dtype=pl.Boolean),
            "params": pl.Series([params] * len(rows), dtype=pl.String),
        },
        schema=SIGNATURE_SCHEMA,
    )


def decode_signatures(frame: pl.DataFrame, params: str, num_perm: int = NUM_PERM) -> np.ndarray:
    if frame.height == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    bad = frame.filter(pl.col("params") != params)
    if bad.height:
        raise ValueError(
            f"{bad.height} earlier signatures were computed with {bad['params'][0]!r}, not {params!r}; "
            "keep the shingle size of the index or rebuild it from the earlier partitions' text"
        )
    arr = frame["minhash"].to_arrow()
    arr = (arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr).cast(pa.large_binary())
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    if arr.null_count or not np.all(np.diff(offsets) == 4 * num_perm):
        raise ValueError("malformed minhash blobs in earlier signatures")
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view("<u4").reshape(frame.height, num_perm).astype(np.uint32)


# ---------------------------------------------------------------- the stage


def find_near_duplicates(
    candidates: pl.DataFrame,
    *,
    threshold: float = 0.8,
    shingle_size: int = 5,
    earlier: pl.DataFrame | None = None,
) -> NearDuplicateResult:
    """Near duplicates within ``candidates`` (rows in survival-priority order) and against the
    signatures of earlier partitions. See the module docstring for the method."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    params = signature_params(shingle_size)
    n = candidates.height
    item_ids = candidates["item_id"].cast(pl.String)
    if item_ids.n_unique() != n:
        raise ValueError("item_id must be unique")
    origins = (
        candidates["origin"].cast(pl.String)
        if "origin" in candidates.columns
        else pl.Series([None] * n, dtype=pl.String)
    )
    bands, rows = choose_bands(threshold)
    sk = sketch(candidates["text"], shingle_size, banding=(bands, rows))

    if earlier is not None and earlier.height:
        earlier = earlier.filter(~pl.col("item_id").is_in(item_ids.implode()))
        order_cols = [c for c in ("partition_date", "item_id") if c in earlier.columns]
        earlier = earlier.sort(order_cols)  # the warehouse returns rows in no fixed order
        e_sig = decode_signatures(earlier, params)
        e_ids = earlier["item_id"].cast(pl.String).to_list()
        e_origin = earlier["origin"].to_list() if "origin" in earlier.columns else [None] * earlier.height
    else:
        e_sig = np.zeros((0, NUM_PERM), dtype=np.uint32)
        e_ids, e_origin = [], []
    n_e = len(e_ids)

    # LSH over earlier rows (indices 0..n_e-1) then current rows (n_e..), skipping empty texts.
    live = np.flatnonzero(sk.has_words)
    assert sk.keys is not None  # sketched with banding above
    cur_keys = sk.keys[live]
    e_live = np.zeros(0, dtype=np.int64)
    if n_e:  # only earlier rows sharing at least one band key with this partition take part
        step = 1 << 16
        e_keys = np.concatenate([band_keys(e_sig[i : i + step], bands, rows) for i in range(0, n_e, step)])
        shared = pl.Series(e_keys.ravel()).is_in(pl.Series(cur_keys.ravel()).implode()).to_numpy()
        e_live = np.flatnonzero(shared.reshape(n_e, bands).any(axis=1))
        cur_keys = np.concatenate([e_keys[e_live], cur_keys])
    all_keys = cur_keys
    global_row = np.concatenate([e_live - n_e, live])  # <0: earlier (index + n_e)
    lo, hi = candidate_pairs(all_keys)
    lo_g, hi_g = global_row[lo], global_row[hi]
    # hi is always current (earlier rows come first); drop earlier-earlier pairs
    keep = hi_g >= 0
    lo_g, hi_g, lo, hi = lo_g[keep], hi_g[keep], lo[keep], hi[keep]

    within = lo_g >= 0
    wa, wb = lo_g[within], hi_g[within]
    est_w = estimated_jaccard(sk.sig, wa, wb)
    plausible = est_w >= threshold - _EXACT_MARGIN
    wa, wb = wa[plausible], wb[plausible]
    sim_w = exact_jaccard(sk.sh32, sk.sh_offsets, wa, wb)
    ok = sim_w >= threshold - 1e-12
    wa, wb, sim_w = wa[ok], wb[ok], sim_w[ok]

    ea, eb = lo_g[~within] + n_e, hi_g[~within]  # earlier row index, current row index
    sim_e, exact_e = _verify_earlier(sk, e_sig, earlier, ea, eb, threshold)
    ok = sim_e >= threshold - 1e-12
    ea, eb, sim_e, exact_e = ea[ok], eb[ok], sim_e[ok], exact_e[ok]

    removals = _choose_survivors(n, item_ids, origins, wa, wb, sim_w, ea, eb, sim_e, e_ids, e_origin)
    surv = sk.has_words.copy()
    surv[item_ids.is_in(removals["item_id"].implode()).to_numpy()] = False
    surv_idx = np.flatnonzero(surv)
    signatures = _signatures_frame(item_ids, origins, sk, surv_idx, params)
    e_id_series = pl.Series(e_ids, dtype=pl.String)
    pairs = pl.DataFrame(
        {
            "item_id": pl.concat([item_ids.gather(wb), item_ids.gather(eb)]),
            "other_id": pl.concat([item_ids.gather(wa), e_id_series.gather(ea)]),
            "similarity": np.concatenate([sim_w, sim_e]).astype(np.float64),
            "exact": np.concatenate([np.ones(len(wa), dtype=bool), exact_e.astype(bool)]),
        },
        schema=PAIR_SCHEMA,
    )
    return NearDuplicateResult(removals=removals, signatures=signatures, pairs=pairs)


def _verify_earlier(sk, e_sig, earlier, ea, eb, threshold) -> tuple[np.ndarray, np.ndarray]:
    """Jaccard of current rows eb[i] with earlier rows ea[i]: from the stored shingle sets
    (exact, or bottom-k for long documents), or the signature estimate if none are stored."""
    if len(ea) == 0:
        return np.zeros(0), np.zeros(0, dtype=bool)
    est = estimated_jaccard(e_sig, ea, eb, other=sk.sig)
    if earlier is None or "shingles" not in earlier.columns:
        return est, np.zeros(len(ea), dtype=bool)
    sim = np.zeros(len(ea))
    exact = np.zeros(len(ea), dtype=bool)
    check = np.flatnonzero(est >= threshold - _EXACT_MARGIN)
    blobs = earlier["shingles"].gather(ea[check]).to_list()
    complete = earlier["shingles_complete"].gather(ea[check]).to_list()
    off = sk.sh_offsets
    for i, blob, comp in zip(check.tolist(), blobs, complete, strict=True):
        theirs = np.unique(np.frombuffer(blob or b"", dtype="<u4"))
        c = int(eb[i])
        ours = np.unique(sk.sh32[off[c] : off[c + 1]])
        sim[i] = bottom_k_jaccard(theirs, bool(comp), ours, True)
        exact[i] = bool(comp)
    return sim, exact


def _choose_survivors(n, item_ids, origins, wa, wb, sim_w, ea, eb, sim_e, e_ids, e_origin) -> pl.DataFrame:
    ids = item_ids.to_list()
    org = origins.to_list()
    removed: dict[int, tuple[str, str, float]] = {}
    # Earlier partitions: already in the mix, so a match always removes the current row.
    if len(ea):
        order = np.lexsort((ea, -sim_e, eb))  # per current row: most similar, then lowest index
        ea, eb, sim_e = ea[order], eb[order], sim_e[order]
        first = group_starts(eb)
        for e, c, s in zip(ea[first].tolist(), eb[first].tolist(), sim_e[first].tolist(), strict=True):
            reason = REASON_SYNTH_REAL if org[c] == "synthetic" and e_origin[e] == "real" else REASON_EARLIER
            removed[c] = (reason, e_ids[e], s)
    # Within the partition: greedy in priority order over verified pairs (lo < hi).
    if len(wa):
        order = np.lexsort((wa, wb))
        wa, wb, sim_w = wa[order], wb[order], sim_w[order]
        cur = -1
        partner: int | None = None
        partner_sim = 0.0

        def settle(c: int, p: int | None, s: float) -> None:
            if p is not None and c not in removed:
                reason = REASON_SYNTH_REAL if org[c] == "synthetic" and org[p] == "real" else REASON_NEAR
                removed[c] = (reason, ids[p], s)

        for a, b, s in zip(wa.tolist(), wb.tolist(), sim_w.tolist(), strict=True):
            if b != cur:
                settle(cur, partner, partner_sim)
                cur, partner = b, None
            if partner is None and a not in removed:
                partner, partner_sim = a, s
        settle(cur, partner, partner_sim)
    keys = sorted(removed)
    return pl.DataFrame(
        {
            "item_id": [ids[i] for i in keys],
            "reason": [removed[i][0] for i in keys],
            "duplicate_of": [removed[i][1] for i in keys],
            "similarity": [float(removed[i][2]) for i in keys],
        },
        schema=REMOVAL_SCHEMA,
    )
