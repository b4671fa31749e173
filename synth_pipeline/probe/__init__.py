"""Collapse probe: retrain a small LM on its own samples and see when the pipeline's gates fire.

Dagster-free; ``synth probe`` and ``benchmarks/collapse_probe.py`` are thin wrappers over
:func:`run_and_write`. Method and measured figures: ``docs/collapse_probe.md``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from synth_pipeline.settings import Settings

from .collapse import ProbeConfig, ProbeResult, load_texts, run_probe
from .lm import KneserNeyTrigram, Vocabulary
from .report import first_failure_table, svg_chart, table, verdict

__all__ = [
    "KneserNeyTrigram",
    "ProbeConfig",
    "ProbeResult",
    "Vocabulary",
    "first_failure_table",
    "load_texts",
    "run_and_write",
    "run_probe",
    "svg_chart",
    "table",
    "verdict",
]


def run_and_write(
    settings: Settings, config: ProbeConfig, out_dir: Path, *, partition: str | None = None, docs: int = 1000
) -> ProbeResult:
    """Run the probe, print the tables, write ``collapse_probe.{md,svg,json}`` under ``out_dir``."""
    texts, source = load_texts(settings, partition, docs, config.seed)
    print(f"collapse probe on {source}")
    result = run_probe(texts, settings, config, source=source, log=print)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = "\n\n".join(
        [
            f"Source: {result.source}; {result.real_train_docs} training documents ({result.real_train_tokens} words), "
            f"{result.held_out_docs} held-out ({result.held_out_tokens} words), vocabulary {result.vocabulary}; "
            f"seed {config.seed}; {config.generations} generations; {result.seconds:.0f} s. "
            f"Embedding Vendi: {result.vendi_embedding_source}.",
            table(result),
            "First generation at which each gate fails:",
            first_failure_table(result),
            verdict(result),
        ]
    )
    (out_dir / "collapse_probe.md").write_text(md + "\n")
    (out_dir / "collapse_probe.svg").write_text(svg_chart(result))
    payload = {k: v for k, v in asdict(result).items() if k != "rows"}
    payload["rows"] = result.frame().to_dicts()
    payload["first_failures"] = result.first_failures()
    (out_dir / "collapse_probe.json").write_text(json.dumps(payload, indent=1, default=str))
    print()
    print(md)
    print(f"\nwrote {out_dir / 'collapse_probe.md'}, .svg, .json")
    return result
