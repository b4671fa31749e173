"""Cost of one raw_corpus partition as the corpus grows, and peak memory on a 5 GB JSONL file.

Targets (issue items 3 and 5):

* one partition of 2,000 documents on a corpus of 1M documents takes at most 2x its time on a
  corpus of 100k documents;
* a 5 GB uncompressed JSONL corpus ingests with peak RSS <= 1 GiB.

Corpora: real text (docstrings of the installed packages and the standard library; past the
pool's size each document is a sentence-shuffled variant tagged with its round, so none is an
exact duplicate: benchmarks/ingest_common.py), in two layouts: .jsonl.gz shards of 10k
documents, and one single .jsonl file. For each corpus and layout, per repetition and in a
fresh SYNTH_HOME: the FIRST partition (cold: empty registry, files staged now), the second
(not timed), then the THIRD (warm: registry filled), each in a fresh process. Figures are
medians; the verdict uses the time of the build_corpus_batch call ("work"), the wall of the
fresh process (start-up and imports included) is printed beside it.

    python benchmarks/partition_cost.py            # 100k and 1M documents, 3 repetitions
    python benchmarks/partition_cost.py --quick    # 10k and 100k, 1 repetition (smoke test)
    python benchmarks/partition_cost.py --big      # also: one cold partition of a 5 GB .jsonl (writes 5 GB to $TMPDIR)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ingest_common as ic  # noqa: E402

FIRST = dt.date(2026, 3, 2)
DOCS_PER_PARTITION = 2000


def partition_key(n: int) -> str:
    return (FIRST + dt.timedelta(days=n - 1)).isoformat()


def child(sources: str, home: str, partition: str, docs_per_partition: str) -> dict:
    ic.preload_ours()
    t0 = time.perf_counter()
    batch = ic.build_batch(home, sources, int(docs_per_partition), partition)
    work = time.perf_counter() - t0
    return {
        "work_s": work,
        "documents": batch.documents.height,
        "rejects": batch.rejects.height,
        "records": batch.records,
    }


def run_partition(sources: str, home: Path, n: int, docs_per_partition: int = DOCS_PER_PARTITION) -> dict:
    env = {**os.environ, "SYNTH_HOME": str(home)}
    figures = ic.measure(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            sources,
            str(home),
            partition_key(n),
            str(docs_per_partition),
        ],
        env=env,
    )
    if figures.get("rc") != 0:
        raise SystemExit(f"partition {n} of {sources} failed:\n{figures.get('stderr_tail', '')}")
    return figures


def write_big(path: Path, target_bytes: int, pool: list[str]) -> tuple[int, int]:
    """One uncompressed JSONL of ``target_bytes``, written in a streaming loop."""
    written = lines = 0
    buffer: list[bytes] = []
    with path.open("wb") as f:
        for line in ic.iter_lines(pool):
            buffer.append(line)
            written += len(line)
            lines += 1
            if len(buffer) >= 10_000:
                f.write(b"".join(buffer))
                buffer.clear()
            if written >= target_bytes:
                break
        f.write(b"".join(buffer))
    return lines, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k documents, 1 repetition")
    parser.add_argument("--big", action="store_true", help="also measure one cold partition of a 5 GB JSONL file")
    parser.add_argument("--big-only", action="store_true", help="only the 5 GB case")
    parser.add_argument("--big-gb", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument(
        "--workdir", default=None, help="where corpora and homes are written (default: a temporary folder)"
    )
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    sizes = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    repeat = args.repeat or (1 if args.quick else 3)
    print(ic.machine_line())
    print(ic.code_line())
    pool = ic.docstring_pool()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        # Warm-up (not timed): the first process on a machine compiles the JSONL and text kernels.
        warm_up = ic.write_corpus(root / "warm-up", 3000, pool=pool, docs_per_shard=None, compress="gzip")
        run_partition(str(warm_up.files[0]), root / "home-warm-up", 1)
        layouts = {}
        for size in [] if args.big_only else sizes:
            t0 = time.perf_counter()
            shards = ic.write_corpus(root / f"shards-{size}", size, pool=pool, docs_per_shard=10_000, compress="gzip")
            single = ic.write_corpus(root / f"single-{size}", size, pool=pool, docs_per_shard=None, compress=None)
            layouts[(size, "shards")] = (str(root / f"shards-{size}" / "*.jsonl.gz"), shards)
            layouts[(size, "single")] = (str(single.files[0]), single)
            print(
                f"corpus {size:,} documents: {len(shards.files)} .jsonl.gz shards ({shards.bytes_on_disk / 1e6:.0f} "
                "MB gzip) and "
                f"one .jsonl ({single.bytes_uncompressed / 1e6:.0f} MB); written in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )

        results: dict[tuple[int, str], dict[str, list[dict]]] = {}
        for r in range(repeat):
            for (size, layout), (sources, _) in layouts.items():
                home = root / f"home-{size}-{layout}-{r}"
                cold = run_partition(sources, home, 1)
                run_partition(sources, home, 2)
                warm = run_partition(sources, home, 3)
                results.setdefault((size, layout), {"cold": [], "warm": []})
                results[(size, layout)]["cold"].append(cold)
                results[(size, layout)]["warm"].append(warm)
                print(
                    f"  round {r + 1}: {size:>9,} {layout:6s} cold work {cold['work_s']:6.2f} s (wall "
                    f"{cold['wall_s']:6.2f}, "
                    f"RSS {cold['peak_rss_mib']:5.0f} MiB)  warm work {warm['work_s']:6.2f} s (wall "
                    f"{warm['wall_s']:6.2f}, "
                    f"RSS {warm['peak_rss_mib']:5.0f} MiB)  docs {cold['documents']}+{cold['rejects']} / "
                    f"{warm['documents']}+{warm['rejects']}",
                    flush=True,
                )
                for run in (cold, warm):
                    assert run["documents"] + run["rejects"] == run["records"] == DOCS_PER_PARTITION, run
                shutil.rmtree(home, ignore_errors=True)

        if results:
            med = {
                key: {
                    phase: {
                        k: statistics.median(x[k] for x in runs) for k in ("work_s", "wall_s", "cpu_s", "peak_rss_mib")
                    }
                    for phase, runs in phases.items()
                }
                for key, phases in results.items()
            }
            print(f"\n== one partition of {DOCS_PER_PARTITION:,} documents, median of {repeat} fresh processes ==")
            print(
                f"{'corpus':>10s} {'layout':7s} {'phase':5s} {'work s':>7s} {'wall s':>7s} {'CPU s':>7s} "
                f"{'RSS MiB':>8s}"
            )
            for (size, layout), phases in med.items():
                for phase, m in phases.items():
                    print(
                        f"{size:>10,} {layout:7s} {phase:5s} {m['work_s']:7.2f} {m['wall_s']:7.2f} {m['cpu_s']:7.2f} "
                        f"{m['peak_rss_mib']:8.0f}"
                    )
            small, large = sizes
            print(f"\n== {large:,} / {small:,} documents (target: <= 2x) ==")
            for layout in ("shards", "single"):
                for phase in ("cold", "warm"):
                    a, b = med[(small, layout)][phase], med[(large, layout)][phase]
                    ratio = b["work_s"] / a["work_s"]
                    print(
                        f"{layout:6s} {phase:5s} work x{ratio:5.2f} ({a['work_s']:.2f} -> {b['work_s']:.2f} s)  "
                        f"wall x{b['wall_s'] / a['wall_s']:5.2f}  RSS {a['peak_rss_mib']:.0f} -> "
                        f"{b['peak_rss_mib']:.0f} MiB  "
                        f"{'met' if ratio <= 2 else 'NOT met'}"
                    )

        if args.big or args.big_only:
            big = root / "big.jsonl"
            t0 = time.perf_counter()
            lines, size_bytes = write_big(big, int(args.big_gb * 1e9), pool)
            print(
                f"\n== {size_bytes / 1e9:.2f} GB single .jsonl, {lines:,} documents (written in "
                f"{time.perf_counter() - t0:.0f} s) =="
            )
            try:
                cold = run_partition(str(big), root / "home-big", 1)
                print(
                    f"cold partition of {DOCS_PER_PARTITION:,}: work {cold['work_s']:.1f} s, wall "
                    f"{cold['wall_s']:.1f} s, "
                    f"CPU {cold['cpu_s']:.1f} s, peak RSS {cold['peak_rss_mib']:.0f} MiB "
                    f"(target <= 1024 MiB: {'met' if cold['peak_rss_mib'] <= 1024 else 'NOT met'}); "
                    f"documents {cold['documents']} + rejects {cold['rejects']}"
                )
            finally:
                big.unlink(missing_ok=True)
    print(ic.machine_line())


if __name__ == "__main__":
    main()
