"""The openai backend: the real ``openai`` client against a real local HTTP server.

The server (``openai_server.py``) runs on 127.0.0.1 with a free port, with latency and
injected faults; its counters say what the client really sent.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.harness.openai_server import demo_requests, running_server
from synth_pipeline.chat import GradeRequest
from synth_pipeline.llm.openai_backend import OpenAIGenerator, OpenAIJudge
from synth_pipeline.llm.pricing import PriceTable
from synth_pipeline.llm.response_cache import CACHE_TABLE
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import Warehouse
from synth_pipeline.tasks import grading
from synth_pipeline.tasks.grading import GradeParseError, parse_grade

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-7f3a9c1e5b2d4f6a8c0e"


@pytest.fixture
def env(monkeypatch):
    """A clean, key-bearing environment for one test (no OPENAI_* leaks in or out)."""
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "SYNTH_GENERATOR_API_KEY", "SYNTH_JUDGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return monkeypatch


def make_settings(home: Path, base_url: str, **overrides) -> Settings:
    values = dict(
        home=home,
        llm_backend="openai",
        generator_model="local-generator",
        judge_model="local-judge",
        generator_base_url=base_url,
        judge_base_url=base_url,
        max_concurrency=16,
        request_timeout_s=1.0,
        max_attempts=4,
        retry_base_delay_s=0.01,
        retry_max_delay_s=0.1,
        progress_interval_s=0.2,
    )
    values.update(overrides)
    return Settings(**values)


def generator(settings: Settings) -> OpenAIGenerator:
    return OpenAIGenerator(settings, Warehouse(settings.warehouse_path))


def essentials(results) -> list[tuple]:
    return [
        (r.request_id, r.text, r.finish_reason, r.prompt_tokens, r.completion_tokens, r.cost_usd, r.error)
        for r in results
    ]


# --- faults ---------------------------------------------------------------------------
def test_every_prompt_is_accounted_for_under_injected_faults(env, tmp_path):
    faults = {"429": 0.12, "500": 0.08, "hang": 0.03, "malformed": 0.06, "length": 0.05, "content_filter": 0.04}
    requests = demo_requests(150, "faults")
    progress: list[tuple[int, int]] = []
    with running_server(latency_s=0.01, faults=faults, fault_attempts=2, retry_after_s=0.05, hang_s=5) as (url, stats):
        results = generator(make_settings(tmp_path, url, request_timeout_s=0.4)).generate(
            requests, lambda d, t: progress.append((d, t))
        )
        seen = stats.snapshot()

    assert [r.request_id for r in results] == [r.request_id for r in requests]  # one each, same order
    kinds = seen["by_kind"]
    for kind in ("429", "500", "hang", "malformed", "length", "content_filter"):
        assert kinds.get(kind, 0) > 0, (kind, kinds)
    assert seen["received"] > len(requests)  # retries happened
    assert sum(r.attempts > 1 for r in results) >= kinds["429"] // 2
    assert seen["max_in_flight"] <= 16
    # Transport faults hit only the first two attempts, so four attempts always succeed;
    # what remains are the content-filtered completions, as error rows with their reason.
    errors = [r for r in results if r.error]
    assert errors and all(r.finish_reason == "content_filter" and "content_filter" in r.error for r in errors)
    assert len(errors) == kinds["content_filter"]
    truncated = [r for r in results if r.finish_reason == "length"]
    assert truncated and all(r.text and r.error is None for r in truncated)
    assert progress[-1] == (150, 150)
    print("\nfault counts seen by the server:", json.dumps(dict(sorted(kinds.items()))), "received", seen["received"])


def test_a_request_that_keeps_failing_becomes_an_error_row(env, tmp_path):
    markers = {1: "[[fault:500]]", 2: "[[fault:hang]]", 3: "[[fault:malformed]]", 4: "[[fault:429]]"}
    requests = demo_requests(8, "permanent", markers=markers)
    with running_server(latency_s=0.0, retry_after_s=0.01, hang_s=5) as (url, stats):
        results = generator(make_settings(tmp_path, url, request_timeout_s=0.3, max_attempts=3)).generate(requests)
        seen = stats.snapshot()
    by_id = {r.request_id: r for r in results}
    assert len(results) == 8
    assert "HTTP 500" in by_id["permanent-00001"].error and "gave up after 3 attempts" in by_id["permanent-00001"].error
    assert "timeout" in by_id["permanent-00002"].error
    assert "unreadable response" in by_id["permanent-00003"].error
    assert "HTTP 429" in by_id["permanent-00004"].error
    for i in (1, 2, 3, 4):
        r = by_id[f"permanent-0000{i}"]
        assert r.text is None and r.attempts == 3
    assert all(by_id[f"permanent-0000{i}"].error is None for i in (0, 5, 6, 7))
    assert seen["max_attempts_per_body"] == 3  # bounded
    assert seen["received"] == 4 + 4 * 3


def test_retry_after_is_honoured(env, tmp_path):
    requests = demo_requests(2, "retry-after", markers={0: "[[fault:429*2]]"})
    with running_server(latency_s=0.0, retry_after_s=0.4) as (url, stats):
        started = time.monotonic()
        results = generator(make_settings(tmp_path, url, retry_base_delay_s=0.001)).generate(requests)
        elapsed = time.monotonic() - started
        arrivals = stats["arrivals"]
    assert results[0].error is None and results[0].attempts == 3
    assert elapsed >= 0.8  # two waits of Retry-After 0.4 s, not the 1 ms backoff
    assert results[0].latency_s >= 0.8
    assert stats_gaps_at_least(arrivals, 0.4) >= 2


def stats_gaps_at_least(arrivals: list[float], gap: float) -> int:
    ordered = sorted(arrivals)
    return sum(b - a >= gap * 0.95 for a, b in itertools.pairwise(ordered))


def test_bad_key_stops_the_run_and_is_redacted_everywhere(env, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # openai, httpx and our own loggers at their chattiest
    requests = demo_requests(60, "badkey")
    with running_server(latency_s=0.01, require_api_key="sk-the-right-key-000000") as (url, stats):
        settings = make_settings(tmp_path, url)
        results = generator(settings).generate(requests)
        received = stats["received"]
    assert all(r.error and "HTTP 401" in r.error for r in results)
    assert received <= settings.max_concurrency  # the first 401 stops further sends
    assert any("[REDACTED]" in r.error for r in results)  # the server echoed the key back
    assert not any(KEY in r.error for r in results)
    out, err = capfd.readouterr()
    assert KEY not in caplog.text and KEY not in out and KEY not in err


def test_the_key_is_nowhere_in_the_warehouse_logs_or_settings(env, tmp_path, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    requests = demo_requests(40, "secret")
    with running_server(latency_s=0.0, require_api_key=KEY, faults={"500": 0.2}) as (url, stats):
        settings = make_settings(tmp_path, url)
        results = generator(settings).generate(requests)
        grades = OpenAIJudge(settings, Warehouse(settings.warehouse_path)).grade(grade_requests(results, settings))
        hashes = stats["auth_sha256"]
    assert all(r.error is None for r in results) and all(g.error is None for g in grades)
    import hashlib

    assert set(hashes) == {hashlib.sha256(KEY.encode()).hexdigest()}  # the key did reach the server
    needle = KEY.encode()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), path
    out, err = capfd.readouterr()
    assert KEY not in caplog.text and KEY not in out and KEY not in err
    assert KEY not in json.dumps(settings.public_dict(), default=str)


def test_public_settings_hold_no_secret_fields_and_no_url_credentials(tmp_path):
    settings = Settings(home=tmp_path, judge_base_url="https://user:hunter2@llm.example.org/v1")
    public = settings.public_dict()
    assert "hunter2" not in json.dumps(public, default=str)
    assert not [k for k in public if "api_key" in k or "secret" in k]


def test_missing_key_for_openai_itself_is_an_error_row_not_a_crash(env, tmp_path):
    env.delenv("OPENAI_API_KEY")
    settings = Settings(home=tmp_path, llm_backend="openai", max_attempts=1)
    results = generator(settings).generate(demo_requests(3, "nokey", model="gpt-4o-mini"))
    assert len(results) == 3 and all(r.error and "OPENAI_API_KEY" in r.error for r in results)


# --- never pay twice -----------------------------------------------------------------------
def test_rerun_sends_zero_requests_and_returns_the_same_results(env, tmp_path):
    requests = demo_requests(80, "rerun")
    with running_server(latency_s=0.005, faults={"length": 0.1, "content_filter": 0.05}) as (url, stats):
        settings = make_settings(tmp_path, url)
        first = generator(settings).generate(requests)
        assert stats["received"] == 80
        stats.reset()
        again = generator(settings)
        second = again.generate(requests)
        assert stats["received"] == 0
    assert again.last_run == {
        "requests": 80,
        "cache_hits": 80,
        "sent": 0,
        "errors": sum(r.error is not None for r in first),
        "retries": 0,
    }
    assert essentials(first) == essentials(second)
    assert not any(r.cached for r in first) and all(r.cached for r in second)
    rows = Warehouse(settings.warehouse_path).query(f"SELECT count(*) AS n FROM synth.{CACHE_TABLE}")
    assert rows["n"][0] == 80
    assert not list((tmp_path / "cache" / "llm_journal").glob("*.jsonl"))  # journal removed after a clean run


def test_changed_parameters_miss_the_cache(env, tmp_path):
    requests = demo_requests(10, "params")
    with running_server() as (url, stats):
        settings = make_settings(tmp_path, url)
        generator(settings).generate(requests)
        hotter = [r.__class__(**{**r.__dict__, "temperature": 1.1}) for r in requests]
        generator(settings).generate(hotter)
        assert stats["received"] == 20


_CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {root!r})
    from synth_pipeline.settings import Settings
    from synth_pipeline.storage.warehouse import Warehouse
    from synth_pipeline.llm.openai_backend import OpenAIGenerator
    from benchmarks.harness.openai_server import demo_requests
    settings = Settings(home={home!r}, llm_backend="openai", generator_model="local-generator",
                        generator_base_url={url!r}, max_concurrency={conc}, cache_flush_rows=10**6,
                        cache_flush_interval_s=3600)
    OpenAIGenerator(settings, Warehouse(settings.warehouse_path)).generate(demo_requests({n}, "resume"))
    print("FINISHED")
    """
)


def test_resume_after_sigkill_sends_only_the_missing_requests(env, tmp_path):
    n, conc = 300, 8
    with running_server(latency_s=0.03) as (url, stats):
        # Reference: an uninterrupted run in another warehouse.
        reference = generator(make_settings(tmp_path / "reference", url, max_concurrency=conc)).generate(
            demo_requests(n, "resume")
        )
        stats.reset()
        home = tmp_path / "killed"
        # The child writes nothing to the warehouse table before it dies (huge flush
        # thresholds): everything it completed must come back from its journal.
        code = _CHILD.format(root=str(ROOT), home=str(home), url=url, conc=conc, n=n)
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ)
        )
        deadline = time.monotonic() + 30
        while stats["completed"] < n // 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert b"FINISHED" not in child.stdout.read()
        time.sleep(0.1)  # let the server finish answering the requests in flight
        first = stats.snapshot()
        assert n // 3 <= first["received"] < n
        stats.reset()

        resumed_gen = generator(make_settings(home, url, max_concurrency=conc))
        resumed = resumed_gen.generate(demo_requests(n, "resume"))
        second = stats["received"]
        stats.reset()
        third_gen = generator(make_settings(home, url, max_concurrency=conc))
        third = third_gen.generate(demo_requests(n, "resume"))
        assert stats["received"] == 0  # a second rerun sends nothing

    recovered = resumed_gen.last_run["cache_hits"]
    lost = first["received"] - recovered  # sent before the kill but never stored
    print(
        f"\nkill/resume: run 1 sent {first['received']} before SIGKILL, {recovered} recovered from its journal, "
        f"{lost} lost in flight; run 2 sent {second}; run 3 sent 0"
    )
    assert second == n - recovered  # only the missing ones
    assert 0 <= lost <= conc  # at most the requests in flight when it died
    assert essentials(resumed) == essentials(reference) == essentials(third)


# --- judge ------------------------------------------------------------------------------
def grade_requests(results, settings: Settings) -> list[GradeRequest]:
    return [
        grading.request(
            r.request_id,
            passage="Caches store responses by key.",
            instruction="Explain caching.",
            sample_text=r.text or "",
            model="local-judge",
            seed=3,
            settings=settings,
        )
        for r in results
        if r.text
    ]


@pytest.mark.parametrize(
    ("formats", "expected"),
    [(("json_schema", "json_object"), "json_schema"), (("json_object",), "json_object"), ((), "none")],
)
def test_judge_asks_for_structured_output_and_steps_down(env, tmp_path, formats, expected):
    with running_server(response_formats=formats) as (url, stats):
        settings = make_settings(tmp_path, url)
        samples = generator(settings).generate(demo_requests(30, "judge"))
        grades = OpenAIJudge(settings, Warehouse(settings.warehouse_path)).grade(grade_requests(samples, settings))
        kinds = stats["by_kind"]
    assert len(grades) == 30 and all(g.error is None for g in grades)
    assert Counter(g.extra["response_format"] for g in grades)[expected] >= 30 - settings.max_concurrency
    assert grades[-1].extra["response_format"] == expected
    for g in grades:
        parsed = parse_grade(g.raw_text)  # strict JSON, or JSON inside prose and a fence
        assert 1 <= parsed.score <= 10
    refused = sum(v for k, v in kinds.items() if k.startswith("unsupported_"))
    assert refused <= 2 * settings.max_concurrency  # stepped down once, not per request


def test_unparseable_judge_reply_is_returned_raw_not_as_a_score(env, tmp_path):
    with running_server(faults={"length": 1.0}) as (url, _):
        settings = make_settings(tmp_path, url)
        sample = [r.__class__(**{**r.__dict__, "text": "A sample."}) for r in [_fake_result()]]
        grades = OpenAIJudge(settings, Warehouse(settings.warehouse_path)).grade(grade_requests(sample, settings))
    assert grades[0].extra["finish_reason"] == "length" and grades[0].error is None
    with pytest.raises(GradeParseError):
        parse_grade(grades[0].raw_text)


def _fake_result():
    from synth_pipeline.chat import GenerationResult

    return GenerationResult(request_id="s-1", text="x", finish_reason="stop")


# --- throughput controls, cost, progress ------------------------------------------------------
def test_concurrency_is_bounded(env, tmp_path):
    with running_server(latency_s=0.05) as (url, stats):
        generator(make_settings(tmp_path, url, max_concurrency=5)).generate(demo_requests(40, "bounded"))
        assert stats["max_in_flight"] == 5


def test_requests_per_minute_limit(env, tmp_path):
    with running_server() as (url, stats):
        generator(make_settings(tmp_path, url, requests_per_minute=600)).generate(demo_requests(16, "rpm"))
        arrivals = sorted(stats["arrivals"])
    # 10 req/s with a one-second bucket: the first 10 at once, then one per 100 ms.
    assert arrivals[-1] - arrivals[0] >= 0.5
    assert sum(a - arrivals[0] < 0.15 for a in arrivals) <= 12


def test_tokens_per_minute_limit(env, tmp_path):
    from synth_pipeline.llm.openai_engine import _estimate_tokens

    requests = demo_requests(8, "tpm", max_tokens=100)
    per_second = 30000 / 60
    reserved = sum(_estimate_tokens(r.messages, r.max_tokens) for r in requests)
    with running_server() as (url, stats):
        generator(make_settings(tmp_path, url, tokens_per_minute=30000)).generate(requests)
        arrivals = sorted(stats["arrivals"])
    # The bucket holds one second's worth; the rest waits for 500 tokens/s, less what
    # replies give back (a reservation is prompt + max_tokens, usage is usually less).
    assert reserved > 2 * per_second
    assert arrivals[-1] - arrivals[0] >= 0.5  # unlimited, all eight arrive within ~10 ms


def test_cost_follows_the_configured_price_table(env, tmp_path):
    table = json.dumps({"local-generator": {"input": 1.0, "output": 4.0}})
    with running_server() as (url, _):
        results = generator(make_settings(tmp_path, url, price_table=table)).generate(demo_requests(5, "cost"))
    for r in results:
        assert r.cost_usd == pytest.approx((r.prompt_tokens * 1.0 + r.completion_tokens * 4.0) / 1e6)
        assert r.prompt_tokens > 0 and r.completion_tokens > 0


def test_price_table_matching_and_overrides(tmp_path):
    table = PriceTable()
    assert table.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert table.cost("gpt-4o-2024-08-06", 0, 1_000_000) == pytest.approx(10.0)
    assert table.cost("llama3.1:8b", 1000, 1000) == 0.0 and not table.is_priced("llama3.1:8b")
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"llama3.1:8b": {"input": 0.1, "output": 0.2}}))
    assert PriceTable.from_setting(str(path)).cost("llama3.1:8b", 1_000_000, 1_000_000) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        PriceTable.from_setting('{"m": {"input": "cheap"}}')


def test_switches_to_max_completion_tokens_when_the_server_asks(env, tmp_path):
    with running_server(reject_max_tokens=True) as (url, stats):
        results = generator(make_settings(tmp_path, url)).generate(demo_requests(40, "reasoning"))
        refused = stats["by_kind"].get("unsupported_max_tokens", 0)
    assert all(r.error is None and r.attempts == 1 for r in results)
    assert 1 <= refused <= 16  # once per request in flight at the switch, then never
