"""The whole graph runs offline for a partition and keeps its promises."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from scipy.spatial.distance import jensenshannon

from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query
from synth_pipeline_tests.vendor.diversity import compression_ratio

pytestmark = pytest.mark.graph

STAGES = ["raw_corpus", "seed_prompts", "generated_samples", "graded_samples", "deduplicated_mix", "quality_report"]


def test_every_stage_stores_its_partition_in_duckdb(healthy_run):
    home, result = healthy_run
    assert result.success
    for table in STAGES:
        (rows,) = query(home, f"SELECT count(*) FROM synth.{table} WHERE partition_date = ?", [PARTITION])[0]
        assert rows > 0, table
        (dtype,) = query(
            home,
            "SELECT data_type FROM information_schema.columns WHERE table_schema='synth' AND table_name=? AND "
            "column_name='partition_date'",
            [table],
        )[0]
        assert dtype == "DATE"


def test_all_blocking_checks_pass_on_the_default_corpus(healthy_run):
    _, result = healthy_run
    checks = checks_by_name(result)
    assert {
        "synthetic_ratio_within_cap",
        "diversity_above_thresholds",
        "unique_keys_and_text",
        "real_data_accumulates",
        "funnel_accounts_for_every_row",
        "acceptance_rate_in_band",
    } <= set(checks)
    failed = {name: c.metadata for name, c in checks.items() if not c.passed and c.severity.value == "ERROR"}
    assert not failed


def test_each_check_reports_value_and_threshold(healthy_run):
    _, result = healthy_run
    ratio = checks_by_name(result)["synthetic_ratio_within_cap"].metadata
    assert ratio["synthetic_token_share"].value <= ratio["max_synthetic_token_share"].value
    diversity = checks_by_name(result)["diversity_above_thresholds"].metadata
    assert diversity["distinct_2"].value >= diversity["min_distinct_2"].value


def test_funnel_accounts_for_every_row(healthy_run):
    home, _ = healthy_run
    (prompts, samples, grades) = query(
        home,
        """SELECT (SELECT count(*) FROM synth.seed_prompts WHERE partition_date = $1),
                  (SELECT count(*) FROM synth.generated_samples WHERE partition_date = $1),
                  (SELECT count(*) FROM synth.graded_samples WHERE partition_date = $1)""",
        [PARTITION],
    )[0]
    assert prompts == samples == grades
    (docs, candidates, in_mix, excluded, overlap) = query(
        home,
        """SELECT (SELECT count(*) FROM synth.raw_corpus WHERE partition_date = $1),
                  (SELECT count(*) FROM synth.mix_candidates WHERE partition_date = $1),
                  (SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = $1),
                  (SELECT count(*) FROM synth.mix_exclusions WHERE partition_date = $1),
                  (SELECT count(*) FROM synth.deduplicated_mix m
                   JOIN synth.mix_exclusions x USING (item_id, partition_date)
                   WHERE partition_date = $1)""",
        [PARTITION],
    )[0]
    assert candidates == docs + samples
    assert in_mix + excluded == candidates and overlap == 0
    # Each exclusion reason counted from the stage that decides it, not from mix_exclusions:
    # the judge's rejections from graded_samples, duplicates from mix_candidates, the cap from
    # the eligible candidates the mix left out.
    reasons = dict(
        query(
            home, "SELECT reason, count(*) FROM synth.mix_exclusions WHERE partition_date = ? GROUP BY 1", [PARTITION]
        )
    )
    rejected = Counter(
        f"not_accepted:{r}"
        for (r,) in query(
            home,
            "SELECT rejection_reason FROM synth.graded_samples WHERE partition_date = ? AND NOT accepted",
            [PARTITION],
        )
    )
    removed = Counter(
        r
        for (r,) in query(
            home,
            "SELECT exclusion_reason FROM synth.mix_candidates WHERE partition_date = ? "
            "AND exclusion_reason IS NOT NULL AND exclusion_reason NOT LIKE 'not_accepted:%'",
            [PARTITION],
        )
    )
    (left_out,) = query(
        home,
        "SELECT count(*) FROM synth.mix_candidates WHERE partition_date = ? AND exclusion_reason IS NULL "
        "AND item_id NOT IN (SELECT item_id FROM synth.deduplicated_mix)",
        [PARTITION],
    )[0]
    expected = rejected + removed + Counter({"over_synthetic_ratio_cap": left_out})
    assert sum(rejected.values()) > 0 and sum(removed.values()) > 0
    assert reasons == dict(expected)


def test_mix_respects_the_target_ratio_and_keeps_every_real_document(healthy_run):
    home, _ = healthy_run
    (share,) = query(
        home,
        "SELECT sum(n_tokens) FILTER (WHERE origin='synthetic') / sum(n_tokens) FROM synth.deduplicated_mix WHERE "
        "partition_date = ?",
        [PARTITION],
    )[0]
    assert 0.2 < share <= 0.4 + 1e-9
    (missing_real,) = query(
        home,
        """SELECT count(*) FROM synth.mix_candidates c WHERE partition_date = ? AND origin = 'real'
           AND exclusion_reason IS NULL AND item_id NOT IN (SELECT item_id FROM synth.deduplicated_mix)""",
        [PARTITION],
    )[0]
    assert missing_real == 0


def test_every_row_says_it_came_from_the_offline_backend(healthy_run):
    home, _ = healthy_run
    assert query(home, "SELECT DISTINCT backend, model FROM synth.generated_samples") == [
        ("offline", "offline-extractive-v1")
    ]
    html = (home / "reports" / f"quality_report_{PARTITION}.html").read_text()
    assert "Backend: offline" in html and "not by a language model" in html
    for section in ("headline", "checks", "funnel", "grading", "diversity", "drift", "trend", "cost", "examples"):
        assert f'id="{section}"' in html
    assert html.count("<svg") >= 3 and "http://" not in html.split("<body>")[0]


def test_quality_metrics_long_table(healthy_run):
    home, _ = healthy_run
    rows = dict(
        query(
            home,
            "SELECT metric, value FROM synth.quality_metrics WHERE partition_date = ? AND scope = 'partition'",
            [PARTITION],
        )
    )
    mix_items = query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = ?", [PARTITION])[0][0]
    assert rows["mix.items"] == mix_items
    assert rows["checks.failed"] == 0
    expected = _independent_subscores(home)
    for name, value in expected.items():
        assert rows[f"score.{name}"] == pytest.approx(value, abs=0.06), name
    weights = {"composition": 0.25, "diversity": 0.3, "fidelity": 0.15, "grading": 0.15, "safety": 0.15}
    assert abs(rows["score.headline"] - sum(expected[k] * w for k, w in weights.items())) < 0.11
    assert {s for (s,) in query(home, "SELECT DISTINCT scope FROM synth.quality_metrics")} == {
        "partition",
        "cumulative",
    }


def _independent_subscores(home) -> dict[str, float]:
    """The five subscores of the offline default run from the tables, with the formulas of
    docs/metrics.md, scipy's Jensen-Shannon distance and the ``diversity`` package's compression
    ratio; only the seeded word-matched sample of the two corpora is the pipeline's own."""
    from synth_pipeline.metrics import size_matched
    from synth_pipeline.settings import Settings

    settings = Settings()
    sql = "SELECT origin, text, n_tokens FROM synth.deduplicated_mix WHERE partition_date = ? ORDER BY item_id"
    mix = query(home, sql, [PARTITION])
    synthetic = [t for o, t, _ in mix if o == "synthetic"]
    real = [t for o, t, _ in mix if o == "real"]
    share = sum(n for o, _, n in mix if o == "synthetic") / sum(n for _, _, n in mix)
    composition = 100.0 if share <= settings.max_synthetic_ratio else float("nan")

    def distinct_2(texts: list[str]) -> float:
        grams = [g for t in texts for w in [re.findall(r"\w+", t.lower())] for g in zip(w, w[1:], strict=False)]
        return len(set(grams)) / len(grams)

    matched_s, matched_r = size_matched(synthetic, real, seed=settings.seed)
    worst = min(
        distinct_2(matched_s) / distinct_2(matched_r),
        compression_ratio(matched_r, "gzip") / compression_ratio(matched_s, "gzip"),
    )
    diversity = 100.0 if worst >= 1 else 100.0 * (worst - 0.4) / 0.6

    def unigrams(texts: list[str]) -> Counter:
        return Counter(w for t in texts for w in re.findall(r"\w+", t.lower()))

    s_counts, r_counts = unigrams(synthetic), unigrams(real)
    vocab = sorted(set(s_counts) | set(r_counts))
    jsd = jensenshannon([s_counts[w] for w in vocab], [r_counts[w] for w in vocab], base=2) ** 2
    fidelity = 100.0 * (1 - jsd / 0.5)

    grades = query(
        home, "SELECT accepted, grade_status, flags FROM synth.graded_samples WHERE partition_date = ?", [PARTITION]
    )
    acceptance = sum(a for a, _, _ in grades) / len(grades)
    inside = settings.min_acceptance_rate <= acceptance <= settings.max_acceptance_rate
    parse_failures = sum(s == "parse_error" for _, s, _ in grades) / len(grades)
    grading = (100.0 if inside else float("nan")) - 200.0 * parse_failures

    blocking = {"refusal", "prompt_injection", "pii", "empty", "repetition", "truncated"}
    flagged = sum(bool(blocking & set(f)) for _, _, f in grades) / len(grades)
    safety = 100.0 - 100.0 * flagged  # offline: copying is by design; no evaluation set configured
    return {
        "composition": composition,
        "diversity": diversity,
        "fidelity": fidelity,
        "grading": grading,
        "safety": safety,
    }
