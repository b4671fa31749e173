"""The Dagster UI, tried in a real browser.

Starts ``dagster dev -w workspace.yaml`` on a free loopback port with a temporary
DAGSTER_HOME and SYNTH_HOME, then drives Debian's headless Chromium with Playwright:

* the asset graph shows the six stages (and the release) and the check names appear on
  the assets' check tabs;
* "Materialize all…" → "Latest" → "Launch 1 run" starts a run from the UI, and the run
  page shows it succeed (cross-checked through the webserver's GraphQL API and the
  release folder it wrote);
* the Automation page lists ``daily_synth_schedule`` and ``new_corpus_files_sensor``.

Screenshots go to a temporary folder, or to ``docs/screenshots/`` with
``SYNTH_UPDATE_SCREENSHOTS=1`` (``make screenshots``). Chromium is installed with apt-get
when it is missing (``make browser`` does the same); Playwright never downloads a browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("SYNTH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STAGES = [
    "raw_corpus",
    "seed_prompts",
    "generated_samples",
    "graded_samples",
    "deduplicated_mix",
    "quality_report",
    "dataset_release",
]
CHECKS = {
    "deduplicated_mix": ["synthetic_ratio_within_cap", "diversity_above_thresholds", "unique_keys_and_text"],
    "mix_exclusions": ["funnel_accounts_for_every_row"],
    "graded_samples": ["acceptance_rate_in_band", "generation_error_rate", "judge_differs_from_generator"],
}
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 240


def _ensure_chromium() -> Path:
    """Debian's chromium package; installed here when missing so a fresh machine runs this test."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt:
        sudo = [] if os.geteuid() == 0 else ([shutil.which("sudo"), "-n"] if shutil.which("sudo") else None)
        if sudo is not None:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run([*sudo, apt, "update", "-q"], check=False, env=env, capture_output=True, timeout=600)
            subprocess.run(
                [*sudo, apt, "install", "-y", "-q", "chromium"], check=False, env=env, capture_output=True, timeout=900
            )
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing and could not be installed: run `make browser` (apt-get install chromium) as root"
        )
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


LOCATIONS = (
    "{ workspaceOrError { ... on Workspace { locationEntries "
    "{ name loadStatus locationOrLoadError { __typename } } } } }"
)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    """`dagster dev` on loopback; yields (base url, SYNTH_HOME). Stopped by its own process id."""
    root = tmp_path_factory.mktemp("ui")
    dagster_home, synth_home = root / "dagster_home", root / "synth_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "SYNTH_HOME": str(synth_home),
        "SYNTH_DOCS_PER_PARTITION": "60",
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    with open(root / "dagster_dev.log", "wb") as log:
        dagster = Path(sys.executable).with_name("dagster")
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(dagster), "dev", "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A test run started in the background inherits SIGINT=ignored, and dagster dev maps
            # SIGTERM to its SIGINT handler: restore the default so it can be stopped cleanly.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                assert proc.poll() is None, (root / "dagster_dev.log").read_text()[-4000:]
                try:
                    entries = _graphql(base, LOCATIONS)["workspaceOrError"]["locationEntries"]
                    if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                        assert all(e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries), (
                            entries
                        )
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "dagster dev did not load the code location in time"
                time.sleep(1)
            print(f"dagster dev ready in {time.perf_counter() - started:.1f}s on {base}")
            yield base, synth_home
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=30)
            # the webserver, daemon and code servers share the session dagster dev started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    if os.environ.get("SYNTH_UPDATE_SCREENSHOTS") == "1":
        folder = REPO / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page(dagster_dev, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    chromium = _ensure_chromium()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1600, "height": 1000},
        )
        page = context.new_page()
        page.set_default_timeout(60_000)
        # First visit to a fresh instance opens a "join the community" dialog; dismiss it whenever it shows.
        page.add_locator_handler(page.get_by_role("button", name="Skip", exact=True), lambda b: b.click())
        try:
            yield page
        finally:
            context.close()


def _goto(page, base: str, path: str) -> None:
    page.goto(base + path, wait_until="domcontentloaded")


def test_asset_graph_shows_the_stages_and_their_checks(page, dagster_dev, screenshots):
    base, _ = dagster_dev
    _goto(page, base, "/locations/synth_pipeline/asset-groups/synth")
    graph = page.locator("svg, [data-testid]").first
    graph.wait_for()
    for stage in STAGES:
        page.get_by_text(stage, exact=True).first.wait_for(state="visible")
    for asset, names in CHECKS.items():
        _goto(page, base, f"/assets/{asset}?view=checks")
        page.get_by_text(re.compile(r"^Checks \(\d+\)$")).first.wait_for()
        for name in names:
            page.get_by_text(name, exact=True).first.wait_for(state="visible")
        if asset == "deduplicated_mix":
            page.get_by_text("synthetic_ratio_within_cap", exact=True).first.click()
            page.get_by_text(re.compile(r"This is a\s+blocking\s+asset check")).first.wait_for()


def test_materialisation_started_from_the_ui_succeeds(page, dagster_dev, screenshots):
    base, synth_home = dagster_dev
    _goto(page, base, "/locations/synth_pipeline/asset-groups/synth")
    page.get_by_text("raw_corpus", exact=True).first.wait_for(state="visible")
    page.get_by_role("button", name=re.compile("Materialize all")).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Launch runs to materialize").wait_for()
    dialog.get_by_role("button", name="Latest", exact=True).click()
    dialog.get_by_text("1 partition", exact=True).wait_for()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    launch.click()
    started = time.perf_counter()
    page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}")).wait_for()
    page.get_by_role("link", name="View").or_(page.get_by_role("button", name="View")).first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)

    status = None
    while time.perf_counter() - started < RUN_TIMEOUT_S:
        run = _graphql(
            base,
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value } } } }",
            {"id": run_id},
        )
        status = run["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        time.sleep(2)
    assert status == "SUCCESS", f"run {run_id} ended {status}"
    # The run page itself shows the success (live-updated over its websocket).
    page.get_by_text("RUN_SUCCESS").first.wait_for(timeout=60_000)
    page.get_by_text("Success", exact=True).first.wait_for()
    print(f"UI-launched run {run_id} succeeded in {time.perf_counter() - started:.1f}s")
    page.screenshot(path=str(screenshots / "run_succeeded.png"))

    partition = next(t["value"] for t in run["runOrError"]["tags"] if t["key"] == "dagster/partition")
    release = synth_home / "releases" / partition
    assert (release / "README.md").exists() and (release / "manifest.json").exists()
    assert list((release / "data").glob("train-*.parquet"))

    _goto(page, base, "/runs")
    page.get_by_text(run_id[:8]).first.wait_for()
    page.get_by_text("Success", exact=True).first.wait_for()

    # A wide viewport so the graph renders full nodes (status, checks, partitions), clipped to them.
    page.set_viewport_size({"width": 2800, "height": 1800})
    _goto(page, base, "/locations/synth_pipeline/asset-groups/synth")
    for stage in STAGES:
        page.get_by_text(stage, exact=True).first.wait_for(state="visible")
    page.get_by_text(re.compile(r"\d+ / \d+ Passed")).first.wait_for()
    page.wait_for_timeout(1500)  # let the node statuses settle before the picture
    boxes = [
        page.get_by_text(name, exact=True).first.bounding_box()
        for name in [*STAGES, "mix_candidates", "mix_exclusions"]
    ]
    top, bottom = min(b["y"] for b in boxes) - 40, max(b["y"] for b in boxes) + 190
    left, right = min(b["x"] for b in boxes) - 40, max(b["x"] + b["width"] for b in boxes) + 200
    page.screenshot(
        path=str(screenshots / "asset_graph.png"),
        clip={
            "x": max(0, left),
            "y": max(0, top),
            "width": min(2800, right) - max(0, left),
            "height": min(1800, bottom) - max(0, top),
        },
    )
    page.set_viewport_size({"width": 1600, "height": 1000})

    _goto(page, base, "/assets/deduplicated_mix?view=checks")
    page.get_by_text("synthetic_ratio_within_cap", exact=True).first.click()
    page.get_by_text("synthetic_token_share_cumulative").first.wait_for()
    page.get_by_text("Passed").first.wait_for()
    page.screenshot(path=str(screenshots / "checks.png"))

    _goto(page, base, "/assets/dataset_release")
    page.get_by_text("manifest_sha256").first.wait_for()
    page.screenshot(path=str(screenshots / "dataset_release.png"))


def test_schedule_and_sensor_are_listed(page, dagster_dev, screenshots):
    base, _ = dagster_dev
    _goto(page, base, "/automation")
    page.get_by_text("daily_synth_schedule", exact=True).wait_for()
    page.get_by_text("new_corpus_files_sensor", exact=True).wait_for()
    page.get_by_text("Standard sensor").first.wait_for()  # rows finished loading
    page.wait_for_timeout(1000)
    page.screenshot(path=str(screenshots / "automation.png"))
