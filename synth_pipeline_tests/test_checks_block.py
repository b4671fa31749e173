"""A mix that breaks its cap never reaches the report."""

from __future__ import annotations

import pytest

from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query, run_graph

pytestmark = pytest.mark.graph


def test_synthetic_ratio_within_cap_fails_for_a_mix_over_its_cap_and_stops_the_report(tmp_path):
    result = run_graph(tmp_path, SYNTH_MAX_SYNTHETIC_RATIO="0.01")
    ratio = checks_by_name(result)["synthetic_ratio_within_cap"]
    assert not ratio.passed and ratio.severity.value == "ERROR"
    assert ratio.metadata["synthetic_token_share"].value > 0.01
    assert "what_to_do" in ratio.metadata
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "deduplicated_mix" in materialized
    assert not materialized & {"mix_exclusions", "quality_report", "dataset_release"}
    assert not (tmp_path / "reports" / f"quality_report_{PARTITION}.html").exists()
    tables = {
        t for (t,) in query(tmp_path, "SELECT table_name FROM information_schema.tables WHERE table_schema='synth'")
    }
    assert "quality_report" not in tables


def test_diversity_above_thresholds_fails_when_the_floor_is_above_the_generators_diversity(tmp_path):
    # Thresholds set so the offline generator's own text counts as too repetitive.
    result = run_graph(tmp_path, SYNTH_MIN_DISTINCT_2="0.99")
    diversity = checks_by_name(result)["diversity_above_thresholds"]
    assert not diversity.passed
    assert "distinct_2" in diversity.metadata["failed"].value
    assert not (tmp_path / "reports" / f"quality_report_{PARTITION}.html").exists()
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert not materialized & {"mix_exclusions", "quality_report", "dataset_release"}


def test_acceptance_rate_in_band_fires_for_a_judge_accepting_nearly_everything(tmp_path):
    result = run_graph(tmp_path, SYNTH_MIN_SCORE="1", SYNTH_MAX_ACCEPTANCE_RATE="0.9")
    band = checks_by_name(result)["acceptance_rate_in_band"]
    assert not band.passed and band.severity.value == "WARN"
    assert result.success  # a warning does not block


def test_diversity_above_thresholds_fails_for_a_generator_in_mode_collapse(tmp_path):
    """Crafted data: a generator in mode collapse, saying the same twelve sentences in turn.

    Each sample draws four sentences from one small pool: no sample repeats itself and no
    two are near duplicates, so only the corpus-level diversity check can see it.
    """
    import duckdb

    pool = [
        "Lists keep their items in the order they were added.",
        "A dictionary maps every key to exactly one value.",
        "Strings cannot be changed once they have been created.",
        "Generators produce values lazily, one at a time.",
        "Exceptions travel up the call stack until something handles them.",
        "Modules group related functions under a single name.",
        "Tuples are often used for records with a fixed shape.",
        "Sets answer membership questions in constant time on average.",
        "Decorators wrap a function to add behaviour around each call.",
        "Context managers release resources even when errors occur.",
        "Iterators remember where they stopped between calls to next.",
        "Classes bundle data together with the methods that act on it.",
    ]
    assert run_graph(tmp_path).success
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        sample_ids = [
            r[0] for r in con.execute("SELECT sample_id FROM synth.generated_samples ORDER BY sample_id").fetchall()
        ]
        for i, sid in enumerate(sample_ids):
            text = " ".join(pool[(i * 5 + k * 7) % len(pool)] for k in range(4))
            con.execute("UPDATE synth.generated_samples SET text = ? WHERE sample_id = ?", [text, sid])
    result = run_graph(
        tmp_path,
        selection=["graded_samples", "mix_candidates", "deduplicated_mix", "mix_exclusions", "quality_report"],
        SYNTH_MIN_SCORE="1",  # a judge that accepts everything lets the collapse through to the mix
    )
    diversity = checks_by_name(result)["diversity_above_thresholds"]
    assert not diversity.passed
    assert "relative_distinct_2" in diversity.metadata["failed"].value
    assert diversity.metadata["relative_distinct_2"].value < 0.7
    assert not checks_by_name(result)["acceptance_rate_in_band"].passed  # the judge is suspect too
    assert "quality_report" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
