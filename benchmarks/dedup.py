"""Near-duplicate detection benchmark: this project's stage vs rensa vs datasketch, one run.

    .venv/bin/python benchmarks/dedup.py                 # 100k docs, datasketch on 10k
    .venv/bin/python benchmarks/dedup.py --docs 20000 --repeats 1   # quick look

What it does, on the same input for every method:

1. Builds a seeded corpus (``synth_pipeline/dedup/planted.py``) of ``--docs`` documents of ~130
   words with planted near-duplicate families (word edits at controlled Jaccard levels), and
   writes it to a temporary Parquet file. The generated text is ASCII; ``--non-ascii SHARE``
   turns a share of the documents into non-ASCII text with the same words (a no-break space),
   which this project's stage splits on its slower Unicode path (see ``docs/dedup.md``).
2. Runs each method in its own child process (so that peak RSS is the method's own; the
   corpus is loaded and a 300-document warm-up done before the clock starts), ``--repeats``
   times round-robin over the methods, and takes the median wall time (``time.perf_counter``)
   and CPU time of all the process's threads (``time.process_time``), from text in to
   verified near-duplicate pairs out:

   * ``synth_pipeline``: ``find_near_duplicates`` (tokenise, shingle, one-permutation MinHash
     with densification, LSH 25x5, exact verification, survivor choice, signature rows).
   * ``rensa``: words and shingles built in Python (the token-list input rensa's README uses),
     ``RMinHash.from_token_sets`` (128 perms), ``RMinHashLSH`` (32 bands x 4 rows: rensa needs
     bands to divide 128, and 16x8 would make only 95% of the pairs at J=0.8 candidates),
     query every document, keep candidates whose estimated Jaccard >= threshold.
   * ``rensa-prehashed``: this project's vectorised tokeniser and shingle hashes fed to
     ``RMinHash.digest_matrix_from_flat_token_hashes`` + ``RMinHashLSH.insert_matrix`` +
     ``query_duplicate_flags_matrix``: rensa's fastest path, yielding only per-document
     duplicate flags (no pairs, no verification), so a lower bound on rensa's time.
   * ``datasketch``: ``MinHash.bulk`` (128 perms) + ``MinHashLSH`` with the same 25x5 banding
     as ours, estimated Jaccard >= threshold; on the first ``--datasketch-docs`` documents
     (it is slow), and this project's stage is also run on that same subset for the ratio.
   * ``synth_pipeline-2-partitions``: the corpus as two partitions of half the size; the first
     partition's signature rows are written to and read back from a DuckDB file and passed as
     ``earlier`` to the second (time = both calls + the round trip). Pairs across the
     partitions whose first item was itself removed in partition 1 are not in the index and
     are left out of its recall.
3. Scores each method's pairs against exact Jaccard of the shingle sets, computed by an
   independent pure-Python reference (sets of word 5-tuples), on all planted pairs plus
   ``--random-pairs`` random non-planted pairs: recall = found / (pairs with J >= threshold);
   precision = found pairs with J >= threshold / found pairs among those evaluated. Also the
   precision over *all* pairs a method reported (each checked exactly).

Threads: 2 cores on the reference machine. Our stage runs one worker thread per core (at most
8; numpy and polars release the GIL); rensa's batch APIs use its Rayon pool (all cores); datasketch is single-threaded.
Memory: peak resident set size of the child (``VmHWM``), and that minus the RSS after the
corpus was loaded (``delta``). The machine's load average is printed: other work on the same
cores slows the multi-threaded methods more than the single-threaded one.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_WORD = re.compile(r"\w+")


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mib() -> float:
    """Peak RSS of this process (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def py_shingles(text: str, n: int) -> list[str]:
    """The project's shingle definition in plain Python: lowercase, \\w+ words, n-grams
    joined by a space; a document shorter than n words is one shingle."""
    w = _WORD.findall(text.lower())
    if not w:
        return []
    if len(w) < n:
        return [" ".join(w)]
    return [" ".join(w[i : i + n]) for i in range(len(w) - n + 1)]


# ----------------------------------------------------------------- methods (run in a child)


def run_ours(texts: list[str], threshold: float, n: int) -> list[tuple[int, int]]:
    import polars as pl

    from synth_pipeline.dedup.near_duplicates import find_near_duplicates

    df = pl.DataFrame({"item_id": [str(i) for i in range(len(texts))], "origin": ["real"] * len(texts), "text": texts})
    res = find_near_duplicates(df, threshold=threshold, shingle_size=n)
    a = res.pairs["item_id"].cast(pl.Int64).to_list()
    b = res.pairs["other_id"].cast(pl.Int64).to_list()
    return [(min(x, y), max(x, y)) for x, y in zip(a, b, strict=True)]


def run_ours_two_partitions(texts: list[str], threshold: float, n: int) -> list[tuple[int, int]]:
    """First half as partition 1; its signature rows go through a DuckDB file; the second half
    is partition 2 with ``earlier`` = those rows. Returns the pairs of both calls."""
    import duckdb
    import polars as pl

    from synth_pipeline.dedup.near_duplicates import find_near_duplicates

    half = len(texts) // 2
    ids = [str(i) for i in range(len(texts))]

    def part(lo: int, hi: int) -> pl.DataFrame:
        return pl.DataFrame({"item_id": ids[lo:hi], "origin": ["real"] * (hi - lo), "text": texts[lo:hi]})

    r1 = find_near_duplicates(part(0, half), threshold=threshold, shingle_size=n)
    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(os.path.join(tmp, "index.duckdb"))
        rows = r1.signatures.with_columns(pl.lit("2026-01-01").str.to_date().alias("partition_date"))  # noqa: F841
        con.execute("CREATE TABLE mix_signatures AS SELECT * FROM rows")  # DuckDB reads the frame `rows`
        earlier = con.execute("SELECT * FROM mix_signatures WHERE partition_date < DATE '2026-01-02'").pl()
        con.close()
    r2 = find_near_duplicates(part(half, len(texts)), threshold=threshold, shingle_size=n, earlier=earlier)
    run_ours_two_partitions.removed_in_first = [int(x) for x in r1.removals["item_id"]]
    out = []
    for r in (r1, r2):
        for a, b in zip(
            r.pairs["item_id"].cast(pl.Int64).to_list(), r.pairs["other_id"].cast(pl.Int64).to_list(), strict=True
        ):
            out.append((min(a, b), max(a, b)))
    return out


def run_rensa(texts: list[str], threshold: float, n: int) -> list[tuple[int, int]]:
    import rensa

    sets = [py_shingles(t, n) for t in texts]
    mhs = rensa.RMinHash.from_token_sets(sets, 128, 42)
    lsh = rensa.RMinHashLSH(threshold, 128, 32)
    lsh.insert_many(mhs)
    pairs = []
    for i, cands in enumerate(lsh.query_all(mhs)):
        mi = mhs[i]
        for j in cands:
            if j > i and mi.jaccard(mhs[j]) >= threshold:
                pairs.append((i, j))
    return pairs


def run_rensa_prehashed(texts: list[str], threshold: float, n: int) -> list[tuple[int, int]]:
    import polars as pl
    import rensa

    from synth_pipeline.dedup.shingles import shingle_hashes, token_hashes

    tok, off = token_hashes(pl.Series(texts))
    sh, sh_off = shingle_hashes(tok, off, n)
    m = rensa.RMinHash.digest_matrix_from_flat_token_hashes(sh, sh_off, 128, 42)
    lsh = rensa.RMinHashLSH(threshold, 128, 32)
    lsh.insert_matrix(m)
    flags = lsh.query_duplicate_flags_matrix(m)
    _ = sum(flags)
    return []  # flags only: no pairs to score


def run_datasketch(texts: list[str], threshold: float, n: int) -> list[tuple[int, int]]:
    from datasketch import MinHash, MinHashLSH

    mhs = MinHash.bulk(([s.encode() for s in py_shingles(t, n)] for t in texts), num_perm=128, seed=1)
    lsh = MinHashLSH(threshold=threshold, num_perm=128, params=(25, 5))
    with lsh.insertion_session() as sess:
        for i, m in enumerate(mhs):
            sess.insert(i, m)
    pairs = []
    for i, m in enumerate(mhs):
        for j in lsh.query(m):
            if j > i and m.jaccard(mhs[j]) >= threshold:
                pairs.append((i, j))
    return pairs


METHODS = {
    "synth_pipeline": run_ours,
    "synth_pipeline-2-partitions": run_ours_two_partitions,
    "rensa": run_rensa,
    "rensa-prehashed": run_rensa_prehashed,
    "datasketch": run_datasketch,
}


def child(method: str, corpus_path: str, limit: int, threshold: float, n: int, repeats: int, out: str) -> None:
    import polars as pl

    texts = pl.read_parquet(corpus_path)["text"].head(limit).to_list()
    fn = METHODS[method]
    fn(texts[:300], threshold, n)  # warm-up: imports, first-call setup
    rss_loaded = _rss_mib()
    times, cpu, pairs = [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        pairs = fn(texts, threshold, n)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # all threads of the process
    Path(out).write_text(
        json.dumps(
            {
                "method": method,
                "docs": len(texts),
                "times": times,
                "cpu": cpu,
                "pairs": sorted(set(pairs)),
                "peak_rss_mib": _peak_mib(),
                "rss_loaded_mib": rss_loaded,
                "removed_in_first": getattr(fn, "removed_in_first", []),
            }
        )
    )


# ----------------------------------------------------------------- scoring (parent)


def exact_jaccard(texts: list[str], i: int, j: int, n: int, cache: dict[int, set]) -> float:
    for k in (i, j):
        if k not in cache:
            cache[k] = set(py_shingles(texts[k], n))
    a, b = cache[i], cache[j]
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def score(pairs, texts, eval_pairs, truth, threshold, n, cache, limit=None, unindexed=frozenset(), half=None):
    found = set(map(tuple, pairs))
    evaluated = {p for p in eval_pairs if limit is None or p[1] < limit}
    if half is not None:  # two partitions: a pair across them is findable only if its first item was kept
        evaluated = {p for p in evaluated if not (p[0] < half <= p[1] and p[0] in unindexed)}
    positives = {p for p in evaluated if truth[p] >= threshold}
    found_eval = found & evaluated
    tp = len(found_eval & positives)
    recall = tp / len(positives) if positives else float("nan")
    precision = tp / len(found_eval) if found_eval else float("nan")
    good_all = sum(1 for p in found if exact_jaccard(texts, p[0], p[1], n, cache) >= threshold)
    precision_all = good_all / len(found) if found else float("nan")
    return recall, precision, precision_all, len(positives), len(found)


def lsh_curve(texts, families, threshold, n) -> None:
    """Empirical LSH candidate rate and signature-estimate error by exact-Jaccard bin, on the
    planted pairs, beside the theoretical 1-(1-J^r)^b (--lsh-curve)."""
    import polars as pl

    from synth_pipeline.dedup.near_duplicates import choose_bands, lsh_probability, sketch

    b, r = choose_bands(threshold)
    sk = sketch(pl.Series(texts), n, banding=(b, r))
    rows = []
    for fam in families:
        for i, a in enumerate(fam):
            for c in fam[i + 1 :]:
                sa, sc = set(py_shingles(texts[a], n)), set(py_shingles(texts[c], n))
                j = len(sa & sc) / len(sa | sc)
                rows.append((j, bool((sk.keys[a] == sk.keys[c]).any()), float((sk.sig[a] == sk.sig[c]).mean())))
    df = pl.DataFrame(rows, schema=["J", "candidate", "estimate"], orient="row")
    edges = [0.0, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.999, 1.01]
    print(f"\nLSH {b} bands x {r} rows on planted pairs:")
    print("| exact J | pairs | candidate rate | theory at mean J | estimate bias | estimate sd |")
    print("|---|---|---|---|---|---|")
    for lo, hi in itertools.pairwise(edges):
        g = df.filter((pl.col("J") > lo) & (pl.col("J") <= hi)) if lo else df.filter(pl.col("J") <= hi)
        if g.height == 0:
            continue
        err = g["estimate"] - g["J"]
        label = "1.0" if lo == 0.999 else f"({lo}, {hi}]"
        print(
            f"| {label} | {g.height} | {g['candidate'].mean():.4f} | {lsh_probability(g['J'].mean(), b, r):.4f} | "
            f"{err.mean():+.4f} | {(err.std() or 0.0):.4f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--datasketch-docs", type=int, default=10_000)
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--shingle-size", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--random-pairs", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--methods", default="synth_pipeline,rensa,rensa-prehashed,datasketch,synth_pipeline-2-partitions")
    ap.add_argument("--lsh-curve", action="store_true", help="also print the LSH candidate rate by Jaccard bin")
    ap.add_argument(
        "--non-ascii",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of documents whose first space becomes a no-break space (U+00A0): same words, "
        "but not ASCII, so this project's stage takes its Unicode path for them",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.corpus, args.limit, args.threshold, args.shingle_size, args.repeats, args.out)
        return

    import polars as pl

    from synth_pipeline.dedup.planted import build_corpus

    t0 = time.perf_counter()
    corpus = build_corpus(args.docs, seed=args.seed)
    texts = list(corpus.texts)
    if args.non_ascii > 0:
        pick = random.Random(args.seed + 1)
        texts = [t.replace(" ", "\u00a0", 1) if pick.random() < args.non_ascii else t for t in texts]
    print(
        f"corpus: {len(texts)} docs, {sum(map(len, corpus.families))} in {len(corpus.families)} planted families, "
        f"{sum(not t.isascii() for t in texts) / len(texts):.0%} non-ASCII, "
        f"{time.perf_counter() - t0:.1f}s to build (seed {args.seed})",
        flush=True,
    )
    planted = {(min(a, b), max(a, b)) for fam in corpus.families for a in fam for b in fam if a != b}
    rng = random.Random(args.seed)
    randoms = set()
    while len(randoms) < args.random_pairs:
        a, b = rng.randrange(len(texts)), rng.randrange(len(texts))
        if a != b and (min(a, b), max(a, b)) not in planted:
            randoms.add((min(a, b), max(a, b)))
    eval_pairs = planted | randoms
    cache: dict[int, set] = {}
    truth = {p: exact_jaccard(texts, p[0], p[1], args.shingle_size, cache) for p in eval_pairs}
    pos = sum(1 for p in planted if truth[p] >= args.threshold)
    print(
        f"evaluated pairs: {len(planted)} planted ({pos} with exact J >= {args.threshold}), "
        f"{len(randoms)} random (max exact J {max(truth[p] for p in randoms):.3f})",
        flush=True,
    )

    if args.lsh_curve:
        lsh_curve(texts, corpus.families, args.threshold, args.shingle_size)
    runs = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.parquet")
        pl.DataFrame({"text": texts}).write_parquet(path)
        plan = []
        for m in args.methods.split(","):
            limit = args.datasketch_docs if m == "datasketch" else args.docs
            plan.append((m, limit))
            if m == "datasketch" and "synth_pipeline" in args.methods:
                plan.append(("synth_pipeline", limit))
        # Round-robin: repeat i of every method before repeat i+1 of any, one child process per
        # run, so that changes in the machine's load hit every method alike.
        results: dict[tuple[str, int], dict] = {}
        for rep in range(args.repeats):
            for m, limit in plan:
                out = os.path.join(tmp, f"{m}-{limit}-{rep}.json")
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    m,
                    "--corpus",
                    path,
                    "--limit",
                    str(limit),
                    "--threshold",
                    str(args.threshold),
                    "--shingle-size",
                    str(args.shingle_size),
                    "--repeats",
                    "1",
                    "--out",
                    out,
                ]
                subprocess.run(cmd, check=True)
                r = json.loads(Path(out).read_text())
                print(
                    f"  run {rep + 1}/{args.repeats}: {m} on {r['docs']} docs: {r['times'][0]:.2f}s wall, "
                    f"{r['cpu'][0]:.2f}s CPU",
                    flush=True,
                )
                agg = results.setdefault((m, limit), {**r, "times": [], "cpu": [], "peak_rss_mib": 0.0})
                agg["times"] += r["times"]
                agg["cpu"] += r["cpu"]
                agg["pairs"] = r["pairs"]
                agg["peak_rss_mib"] = max(agg["peak_rss_mib"], r["peak_rss_mib"])
                agg["rss_loaded_mib"] = r["rss_loaded_mib"]
        for r in results.values():
            r["median"] = statistics.median(r["times"])
            r["cpu_median"] = statistics.median(r["cpu"])
            runs.append(r)

    ours_full = next((r for r in runs if r["method"] == "synth_pipeline" and r["docs"] == args.docs), None)
    header = (
        "| method | docs | median s | docs/s | our speed-up | CPU s | CPU speed-up | recall | "
        "precision (evaluated) | precision (all reported) | pairs | peak RSS MiB (delta) |"
    )
    print()
    print(
        f"threshold {args.threshold}, shingle size {args.shingle_size}, 128 permutations, {os.cpu_count()} cores, "
        f"repeats {args.repeats}, load average {load_before[0]:.1f} before / {os.getloadavg()[0]:.1f} after"
    )
    print(header)
    print("|" + "---|" * 12)
    for r in runs:
        dps = r["docs"] / r["median"]
        same = next((o for o in runs if o["method"] == "synth_pipeline" and o["docs"] == r["docs"]), None)
        peer = same and not r["method"].startswith("synth_pipeline")
        ratio = (r["median"] / same["median"]) if peer else None
        cpu_ratio = (r["cpu_median"] / same["cpu_median"]) if peer else None
        if r["method"] == "rensa-prehashed":
            rec = prec = prec_all = "n/a (flags only)"
            npairs = "-"
        else:
            lim = r["docs"] if r["docs"] < args.docs else None
            two = r["method"] == "synth_pipeline-2-partitions"
            recall, precision, precision_all, _, npairs = score(
                r["pairs"],
                texts,
                eval_pairs,
                truth,
                args.threshold,
                args.shingle_size,
                cache,
                limit=lim,
                unindexed=frozenset(r["removed_in_first"]),
                half=r["docs"] // 2 if two else None,
            )
            rec, prec, prec_all = f"{recall:.4f}", f"{precision:.4f}", f"{precision_all:.4f}"
        print(
            f"| {r['method']} | {r['docs']} | {r['median']:.2f} | {dps:,.0f} | "
            f"{f'{ratio:.1f}×' if ratio else '-'} | {r['cpu_median']:.2f} | "
            f"{f'{cpu_ratio:.1f}×' if cpu_ratio else '-'} | "
            f"{rec} | {prec} | {prec_all} | {npairs} | "
            f"{r['peak_rss_mib']:.0f} ({r['peak_rss_mib'] - r['rss_loaded_mib']:+.0f}) |"
        )
    if ours_full:
        print(f"\nour peak RSS at {args.docs} docs: {ours_full['peak_rss_mib']:.0f} MiB (target <= 2048)")
        by_method = {r["method"]: r for r in runs if r["docs"] == args.docs}
        if "rensa" in by_method and "rensa-prehashed" in by_method:
            wall = {k: by_method[k]["median"] / ours_full["median"] for k in ("rensa", "rensa-prehashed")}
            cpu = {k: by_method[k]["cpu_median"] / ours_full["cpu_median"] for k in ("rensa", "rensa-prehashed")}
            print(
                f"headline vs rensa at {args.docs} docs: {wall['rensa']:.1f}x as users call it (Python shingling, "
                f"RMinHash.from_token_sets; {cpu['rensa']:.1f}x per CPU second); {wall['rensa-prehashed']:.1f}x "
                f"pre-hashed (our shingle hashes into rensa's matrix API, flags only: its lower bound; "
                f"{cpu['rensa-prehashed']:.1f}x per CPU second)"
            )
        ds = next((r for r in runs if r["method"] == "datasketch"), None)
        if ds:
            print(
                f"docs/s ratio, ours at {args.docs} docs vs datasketch at {ds['docs']} docs: "
                f"{(args.docs / ours_full['median']) / (ds['docs'] / ds['median']):.1f}×"
            )


if __name__ == "__main__":
    main()
