"""Gather one partition's quality figures from the warehouse (partition and cumulative scope).

Every number in the report, the metadata and ``synth.quality_metrics`` comes from here,
so the three never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import polars as pl

from synth_pipeline.checks import funnel_checks, mix_checks
from synth_pipeline.metrics import diversity_metrics, drift_metrics, overrepresented_ngrams
from synth_pipeline.settings import Settings


@dataclass
class QualityFigures:
    partition: str
    backend: str
    generator_model: str
    judge_model: str
    metrics: dict[str, float] = field(default_factory=dict)  # partition scope
    cumulative: dict[str, float] = field(default_factory=dict)  # cumulative scope
    funnel: list[tuple[str, int]] = field(default_factory=list)
    exclusions: pl.DataFrame | None = None
    score_histogram: pl.DataFrame | None = None
    acceptance_by_task: pl.DataFrame | None = None
    overrepresented: pl.DataFrame | None = None
    trend: pl.DataFrame | None = None
    checks: list[dict] = field(default_factory=list)
    examples: dict[str, list[dict]] = field(default_factory=dict)


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> tuple:
    return con.execute(sql, params).fetchone()


def _texts(con: duckdb.DuckDBPyConnection, where: str, params: dict) -> list[str]:
    return [r[0] for r in con.execute(f"SELECT text FROM synth.deduplicated_mix WHERE {where} ORDER BY item_id", params).fetchall()]


def collect(con: duckdb.DuckDBPyConnection, partition: str, settings: Settings) -> QualityFigures:
    d = {"d": partition}
    backend, gen_model = _one(con, "SELECT any_value(backend), any_value(model) FROM synth.generated_samples WHERE partition_date = $d", d)
    (judge_model,) = _one(con, "SELECT any_value(judge_model) FROM synth.graded_samples WHERE partition_date = $d", d)
    figures = QualityFigures(partition, backend or "none", gen_model or "none", judge_model or "none")
    m = figures.metrics

    inputs_docs, inputs_rejects = _one(
        con,
        """SELECT (SELECT count(*) FROM synth.raw_corpus WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.raw_corpus_rejects WHERE partition_date = $d)""",
        d,
    )
    prompts, samples, errors, accepted, graded, parse_failures = _one(
        con,
        """SELECT (SELECT count(*) FROM synth.seed_prompts WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.generated_samples WHERE partition_date = $d),
                  (SELECT count(*) FROM synth.generated_samples WHERE partition_date = $d AND error IS NOT NULL),
                  (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $d AND accepted),
                  (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $d AND score IS NOT NULL),
                  (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $d AND grade_status = 'parse_error')""",
        d,
    )
    mix_real, mix_synth, tok_real, tok_synth, excluded = _one(
        con,
        """SELECT count(*) FILTER (WHERE origin = 'real'), count(*) FILTER (WHERE origin = 'synthetic'),
                  coalesce(sum(n_tokens) FILTER (WHERE origin = 'real'), 0), coalesce(sum(n_tokens) FILTER (WHERE origin = 'synthetic'), 0),
                  (SELECT count(*) FROM synth.mix_exclusions WHERE partition_date = $d)
           FROM synth.deduplicated_mix WHERE partition_date = $d""",
        d,
    )
    figures.funnel = [
        ("documents read", inputs_docs + inputs_rejects),
        ("documents accepted", inputs_docs),
        ("prompts", prompts),
        ("samples generated", samples - errors),
        ("samples accepted by judge", accepted),
        ("synthetic items in mix", mix_synth),
        ("real items in mix", mix_real),
    ]
    m.update(
        {
            "funnel.corpus_rejects": inputs_rejects,
            "funnel.documents": inputs_docs,
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
            "grading.acceptance_rate": accepted / max(1, samples),
            "grading.judge_parse_failure_rate": parse_failures / max(1, samples - errors),
            "generation.error_rate": errors / max(1, samples),
        }
    )
    cost = _one(
        con,
        """SELECT coalesce(sum(s.cost_usd), 0) + coalesce(sum(g.judge_cost_usd), 0),
                  coalesce(sum(s.prompt_tokens + s.completion_tokens), 0) + coalesce(sum(g.judge_prompt_tokens + g.judge_completion_tokens), 0),
                  coalesce(avg(s.cached::INT), 0)
           FROM synth.generated_samples s LEFT JOIN synth.graded_samples g USING (sample_id, partition_date)
           WHERE s.partition_date = $d""",
        d,
    )
    m.update({"cost.usd": cost[0], "cost.llm_tokens": cost[1], "cost.cache_hit_rate": cost[2],
              "cost.usd_per_accepted_sample": cost[0] / max(1, accepted)})
    (mean_score,) = _one(con, "SELECT avg(score) FROM synth.graded_samples WHERE partition_date = $d", d)
    m["grading.mean_score"] = mean_score or 0.0

    synthetic = _texts(con, "partition_date = $d AND origin = 'synthetic'", d)
    real = _texts(con, "partition_date = $d AND origin = 'real'", d)
    for prefix, texts in (("synthetic", synthetic), ("real", real)):
        if texts:
            m.update({f"{prefix}.{k}": v for k, v in diversity_metrics(texts, seed=settings.seed).items()})
    if synthetic and real:
        m.update({f"drift.{k}": v for k, v in drift_metrics(synthetic, real).items()})
        figures.overrepresented = overrepresented_ngrams(synthetic, real, n=2, k=15)

    # Cumulative scope: the whole mix up to and including this partition.
    cum = _one(
        con,
        """SELECT count(*), count(*) FILTER (WHERE origin = 'synthetic'),
                  coalesce(sum(n_tokens), 0), coalesce(sum(n_tokens) FILTER (WHERE origin = 'synthetic'), 0),
                  count(DISTINCT partition_date)
           FROM synth.deduplicated_mix WHERE partition_date <= $d""",
        d,
    )
    figures.cumulative.update(
        {
            "mix.items": cum[0],
            "mix.synthetic_items": cum[1],
            "mix.synthetic_item_share": cum[1] / max(1, cum[0]),
            "mix.synthetic_token_share": cum[3] / max(1, cum[2]),
            "mix.partitions": cum[4],
        }
    )

    figures.exclusions = con.execute(
        "SELECT origin, reason, count(*) AS items FROM synth.mix_exclusions WHERE partition_date = $d GROUP BY ALL ORDER BY items DESC", d
    ).pl()
    figures.score_histogram = con.execute(
        """SELECT floor(score)::INT AS score, count(*) AS samples FROM synth.graded_samples
           WHERE partition_date = $d AND score IS NOT NULL GROUP BY ALL ORDER BY score""",
        d,
    ).pl()
    figures.acceptance_by_task = con.execute(
        """SELECT s.task, count(*) AS samples, avg(g.accepted::INT) AS acceptance_rate, avg(g.score) AS mean_score
           FROM synth.generated_samples s JOIN synth.graded_samples g USING (sample_id, partition_date)
           WHERE s.partition_date = $d GROUP BY ALL ORDER BY s.task""",
        d,
    ).pl()
    figures.trend = con.execute(
        """SELECT partition_date, sum(n_tokens) FILTER (WHERE origin = 'synthetic') / sum(n_tokens) AS synthetic_token_share,
                  count(*) AS items
           FROM synth.deduplicated_mix WHERE partition_date <= $d GROUP BY ALL ORDER BY partition_date""",
        d,
    ).pl()
    figures.examples = {
        "best": _rows(con, "SELECT item_id, score, task, text FROM synth.deduplicated_mix WHERE partition_date = $d AND origin = 'synthetic' ORDER BY score DESC, item_id LIMIT 2", d),
        "worst accepted": _rows(con, "SELECT item_id, score, task, text FROM synth.deduplicated_mix WHERE partition_date = $d AND origin = 'synthetic' ORDER BY score ASC, item_id LIMIT 2", d),
        "rejected": _rows(
            con,
            """SELECT x.item_id, x.score, x.reason, s.text FROM synth.mix_exclusions x
               LEFT JOIN synth.generated_samples s ON s.sample_id = x.sample_id AND s.partition_date = x.partition_date
               WHERE x.partition_date = $d AND x.origin = 'synthetic' ORDER BY x.reason, x.item_id LIMIT 3""",
            d,
        ),
    }
    for result in [*mix_checks(con, partition, settings), *funnel_checks(con, partition, settings)]:
        figures.checks.append(
            {"check": result.check_name, "passed": result.passed, "severity": result.severity.value,
             "details": {k: getattr(v, "value", v) for k, v in result.metadata.items()}}
        )
    m["checks.passed"] = sum(c["passed"] for c in figures.checks)
    m["checks.failed"] = sum(not c["passed"] for c in figures.checks)
    return figures


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict]:
    return con.execute(sql, params).pl().to_dicts()


def long_metrics(figures: QualityFigures) -> pl.DataFrame:
    """The ``synth.quality_metrics`` rows: scope, metric, value."""
    rows = [("partition", k, float(v)) for k, v in figures.metrics.items()]
    rows += [("cumulative", k, float(v)) for k, v in figures.cumulative.items()]
    return pl.DataFrame(rows, schema={"scope": pl.Utf8, "metric": pl.Utf8, "value": pl.Float64}, orient="row")
