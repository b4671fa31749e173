"""The quality report: numbers that match a hand calculation, and a page that renders offline."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

import pytest

from synth_pipeline.corpus.builtin import load_builtin_python_docs
from synth_pipeline.text import count_tokens
from synth_pipeline_tests.conftest import PARTITION, query, run_graph

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def jsonl_run(tmp_path_factory):
    """A user-given JSONL corpus (field "body"), run through the whole graph."""
    tmp = tmp_path_factory.mktemp("jsonl")
    docs = load_builtin_python_docs(tmp / "cache").head(150).get_column("text").to_list()
    corpus = tmp / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "body": text}) + "\n" for i, text in enumerate(docs)))
    home = tmp / "home"
    result = run_graph(home, SYNTH_CORPUS=str(corpus), SYNTH_CORPUS_TEXT_FIELD="body", SYNTH_DOCS_PER_PARTITION="200")
    assert result.success
    return home


def _metrics(home: Path, scope: str = "partition") -> dict[str, float]:
    return dict(
        query(
            home,
            "SELECT metric, value FROM synth.quality_metrics WHERE partition_date = ? AND scope = ?",
            [PARTITION, scope],
        )
    )


@pytest.mark.graph
def test_report_numbers_match_a_hand_calculation(jsonl_run):
    home = jsonl_run
    m = _metrics(home)
    mix = query(home, "SELECT origin, text FROM synth.deduplicated_mix WHERE partition_date = ?", [PARTITION])
    tokens = {"real": 0, "synthetic": 0}
    for origin, text in mix:
        tokens[origin] += count_tokens(text)
    assert m["mix.items"] == len(mix)
    assert m["mix.synthetic_token_share"] == pytest.approx(tokens["synthetic"] / sum(tokens.values()), abs=1e-9)
    accepted, samples = query(home, "SELECT count(*) FILTER (WHERE accepted), count(*) FROM synth.graded_samples")[0]
    assert m["grading.acceptance_rate"] == pytest.approx(accepted / samples)
    # distinct-2 by hand: lower-cased \w+ words, bigrams never cross documents.
    bigrams, total = set(), 0
    for origin, text in mix:
        if origin == "synthetic":
            words = re.findall(r"\w+", text.lower())
            pairs = list(itertools.pairwise(words))
            bigrams.update(pairs)
            total += len(pairs)
    assert m["synthetic.distinct_2"] == pytest.approx(len(bigrams) / total, rel=1e-9)
    cumulative = _metrics(home, "cumulative")
    assert cumulative["mix.items"] == len(mix)  # one partition: cumulative = partition


@pytest.mark.graph
def test_report_states_offline_and_scores(jsonl_run):
    m = _metrics(jsonl_run)
    assert 0 <= m["score.headline"] <= 100
    assert m["cost.usd"] == 0 and m["cost.cache_hit_rate"] == 0  # offline: no paid requests, no cache


@pytest.mark.browser
def test_html_report_renders_in_chromium_with_no_network(jsonl_run):
    from playwright.sync_api import sync_playwright

    from synth_pipeline_tests.test_ui_browser import CHROMIUM_ARGS, _ensure_chromium

    chromium = _ensure_chromium()
    html = jsonl_run / "reports" / f"quality_report_{PARTITION}.html"
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(html.as_uri())
        for section in (
            "headline",
            "checks",
            "funnel",
            "grading",
            "diversity",
            "drift",
            "bias",
            "leakage",
            "trend",
            "cost",
            "examples",
        ):
            assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator("svg[role=img]").count() >= 4
        assert page.locator("svg rect.bar").count() > 10
        assert "Quality score" in page.locator("section#headline").inner_text()
        if os.environ.get("SYNTH_UPDATE_SCREENSHOTS"):
            page.screenshot(path=str(REPO / "docs" / "screenshots" / "quality_report.png"), full_page=False)
        browser.close()
    assert all(url.startswith("file://") for url in requests), requests
