"""Time the project's text metrics beside the reference implementations on identical texts.

    .venv/bin/python benchmarks/metrics.py                 # 100k documents (~66 MB)
    .venv/bin/python benchmarks/metrics.py --docs 20000    # quicker

The corpus is generated deterministically (numpy seed) from the Python documentation
topics that ship with the interpreter (``pydoc_data.topics``): every document is a
sequence of segments that are either a copied span of 3-12 real words (realistic
phrase-level repetition) or 1-6 words drawn from the real unigram distribution
(Zipfian vocabulary). About 100 words per document. The "synthetic" corpus adds a
planted verbal tic and a male-pronoun skew so the drift and bias numbers mean something.

References: ``diversity`` (Shaib et al.) ``compression_ratio`` and
``ngram_diversity_score`` on all documents; its ``self_repetition_score`` is quadratic
in the number of documents (``sum(list_of_lists, [])``), so it runs on the first
``--selfrep-docs`` documents, with ours on the same subset; sacrebleu
``sentence_bleu`` for Self-BLEU on the same 200-document sample. Every timing, ours and
the reference's, is the median of the same ``--repeat`` runs. Rows say how many documents
they really use. The headline (compression + n-gram diversity) is printed three ways:
sequential on one thread (like for like with the single-threaded reference), per CPU second,
and overlapped (gzip on a second thread), which needs a second core the reference leaves idle.
Peak memory is measured in a child process that only runs our full report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synth_pipeline.metrics import (  # noqa: E402
    compression_and_ngram_diversity,
    copy_leakage,
    distinct_n,
    diversity_metrics,
    drift_metrics,
    ngram_diversity_score,
    overrepresented_ngrams,
    quality_metrics,
    self_bleu,
    self_repetition_score,
    term_group_drift,
)
from synth_pipeline.metrics.diversity import compression_ratio, sample_indices  # noqa: E402
from synth_pipeline_tests.vendor import diversity as reference_diversity  # noqa: E402


def make_corpus(
    n_docs: int = 100_000, mean_words: int = 100, seed: int = 0, tic_rate: float = 0.0, rare_rate: float = 0.06
) -> list[str]:
    from pydoc_data.topics import topics

    rng = np.random.default_rng(seed)
    src = np.array(" ".join(topics[k] for k in sorted(topics)).split(), dtype=object)
    vocab, counts = np.unique(src.astype(str), return_counts=True)
    vocab = vocab.astype(object)
    # Long tail: the docs have ~10k distinct tokens, a 100k-document web corpus has
    # hundreds of thousands. A Zipf-distributed lexicon of 400k pseudo-words (prefix of
    # one real word + suffix of another) supplies `rare_rate` of the drawn words, half
    # Zipf(1.1)-ranked, half uniform (hapaxes).
    lex_rng = np.random.default_rng(12345)
    a = vocab[lex_rng.integers(0, len(vocab), 400_000)]
    b = vocab[lex_rng.integers(0, len(vocab), 400_000)]
    cut_a = lex_rng.integers(2, 6, 400_000)
    cut_b = lex_rng.integers(1, 5, 400_000)
    lexicon = np.array([x[:i] + y[-j:] for x, y, i, j in zip(a, b, cut_a, cut_b, strict=True)], dtype=object)
    lengths = np.clip(rng.normal(mean_words, 30, n_docs).astype(int), 5, None)
    total = int(lengths.sum())
    n_seg = total // 4 + 10
    is_span = rng.random(n_seg) < 0.5
    seg_len = np.where(is_span, rng.integers(3, 13, n_seg), rng.integers(1, 7, n_seg))
    n_seg = int(np.searchsorted(np.cumsum(seg_len), total)) + 1
    is_span, seg_len = is_span[:n_seg], seg_len[:n_seg]
    starts = np.concatenate([[0], np.cumsum(seg_len)[:-1]])
    seg_id = np.repeat(np.arange(n_seg), seg_len)
    offset = np.arange(seg_id.size) - starts[seg_id]
    span_start = rng.integers(0, len(src) - 13, n_seg)
    drawn = vocab[rng.choice(len(vocab), size=seg_id.size, p=counts / counts.sum())]
    rare = rng.random(seg_id.size) < rare_rate
    n_rare = int(rare.sum())
    zipf_rank = np.minimum(rng.zipf(1.1, n_rare) - 1, len(lexicon) - 1)
    drawn[rare] = lexicon[np.where(rng.random(n_rare) < 0.5, zipf_rank, rng.integers(0, len(lexicon), n_rare))]
    span = is_span[seg_id]
    words = np.where(span, src[np.minimum(span_start[seg_id] + offset, len(src) - 1)], drawn)[:total]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    docs = [" ".join(words[bounds[i] : bounds[i + 1]]) for i in range(n_docs)]
    if tic_rate:
        tic = rng.random(n_docs) < tic_rate
        he = rng.random(n_docs) < tic_rate
        docs = [
            ("It is important to note that " if t else "") + d + (" He said so himself." if h else "")
            for d, t, h in zip(docs, tic, he, strict=True)
        ]
    return docs


# --------------------------------------------------------------------------- calibration


def real_documents(max_docs: int = 4000) -> list[str]:
    """Human-written text shipped with the interpreter: the documentation topics and
    module docstrings of the standard library, cut into documents of 40-200 words."""
    import ast
    import sysconfig
    from pydoc_data.topics import topics

    paragraphs = [p for k in sorted(topics) for p in topics[k].split("\n\n")]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py"))[:400]:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    paragraphs.extend(doc.split("\n\n"))
    docs, cur = [], []
    for para in paragraphs:
        words = para.split()
        if not words or sum(w.isalpha() for w in words) < 0.6 * len(words):
            continue  # code listings and tables
        cur.extend(words)
        if len(cur) >= 40:
            docs.append(" ".join(cur[:200]))
            cur = []
    rng = np.random.default_rng(0)
    order = rng.permutation(len(docs))[:max_docs]
    return [docs[i] for i in order]


def _sentences(docs: list[str]) -> list[str]:
    import re

    return [s for d in docs for s in re.split(r"(?<=[.!?])\s+", d) if len(s.split()) >= 4]


def calibration_scenarios(real: list[str], seed: int = 0) -> dict[str, tuple[list[str], list[str]]]:
    """(synthetic, real) pairs: one half of the real documents stands for the synthetic
    side, degraded in controlled ways; the other half is the real side."""

    rng = np.random.default_rng(seed)
    half = len(real) // 2
    a, b = real[:half], real[half:]
    sents = _sentences(a)
    lens = [len(d.split()) for d in a]

    def resample(pool_share: float) -> list[str]:
        pool = [sents[i] for i in rng.permutation(len(sents))[: max(5, int(pool_share * len(sents)))]]
        out = []
        for n_words in lens:
            doc, count = [], 0
            while count < n_words:
                s_ = pool[int(rng.integers(0, len(pool)))]
                doc.append(s_)
                count += len(s_.split())
            out.append(" ".join(doc))
        return out

    # The docs mention people rarely; add one sentence about a person to 60% of the
    # documents on both sides, subject drawn uniformly (she/he/they) on the real side and
    # with the generator's skew (he twice as often as she) on the skewed synthetic side.
    verbs = [
        "explained how the function works",
        "wrote the first version of this module",
        "reported the bug",
        "reviewed the patch",
        "maintains the documentation",
    ]

    def with_people(docs: list[str], subjects: list[str], p: list[float]) -> list[str]:
        out = []
        for d in docs:
            if rng.random() < 0.6:
                d = f"{rng.choice(subjects, p=p)} {verbs[int(rng.integers(0, len(verbs)))]}. {d}"
            out.append(d)
        return out

    uniform = [1 / 3, 1 / 3, 1 / 3]
    b_people = with_people(b, ["She", "He", "They"], uniform)
    openers = [
        "Certainly! Here is a clear explanation.",
        "Great question! Let's delve into it.",
        "Sure, here's an overview.",
    ]
    return {
        "other real half (noise floor)": (a, b),
        "sentences resampled with replacement": (resample(1.0), b),
        "mode collapse: 30% sentence pool": (resample(0.3), b),
        "mode collapse: 10% sentence pool": (resample(0.1), b),
        "mode collapse: 3% sentence pool": (resample(0.03), b),
        "verbal tics (opener + closer)": (
            [f"{openers[i % 3]} {d} In summary, it is important to note this." for i, d in enumerate(a)],
            b,
        ),
        "people sentences, no skew": (with_people(a, ["She", "He", "They"], uniform), b_people),
        "people sentences, he 2x she": (with_people(a, ["She", "He", "They"], [0.2, 0.4, 0.4]), b_people),
        "half the documents truncated": (
            [" ".join(d.split()[: max(5, len(d.split()) // 2)]) if i % 2 else d for i, d in enumerate(a)],
            b,
        ),
    }


def calibrate() -> None:
    real = real_documents()
    mb = sum(len(t.encode()) for t in real) / 1e6
    print(
        f"# calibration on {len(real)} real documents ({mb:.1f} MB, Python docs topics + stdlib docstrings), "
        "split in halves; the first half is degraded to play the synthetic side"
    )
    cols = [
        "synthetic.distinct_2",
        "synthetic.compression_ratio",
        "synthetic.self_bleu",
        "relative.distinct_2",
        "relative.compression_ratio",
        "relative.ngram_diversity",
        "relative.self_bleu",
        "relative.self_repetition",
        "drift.unigram_jsd",
        "drift.bigram_jsd",
        "drift.unigram_jsd_real_halves",
        "drift.length_ks",
        "bias.max_abs_log_ratio",
    ]
    short = [
        c.replace("relative.", "rel.").replace("_real_halves", "_baseline").replace("synthetic.", "syn.") for c in cols
    ]
    print("| scenario | " + " | ".join(short) + " | top tic |")
    print("|---" * (len(cols) + 2) + "|")
    for name, (syn, rea) in calibration_scenarios(real).items():
        m = quality_metrics(syn, rea)
        tic = overrepresented_ngrams(syn, rea, n=2, k=1)["ngram"].to_list()
        print(f"| {name} | " + " | ".join(f"{m[c]:.3f}" for c in cols) + f" | {tic[0] if tic else '-'} |", flush=True)


class Timing(float):
    """Median wall seconds (the float value) with the median CPU seconds of the process
    (all threads) in ``.cpu``: on a shared machine CPU time is the steadier measure of work."""

    cpu: float

    def __new__(cls, wall: float, cpu: float):
        obj = super().__new__(cls, wall)
        obj.cpu = cpu
        return obj

    def __add__(self, other):
        return Timing(float(self) + float(other), self.cpu + getattr(other, "cpu", 0.0))


def timed(fn, repeat: int = 1):
    walls, cpus, value = [], [], None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        value = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return Timing(statistics.median(walls), statistics.median(cpus)), value


def _vm_hwm_mib() -> float:
    """Peak resident set size of this process (VmHWM). Unlike ru_maxrss it is reset by
    exec, so a child started from a large parent reports its own peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory_child(path: str) -> None:
    import polars as pl

    frame = pl.read_parquet(path)
    synthetic, real = frame["synthetic"].to_list(), frame["real"].to_list()
    del frame
    base = _vm_hwm_mib()
    t0 = time.perf_counter()
    m = diversity_metrics(synthetic)
    wall_div = time.perf_counter() - t0
    peak_div = _vm_hwm_mib()
    t0 = time.perf_counter()
    m = quality_metrics(synthetic, real, sources=real)
    wall = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "wall_s": wall,
                "peak_rss_mib": _vm_hwm_mib(),
                "rss_before_mib": base,
                "diversity_wall_s": wall_div,
                "diversity_peak_rss_mib": peak_div,
                "n_metrics": len(m),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each of our metrics (median)")
    ap.add_argument("--selfrep-docs", type=int, default=5_000)
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument(
        "--calibrate", action="store_true", help="print the metric values behind the default thresholds and exit"
    )
    ap.add_argument("--peak-memory-child", metavar="PARQUET", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peak_memory_child:
        peak_memory_child(args.peak_memory_child)
        return
    if args.calibrate:
        calibrate()
        return

    t0 = time.perf_counter()
    texts = make_corpus(args.docs, seed=0, tic_rate=0.2)
    real = make_corpus(args.docs, seed=1)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(
        f"# corpus: {len(texts)} documents, {mb:.1f} MB, "
        f"{sum(len(t.split()) for t in texts) / len(texts):.0f} words/doc "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )
    print(
        f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs, median of "
        f"{args.repeat} runs for ours and the reference alike, load {os.getloadavg()[0]:.2f} at start"
    )

    ref = None if args.skip_reference else reference_diversity
    rows: list[tuple[str, float | None, float, object, object, str]] = []

    def add(name, ref_s, ours_s, ref_v, ours_v, note=""):
        rows.append((name, ref_s, ours_s, ref_v, ours_v, note))
        sp = f"{ref_s / ours_s:6.1f}x cpu {ref_s.cpu / ours_s.cpu:5.1f}x" if ref_s else "     -"
        rs = f"{ref_s:8.2f} (cpu {ref_s.cpu:6.2f})" if ref_s is not None else "       -"
        print(
            f"{name:34s} ref {rs} s  ours {ours_s:7.2f} (cpu {ours_s.cpu:6.2f}) s  speedup {sp}  "
            f"ref={ref_v}  ours={ours_v} {note}  [load {os.getloadavg()[0]:.2f}]",
            flush=True,
        )

    # --- compression ratio + n-gram diversity: the headline comparison
    ours_c_s, ours_c = timed(lambda: compression_ratio(texts), args.repeat)
    ours_n_s, ours_n = timed(lambda: ngram_diversity_score(texts), args.repeat)
    ref_c_s = ref_n_s = ref_c = ref_n = None
    if ref:
        ref_c_s, ref_c = timed(lambda: ref.compression_ratio(texts, "gzip"), args.repeat)
        ref_n_s, ref_n = timed(lambda: ref.ngram_diversity_score(texts, 4), args.repeat)
    add("compression_ratio (gzip)", ref_c_s, ours_c_s, ref_c, round(ours_c, 3), "(same zlib level 9 work)")
    add("ngram_diversity (n=1..4)", ref_n_s, ours_n_s, ref_n, round(ours_n, 3))
    both_ref = (ref_c_s + ref_n_s) if ref else None
    ours_both = ours_c_s + ours_n_s
    add("compression + ngram_diversity", both_ref, ours_both, None, None, "(sequential)")
    ov_s, ov = timed(lambda: compression_and_ngram_diversity(texts), args.repeat)
    assert ov == (ours_c, ours_n)
    add(
        "compression ‖ ngram_diversity",
        both_ref,
        ov_s,
        None,
        None,
        "(compression_and_ngram_diversity: gzip thread overlaps the n-gram count)",
    )

    # --- everything diversity_metrics computes, one call (gzip overlaps n-gram counting)
    dm_s, dm = timed(lambda: diversity_metrics(texts), args.repeat)
    add(
        "diversity_metrics (all 11 values)",
        both_ref,
        dm_s,
        None,
        None,
        "(vs reference compression + ngram_diversity only)",
    )
    dn_s, _ = timed(lambda: distinct_n(texts), args.repeat)
    add("distinct_1..4 (ours only)", None, dn_s, None, {k: round(v, 4) for k, v in distinct_n(texts).items()})

    # --- self-repetition: reference is quadratic, compare on a subset; ours on all too
    sub = texts[: args.selfrep_docs]
    ours_sr_s, ours_sr = timed(lambda: self_repetition_score(sub), args.repeat)
    ref_sr_s = ref_sr = None
    if ref:
        ref_sr_s, ref_sr = timed(lambda: ref.self_repetition_score(sub, 4, verbose=False), args.repeat)
    add(
        f"self_repetition (first {len(sub)} of {len(texts)} docs)",
        ref_sr_s,
        ours_sr_s,
        None if ref_sr is None else round(ref_sr, 9),
        round(ours_sr, 9),
    )
    full_sr_s, full_sr = timed(lambda: self_repetition_score(texts), args.repeat)
    add(f"self_repetition ({len(texts)} docs)", None, full_sr_s, None, round(full_sr, 6))

    # --- Self-BLEU on the 200-document sample
    idx = sample_indices(len(texts), 200, 0)
    docs = [texts[i] for i in idx]
    ours_b_s, ours_b = timed(lambda: self_bleu(texts, sample=200, seed=0), args.repeat)
    ref_b_s = ref_b = None
    try:
        import sacrebleu

        ref_b_s, ref_b = timed(
            lambda: float(
                np.mean([sacrebleu.sentence_bleu(d, docs[:i] + docs[i + 1 :]).score for i, d in enumerate(docs)])
            ),
            args.repeat,
        )
    except ImportError:
        pass
    add(
        f"self_bleu (200-doc sample of {len(texts)})",
        ref_b_s,
        ours_b_s,
        None if ref_b is None else round(ref_b, 9),
        round(ours_b, 9),
        "(sacrebleu sentence_bleu)",
    )

    # --- drift, bias, leakage (no reference package; scipy equality is in the tests)
    dr_s, dr = timed(lambda: drift_metrics(texts, real), args.repeat)
    add(
        "drift_metrics (100k vs 100k)" if args.docs == 100_000 else "drift_metrics",
        None,
        dr_s,
        None,
        {k: round(v, 4) for k, v in dr.items() if k in ("unigram_jsd", "bigram_jsd", "length_ks")},
    )
    on_s, on = timed(lambda: overrepresented_ngrams(texts, real, n=2, k=20), args.repeat)
    add("overrepresented_ngrams (n=2)", None, on_s, None, on["ngram"].head(5).to_list())
    tg_s, tg = timed(lambda: term_group_drift(texts, real), args.repeat)
    add("term_group_drift", None, tg_s, None, dict(zip(tg["group"], [round(r, 3) for r in tg["ratio"]], strict=True)))
    cl_s, cl = timed(lambda: copy_leakage(texts, real), args.repeat)
    add("copy_leakage (n=13, aligned)", None, cl_s, None, round(cl, 4))

    print()
    print("| metric | reference wall (cpu) s | ours wall (cpu) s | speedup wall (cpu) | reference value | our value |")
    print("|---|---:|---:|---:|---|---|")
    for name, ref_s, ours_s, ref_v, ours_v, _ in rows:
        sp = f"{ref_s / ours_s:.1f}x ({ref_s.cpu / ours_s.cpu:.1f}x)" if ref_s else "-"
        rs = f"{ref_s:.2f} ({ref_s.cpu:.2f})" if ref_s is not None else "-"
        print(
            f"| {name} | {rs} | {ours_s:.2f} ({ours_s.cpu:.2f}) | {sp} | {'-' if ref_v is None else ref_v} | "
            f"{'-' if ours_v is None else ours_v} |"
        )
    if ref:
        ok = (round(ours_c, 3) == ref_c, round(ours_n, 3) == ref_n, abs(ours_sr - ref_sr) <= 1e-9 * max(1, abs(ref_sr)))
        print(
            f"\nvalues equal: compression {ok[0]}, ngram_diversity {ok[1]}, self_repetition {ok[2]}"
            + ("" if ref_b is None else f", self_bleu {abs(ours_b - ref_b) <= 1e-9}")
        )
        ours_both = ours_c_s + ours_n_s
        print(
            f"headline, compression + ngram_diversity on {len(texts)} docs (reference: one thread, "
            f"{both_ref:.1f} s wall / {both_ref.cpu:.1f} s cpu):\n"
            f"  sequential, one thread (like for like): ours {ours_both:.1f} s -> {both_ref / ours_both:.1f}x\n"
            f"  per CPU second (overlapped call): ours {ov_s.cpu:.1f} s cpu -> {both_ref.cpu / ov_s.cpu:.1f}x\n"
            f"  overlapped on 2 threads (wall; needs a core the reference leaves idle): ours {ov_s:.1f} s -> "
            f"{both_ref / ov_s:.1f}x\n"
            f"  all 11 diversity metrics in one call: {dm_s:.1f} s wall / {dm_s.cpu:.1f} s cpu "
            f"({both_ref / dm_s:.1f}x wall, {both_ref.cpu / dm_s.cpu:.1f}x cpu)\n"
            f"  load {os.getloadavg()[0]:.2f} at the end"
        )

    if not args.skip_memory:
        import polars as pl

        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "corpora.parquet")
            pl.DataFrame({"synthetic": texts, "real": real}).write_parquet(path)
            out = subprocess.run(
                [sys.executable, __file__, "--peak-memory-child", path], capture_output=True, text=True, check=True
            )
        mem = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"peak memory (fresh process, corpora loaded: {mem['rss_before_mib']:.0f} MiB): "
            f"diversity_metrics on {args.docs} docs {mem['diversity_wall_s']:.1f} s, peak RSS "
            f"{mem['diversity_peak_rss_mib']:.0f} MiB; full quality_metrics (synthetic + real diversity, "
            f"word-matched relative, drift, bias, leakage) on {args.docs} + {args.docs} docs "
            f"{mem['wall_s']:.1f} s, peak RSS {mem['peak_rss_mib']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
