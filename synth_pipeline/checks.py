"""Asset checks: the product's promise that a mix which could push a model toward collapse never ships.

Blocking checks (severity ERROR) run inside the step that writes the table, so they see
exactly the partition just written; a failure stops every downstream asset of the run.
Each result carries its measured value, its threshold and what to do when it fails.
"""

from __future__ import annotations

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

from synth_pipeline.metrics import diversity_metrics
from synth_pipeline.settings import Settings

MIX = "deduplicated_mix"
EXCLUSIONS = "mix_exclusions"
GRADES = "graded_samples"

MIX_CHECK_SPECS = [
    AssetCheckSpec("synthetic_ratio_within_cap", asset=MIX, blocking=True,
                   description="Synthetic share of tokens and items, partition and cumulative, within the caps."),
    AssetCheckSpec("diversity_above_thresholds", asset=MIX, blocking=True,
                   description="Synthetic text is diverse: distinct-2, compression ratio, near-duplicate rate, task share."),
    AssetCheckSpec("unique_keys_and_text", asset=MIX, blocking=True,
                   description="item_id unique, text non-empty, every item traceable to a document."),
]
EXCLUSION_CHECK_SPECS = [
    AssetCheckSpec("funnel_accounts_for_every_row", asset=EXCLUSIONS, blocking=True,
                   description="Every prompt has one sample, every sample one grade, every candidate lands in the mix or the exclusions, never both."),
]
GRADE_CHECK_SPECS = [
    AssetCheckSpec("acceptance_rate_in_band", asset=GRADES,
                   description="A judge that accepts everything is as suspect as one that accepts nothing."),
    AssetCheckSpec("generation_error_rate", asset=GRADES, description="Share of prompts whose generation failed."),
    AssetCheckSpec("judge_differs_from_generator", asset=GRADES,
                   description="A model grading its own output prefers it (self-preference bias)."),
]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> float:
    value = con.execute(sql, params).fetchone()[0]
    return float(value) if value is not None else 0.0


def _result(name: str, passed: bool, severity: AssetCheckSeverity, advice: str, **metadata) -> AssetCheckResult:
    metadata = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in metadata.items()}
    if not passed:
        metadata["what_to_do"] = advice
    return AssetCheckResult(check_name=name, passed=passed, severity=severity, metadata=metadata)


def mix_checks(con: duckdb.DuckDBPyConnection, partition_key: str, settings: Settings) -> list[AssetCheckResult]:
    return [
        synthetic_ratio_within_cap(con, partition_key, settings),
        diversity_above_thresholds(con, partition_key, settings),
        unique_keys_and_text(con, partition_key),
    ]


def _shares(con: duckdb.DuckDBPyConnection, where: str, params: list) -> tuple[float, float]:
    tokens, items = con.execute(
        f"""SELECT coalesce(sum(n_tokens) FILTER (WHERE origin = 'synthetic') / nullif(sum(n_tokens), 0), 0),
                   coalesce(count(*) FILTER (WHERE origin = 'synthetic') / nullif(count(*), 0), 0)
            FROM synth.{MIX} WHERE {where}""",
        params,
    ).fetchone()
    return float(tokens), float(items)


def synthetic_ratio_within_cap(con: duckdb.DuckDBPyConnection, partition_key: str, settings: Settings) -> AssetCheckResult:
    part_tokens, part_items = _shares(con, "partition_date = ?", [partition_key])
    cum_tokens, cum_items = _shares(con, "partition_date <= ?", [partition_key])
    worst_tokens, worst_items = max(part_tokens, cum_tokens), max(part_items, cum_items)
    passed = worst_tokens <= settings.max_synthetic_ratio and worst_items <= settings.max_synthetic_item_ratio
    return _result(
        "synthetic_ratio_within_cap", passed, AssetCheckSeverity.ERROR,
        "Lower SYNTH_TARGET_SYNTHETIC_RATIO below the cap, or add real documents to the partition; "
        "never raise the cap to make the check pass without a reason from your own collapse experiments.",
        synthetic_token_share=part_tokens, synthetic_token_share_cumulative=cum_tokens,
        synthetic_item_share=part_items, synthetic_item_share_cumulative=cum_items,
        max_synthetic_token_share=settings.max_synthetic_ratio, max_synthetic_item_share=settings.max_synthetic_item_ratio,
        target_synthetic_token_share=settings.target_synthetic_ratio,
    )


def diversity_above_thresholds(con: duckdb.DuckDBPyConnection, partition_key: str, settings: Settings) -> AssetCheckResult:
    texts = [r[0] for r in con.execute(
        f"SELECT text FROM synth.{MIX} WHERE partition_date = ? AND origin = 'synthetic' ORDER BY item_id", [partition_key]
    ).fetchall()]
    near_dup_rate = _scalar(
        con,
        """SELECT coalesce(count(*) FILTER (WHERE exclusion_reason LIKE 'near_duplicate%' OR exclusion_reason = 'synthetic_copies_real')
                  / nullif(count(*) FILTER (WHERE exclusion_reason IS NULL OR exclusion_reason NOT LIKE 'not_accepted:%'), 0), 0)
           FROM synth.mix_candidates WHERE partition_date = ? AND origin = 'synthetic'""",
        [partition_key],
    )
    task_share = _scalar(
        con,
        f"""SELECT coalesce(max(n) / nullif(sum(n), 0), 0) FROM (
                SELECT count(*) AS n FROM synth.{MIX} WHERE partition_date = ? AND origin = 'synthetic' GROUP BY task)""",
        [partition_key],
    )
    if not texts:
        return _result(
            "diversity_above_thresholds", True, AssetCheckSeverity.ERROR, "",
            synthetic_items=0, note="no synthetic items in the mix: nothing to be homogeneous",
            near_duplicate_rate=near_dup_rate, max_near_duplicate_rate=settings.max_near_dup_rate,
        )
    metrics = diversity_metrics(texts)
    failures = []
    if metrics["distinct_2"] < settings.min_distinct_2:
        failures.append("distinct_2")
    if metrics["compression_ratio"] > settings.max_compression_ratio:
        failures.append("compression_ratio")
    if near_dup_rate > settings.max_near_dup_rate:
        failures.append("near_duplicate_rate")
    if task_share > settings.max_task_share:
        failures.append("largest_task_share")
    return _result(
        "diversity_above_thresholds", not failures, AssetCheckSeverity.ERROR,
        "The generator is repeating itself: raise temperature, add templates/audiences/styles, "
        "or use a different generator; do not lower the thresholds to ship it.",
        failed=", ".join(failures) or "none",
        synthetic_items=len(texts),
        distinct_2=metrics["distinct_2"], min_distinct_2=settings.min_distinct_2,
        compression_ratio=metrics["compression_ratio"], max_compression_ratio=settings.max_compression_ratio,
        near_duplicate_rate=near_dup_rate, max_near_duplicate_rate=settings.max_near_dup_rate,
        largest_task_share=task_share, max_task_share=settings.max_task_share,
    )


def unique_keys_and_text(con: duckdb.DuckDBPyConnection, partition_key: str) -> AssetCheckResult:
    duplicates, empty, untraceable = con.execute(
        f"""SELECT count(*) - count(DISTINCT item_id),
                   count(*) FILTER (WHERE text IS NULL OR trim(text) = ''),
                   count(*) FILTER (WHERE doc_id IS NULL)
            FROM synth.{MIX} WHERE partition_date = ?""",
        [partition_key],
    ).fetchone()
    passed = duplicates == 0 and empty == 0 and untraceable == 0
    return _result(
        "unique_keys_and_text", passed, AssetCheckSeverity.ERROR,
        "A code change broke item ids or lineage: inspect synth.mix_candidates for the partition.",
        duplicate_item_ids=int(duplicates), empty_texts=int(empty), items_without_doc_id=int(untraceable),
    )


def funnel_checks(con: duckdb.DuckDBPyConnection, partition_key: str, settings: Settings) -> list[AssetCheckResult]:
    row = con.execute(
        """WITH p AS (SELECT prompt_id FROM synth.seed_prompts WHERE partition_date = $d),
                s AS (SELECT sample_id, prompt_id FROM synth.generated_samples WHERE partition_date = $d),
                g AS (SELECT sample_id FROM synth.graded_samples WHERE partition_date = $d),
                r AS (SELECT doc_id FROM synth.raw_corpus WHERE partition_date = $d),
                c AS (SELECT item_id FROM synth.mix_candidates WHERE partition_date = $d),
                m AS (SELECT item_id FROM synth.deduplicated_mix WHERE partition_date = $d),
                x AS (SELECT item_id FROM synth.mix_exclusions WHERE partition_date = $d)
           SELECT (SELECT count(*) FROM p), (SELECT count(*) FROM s),
                  (SELECT count(*) FROM p WHERE prompt_id NOT IN (SELECT prompt_id FROM s)),
                  (SELECT count(*) FROM g), (SELECT count(*) FROM s WHERE sample_id NOT IN (SELECT sample_id FROM g)),
                  (SELECT count(*) FROM r), (SELECT count(*) FROM c),
                  (SELECT count(*) FROM m), (SELECT count(*) FROM x),
                  (SELECT count(*) FROM c WHERE item_id NOT IN (SELECT item_id FROM m UNION ALL SELECT item_id FROM x)),
                  (SELECT count(*) FROM m WHERE item_id IN (SELECT item_id FROM x))""",
        {"d": partition_key},
    ).fetchone()
    prompts, samples, prompts_without_sample, grades, samples_without_grade, docs, candidates, mix, excluded, lost, doubled = row
    passed = (
        prompts == samples and prompts_without_sample == 0 and grades == samples and samples_without_grade == 0
        and candidates == docs + samples and mix + excluded == candidates and lost == 0 and doubled == 0
    )
    return [
        _result(
            "funnel_accounts_for_every_row", passed, AssetCheckSeverity.ERROR,
            "Rows were lost or doubled between stages: re-materialise the partition from raw_corpus and "
            "report the stage whose counts disagree.",
            prompts=prompts, samples=samples, prompts_without_sample=prompts_without_sample,
            grades=grades, samples_without_grade=samples_without_grade, documents=docs,
            candidates=candidates, in_mix=mix, excluded=excluded, lost=lost, in_both=doubled,
        )
    ]


def grade_checks(grades, samples, settings: Settings) -> list[AssetCheckResult]:
    """Warnings on the judge and the generator (polars frames of one partition)."""
    total = max(1, grades.height)
    acceptance = float(grades.get_column("accepted").sum()) / total
    errors = float(samples.get_column("error").is_not_null().sum()) / max(1, samples.height)
    same = bool(grades.get_column("same_model_as_generator").any())
    return [
        _result(
            "acceptance_rate_in_band",
            settings.min_acceptance_rate <= acceptance <= settings.max_acceptance_rate,
            AssetCheckSeverity.WARN,
            "Read a sample of accepted and rejected items: recalibrate SYNTH_MIN_SCORE or the judge prompt.",
            acceptance_rate=acceptance, min_acceptance_rate=settings.min_acceptance_rate,
            max_acceptance_rate=settings.max_acceptance_rate,
        ),
        _result(
            "generation_error_rate", errors <= settings.max_generation_error_rate, AssetCheckSeverity.WARN,
            "Read the error column of synth.generated_samples: rate limits want lower SYNTH_MAX_CONCURRENCY; "
            "timeouts want a higher SYNTH_REQUEST_TIMEOUT_S.",
            error_rate=errors, max_error_rate=settings.max_generation_error_rate,
        ),
        _result(
            "judge_differs_from_generator", not same, AssetCheckSeverity.WARN,
            "Set SYNTH_JUDGE_MODEL to a model of another family than SYNTH_GENERATOR_MODEL.",
            judge_is_generator=same,
        ),
    ]
