"""Gather one partition's quality figures from the warehouse (partition and cumulative scope).

Every number in the report, the Dagster metadata and ``synth.quality_metrics`` comes
from here, so the three never disagree. Text metrics were computed once, in the mix
step (``synth.mix_metrics``); check results come from ``synth.check_results``. The SQL is
in ``dbt_like_sql/queries/`` (``report_*.sql``; the synthetic share is ``mix_shares.sql``,
the same definition the checks and the release use).

A partition with 0 documents (every input rejected, or an empty corpus slice) is
reported as *empty*: its rates are NaN (undefined, as every metric with nothing to
measure), it has no quality score, and ``status`` says so in words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import duckdb
import polars as pl

from synth_pipeline.metrics import overrepresented_ngrams, term_group_drift
from synth_pipeline.mix import metrics as mix_metrics
from synth_pipeline.mix.shares import mix_shares
from synth_pipeline.report import score
from synth_pipeline.settings import Settings
from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import _table_exists, partition_date

# The named queries (dbt_like_sql/queries/) the report reads: part of its code version.
QUERIES = (
    "mix_shares",
    "check_results",
    "report_acceptance_by",
    "report_best_accepted",
    "report_corpus_rejects",
    "report_cost",
    "report_exclusions",
    "report_funnel",
    "report_grading",
    "report_models",
    "report_rejected_examples",
    "report_score_histogram",
    "report_texts",
    "report_trend",
    "report_worst_accepted",
)
# ``QualityFigures.status``: what the partition holds, for the table row, the page and the card.
SCORED, EMPTY, NO_ITEMS = "scored", "empty", "no_items"


@dataclass
class QualityFigures:
    partition: str
    backend: str
    generator_model: str
    judge_model: str
    metrics: dict[str, float] = field(default_factory=dict)  # partition scope
    cumulative: dict[str, float] = field(default_factory=dict)  # cumulative scope
    subscores: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    band: str = ""
    fit_for: str = ""
    funnel: list[tuple[str, int]] = field(default_factory=list)
    exclusions: pl.DataFrame | None = None
    score_histogram: pl.DataFrame | None = None
    acceptance_by: dict[str, pl.DataFrame] = field(default_factory=dict)
    overrepresented: pl.DataFrame | None = None
    bias: pl.DataFrame | None = None
    trend: pl.DataFrame | None = None
    checks: list[dict] = field(default_factory=list)
    examples: dict[str, list[dict]] = field(default_factory=dict)
    corpus_rejects: pl.DataFrame | None = None  # reason, inputs
    status: str = SCORED
    status_note: str = ""


def _rate(numerator: float, denominator: float) -> float:
    """A share; NaN when there is nothing to divide (an empty partition has no rates)."""
    return numerator / denominator if denominator else float("nan")


def _funnel(con: duckdb.DuckDBPyConnection, partition: str, figures: QualityFigures, min_score: float) -> None:
    m = figures.metrics
    docs, rejects, prompts, samples, errors, graded, accepted, parse_failures, flagged, excluded = queries.one(
        con, "report_funnel", partition_date=partition
    )
    mix = mix_shares(con, partition)
    mix_real, mix_synth, tok_real, tok_synth = (
        mix.real_items,
        mix.synthetic_items,
        mix.real_tokens,
        mix.synthetic_tokens,
    )
    figures.funnel = [
        ("documents read", docs + rejects),
        ("documents accepted", docs),
        ("prompts", prompts),
        ("samples generated", samples - errors),
        ("samples graded", graded),
        ("samples accepted", accepted),
        ("synthetic items in mix", mix_synth),
        ("real items in mix", mix_real),
    ]
    m.update(
        {
            "funnel.documents_read": docs + rejects,
            "funnel.corpus_rejects": rejects,
            "funnel.documents": docs,
            "funnel.prompts": prompts,
            "funnel.samples": samples,
            "funnel.generation_errors": errors,
            "funnel.graded": graded,
            "funnel.accepted": accepted,
            "funnel.excluded": excluded,
            "mix.items": mix_real + mix_synth,
            "mix.real_items": mix_real,
            "mix.synthetic_items": mix_synth,
            "mix.real_tokens": tok_real,
            "mix.synthetic_tokens": tok_synth,
            "mix.synthetic_item_share": mix.synthetic_item_share,
            "mix.synthetic_token_share": mix.synthetic_token_share,
            "grading.acceptance_rate": _rate(accepted, samples),
            "grading.judge_parse_failure_rate": _rate(parse_failures, samples - errors),
            "grading.blocking_flag_rate": _rate(flagged, samples - errors),
            "generation.error_rate": _rate(errors, samples),
        }
    )
    mean_score, agreement = queries.one(con, "report_grading", partition_date=partition, min_score=min_score)
    m["grading.mean_score"] = mean_score if mean_score is not None else float("nan")
    m["grading.flag_judge_agreement"] = agreement if agreement is not None else float("nan")


def _cost(con: duckdb.DuckDBPyConnection, partition: str, m: dict[str, float]) -> None:
    usd, tokens, hits, requests = queries.one(con, "report_cost", partition_date=partition)
    m.update(
        {
            "cost.usd": usd,
            "cost.llm_tokens": tokens,
            "cost.cache_hit_rate": hits / max(1, requests),
            "cost.usd_per_accepted_sample": usd / max(1, m["funnel.accepted"]),
        }
    )


def _cumulative(
    con: duckdb.DuckDBPyConnection, partition: str, figures: QualityFigures, stored: dict[str, float]
) -> None:
    mix = mix_shares(con, partition, cumulative=True)
    figures.cumulative.update(stored)
    figures.cumulative.update(
        {
            "mix.items": mix.items,
            "mix.synthetic_items": mix.synthetic_items,
            "mix.partitions": mix.partitions,
            "mix.synthetic_item_share": mix.synthetic_item_share,
            "mix.synthetic_token_share": mix.synthetic_token_share,
        }
    )


def _texts(con: duckdb.DuckDBPyConnection, partition: str, origin: str) -> list[str]:
    return [t for (t,) in queries.rows(con, "report_texts", partition_date=partition, origin=origin)]


def recorded_checks(con: duckdb.DuckDBPyConnection, partition: str) -> tuple[list[dict], str]:
    """The partition's check results as the checking steps stored them in ``synth.check_results``,
    and where they come from in words (the Dagster runs that recorded them), for the card."""
    if not _table_exists(con, "check_results"):
        return [], "no check results stored in synth.check_results"
    stored = queries.frame(con, "check_results", partition_date=partition)
    checks = [
        {
            "asset": row["asset"],
            "check": row["check_name"],
            "passed": row["passed"],
            "severity": row["severity"],
            "details": json.loads(row["metadata"]),
        }
        for row in stored.iter_rows(named=True)
    ]
    runs = stored.get_column("dagster_run_id") if "dagster_run_id" in stored.columns else None
    if runs is not None and stored.height and runs.null_count() == 0:
        ids = ", ".join(sorted({r[:8] for r in runs.to_list()}))
        return checks, f"as recorded by Dagster in run {ids}, stored in synth.check_results"
    return checks, "as stored by the checks in synth.check_results"


def _report_checks(figures: QualityFigures, checks: list[dict]) -> None:
    figures.checks = checks
    # checks.failed counts blocking (ERROR) failures: the ones that stop a release.
    figures.metrics["checks.passed"] = sum(c["passed"] for c in checks)
    figures.metrics["checks.failed"] = sum(not c["passed"] and c["severity"] == "ERROR" for c in checks)
    figures.metrics["checks.warnings"] = sum(not c["passed"] and c["severity"] != "ERROR" for c in checks)


def collect(con: duckdb.DuckDBPyConnection, partition: str, settings: Settings) -> QualityFigures:
    backend, gen_model, judge_model = queries.one(con, "report_models", partition_date=partition)
    figures = QualityFigures(partition, backend or "none", gen_model or "none", judge_model or "none")
    stored = mix_metrics.load(con, partition)
    figures.metrics.update(stored["partition"])
    _funnel(con, partition, figures, settings.min_score)
    _cost(con, partition, figures.metrics)
    _cumulative(con, partition, figures, stored["cumulative"])
    _text_tables(con, partition, figures)
    _tables(con, partition, figures)
    _report_checks(figures, recorded_checks(con, partition)[0])
    figures.corpus_rejects = _corpus_rejects(con, partition)
    figures.status, figures.status_note = _status(figures.metrics, figures.corpus_rejects)
    _score(figures, settings)
    figures.trend = _trend(con, partition, figures)
    figures.examples = {
        label: queries.frame(con, name, partition_date=partition).to_dicts()
        for label, name in (
            ("best accepted", "report_best_accepted"),
            ("worst accepted", "report_worst_accepted"),
            ("rejected", "report_rejected_examples"),
        )
    }
    return figures


def _text_tables(con: duckdb.DuckDBPyConnection, partition: str, figures: QualityFigures) -> None:
    """The over-represented n-grams and term groups the mix step stored (computed here for a warehouse
    from before they were stored)."""
    tables = mix_metrics.load_tables(con, partition)
    if tables is not None:
        # Computed by the mix step from the tokenisation of its drift metrics.
        figures.overrepresented, figures.bias = tables["overrepresented"], tables["bias"]
        return
    synthetic, real = _texts(con, partition, "synthetic"), _texts(con, partition, "real")
    if synthetic and real:
        figures.overrepresented = overrepresented_ngrams(synthetic, real, n=mix_metrics.TICS_N, k=mix_metrics.TICS_K)
        figures.bias = term_group_drift(synthetic, real)


ACCEPTANCE_BY = ("task", "template_version", "audience", "model")


def _tables(con: duckdb.DuckDBPyConnection, partition: str, figures: QualityFigures) -> None:
    figures.exclusions = queries.frame(con, "report_exclusions", partition_date=partition)
    figures.score_histogram = queries.frame(con, "report_score_histogram", partition_date=partition)
    grouped = queries.frame(con, "report_acceptance_by", partition_date=partition)
    for by in ACCEPTANCE_BY:
        figures.acceptance_by[by] = grouped.filter(pl.col("grouped_by") == by).select(
            by, "samples", "acceptance_rate", "mean_score"
        )


def _score(figures: QualityFigures, settings: Settings) -> None:
    figures.subscores = score.subscores(
        figures.metrics,
        max_ratio=settings.max_synthetic_ratio,
        acceptance_band=(settings.min_acceptance_rate, settings.max_acceptance_rate),
        offline=figures.backend == "offline",
    )
    if figures.status != SCORED:
        # Subscores of nothing would read as "composition 100, grading 0": neither is true.
        figures.subscores = {k: float("nan") for k in figures.subscores}
    figures.score, figures.band, figures.fit_for = score.headline(
        figures.subscores, figures.metrics["mix.items"], figures.metrics["funnel.documents"]
    )
    figures.metrics["score.headline"] = figures.score
    figures.metrics.update({f"score.{k}": v for k, v in figures.subscores.items()})


def _corpus_rejects(con: duckdb.DuckDBPyConnection, partition: str) -> pl.DataFrame:
    """Rejected inputs of the partition by reason: what an empty partition's documents became."""
    if not _table_exists(con, "raw_corpus_rejects"):
        return pl.DataFrame(schema={"reason": pl.Utf8, "inputs": pl.Int64})
    return queries.frame(con, "report_corpus_rejects", partition_date=partition)


def _status(m: dict[str, float], rejects: pl.DataFrame) -> tuple[str, str]:
    """(status, one sentence a reader cannot mistake for a failed score)."""
    if m["funnel.documents"] == 0:
        read = int(m["funnel.documents_read"])
        why = (
            f"all {read} inputs were rejected ({', '.join(f'{r}: {n}' for r, n in rejects.iter_rows())})"
            if read
            else "no inputs were left for it (the corpus is used up or empty)"
        )
        return EMPTY, (
            f"Empty partition: 0 documents, because {why}. Nothing was generated, graded or mixed, every check "
            "passed with nothing to check, and the partition adds no items. "
            "It has no quality score; this is not a failure."
        )
    if m["mix.items"] == 0:
        return NO_ITEMS, (
            f"No items in the mix: every one of the {int(m['funnel.documents'])} documents and "
            f"{int(m['funnel.samples'])} samples was excluded (see Exclusions), "
            "so the partition adds no items and has no quality score."
        )
    return SCORED, ""


def _trend(con: duckdb.DuckDBPyConnection, partition: str, figures: QualityFigures) -> pl.DataFrame:
    """Earlier partitions' stored metrics plus this one's, one row per partition."""
    wanted = ["mix.synthetic_token_share", "relative.distinct_2", "grading.acceptance_rate", "score.headline"]
    earlier = pl.DataFrame(schema={"partition_date": pl.Date, "metric": pl.Utf8, "value": pl.Float64})
    if _table_exists(con, "quality_metrics"):
        earlier = queries.frame(con, "report_trend", partition_date=partition, metrics=wanted)
    current = pl.DataFrame(
        {
            "partition_date": [partition_date(figures.partition)] * len(wanted),
            "metric": wanted,
            "value": [float(figures.metrics.get(w, float("nan"))) for w in wanted],
        }
    )
    both = pl.concat([earlier.cast({"value": pl.Float64}), current])
    return both.pivot(on="metric", index="partition_date", values="value").sort("partition_date")


def long_metrics(figures: QualityFigures) -> pl.DataFrame:
    """The ``synth.quality_metrics`` rows: scope, metric, value."""
    rows = [("partition", k, float(v)) for k, v in figures.metrics.items()]
    rows += [("cumulative", k, float(v)) for k, v in figures.cumulative.items()]
    return pl.DataFrame(rows, schema={"scope": pl.Utf8, "metric": pl.Utf8, "value": pl.Float64}, orient="row")
