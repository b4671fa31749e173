"""End-to-end offline run of the whole graph for one partition, at 1k and 10k documents.

Each size runs in a fresh process, in-process executor, exactly as ``make run`` does,
and reports: wall time including interpreter and Dagster start-up, time per stage,
Dagster's own overhead (run wall minus the steps' compute), and peak RSS. The corpus
is real human-written text: docstrings of the installed packages and the standard
library (>= 40 words each), written to a JSONL file, so no download is needed.

    python benchmarks/e2e.py                 # 1k and 10k, 3 repetitions each, medians
    python benchmarks/e2e.py --sizes 1000 --repeat 1

Target (ARCHITECTURE.md): 10k documents in <= 60 s on 2 cores including start-up, and
cost growing linearly with documents.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PARTITION = "2026-03-02"

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from dagster import DagsterInstance, materialize
from synth_pipeline.definitions import defs
t_import = time.perf_counter() - t0
t1 = time.perf_counter()
result = materialize(list(defs.assets), partition_key=sys.argv[1], resources=defs.resources,
                     instance=DagsterInstance.ephemeral(), raise_on_error=False)
run_wall = time.perf_counter() - t1
steps = {e.step_key: e.event_specific_data.duration_ms / 1000
         for e in result.all_events if e.event_type_value == "STEP_SUCCESS"}
checks = result.get_asset_check_evaluations()
failed = {c.check_name: {k: getattr(v, "value", v) for k, v in c.metadata.items()} for c in checks if not c.passed}
print(json.dumps({"failed": failed, "success": result.success, "import_s": t_import, "run_s": run_wall, "steps": steps,
                  "checks_failed": sum(not c.passed for c in checks),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def build_corpus(path: Path, needed: int) -> int:
    """Real docstrings (>= 40 words) from site-packages and the stdlib, deduplicated."""
    roots = [Path(p) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]}]
    seen: set[str] = set()
    with path.open("w", encoding="utf-8") as out:
        for root in roots:
            for file in sorted(root.rglob("*.py")):
                try:
                    tree = ast.parse(file.read_text(encoding="utf-8"))
                except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                    continue
                for node in ast.walk(tree):
                    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                        doc = ast.get_docstring(node)
                        if doc and len(doc.split()) >= 40 and doc not in seen:
                            seen.add(doc)
                            out.write(json.dumps({"text": doc}) + "\n")
                            if len(seen) >= needed:
                                return len(seen)
    return len(seen)


def run_once(corpus: Path, size: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "SYNTH_HOME": home, "SYNTH_CORPUS": str(corpus), "SYNTH_DOCS_PER_PARTITION": str(size)}
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, PARTITION], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"run failed for {size} documents:\n{proc.stderr[-4000:]}")
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
        for name, values in figures["failed"].items():
            print(f"  check failed at {size} documents: {name} {values}")
        figures["wall_s"] = wall
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.jsonl"
        available = build_corpus(corpus, max(args.sizes))
        print(f"corpus: {available} real docstrings (>= 40 words) from site-packages and the stdlib")
        medians: dict[int, dict] = {}
        for size in args.sizes:
            runs = [run_once(corpus, size) for _ in range(args.repeat)]
            steps = {k: statistics.median(r["steps"][k] for r in runs) for k in runs[0]["steps"]}
            med = {
                "wall_s": statistics.median(r["wall_s"] for r in runs),
                "startup_s": statistics.median(r["wall_s"] - r["run_s"] for r in runs),
                "run_s": statistics.median(r["run_s"] for r in runs),
                "overhead_s": statistics.median(r["run_s"] - sum(r["steps"].values()) for r in runs),
                "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
                "checks_failed": max(r["checks_failed"] for r in runs),
                "steps": steps,
            }
            medians[size] = med
            print(f"\n== {size} documents (median of {args.repeat}) ==")
            print(f"wall incl. start-up  {med['wall_s']:7.2f} s   (start-up + imports {med['startup_s']:.2f} s)")
            print(f"dagster run          {med['run_s']:7.2f} s   (Dagster overhead outside steps {med['overhead_s']:.2f} s)")
            print(f"peak RSS             {med['peak_rss_mib']:7.0f} MiB")
            print(f"failed checks        {med['checks_failed']:7d}")
            for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
                print(f"  {step:28s} {seconds:7.2f} s")
        if len(medians) >= 2:
            small, large = min(medians), max(medians)
            a, b = medians[small], medians[large]
            compute = lambda m: sum(m["steps"].values())  # noqa: E731
            print(f"\nscaling {small} -> {large} documents ({large / small:.0f}x): "
                  f"step compute x{compute(b) / compute(a):.1f}, wall x{b['wall_s'] / a['wall_s']:.1f}, "
                  f"per-document compute {1000 * compute(a) / small:.2f} ms -> {1000 * compute(b) / large:.2f} ms")
            print(f"target: {large} documents <= 60 s wall incl. start-up: {'met' if b['wall_s'] <= 60 else 'NOT met'} ({b['wall_s']:.1f} s)")


if __name__ == "__main__":
    main()
