"""Asset checks: the product's promise that a mix which could push a model toward collapse never ships.

Blocking checks (severity ERROR) run inside the step that writes the table, so they see
exactly the partition just written; a failure stops every downstream asset of the run.
Each result carries its measured value, its threshold and what to do when it fails.
Diversity and drift thresholds are relative to the real text of the same partition,
with absolute floors (calibration in docs/metrics.md).

A partition with nothing to measure (0 documents: every input rejected, or the corpus
used up) passes each check *explicitly*: the result carries a
``status`` metadata entry starting with ``EMPTY_PARTITION``, so a pass on no data can
never be mistaken for a pass on data. Checks with a cumulative part (the caps, the real
data ledger) still evaluate it on an empty partition and fail when it breaks.
"""

from __future__ import annotations

import math

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec

from synth_pipeline.dedup.decontamination import load_evaluation_set
from synth_pipeline.metrics import contamination_flags
from synth_pipeline.mix import metrics as mix_metrics
from synth_pipeline.mix.gates import diversity_rules
from synth_pipeline.mix.ledger import LEDGER_TABLE
from synth_pipeline.mix.shares import mix_shares, within_caps
from synth_pipeline.settings import Settings
from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import SCHEMA, Warehouse, _table_exists

MIX = "deduplicated_mix"
EXCLUSIONS = "mix_exclusions"
GRADES = "graded_samples"
LEDGER = f"{SCHEMA}.{LEDGER_TABLE}"


def _spec(name: str, asset: str, description: str, blocking: bool = False) -> AssetCheckSpec:
    return AssetCheckSpec(name, asset=asset, blocking=blocking, description=description)


MIX_CHECK_SPECS = [
    _spec(
        "synthetic_ratio_within_cap",
        MIX,
        "Synthetic share of tokens and items, partition and cumulative, within the caps.",
        True,
    ),
    _spec(
        "diversity_above_thresholds",
        MIX,
        "Synthetic text as diverse as the real text it came from: distinct-2, "
        "compression ratio (relative and absolute), near-duplicate rate, largest task share.",
        True,
    ),
    _spec(
        "real_data_accumulates", MIX, "Real items that entered the mix are never replaced: none has disappeared.", True
    ),
    _spec("unique_keys_and_text", MIX, "item_id unique, text non-empty, every item traceable to a document.", True),
    _spec(
        "no_contamination", MIX, "No mix item shares a 13-gram with the evaluation set (when one is configured).", True
    ),
    _spec("homogenisation_within_band", MIX, "Self-BLEU and self-repetition of synthetic text relative to real."),
    _spec("drift_within_band", MIX, "Unigram Jensen-Shannon divergence between synthetic and real text."),
    _spec(
        "bias_within_band", MIX, "Representation of term groups (default: gendered terms) in synthetic vs real text."
    ),
    _spec("copying_within_band", MIX, "Share of synthetic samples copying 13 words in a row from their own passage."),
]
EXCLUSION_CHECK_SPECS = [
    _spec(
        "funnel_accounts_for_every_row",
        EXCLUSIONS,
        "Every prompt has one sample, every sample one grade, every "
        "candidate lands in the mix or the exclusions, never both.",
        True,
    ),
]
GRADE_CHECK_SPECS = [
    _spec(
        "acceptance_rate_in_band", GRADES, "A judge that accepts everything is as suspect as one that accepts nothing."
    ),
    _spec("generation_error_rate", GRADES, "Share of prompts whose generation failed."),
    _spec("judge_differs_from_generator", GRADES, "A model grading its own output prefers it (self-preference bias)."),
]


def _clean(value: object) -> object:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    return value


def _result(name: str, passed: bool, severity: AssetCheckSeverity, advice: str, **metadata) -> AssetCheckResult:
    metadata = {k: _clean(v) for k, v in metadata.items() if _clean(v) is not None}
    if not passed:
        metadata["what_to_do"] = advice
    return AssetCheckResult(check_name=name, passed=passed, severity=severity, metadata=metadata)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


# --- partitions with nothing to measure -------------------------------------------------
EMPTY_PARTITION = "empty partition: nothing to check"
NO_MIX_ITEMS = "no items in this partition's mix: nothing to check"
NO_SYNTHETIC = "no synthetic items in this partition's mix: nothing to compare"


def partition_documents(con: duckdb.DuckDBPyConnection, partition_key: str) -> int:
    """Accepted documents of the partition (0 before raw_corpus was ever written)."""
    if not _table_exists(con, "raw_corpus"):
        return 0
    (n,) = queries.one(con, "partition_documents", partition_date=partition_key)
    return int(n)


def _passes_empty(name: str, severity: AssetCheckSeverity, status: str, **metadata) -> AssetCheckResult:
    """A deliberate pass with its reason, for a check whose input has no rows."""
    return _result(name, True, severity, "", status=status, **metadata)


def _mix_status(documents: int, items: int) -> str | None:
    """Why this partition's mix has nothing to check, or None when it has items."""
    if documents == 0:
        return EMPTY_PARTITION
    return NO_MIX_ITEMS if items == 0 else None


def _text_status(documents: int, m: dict[str, float]) -> str | None:
    """Why the synthetic-vs-real text metrics do not exist, or None when they do."""
    if documents == 0:
        return EMPTY_PARTITION
    if not m.get("n_synthetic") and not m.get("n_real"):
        return NO_MIX_ITEMS
    return NO_SYNTHETIC if not (m.get("n_synthetic") and m.get("n_real")) else None


# --- deduplicated_mix ----------------------------------------------------------------
def mix_checks(warehouse: Warehouse, partition_key: str, settings: Settings) -> list[AssetCheckResult]:
    """All checks of the mix: on the mix and on the text metrics the mix step stored (``synth.mix_metrics``).

    Checks read and measure; they write nothing (the mix step writes the metrics before and the
    ledger after them). The real-item contamination scan is CPU work between two short connections.
    """
    real_contaminated = 0
    if settings.decontamination_paths:
        with warehouse.connect() as con:
            real = mix_metrics.read_texts(con, partition_key)["partition"][2]
        real_contaminated = _contaminated_real_items(real, settings)
        del real
    with warehouse.connect() as con:
        part = mix_metrics.load(con, partition_key).get("partition", {})
        return _mix_checks(con, partition_key, settings, part, real_contaminated)


def _contaminated_real_items(real: list[str], settings: Settings) -> int:
    """Real mix items sharing a 13-gram with the evaluation set: the text metrics measure synthetic items only."""
    if not settings.decontamination_paths or not real:
        return 0
    evaluation = load_evaluation_set(settings.decontamination_paths)
    return int(contamination_flags(real, [text for _, text in evaluation]).sum())


def _mix_checks(
    con: duckdb.DuckDBPyConnection,
    partition_key: str,
    settings: Settings,
    part: dict[str, float],
    real_contaminated: int = 0,
) -> list[AssetCheckResult]:
    documents = partition_documents(con, partition_key)
    items = mix_shares(con, partition_key).items
    mix_status, text_status = _mix_status(documents, items), _text_status(documents, part)
    return [
        synthetic_ratio_within_cap(con, partition_key, settings, mix_status),
        diversity_above_thresholds(con, partition_key, settings, part, text_status),
        real_data_accumulates(con, partition_key, mix_status),
        unique_keys_and_text(con, partition_key, mix_status),
        no_contamination(part, settings, text_status, real_contaminated),
        homogenisation_within_band(part, settings, text_status),
        drift_within_band(part, settings, text_status),
        bias_within_band(part, settings, text_status),
        copying_within_band(con, partition_key, part, settings, text_status),
    ]


def synthetic_ratio_within_cap(
    con: duckdb.DuckDBPyConnection, partition_key: str, settings: Settings, status: str | None = None
) -> AssetCheckResult:
    """``status``: why the partition's mix is empty; the cumulative shares are checked regardless."""
    part, cum = mix_shares(con, partition_key), mix_shares(con, partition_key, cumulative=True)
    return _result(
        "synthetic_ratio_within_cap",
        within_caps(settings, part, cum),
        AssetCheckSeverity.ERROR,
        "Lower SYNTH_TARGET_SYNTHETIC_RATIO below the cap, or add real documents to the partition; "
        "never raise the cap to make the check pass without evidence from your own collapse experiments.",
        synthetic_token_share=part.synthetic_token_share,
        synthetic_token_share_cumulative=cum.synthetic_token_share,
        synthetic_item_share=part.synthetic_item_share,
        synthetic_item_share_cumulative=cum.synthetic_item_share,
        max_synthetic_token_share=settings.max_synthetic_ratio,
        max_synthetic_item_share=settings.max_synthetic_item_ratio,
        target_synthetic_token_share=settings.target_synthetic_ratio,
        status=f"{status}; cumulative shares up to this partition checked" if status else None,
    )


def _task_share(con: duckdb.DuckDBPyConnection, partition_key: str) -> float:
    return float(queries.one(con, "largest_task_share", partition_date=partition_key)[0])


def _near_dup_rate(con: duckdb.DuckDBPyConnection, partition_key: str) -> float:
    return float(queries.one(con, "near_duplicate_rate", partition_date=partition_key)[0])


def diversity_above_thresholds(
    con: duckdb.DuckDBPyConnection,
    partition_key: str,
    settings: Settings,
    m: dict[str, float],
    status: str | None = None,
) -> AssetCheckResult:
    near_dup_rate, task_share = _near_dup_rate(con, partition_key), _task_share(con, partition_key)
    if not m.get("n_synthetic"):
        # Still fails when the synthetic candidates were all removed as near duplicates.
        return _result(
            "diversity_above_thresholds",
            near_dup_rate <= settings.max_near_dup_rate,
            AssetCheckSeverity.ERROR,
            "Every synthetic candidate was a near duplicate: the generator is repeating itself.",
            synthetic_items=0,
            note="no synthetic items in the mix",
            status=status or NO_SYNTHETIC,
            near_duplicate_rate=near_dup_rate,
            max_near_duplicate_rate=settings.max_near_dup_rate,
        )
    rules = diversity_rules(m, settings, near_dup_rate=near_dup_rate, task_share=task_share)
    failed = [name for name, ok in rules.items() if not ok]
    return _result(
        "diversity_above_thresholds",
        not failed,
        AssetCheckSeverity.ERROR,
        "The generator is repeating itself: raise temperature, add templates/audiences/styles, or use another "
        "generator; do not lower the thresholds to ship it.",
        failed=", ".join(failed) or "none",
        synthetic_items=int(m["n_synthetic"]),
        relative_distinct_2=m["relative.distinct_2"],
        min_relative_distinct_2=settings.min_relative_distinct_2,
        distinct_2=m["synthetic.distinct_2"],
        distinct_2_on_floor_sample=m["synthetic.distinct_2_floor_sample"],
        floor_sample_words=m["synthetic.floor_sample_words"],
        min_distinct_2=settings.min_distinct_2,
        relative_compression_ratio=m["relative.compression_ratio"],
        max_relative_compression_ratio=settings.max_relative_compression_ratio,
        compression_ratio=m["synthetic.compression_ratio"],
        max_compression_ratio=settings.max_compression_ratio,
        near_duplicate_rate=near_dup_rate,
        max_near_duplicate_rate=settings.max_near_dup_rate,
        largest_task_share=task_share,
        max_task_share=settings.max_task_share,
    )


def real_data_accumulates(
    con: duckdb.DuckDBPyConnection, partition_key: str, status: str | None = None
) -> AssetCheckResult:
    """Real items recorded by any earlier materialisation must still be in the mix.

    The ledger spans every partition, so an empty partition still checks the earlier ones."""
    if _table_exists(con, LEDGER_TABLE):
        missing, recorded, examples = queries.one(con, "real_items_missing")
    else:  # before the mix step first wrote the ledger nothing was recorded, so nothing is missing
        missing, recorded, examples = 0, 0, []
    return _result(
        "real_data_accumulates",
        missing == 0,
        AssetCheckSeverity.ERROR,
        "Real data was replaced: a source file was removed or the corpus slice changed. Restore the source; if the "
        f"removal is intended (e.g. a takedown), delete those rows from {LEDGER} and note why.",
        real_items_recorded=int(recorded),
        real_items_missing=int(missing),
        examples=", ".join(examples or []),
        status=f"{status}; real items of every partition checked against the ledger" if status else None,
    )


def unique_keys_and_text(
    con: duckdb.DuckDBPyConnection, partition_key: str, status: str | None = None
) -> AssetCheckResult:
    duplicates, empty, untraceable = queries.one(con, "unique_keys_and_text", partition_date=partition_key)
    return _result(
        "unique_keys_and_text",
        duplicates == 0 and empty == 0 and untraceable == 0,
        AssetCheckSeverity.ERROR,
        "A code change broke item ids or lineage: inspect synth.mix_candidates for the partition.",
        duplicate_item_ids=int(duplicates),
        empty_texts=int(empty),
        items_without_doc_id=int(untraceable),
        status=status,
    )


def no_contamination(
    m: dict[str, float], settings: Settings, status: str | None = None, real_contaminated: int = 0
) -> AssetCheckResult:
    """``m``: the synthetic items' contamination rate; ``real_contaminated``: real items that share a 13-gram."""
    if not settings.decontamination_paths:
        return _result(
            "no_contamination",
            True,
            AssetCheckSeverity.ERROR,
            "",
            note="no evaluation set configured (SYNTH_DECONTAMINATE)",
            status=status,
        )
    rate = _nan(m.get("leakage.contamination_rate"))
    if status and math.isnan(rate) and not real_contaminated:
        # The rate is measured with the text metrics; mix_candidates already dropped contaminated candidates.
        return _passes_empty("no_contamination", AssetCheckSeverity.ERROR, status, max_contamination_rate=0.0)
    return _result(
        "no_contamination",
        not rate > 0 and not real_contaminated,
        AssetCheckSeverity.ERROR,
        "Decontamination let evaluation text through: check SYNTH_DECONTAMINATE paths and mix_candidates.",
        contamination_rate=rate,
        contaminated_real_items=real_contaminated,
        max_contamination_rate=0.0,
    )


def homogenisation_within_band(m: dict[str, float], settings: Settings, status: str | None = None) -> AssetCheckResult:
    bleu, rep = _nan(m.get("relative.self_bleu")), _nan(m.get("relative.self_repetition"))
    limit = settings.max_relative_homogenisation
    if status:
        return _passes_empty("homogenisation_within_band", AssetCheckSeverity.WARN, status, max_relative=limit)
    return _result(
        "homogenisation_within_band",
        not (bleu > limit or rep > limit),
        AssetCheckSeverity.WARN,
        "Synthetic samples resemble each other far more than real documents do: read the over-represented "
        "n-grams in the report and vary templates, audiences and sampling.",
        relative_self_bleu=bleu,
        relative_self_repetition=rep,
        max_relative=limit,
    )


def drift_within_band(m: dict[str, float], settings: Settings, status: str | None = None) -> AssetCheckResult:
    jsd, halves = _nan(m.get("drift.unigram_jsd")), _nan(m.get("drift.unigram_jsd_real_halves"))
    limit = max(settings.max_unigram_jsd, 2 * halves) if not math.isnan(halves) else settings.max_unigram_jsd
    if status:
        return _passes_empty("drift_within_band", AssetCheckSeverity.WARN, status, max_unigram_jsd=limit)
    return _result(
        "drift_within_band",
        not jsd > limit,
        AssetCheckSeverity.WARN,
        "Synthetic vocabulary drifts from the real text: read the over-represented n-grams (the generator's tics).",
        unigram_jsd=jsd,
        unigram_jsd_between_real_halves=halves,
        max_unigram_jsd=limit,
        length_ks=_nan(m.get("drift.length_ks")),
    )


def bias_within_band(m: dict[str, float], settings: Settings, status: str | None = None) -> AssetCheckResult:
    if status:
        return _passes_empty(
            "bias_within_band", AssetCheckSeverity.WARN, status, max_allowed=settings.max_bias_log_ratio
        )
    value = _nan(m.get("bias.max_abs_log_ratio"))
    return _result(
        "bias_within_band",
        not value > settings.max_bias_log_ratio,
        AssetCheckSeverity.WARN,
        "The generator shifts the representation of a term group: "
        "inspect the bias table of the report before training.",
        max_abs_log_ratio=value,
        max_allowed=settings.max_bias_log_ratio,
        **{k.split(".", 1)[1]: v for k, v in m.items() if k.startswith("bias.") and k.endswith(".ratio")},
    )


def copying_within_band(
    con: duckdb.DuckDBPyConnection,
    partition_key: str,
    m: dict[str, float],
    settings: Settings,
    status: str | None = None,
) -> AssetCheckResult:
    if status:
        return _passes_empty(
            "copying_within_band", AssetCheckSeverity.WARN, status, max_copy_rate=settings.max_copy_rate
        )
    rate = _nan(m.get("leakage.copy_rate"))
    (backend,) = queries.one(con, "generation_backend", partition_date=partition_key)
    if backend == "offline":
        return _result(
            "copying_within_band",
            True,
            AssetCheckSeverity.WARN,
            "",
            copy_rate=rate,
            note="offline backend extracts sentences from its passage by design; the band applies to model backends",
        )
    return _result(
        "copying_within_band",
        not rate > settings.max_copy_rate,
        AssetCheckSeverity.WARN,
        "Samples copy their passages: lower temperature is not the fix; ask for paraphrase in the templates.",
        copy_rate=rate,
        max_copy_rate=settings.max_copy_rate,
    )


# --- mix_exclusions -------------------------------------------------------------------
def funnel_checks(warehouse: Warehouse, partition_key: str, settings: Settings) -> list[AssetCheckResult]:
    with warehouse.connect() as con:
        return _funnel_checks(con, partition_key)


def _funnel_checks(con: duckdb.DuckDBPyConnection, partition_key: str) -> list[AssetCheckResult]:
    row = queries.one(con, "funnel_counts", partition_date=partition_key)
    (
        prompts,
        samples,
        prompts_without_sample,
        grades,
        samples_without_grade,
        docs,
        candidates,
        mix,
        excluded,
        lost,
        doubled,
    ) = row
    passed = (
        prompts == samples
        and prompts_without_sample == 0
        and grades == samples
        and samples_without_grade == 0
        and candidates == docs + samples
        and mix + excluded == candidates
        and lost == 0
        and doubled == 0
    )
    # Every stage at 0 rows is what an empty partition must look like; rows anywhere fail above.
    empty = passed and not any((prompts, samples, grades, docs, candidates, mix, excluded))
    return [
        _result(
            "funnel_accounts_for_every_row",
            passed,
            AssetCheckSeverity.ERROR,
            "Rows were lost or doubled between stages: re-materialise the partition from raw_corpus and "
            "report the stage whose counts disagree.",
            prompts=prompts,
            samples=samples,
            prompts_without_sample=prompts_without_sample,
            grades=grades,
            samples_without_grade=samples_without_grade,
            documents=docs,
            candidates=candidates,
            in_mix=mix,
            excluded=excluded,
            lost=lost,
            in_both=doubled,
            status=f"{EMPTY_PARTITION} (every stage has 0 rows)" if empty else None,
        )
    ]


# --- graded_samples -------------------------------------------------------------------
def grade_checks(grades, samples, settings: Settings, documents: int | None = None) -> list[AssetCheckResult]:
    """Warnings on the judge and the generator (polars frames of one partition).

    ``documents``: the partition's documents, to say why there are no samples."""
    if grades.is_empty() and samples.is_empty():
        status = EMPTY_PARTITION if documents == 0 else "no samples in this partition: nothing to check"
        return [
            _passes_empty(
                "acceptance_rate_in_band",
                AssetCheckSeverity.WARN,
                status,
                samples=0,
                min_acceptance_rate=settings.min_acceptance_rate,
                max_acceptance_rate=settings.max_acceptance_rate,
            ),
            _passes_empty(
                "generation_error_rate",
                AssetCheckSeverity.WARN,
                status,
                samples=0,
                max_error_rate=settings.max_generation_error_rate,
            ),
            _passes_empty("judge_differs_from_generator", AssetCheckSeverity.WARN, status, samples=0),
        ]
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
            acceptance_rate=acceptance,
            min_acceptance_rate=settings.min_acceptance_rate,
            max_acceptance_rate=settings.max_acceptance_rate,
        ),
        _result(
            "generation_error_rate",
            errors <= settings.max_generation_error_rate,
            AssetCheckSeverity.WARN,
            "Read the error column of synth.generated_samples: rate limits want lower SYNTH_MAX_CONCURRENCY; "
            "timeouts want a higher SYNTH_REQUEST_TIMEOUT_S.",
            error_rate=errors,
            max_error_rate=settings.max_generation_error_rate,
        ),
        _result(
            "judge_differs_from_generator",
            not same,
            AssetCheckSeverity.WARN,
            "Set SYNTH_JUDGE_MODEL to a model of another family than SYNTH_GENERATOR_MODEL.",
            judge_is_generator=same,
        ),
    ]
