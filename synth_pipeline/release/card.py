"""The dataset card (``README.md``) of a release.

The YAML front matter is what the Hugging Face ``datasets`` library and the Hub read:
``configs`` with ``data_files`` per split, licence fields, tags. The body quotes the
quality report's own figures (``synth.quality_metrics``) and nothing recomputed, so the
card and the report cannot disagree; shares are printed to 4 decimals, counts exactly.

A partition with 0 documents still gets a release (the cumulative mix of the earlier
partitions, or no rows at all), and its card says in its first lines that the partition
is empty, so a 0-row release is never mistaken for a broken one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OFFLINE_NOTE = (
    "The synthetic items were produced by the **offline backend**: a deterministic extractive generator "
    "and a heuristic judge, not a language model. They are reorganised passages of the real documents."
)


@dataclass
class ReleaseFacts:
    partition: str
    partitions: list[str]
    per_partition: dict[str, dict[str, float]]  # quality_metrics, scope 'partition', by partition
    cumulative: dict[str, float]  # quality_metrics, scope 'cumulative', of the release partition
    checks: list[dict]
    files: list[dict]
    columns: list[dict]
    lineage: dict
    licence: dict[str, str]
    corpus: str
    chat: bool
    caps: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    package_version: str = ""
    code_version: str | None = None
    git_commit: str | None = None
    checks_source: str = ""


def partition_status(metrics: dict[str, float]) -> tuple[str, str]:
    """(status, what it is and why) of one partition from its quality_metrics: 'scored', 'empty' or 'no_items'."""
    if metrics.get("funnel.documents") == 0:
        read = int(metrics.get("funnel.documents_read") or 0)
        why = (
            f"all {read} inputs were rejected"
            if read
            else "no inputs were left for it (the corpus is used up or empty)"
        )
        return "empty", f"empty: 0 documents ({why})"
    if metrics.get("mix.items") == 0:
        return "no_items", "without items: every candidate was excluded"
    return "scored", ""


def empty_partitions(facts: ReleaseFacts) -> list[str]:
    """Reported partitions up to the release that added no items (not in ``facts.partitions``
    unless it is the release partition itself)."""
    return [d for d in sorted(facts.per_partition) if partition_status(facts.per_partition[d])[0] != "scored"]


def fmt(value: float | int | None, *, share: bool = False) -> str:
    """Counts exactly, shares and scores to 4 decimals; the test reads the card back with this."""
    if value is None:
        return "n/a"
    value = float(value)
    if value != value:  # NaN
        return "n/a"
    if not share and value.is_integer():
        return str(int(value))
    return f"{value:.4f}"


def _size_category(rows: int) -> str:
    for bound, label in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if rows < bound:
            return label
    return "10M<n<100M"


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def front_matter(facts: ReleaseFacts) -> str:
    rows = int(facts.cumulative.get("mix.items", 0))
    lines = ["---"]
    for key in ("license", "license_name", "license_link"):
        if key in facts.licence:
            lines.append(f"{key}: {_yaml_str(facts.licence[key])}")
    if facts.corpus.strip() == "builtin:python-docs":
        lines += ["language:", "- en"]
    lines += [
        f"pretty_name: {_yaml_str(f'synth_pipeline mix up to {facts.partition}')}",
        "size_categories:",
        f"- {_yaml_str(_size_category(rows))}",
        "task_categories:",
        "- text-generation",
        "tags:",
        "- synthetic",
        "- synth_pipeline",
        "configs:",
        "- config_name: default",
        "  default: true",
        "  data_files:",
        "  - split: train",
        "    path: data/train-*.parquet",
    ]
    # No "chat" config here: `datasets` picks one builder for all of a folder's configs from the
    # first config's files, so a JSONL config beside the Parquet one would be read as Parquet.
    lines.append("---")
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


# (label, quality_metrics key, is a share) — the card's rows; the test maps labels back to keys.
COMPOSITION = [
    ("items", "mix.items", False),
    ("synthetic items", "mix.synthetic_items", False),
    ("synthetic share (items)", "mix.synthetic_item_share", True),
    ("synthetic share (tokens)", "mix.synthetic_token_share", True),
    ("partitions", "mix.partitions", False),
]
PARTITION_COLUMNS = [
    ("items", "mix.items", False),
    ("real items", "mix.real_items", False),
    ("synthetic items", "mix.synthetic_items", False),
    ("real tokens", "mix.real_tokens", False),
    ("synthetic tokens", "mix.synthetic_tokens", False),
    ("synthetic share (items)", "mix.synthetic_item_share", True),
    ("synthetic share (tokens)", "mix.synthetic_token_share", True),
    ("acceptance rate", "grading.acceptance_rate", True),
    ("mean judge score", "grading.mean_score", True),
]
DIVERSITY_COLUMNS = [
    ("distinct-2 synthetic", "synthetic.distinct_2", True),
    ("distinct-2 real", "real.distinct_2", True),
    ("compression ratio synthetic", "synthetic.compression_ratio", True),
    ("compression ratio real", "real.compression_ratio", True),
    ("self-BLEU synthetic", "synthetic.self_bleu", True),
    ("self-BLEU real", "real.self_bleu", True),
    ("unigram JSD synthetic vs real", "drift.unigram_jsd", True),
    ("length KS", "drift.length_ks", True),
]
CHECK_COLUMNS = [
    ("checks passed", "checks.passed", False),
    ("checks failed", "checks.failed", False),
    ("blocking checks failed", "checks.failed_blocking", False),
]


def _per_partition_table(facts: ReleaseFacts, columns: list[tuple[str, str, bool]]) -> list[str]:
    rows = [
        [day, *(fmt(facts.per_partition[day].get(key), share=share) for _, key, share in columns)]
        for day in facts.partitions
    ]
    return _table(["partition", *(label for label, _, _ in columns)], rows)


def _check_value(details: dict) -> str:
    parts = []
    for key, value in details.items():
        if key == "what_to_do":
            continue
        parts.append(
            f"{key}={fmt(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value}"
        )
    return ", ".join(parts).replace("|", "\\|")


def render_card(facts: ReleaseFacts) -> str:
    """The card: front matter, then one section after another (each a list of lines)."""
    out = [front_matter(facts), ""]
    for section in SECTIONS:
        out += section(facts)
    return "\n".join(out)


def _summary(facts: ReleaseFacts) -> list[str]:
    rows = int(facts.cumulative.get("mix.items", 0))
    backends = sorted({g["backend"] for g in facts.lineage.get("generators", [])})
    out = [f"# synth_pipeline mix up to {facts.partition}", ""]
    out += [
        f"A training mix of real documents and LLM-generated samples: {rows} items from "
        f"{len(facts.partitions)} daily partition(s) ({facts.partitions[0]} to {facts.partitions[-1]}), "
        "assembled under a blocking cap on the synthetic share, deduplicated, and traced item by item to "
        "the real document each came from. Every figure below is the quality report's own "
        "(`synth.quality_metrics`, `quality_report_<partition>.html`), not a second computation.",
        "",
    ]
    status, sentence = partition_status(facts.per_partition.get(facts.partition, {}))
    if status != "scored":
        rest = (
            f"this release is the cumulative mix of the earlier partitions ({rows} items), unchanged"
            if rows
            else "this release has 0 rows, there is nothing to train on yet"
        )
        out += [
            f"> **The partition {facts.partition} is {sentence}.** It adds no items and has no quality score; "
            f"its checks passed with nothing to check. This is not a failure: {rest}.",
            "",
        ]
    others = [d for d in empty_partitions(facts) if d != facts.partition]
    if others:
        out += [
            f"Partitions up to {facts.partition} that added no items (0 documents or every candidate excluded): "
            f"{', '.join(others)}.",
            "",
        ]
    if "offline" in backends:
        out += [f"> {OFFLINE_NOTE}", ""]
    return out


def _load_it(facts: ReleaseFacts) -> list[str]:
    out = [
        "## Load it",
        "",
        "```python",
        "import datasets, polars as pl",
        'ds = datasets.load_dataset("path/to/this/folder", split="train")            # the card\'s configs',
        'ds = datasets.load_dataset("parquet", data_files="data/*.parquet", split="train")',
        'df = pl.read_parquet("data/*.parquet")',
    ]
    if facts.chat:
        out += ['chat = datasets.load_dataset("json", data_files="chat/*.jsonl", split="train")  # {"messages": [...]}']
    return [*out, "```", ""]


def _composition(facts: ReleaseFacts) -> list[str]:
    c = facts.cumulative
    out = ["## Composition (cumulative)", ""]
    out += _table(["figure", "value"], [[label, fmt(c.get(key), share=share)] for label, key, share in COMPOSITION])
    repeated = facts.lineage.get("repeated_item_ids", 0)
    if repeated:
        out += [
            "",
            f"> **Warning:** {repeated} items repeat an item (same `item_id`, a content hash) of an earlier "
            "partition: the corpus cycled through its slices. The figures above count them, as the quality report "
            "does; deduplicate on `item_id` before training if the repetition is not intended.",
        ]
    out += [
        "",
        f"Caps enforced by blocking checks: synthetic token share ≤ {facts.caps.get('max_synthetic_ratio')}, "
        f"synthetic item share ≤ {facts.caps.get('max_synthetic_item_ratio')} (partition and cumulative).",
        "",
    ]
    return out + ["### By partition", ""] + _per_partition_table(facts, PARTITION_COLUMNS) + [""]


def _diversity(facts: ReleaseFacts) -> list[str]:
    out = [
        "## Diversity and drift",
        "",
        f"Synthetic text must keep distinct-2 ≥ {facts.caps.get('min_distinct_2')} and gzip compression ratio "
        f"≤ {facts.caps.get('max_compression_ratio')} (blocking). Self-BLEU is 0–100, higher = more alike.",
        "",
    ]
    return out + _per_partition_table(facts, DIVERSITY_COLUMNS) + [""]


def _checks(facts: ReleaseFacts) -> list[str]:
    source = f" ({facts.checks_source})" if facts.checks_source else ""
    out = ["## Checks", "", f"Results of the partition {facts.partition}{source}:", ""]
    out += _table(
        ["check", "severity", "result", "measured and threshold"],
        [
            [
                ch["check"],
                ch.get("severity", ""),
                "passed" if ch["passed"] else "FAILED",
                _check_value(ch.get("details", {})),
            ]
            for ch in facts.checks
        ],
    )
    out += [
        "",
        "Every included partition's quality report recorded no failed blocking (ERROR) check; the release refuses "
        "otherwise. Failed warnings are shipped and shown here:",
        "",
    ]
    return out + _per_partition_table(facts, CHECK_COLUMNS) + [""]


def _fields(facts: ReleaseFacts) -> list[str]:
    out = ["## Fields", ""]
    out += _table(["column", "type"], [[f"`{col['name']}`", col["type"]] for col in facts.columns])
    out += [
        "",
        "`origin` is `real` or `synthetic`; `doc_id` → `synth.raw_corpus`, `prompt_id` → `synth.seed_prompts`, "
        "`sample_id` → `synth.generated_samples` / `synth.graded_samples` (row-level lineage); `score` is the judge's "
        "weighted score (1–10) of a synthetic item.",
        "",
    ]
    if facts.chat:
        out += [
            'The `chat` config holds the synthetic items only, as `{"messages": [...]}`: the messages the generator '
            "was sent (system, user with the source passage) followed by the sample as the assistant turn.",
            "",
        ]
    return out


def _lineage(facts: ReleaseFacts) -> list[str]:
    lineage = facts.lineage
    out = ["## Lineage of this release", ""]
    out += [
        f"- release partition: {facts.partition}; source partitions: {', '.join(facts.partitions)}",
        f"- produced by synth_pipeline {facts.package_version}"
        + (f", release code version `{facts.code_version}`" if facts.code_version else "")
        + (f", git commit `{facts.git_commit}`" if facts.git_commit else "")
        + (f", Dagster run `{facts.run_id}`" if facts.run_id else ""),
        f"- corpus: `{facts.corpus}`",
    ]
    for g in lineage.get("generators", []):
        out.append(f"- generator `{g['backend']}:{g['generator_model']}`, judge `{g['judge_model']}`")
    for version, count in lineage.get("pipeline_versions", {}).items():
        out.append(f"- `{version}`: {count} items")
    out += ["", "Sources of the real documents:", ""]
    out += _table(
        ["source", "documents"], [[f"`{s['source']}`", str(s["documents"])] for s in lineage.get("corpus_sources", [])]
    )
    return [*out, ""]


def _files(facts: ReleaseFacts) -> list[str]:
    out = ["## Files", "", "Content hashes are repeated in `manifest.json` (with the card's own hash).", ""]
    out += _table(
        ["file", "config", "rows", "bytes", "sha256"],
        [[f["path"], f["config"], str(f["rows"]), str(f["bytes"]), f"`{f['sha256']}`"] for f in facts.files],
    )
    return [*out, ""]


def _licence(facts: ReleaseFacts) -> list[str]:
    out = ["## Licence", ""]
    lic = facts.licence
    if lic.get("license") == "unknown":
        return out + [
            "The licence of the corpus was not declared: set `SYNTH_RELEASE_LICENSE` (and "
            "`SYNTH_RELEASE_LICENSE_NAME`, "
            "`SYNTH_RELEASE_LICENSE_LINK`) before publishing this release.",
            "",
        ]
    name = lic.get("license_name", lic["license"])
    link = f" ({lic['license_link']})" if "license_link" in lic else ""
    return out + [
        f"Real documents: `{name}`{link}. Synthetic items derive from those passages and carry their licence, "
        "plus the terms of the generator model that wrote them.",
        "",
    ]


# The card's body, in order.
SECTIONS = (_summary, _load_it, _composition, _diversity, _checks, _fields, _lineage, _files, _licence)
