"""End-to-end offline run of the whole graph for one partition, at 10k and 100k documents.

Each size runs in a fresh process, in-process executor, exactly as ``make run`` does,
and reports: wall time including interpreter and Dagster start-up, time and peak RSS
per stage, Dagster's own overhead (run wall minus the steps' compute), and the
process's peak RSS; with ``--repeat`` > 1, medians of the repeats. A small warm-up run
first compiles the numba kernels (once per machine, cached next to the sources) so the
measured runs do not include it.

    python benchmarks/e2e.py                       # 10k (3 runs, median) and 100k (1 run)
    python benchmarks/e2e.py --sizes 10000 --repeat 3
    python benchmarks/e2e.py --sizes 100000 --repeat 1 --no-warmup

Targets: 10k documents <= 15 s wall (median, 2 cores, including start-up); 100k
documents within 2 GiB peak RSS. Like ``make run`` (``synth run``) it runs the whole
graph's job with Dagster's ``execute_job``, in process; ``materialize`` would also keep
every step's returned frame in memory until the run ends (docs/scaling.md says how much).

The corpus: real human-written text already on this machine, no network
-------------------------------------------------------------------------
Written once to a JSONL file (``{"text": ...}`` per line) in a temporary folder
(cached as ``$TMPDIR/synth-e2e-corpus/<recipe>-<interpreter>.jsonl``) and fed through
``SYNTH_CORPUS`` + ``SYNTH_DOCS_PER_PARTITION``; a partition takes the first N lines.
Sources, in this order, exact duplicates dropped:

1. Docstrings of >= 40 words of the installed packages (site-packages) and the
   standard library, whole, read with ``ast`` (nothing is imported): about 45k here.
   The first documents are therefore the same as in earlier versions of this
   benchmark, so the 10k figure stays comparable.
2. Python's help topics (``pydoc_data.topics``), the long descriptions in the
   packages' ``METADATA`` files and the ``.md`` / ``.rst`` / ``.txt`` files shipped in
   site-packages and the standard library (licence, notice, changelog-style and
   packaging files skipped).
3. Javadoc comments of the JDK's own sources (``src.zip`` of every JDK under
   /usr/lib/jvm: installed here with OpenJDK/Temurin; on Debian ``apt-get install
   openjdk-17-source``), whole comments like the docstrings: block tags (``@param`` ...)
   and ``<pre>`` blocks dropped, ``{@code x}`` / ``{@link x}`` kept as their text, HTML
   removed. Optional.
4. English manual pages under ``/usr/share/man/man[1-8]`` (gzip roff source,
   converted by a small roff-to-text reader below: requests dropped, font and
   character escapes resolved, no-fill blocks (examples, tables, equations) skipped, as are the
   NAME, SYNOPSIS, EXAMPLES, SEE ALSO, AUTHORS and COPYRIGHT sections). On Debian they
   come with the packages' ``man`` pages (``apt-get install manpages manpages-dev`` adds
   the Linux pages) when the image does not strip ``/usr/share/man``. Optional: without
   them the corpus is smaller and the benchmark says so.

Sources 2 and 4 are cut at paragraph boundaries: consecutive paragraphs of one file
(and one section of a man page) are joined until they reach 40 words, code blocks,
tables and headings are left out, and a document is kept only when at least 60 % of
its whitespace-separated tokens are plain words (prose, not option tables or code).
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PARTITION = "2026-03-02"
MIN_WORDS = 40
RECIPE = "v3"  # bump when the corpus recipe changes (it names the cache file)

CHILD = r"""
import json, resource, sys, threading, time
t0 = time.perf_counter()
from dagster import DagsterInstance, execute_job, reconstructable
from synth_pipeline.cli import pipeline_job
from synth_pipeline.definitions import load_defs
defs = load_defs()
t_import = time.perf_counter() - t0
samples, stop = [], threading.Event()
def sample_rss():
    page = __import__("os").sysconf("SC_PAGE_SIZE")
    while not stop.is_set():
        with open("/proc/self/statm") as f:
            samples.append((time.time(), int(f.read().split()[1]) * page / 2**20))
        stop.wait(0.05)
threading.Thread(target=sample_rss, daemon=True).start()
t1 = time.perf_counter()
instance = DagsterInstance.ephemeral()
with execute_job(reconstructable(pipeline_job), instance=instance, tags={"dagster/partition": sys.argv[1]}) as result:
    run_id, success = result.run_id, result.success
    checks = result.get_asset_check_evaluations()
run_wall = time.perf_counter() - t1
stop.set()
steps, rss, started = {}, {}, {}
for entry in instance.all_logs(run_id):
    e = entry.dagster_event
    if e is None:
        continue
    if e.event_type_value == "STEP_START":
        started[e.step_key] = entry.timestamp
    elif e.event_type_value == "STEP_SUCCESS":
        steps[e.step_key] = e.event_specific_data.duration_ms / 1000
        window = [m for t, m in samples if started.get(e.step_key, 0) <= t <= entry.timestamp + 0.05]
        rss[e.step_key] = max(window, default=0.0)
failed = {c.check_name: {k: getattr(v, "value", v) for k, v in c.metadata.items()} for c in checks if not c.passed}
print(json.dumps({"failed": failed, "success": success, "import_s": t_import, "run_s": run_wall, "steps": steps,
                  "step_rss_mib": rss, "checks_failed": sum(not c.passed for c in checks),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# --------------------------------------------------------------------------- corpus

_PLAIN_WORD = re.compile(r"^[(\"'“‘]?[A-Za-z][A-Za-z'’-]*[)\"'”’.,;:!?]*$")
_SKIP_TEXT_FILES = re.compile(
    r"licen[cs]e|copying|notice|authors|contributors|changelog|changes|history|news|record|entry_points|"
    r"top_level|requirements|sources|dependency_links|installer|wheel|api_tests|namespace_packages",
    re.I,
)


def _words(text: str) -> int:
    return len(text.split())


def _prose(text: str) -> bool:
    tokens = text.split()
    return len(tokens) >= MIN_WORDS and sum(bool(_PLAIN_WORD.match(t)) for t in tokens) >= 0.6 * len(tokens)


def _documents(paragraphs: Iterator[str | None]) -> Iterator[str]:
    """Consecutive paragraphs joined until >= 40 words; ``None`` ends a run (a new section)."""
    run: list[str] = []
    for para in [*paragraphs, None]:
        if para is None:
            run = []
            continue
        run.append(para)
        text = "\n\n".join(run)
        if _words(text) >= MIN_WORDS:
            if _prose(text):
                yield text
            run = []


def _roots() -> list[Path]:
    return [Path(p) for p in sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]})]


def docstrings() -> Iterator[str]:
    """Whole docstrings of >= 40 words (the original recipe of this benchmark)."""
    for root in _roots():
        for file in sorted(root.rglob("*.py")):
            try:
                tree = ast.parse(file.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError, MemoryError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc and _words(doc) >= MIN_WORDS:
                        yield doc


def _text_paragraphs(text: str) -> Iterator[str | None]:
    """Prose paragraphs of Markdown / reST / plain text; headings end a run, code and tables are dropped."""
    fenced = False
    for block in re.split(r"\n\s*\n", text):
        lines = block.splitlines()
        if not lines:
            continue
        if any(line.lstrip().startswith(("```", "~~~")) for line in lines):
            fenced = not fenced if sum(line.lstrip().startswith(("```", "~~~")) for line in lines) % 2 else fenced
            continue
        if fenced:
            continue
        if lines[0].startswith(("    ", "\t", "..", ">>>", "|", "+-", "$ ")) or block.rstrip().endswith("::"):
            continue
        if lines[0].lstrip().startswith("#") or (len(lines) >= 2 and re.fullmatch(r"[=\-~^*#]{3,}", lines[-1].strip())):
            yield None
            continue
        yield " ".join(line.strip() for line in lines)


def text_files() -> Iterator[str]:
    import pydoc_data.topics

    for name in sorted(pydoc_data.topics.topics):
        yield from _documents(_text_paragraphs(pydoc_data.topics.topics[name]))
    for root in _roots():
        for file in sorted(root.rglob("*")):
            if file.name == "METADATA" and file.parent.name.endswith(".dist-info"):
                body = file.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)
                if len(body) == 2:
                    yield from _documents(_text_paragraphs(body[1]))
            elif file.suffix in {".md", ".rst", ".txt"} and not _SKIP_TEXT_FILES.search(file.name):
                try:
                    if file.stat().st_size > 2_000_000:
                        continue
                    yield from _documents(_text_paragraphs(file.read_text(encoding="utf-8")))
                except (UnicodeDecodeError, OSError):
                    continue


_ROFF_CHARS = {
    "em": "—",
    "en": "–",
    "aq": "'",
    "lq": "“",
    "rq": "”",
    "oq": "‘",
    "cq": "’",
    "dq": '"',
    "bu": "",
    "mi": "-",
    "hy": "-",
    "co": "©",
    "rg": "®",
    "tm": "™",
    "ga": "`",
    "ti": "~",
    "ha": "^",
}
_ROFF_ESCAPE = re.compile(
    r"\\(?:f(?:\[[^\]]*\]|\(..|.)|\((..)|\[([^\]]*)\]|\*(?:\(..|\[[^\]]*\]|.)|s[+-]?\d|[-e&|^c ~0])"
)
_SKIPPED_SECTIONS = {
    "NAME",
    "SYNOPSIS",
    "EXAMPLES",
    "EXAMPLE",
    "SEE ALSO",
    "AUTHORS",
    "AUTHOR",
    "COPYRIGHT",
    "LICENSE",
    "REPORTING BUGS",
}
_FONT_REQUESTS = {"B", "I", "BR", "RB", "IR", "RI", "BI", "IB", "SM", "SB", "Nm", "Ar", "Em"}


def _roff_text(line: str) -> str:
    def escape(m: re.Match) -> str:
        whole = m.group(0)
        name = m.group(1) or m.group(2)
        if name:
            return _ROFF_CHARS.get(name, "")
        if whole in ("\\-",):
            return "-"
        if whole == "\\e":
            return "\\"
        if whole in ("\\ ", "\\~", "\\0"):
            return " "
        if whole.startswith("\\*"):
            return '"' if whole in ('\\*(L"', '\\*(R"') else ""
        return ""

    return _ROFF_ESCAPE.sub(escape, line)


def _man_paragraphs(source: str) -> Iterator[str | None]:
    section, nofill, para = "", False, []
    for raw in source.splitlines():
        if raw.startswith(('.\\"', "'\\\"", '.\\"')):
            continue
        if raw.startswith((".", "'")):
            parts = raw[1:].split(None, 1)
            request = parts[0] if parts else ""
            argument = parts[1] if len(parts) > 1 else ""
            if request in ("nf", "EX", "Vb", "Bd", "TS", "EQ"):
                nofill = True
            elif request in ("fi", "EE", "Ve", "Ed", "TE", "EN"):
                nofill = False
            if request in _FONT_REQUESTS and not nofill and section not in _SKIPPED_SECTIONS:
                para.append(_roff_text(argument).replace('"', ""))
                continue
            if para:
                yield " ".join(para)
                para = []
            if request in ("SH", "Sh"):
                section = _roff_text(argument).strip('"').strip().upper()
                yield None
            elif request in ("SS", "Ss", "TP", "IP", "HP"):
                yield None
            continue
        if nofill or section in _SKIPPED_SECTIONS:
            continue
        text = _roff_text(raw).strip()
        if text:
            para.append(text)
        elif para:
            yield " ".join(para)
            para = []
    if para:
        yield " ".join(para)


def man_pages(root: Path = Path("/usr/share/man")) -> Iterator[str]:
    for folder in sorted(root.glob("man[1-8]")):
        for file in sorted(folder.iterdir()):
            try:
                data = gzip.decompress(file.read_bytes()) if file.suffix == ".gz" else file.read_bytes()
            except (OSError, EOFError, gzip.BadGzipFile):
                continue
            source = data.decode("utf-8", errors="replace")
            if source.startswith(".so "):
                continue  # an alias of another page
            yield from _documents(_man_paragraphs(source))


def jdk_sources() -> list[Path]:
    """The ``src.zip`` of each JDK installed under /usr/lib/jvm (one per real file)."""
    found = {
        p.resolve(): None
        for p in sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip")) + sorted(Path("/usr/lib/jvm").glob("*/src.zip"))
    }
    return [p for p in found if p.is_file()]


_JAVADOC = re.compile(r"/\*\*(.*?)\*/", re.S)
_INLINE_TAG = re.compile(r"\{@(?:code|literal|link|linkplain|value|systemProperty|index)\s+([^{}]*)\}")
_PRE = re.compile(r"<pre>.*?</pre>", re.S | re.I)
_BLOCK_TAGS = re.compile(r"<(?:p|ul|ol|li|dl|dt|dd|table|h\d|blockquote)\b[^>]*>", re.I)


def javadoc() -> Iterator[str]:
    """Whole Javadoc comments of the JDK's own sources (prose only: tags, code and markup removed)."""
    import html
    import zipfile

    for archive in jdk_sources():
        with zipfile.ZipFile(archive) as z:
            for name in sorted(n for n in z.namelist() if n.endswith(".java")):
                source = z.read(name).decode("utf-8", errors="replace")
                for m in _JAVADOC.finditer(source):
                    lines = [re.sub(r"^\s*\*? ?", "", line) for line in m.group(1).splitlines()]
                    body = "\n".join(lines).split("\n@", 1)[0]  # block tags (@param, @return ...) end the prose
                    body = _PRE.sub("\n\n", body)
                    body = _INLINE_TAG.sub(
                        lambda t: t.group(1).split(" ", 1)[-1] if " " in t.group(1).strip() else t.group(1), body
                    )
                    body = _BLOCK_TAGS.sub("\n\n", body)
                    body = html.unescape(re.sub(r"<[^>]+>", "", body))
                    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]
                    text = "\n\n".join(paragraphs)
                    if _prose(text):
                        yield text


SOURCES = (
    ("docstrings", docstrings),
    ("help topics, METADATA and text files", text_files),
    ("JDK Javadoc comments", javadoc),
    ("man pages", man_pages),
)


def build_corpus(path: Path, needed: int) -> dict[str, int]:
    """Write up to ``needed`` distinct documents; returns the count per source."""
    seen: set[bytes] = set()
    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as out:
        for name, source in SOURCES:
            counts[name] = 0
            for text in source():
                digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
                if digest in seen:
                    continue
                seen.add(digest)
                out.write(json.dumps({"text": text}) + "\n")
                counts[name] += 1
                if len(seen) >= needed:
                    return counts
    return counts


def cached_corpus(needed: int) -> tuple[Path, dict[str, int]]:
    key = hashlib.sha256(f"{RECIPE}|{sys.version}|{_roots()}|{needed}".encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / "synth-e2e-corpus"
    path, meta = folder / f"{key}.jsonl", folder / f"{key}.json"
    if path.exists() and meta.exists():
        return path, json.loads(meta.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    counts = build_corpus(tmp, needed)
    tmp.replace(path)
    meta.write_text(json.dumps(counts))
    return path, counts


# --------------------------------------------------------------------------- runs


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
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument(
        "--repeat",
        type=int,
        nargs="+",
        default=None,
        help="runs per size (one value for all, or one per size); default 3 for 10k, 1 above",
    )
    parser.add_argument(
        "--no-warmup", action="store_true", help="skip the 200-document run that compiles numba kernels"
    )
    args = parser.parse_args()
    repeats = args.repeat or [3 if s <= 10_000 else 1 for s in args.sizes]
    repeats = repeats * len(args.sizes) if len(repeats) == 1 else repeats

    started = time.perf_counter()
    corpus, counts = cached_corpus(max(args.sizes))
    total = sum(counts.values())
    print(f"corpus: {total:,} real documents in {corpus} ({time.perf_counter() - started:.0f} s to build or load)")
    for name, n in counts.items():
        print(f"  {name:40s} {n:7,d}")
    if total < max(args.sizes):
        print(
            f"  only {total:,} documents for {max(args.sizes):,} asked: sources 3 and 4 are optional and "
            "missing here (JDK src.zip under /usr/lib/jvm: apt-get install openjdk-17-source; manual pages "
            "under /usr/share/man: apt-get install manpages manpages-dev); the largest size runs on what there is"
        )
    if not args.no_warmup:
        run_once(corpus, 200)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    medians: dict[int, dict] = {}
    for size, repeat in zip(args.sizes, repeats, strict=True):
        runs = [run_once(corpus, size) for _ in range(repeat)]
        steps = {k: statistics.median(r["steps"][k] for r in runs) for k in runs[0]["steps"]}
        step_rss = {k: statistics.median(r["step_rss_mib"].get(k, 0.0) for r in runs) for k in runs[0]["steps"]}
        med = {
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "walls": [round(r["wall_s"], 1) for r in runs],
            "startup_s": statistics.median(r["wall_s"] - r["run_s"] for r in runs),
            "run_s": statistics.median(r["run_s"] for r in runs),
            "overhead_s": statistics.median(r["run_s"] - sum(r["steps"].values()) for r in runs),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in runs),
            "checks_failed": max(r["checks_failed"] for r in runs),
            "steps": steps,
        }
        medians[size] = med
        print(f"\n== {min(size, total):,} documents (median of {repeat}; load average {os.getloadavg()[0]:.1f}) ==")
        print(
            f"wall incl. start-up  {med['wall_s']:7.2f} s   runs {med['walls']} "
            f"(start-up + imports {med['startup_s']:.2f} s)"
        )
        print(
            f"dagster run          {med['run_s']:7.2f} s   (Dagster overhead outside steps {med['overhead_s']:.2f} s)"
        )
        print(f"peak RSS             {med['peak_rss_mib']:7.0f} MiB")
        print(f"failed checks        {med['checks_failed']:7d}")
        print(f"  {'stage':28s} {'time':>9s} {'peak RSS':>10s}")
        for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
            print(f"  {step:28s} {seconds:7.2f} s {step_rss[step]:6.0f} MiB")
    if 10_000 in medians:
        wall = medians[10_000]["wall_s"]
        print(
            f"\ntarget: 10k documents <= 15 s wall incl. start-up: {'met' if wall <= 15 else 'NOT met'} ({wall:.1f} s)"
        )
    big = max(medians)
    if big >= 100_000:
        rss = medians[big]["peak_rss_mib"]
        print(
            f"target: {min(big, total):,} documents <= 2 GiB peak RSS: "
            f"{'met' if rss <= 2048 else 'NOT met'} ({rss:,.0f} MiB)"
        )


if __name__ == "__main__":
    main()
