"""The release refuses to ship, through the ``dataset_release`` asset in a real run.

A release is cumulative: it ships every partition up to its own. It refuses when one of
them has no quality report (a backfill that stopped before the report) and when the
cumulative synthetic share is over the cap in force when it is built (the cap was
tightened after the report passed). A refused release fails its step with the reason and
leaves the previous release in place.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from synth_pipeline_tests.conftest import PARTITION, UP_TO_THE_MIX, query, run_graph

pytestmark = pytest.mark.graph

EARLIER = "2026-03-01"


def _copy(healthy_run, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(healthy_run[0], home, ignore=shutil.ignore_patterns("*.lock"))
    return home


def _refusal(result) -> str:
    """The error of the failed dataset_release step."""
    (failure,) = [e for e in result.get_step_failure_events() if e.step_key == "dataset_release"]
    error = failure.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(f"{error.cls_name}: {error.message}")
        error = error.cause
    return "\n".join(messages)


def _manifest(home: Path) -> bytes:
    return (home / "releases" / PARTITION / "manifest.json").read_bytes()


def test_release_refuses_a_partition_without_a_quality_report(healthy_run, tmp_path):
    home = _copy(healthy_run, tmp_path)
    before = _manifest(home)
    # The day before is backfilled up to its mix only: it has rows in the mix and no report.
    assert run_graph(home, EARLIER, selection=UP_TO_THE_MIX).success
    assert query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = ?", [EARLIER])[0][0] > 0

    result = run_graph(home, PARTITION, selection=["dataset_release"])
    assert not result.success
    refusal = _refusal(result)
    assert "ReleaseBlocked" in refusal
    assert f"no quality report for partitions ['{EARLIER}']" in refusal
    assert "dataset_release" not in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert _manifest(home) == before, "the previous release stays in place"


def test_release_refuses_a_cumulative_synthetic_share_over_a_tightened_cap(healthy_run, tmp_path):
    home = _copy(healthy_run, tmp_path)
    before = _manifest(home)
    # The share by hand, from the mix rows.
    rows = query(home, "SELECT origin, n_tokens FROM synth.deduplicated_mix WHERE partition_date <= ?", [PARTITION])
    share = sum(n for origin, n in rows if origin == "synthetic") / sum(n for _, n in rows)
    cap = round(share - 0.05, 2)
    assert 0 < cap < share

    result = run_graph(home, PARTITION, selection=["dataset_release"], SYNTH_MAX_SYNTHETIC_RATIO=str(cap))
    assert not result.success
    refusal = _refusal(result)
    assert "ReleaseBlocked" in refusal
    match = re.search(r"cumulative synthetic share ([0-9.]+) \(tokens\).* above the caps ([0-9.]+)", refusal)
    assert match, refusal
    assert float(match.group(1)) == pytest.approx(share, abs=1e-4)
    assert float(match.group(2)) == cap
    assert _manifest(home) == before, "the previous release stays in place"

    # The same release under the cap it was reported with ships.
    assert run_graph(home, PARTITION, selection=["dataset_release"]).success
