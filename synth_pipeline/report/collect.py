"""Gather one partition's quality figures from the warehouse (partition and cumulative scope).

Every number in the report, the Dagster metadata and ``synth.quality_metrics`` comes
from here, so the three never disagree. Text metrics were computed once, in the mix
step (``synth.mix_metrics``); check results come from ``synth.check_results``.

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
from synth_pipeline.report import score
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import _table_exists, one_row

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


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> tuple:
    return one_row(con.execute(sql, params))


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> pl.DataFrame:
    return con.execute(sql, params).pl()


def _funnel(con: duckdb.DuckDBPyConnection, d: dict, figures: QualityFigures, min_score: float) -> None:
    m = figures.metrics
    docs, rejects, prompts, samples, errors, graded, accepted, parse_failures, flagged = _one(
        con,
        """SELECT (SELECT count(*) FROM synth.raw_corpus WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.raw_corpus_rejects WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.seed_prompts WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.generated_samples WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.generated_samples WHERE partition_date = $d AND error IS NOT NULL),
                  (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $d AND score IS NOT NULL),
                  (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $d AND accepted),
                  (SELECT count(*) FROM synth.graded_samples
                   WHERE partition_date = $d AND grade_status = 'parse_error'),
                  (SELECT count(*) FROM synth.graded_samples
                   WHERE partition_date = $d AND rejection_reason LIKE 'flag:%')""",
        d,
    )
    mix_real, mix_synth, tok_real, tok_synth, excluded = _one(
        con,
        """SELECT count(*) FILTER (WHERE origin = 'real'), count(*) FILTER (WHERE origin = 'synthetic'),
                  coalesce(sum(n_tokens) FILTER (WHERE origin = 'real'), 0),
                  coalesce(sum(n_tokens) FILTER (WHERE origin = 'synthetic'), 0),
                  (SELECT count(*) FROM synth.mix_exclusions WHERE partition_date = $d)
           FROM synth.deduplicated_mix WHERE partition_date = $d""",
        d,
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
            "mix.synthetic_item_share": mix_synth / max(1, mix_real + mix_synth),
            "mix.synthetic_token_share": tok_synth / max(1, tok_real + tok_synth),
            "grading.acceptance_rate": _rate(accepted, samples),
            "grading.judge_parse_failure_rate": _rate(parse_failures, samples - errors),
            "grading.blocking_flag_rate": _rate(flagged, samples - errors),
            "generation.error_rate": _rate(errors, samples),
        }
    )
    (mean_score,) = _one(con, "SELECT avg(score) FROM synth.graded_samples WHERE partition_date = $d", d)
    m["grading.mean_score"] = mean_score if mean_score is not None else float("nan")
    (agreement,) = _one(
        con,
        """SELECT avg(((len(flags) = 0) = (score >= $min))::INT) FROM synth.graded_samples
           WHERE partition_date = $d AND score IS NOT NULL""",
        {**d, "min": min_score},
    )
    m["grading.flag_judge_agreement"] = agreement if agreement is not None else float("nan")


def _cost(con: duckdb.DuckDBPyConnection, d: dict, m: dict[str, float]) -> None:
    usd, tokens, hits, requests = _one(
        con,
        """SELECT coalesce(sum(s.cost_usd), 0) + coalesce(sum(g.judge_cost_usd), 0),
                  coalesce(sum(s.prompt_tokens + s.completion_tokens), 0)
                  + coalesce(sum(g.judge_prompt_tokens + g.judge_completion_tokens), 0),
                  coalesce(sum(s.cached::INT), 0) + coalesce(sum(g.judge_cached::INT), 0),
                  count(s.sample_id) + count(g.score)
           FROM synth.generated_samples s LEFT JOIN synth.graded_samples g USING (sample_id, partition_date)
           WHERE s.partition_date = $d""",
        d,
    )
    m.update(
        {
            "cost.usd": usd,
            "cost.llm_tokens": tokens,
            "cost.cache_hit_rate": hits / max(1, requests),
            "cost.usd_per_accepted_sample": usd / max(1, m["funnel.accepted"]),
        }
    )


def _cumulative(con: duckdb.DuckDBPyConnection, d: dict, figures: QualityFigures, stored: dict[str, float]) -> None:
    items, synth_items, tokens, synth_tokens, partitions = _one(
        con,
        """SELECT count(*), count(*) FILTER (WHERE origin = 'synthetic'), coalesce(sum(n_tokens), 0),
                  coalesce(sum(n_tokens) FILTER (WHERE origin = 'synthetic'), 0), count(DISTINCT partition_date)
           FROM synth.deduplicated_mix WHERE partition_date <= $d""",
        d,
    )
    figures.cumulative.update(stored)
    figures.cumulative.update(
        {
            "mix.items": items,
            "mix.synthetic_items": synth_items,
            "mix.partitions": partitions,
            "mix.synthetic_item_share": synth_items / max(1, items),
            "mix.synthetic_token_share": synth_tokens / max(1, tokens),
        }
    )


def _texts(con: duckdb.DuckDBPyConnection, d: dict, origin: str) -> list[str]:
    return [
        t
        for (t,) in con.execute(
            "SELECT text FROM synth.deduplicated_mix WHERE partition_date = $d AND origin = $o ORDER BY item_id",
            {**d, "o": origin},
        ).fetchall()
    ]


def collect(con: duckdb.DuckDBPyConnection, partition: str, settings: Settings) -> QualityFigures:
    d = {"d": partition}
    backend, gen_model = _one(
        con, "SELECT any_value(backend), any_value(model) FROM synth.generated_samples WHERE partition_date = $d", d
    )
    (judge_model,) = _one(con, "SELECT any_value(judge_model) FROM synth.graded_samples WHERE partition_date = $d", d)
    figures = QualityFigures(partition, backend or "none", gen_model or "none", judge_model or "none")
    stored = mix_metrics.load(con, partition)
    figures.metrics.update(stored["partition"])
    _funnel(con, d, figures, settings.min_score)
    _cost(con, d, figures.metrics)
    _cumulative(con, d, figures, stored["cumulative"])

    tables = mix_metrics.load_tables(con, partition)
    if tables is not None:
        # Computed by the mix step from the tokenisation of its drift metrics.
        figures.overrepresented, figures.bias = tables["overrepresented"], tables["bias"]
    else:
        synthetic, real = _texts(con, d, "synthetic"), _texts(con, d, "real")
        if synthetic and real:
            figures.overrepresented = overrepresented_ngrams(
                synthetic, real, n=mix_metrics.TICS_N, k=mix_metrics.TICS_K
            )
            figures.bias = term_group_drift(synthetic, real)

    figures.exclusions = _frame(
        con,
        "SELECT origin, reason, count(*) AS items FROM synth.mix_exclusions "
        "WHERE partition_date = $d GROUP BY ALL ORDER BY items DESC",
        d,
    )
    figures.score_histogram = _frame(
        con,
        """SELECT floor(score)::INT AS score, count(*) AS samples FROM synth.graded_samples
           WHERE partition_date = $d AND score IS NOT NULL GROUP BY ALL ORDER BY score""",
        d,
    )
    for by in ("task", "template_version", "audience", "model"):
        figures.acceptance_by[by] = _frame(
            con,
            f"""SELECT s.{by}, count(*) AS samples, avg(g.accepted::INT) AS acceptance_rate, avg(g.score) AS mean_score
                FROM synth.generated_samples s JOIN synth.graded_samples g USING (sample_id, partition_date)
                WHERE s.partition_date = $d GROUP BY ALL ORDER BY 1""",
            d,
        )
    figures.checks = [
        {"asset": a, "check": c, "passed": p, "severity": s, "details": json.loads(meta)}
        for a, c, p, s, meta in con.execute(
            "SELECT asset, check_name, passed, severity, metadata FROM synth.check_results "
            "WHERE partition_date = $d ORDER BY asset, check_name",
            d,
        ).fetchall()
    ]
    # checks.failed counts blocking (ERROR) failures: the ones that stop a release.
    figures.metrics["checks.passed"] = sum(c["passed"] for c in figures.checks)
    figures.metrics["checks.failed"] = sum(not c["passed"] and c["severity"] == "ERROR" for c in figures.checks)
    figures.metrics["checks.warnings"] = sum(not c["passed"] and c["severity"] != "ERROR" for c in figures.checks)

    figures.corpus_rejects = _corpus_rejects(con, d)
    figures.status, figures.status_note = _status(figures.metrics, figures.corpus_rejects)
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

    figures.trend = _trend(con, d, figures)
    figures.examples = {
        "best accepted": _frame(
            con,
            "SELECT item_id, score, task, text FROM synth.deduplicated_mix "
            "WHERE partition_date = $d AND origin = 'synthetic' ORDER BY score DESC, item_id LIMIT 2",
            d,
        ).to_dicts(),
        "worst accepted": _frame(
            con,
            "SELECT item_id, score, task, text FROM synth.deduplicated_mix "
            "WHERE partition_date = $d AND origin = 'synthetic' ORDER BY score ASC, item_id LIMIT 2",
            d,
        ).to_dicts(),
        "rejected": _frame(
            con,
            """SELECT x.item_id, x.score, x.reason, s.text FROM synth.mix_exclusions x
               LEFT JOIN synth.generated_samples s ON s.sample_id = x.sample_id AND s.partition_date = x.partition_date
               WHERE x.partition_date = $d AND x.origin = 'synthetic'
               QUALIFY row_number() OVER (PARTITION BY split_part(x.reason, ':', 1) ORDER BY x.item_id) = 1
               ORDER BY x.reason LIMIT 4""",
            d,
        ).to_dicts(),
    }
    return figures


def _corpus_rejects(con: duckdb.DuckDBPyConnection, d: dict) -> pl.DataFrame:
    """Rejected inputs of the partition by reason: what an empty partition's documents became."""
    if not _table_exists(con, "raw_corpus_rejects"):
        return pl.DataFrame(schema={"reason": pl.Utf8, "inputs": pl.Int64})
    return _frame(
        con,
        "SELECT reason, count(*) AS inputs FROM synth.raw_corpus_rejects "
        "WHERE partition_date = $d GROUP BY ALL ORDER BY inputs DESC, reason",
        d,
    )


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


def _trend(con: duckdb.DuckDBPyConnection, d: dict, figures: QualityFigures) -> pl.DataFrame:
    """Earlier partitions' stored metrics plus this one's, one row per partition."""
    wanted = ["mix.synthetic_token_share", "relative.distinct_2", "grading.acceptance_rate", "score.headline"]
    earlier = pl.DataFrame(schema={"partition_date": pl.Date, "metric": pl.Utf8, "value": pl.Float64})
    if _one(
        con,
        "SELECT count(*) FROM information_schema.tables WHERE table_schema='synth' AND table_name='quality_metrics'",
        {},
    )[0]:
        earlier = _frame(
            con,
            f"""SELECT partition_date, metric, value FROM synth.quality_metrics
                WHERE scope = 'partition' AND partition_date < $d
                  AND metric IN ({", ".join(repr(w) for w in wanted)})""",
            d,
        )
    current = pl.DataFrame(
        {
            "partition_date": [pl.Series([figures.partition]).str.to_date()[0]] * len(wanted),
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
