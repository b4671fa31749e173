"""The whole graph with the openai backend against a local OpenAI-protocol server.

Killed in the middle of generation, a re-run sends only the requests that never
completed and yields the tables of an uninterrupted run; a second re-run sends none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.harness.openai_server import running_server
from synth_pipeline_tests.conftest import PARTITION, checks_by_name, query, run_graph

pytestmark = pytest.mark.graph

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-e2e-test-key-7f3a9c"
ENV = dict(
    SYNTH_LLM_BACKEND="openai",
    OPENAI_API_KEY=KEY,
    SYNTH_GENERATOR_MODEL="local-generator",
    SYNTH_JUDGE_MODEL="local-judge",
    SYNTH_MAX_CONCURRENCY="4",
)
COLUMNS = "sample_id, text, finish_reason, prompt_tokens, completion_tokens, cost_usd, error"


def test_kill_mid_generation_then_resume_sends_only_the_missing_requests(tmp_path):
    home, reference = tmp_path / "killed", tmp_path / "reference"
    with running_server(latency_s=0.05) as (base_url, stats):
        code = (
            "from pathlib import Path; from synth_pipeline_tests.conftest import run_graph; "
            f"run_graph(Path({str(home)!r}), OPENAI_BASE_URL={base_url!r}, **{ENV!r})"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 240
        while stats["received"] < 80 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        time.sleep(0.1)
        sent_before_kill = stats["received"]
        assert sent_before_kill >= 80, "the first run never reached generation"
        stats.reset()

        resumed = run_graph(home, OPENAI_BASE_URL=base_url, **ENV)
        assert resumed.success
        generator_requests = stats["models"].get("local-generator", 0)
        (prompts,) = query(home, "SELECT count(*) FROM synth.seed_prompts WHERE partition_date = ?", [PARTITION])[0]
        # Only what never completed is sent again: at most the 4 requests in flight at the kill.
        assert prompts - sent_before_kill <= generator_requests <= prompts - sent_before_kill + 4
        stats.reset()

        again = run_graph(home, OPENAI_BASE_URL=base_url, **ENV)
        assert again.success and stats["received"] == 0  # the cache answers everything

        assert run_graph(reference, OPENAI_BASE_URL=base_url, **ENV).success

    sql = f"SELECT {COLUMNS} FROM synth.generated_samples ORDER BY sample_id"
    assert query(home, sql) == query(reference, sql)
    grades = "SELECT sample_id, score, accepted, flags FROM synth.graded_samples ORDER BY sample_id"
    assert query(home, grades) == query(reference, grades)
    assert query(home, "SELECT DISTINCT backend, model FROM synth.generated_samples") == [("openai", "local-generator")]
    (hits,) = query(home, "SELECT avg(cached::INT) FROM synth.generated_samples")[0]
    assert hits == 1.0
    assert checks_by_name(again)["judge_differs_from_generator"].passed  # two different models
    for path in home.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
