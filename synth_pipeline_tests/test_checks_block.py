"""A mix that breaks its cap never reaches the report."""

from __future__ import annotations

from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query, run_graph


def test_a_mix_over_its_cap_fails_the_blocking_check_and_stops_the_report(tmp_path):
    result = run_graph(tmp_path, SYNTH_MAX_SYNTHETIC_RATIO="0.01")
    ratio = checks_by_name(result)["synthetic_ratio_within_cap"]
    assert not ratio.passed and ratio.severity.value == "ERROR"
    assert ratio.metadata["synthetic_token_share"].value > 0.01
    assert "what_to_do" in ratio.metadata
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "deduplicated_mix" in materialized
    assert "quality_report" not in materialized
    assert not (tmp_path / "reports" / f"quality_report_{PARTITION}.html").exists()
    tables = {t for (t,) in query(tmp_path, "SELECT table_name FROM information_schema.tables WHERE table_schema='synth'")}
    assert "quality_report" not in tables


def test_a_repetitive_generator_fails_the_diversity_check(tmp_path):
    # Thresholds set so the offline generator's own text counts as too repetitive.
    result = run_graph(tmp_path, SYNTH_MIN_DISTINCT_2="0.99")
    diversity = checks_by_name(result)["diversity_above_thresholds"]
    assert not diversity.passed
    assert "distinct_2" in diversity.metadata["failed"].value
    assert not (tmp_path / "reports" / f"quality_report_{PARTITION}.html").exists()


def test_a_judge_accepting_nearly_everything_raises_a_warning(tmp_path):
    result = run_graph(tmp_path, SYNTH_MIN_SCORE="1", SYNTH_MAX_ACCEPTANCE_RATE="0.9")
    band = checks_by_name(result)["acceptance_rate_in_band"]
    assert not band.passed and band.severity.value == "WARN"
    assert result.success  # a warning does not block
