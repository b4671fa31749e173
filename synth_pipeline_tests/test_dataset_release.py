"""The release loads with `datasets` and polars, its card quotes the quality report, its
manifest's hashes are the files', and a mix that failed or outgrew its report never ships."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml

from synth_pipeline_tests.conftest import checks_by_name, query, run_graph, synth_settings

pytestmark = pytest.mark.graph

# Local folders only: `datasets` must never reach the network here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

FIRST, RELEASE = "2026-03-01", "2026-03-02"
SHARD_BYTES = 40_000  # small, so a release of ~120 documents spans several shards
ENV = {
    "SYNTH_DOCS_PER_PARTITION": "60",
    "SYNTH_RELEASE_CHAT_JSONL": "1",
    "SYNTH_RELEASE_SHARD_MAX_BYTES": str(SHARD_BYTES),
}


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("release")
    for partition in (FIRST, RELEASE):
        result = run_graph(home, partition, **ENV)
        assert result.success, partition
        assert [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == "dataset_release"]
    return home


def _mix_rows(home: Path, partition: str = RELEASE) -> int:
    return query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date <= ?", [partition])[0][0]


def _front_matter(card: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", card, re.S)
    assert match, "the card starts with YAML front matter"
    return yaml.safe_load(match.group(1))


def _md_rows(card: str, header_start: str) -> list[list[str]]:
    """Rows of the first Markdown table whose header starts with ``header_start``."""
    lines = card.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header_start}"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return [lines[start].strip("|").split(" | ")] + rows


def test_release_loads_with_datasets_and_polars(released, tmp_path):
    import datasets

    folder = released / "releases" / RELEASE
    expected = _mix_rows(released)
    shards = sorted((folder / "data").glob("*.parquet"))
    assert len(shards) > 1, "the size bound splits the release into shards"
    assert [s.name for s in shards] == [f"train-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]

    by_card = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "hf"))
    by_files = datasets.load_dataset(
        "parquet", data_files=str(folder / "data" / "*.parquet"), split="train", cache_dir=str(tmp_path / "hf")
    )
    frame = pl.read_parquet(folder / "data" / "*.parquet")
    assert by_card.num_rows == by_files.num_rows == frame.height == expected
    mix_ids = {
        r[0] for r in query(released, "SELECT item_id FROM synth.deduplicated_mix WHERE partition_date <= ?", [RELEASE])
    }
    assert set(by_card["item_id"]) == set(frame["item_id"]) == mix_ids
    assert frame["item_id"].n_unique() == frame.height, "two disjoint corpus slices: no item repeats"
    assert {
        "item_id",
        "origin",
        "text",
        "n_tokens",
        "doc_id",
        "prompt_id",
        "sample_id",
        "score",
        "partition_date",
    } <= set(frame.columns)
    assert sorted(frame["partition_date"].cast(pl.Utf8).unique().to_list()) == [FIRST, RELEASE]

    # The release of the first partition holds that partition only (cumulative up to it).
    first = pl.read_parquet(released / "releases" / FIRST / "data" / "*.parquet")
    assert first.height == _mix_rows(released, FIRST)


def test_chat_jsonl_is_the_messages_shape(released, tmp_path):
    import datasets

    folder = released / "releases" / RELEASE
    chat = datasets.load_dataset(
        "json", data_files=str(folder / "chat" / "*.jsonl"), split="train", cache_dir=str(tmp_path / "hf")
    )
    synthetic = {
        item_id: (text, json.loads(messages))
        for item_id, text, messages in query(
            released,
            """SELECT m.item_id, m.text, p.messages FROM synth.deduplicated_mix m
               JOIN synth.seed_prompts p USING (prompt_id, partition_date)
               WHERE m.origin = 'synthetic' AND m.partition_date <= ?""",
            [RELEASE],
        )
    }
    assert chat.num_rows == len(synthetic) > 0
    for row in chat.select(range(min(20, chat.num_rows))):
        roles = [m["role"] for m in row["messages"]]
        assert roles[-1] == "assistant" and "user" in roles[:-1]
        text, prompt = synthetic[row["item_id"]]
        assert row["messages"][-1]["content"] == text
        assert row["messages"][:-1] == prompt, "the prompt messages are the ones the generator was sent"


def test_manifest_hashes_rows_and_lineage(released):
    import hashlib

    folder = released / "releases" / RELEASE
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert listed == on_disk
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"], entry["path"]
        if entry["format"] == "parquet":
            assert pq.ParquetFile(folder / entry["path"]).metadata.num_rows == entry["rows"]
            texts = pq.read_table(folder / entry["path"], columns=["text"]).column("text").to_pylist()
            estimate = sum(len(t.encode()) + 256 for t in texts)
            assert estimate <= SHARD_BYTES or len(texts) == 1, "a shard stays under the size bound"
        if entry["format"] == "jsonl":
            assert data.count(b"\n") == entry["rows"] and (len(data) <= SHARD_BYTES or entry["rows"] == 1)
    assert manifest["rows"] == _mix_rows(released)
    assert [p["partition"] for p in manifest["lineage"]["source_partitions"]] == [FIRST, RELEASE]
    assert manifest["lineage"]["dagster_run_id"]
    assert manifest["lineage"]["repeated_item_ids"] == 0
    assert sum(manifest["lineage"]["pipeline_versions"].values()) == manifest["rows"]
    assert {c["name"] for c in manifest["columns"]} >= {"item_id", "text", "origin"}
    # Recorded in the warehouse too, one row per release.
    ((rows, sha),) = query(
        released, "SELECT rows, manifest_sha256 FROM synth.dataset_release WHERE partition_date = ?", [RELEASE]
    )
    assert rows == manifest["rows"] and sha == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()


def test_card_matches_the_quality_report(released):
    folder = released / "releases" / RELEASE
    card = (folder / "README.md").read_text()
    meta = _front_matter(card)
    assert meta["license"] == "other" and meta["license_name"] == "psf-2.0"
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]
    assert "synthetic" in meta["tags"]
    from huggingface_hub import DatasetCard  # the Hub's own reader of the card

    hub = DatasetCard.load(folder / "README.md").data
    assert hub.license == "other" and hub.license_link and hub.configs[0]["config_name"] == "default"

    metrics = {
        (str(day), scope, name): value
        for day, scope, name, value in query(
            released, "SELECT partition_date, scope, metric, value FROM synth.quality_metrics"
        )
    }
    from synth_pipeline.release.card import COMPOSITION, DIVERSITY_COLUMNS, PARTITION_COLUMNS, fmt

    composition = dict(_md_rows(card, "figure | value")[1:])
    for label, key, share in COMPOSITION:
        assert composition[label] == fmt(metrics[(RELEASE, "cumulative", key)], share=share), label
    for columns, header in ((PARTITION_COLUMNS, "partition | items"), (DIVERSITY_COLUMNS, "partition | distinct-2")):
        table = _md_rows(card, header)
        labels = [c.strip() for c in table[0]]
        rows = {r[0]: r for r in table[1:]}
        assert set(rows) == {FIRST, RELEASE}
        for day, row in rows.items():
            for label, key, share in columns:
                assert row[labels.index(label)] == fmt(metrics[(day, "partition", key)], share=share), (day, label)
    # The composition the card states is the data that ships.
    frame = pl.read_parquet(folder / "data" / "*.parquet")
    synthetic = frame.filter(pl.col("origin") == "synthetic")
    assert int(composition["items"]) == frame.height
    assert int(composition["synthetic items"]) == synthetic.height
    assert float(composition["synthetic share (tokens)"]) == pytest.approx(
        synthetic["n_tokens"].sum() / frame["n_tokens"].sum(), abs=5e-5
    )
    # The HTML report of the partition shows the same headline figures.
    report = (released / "reports" / f"quality_report_{RELEASE}.html").read_text()
    part = {r[0]: r for r in _md_rows(card, "partition | items")[1:]}[RELEASE]
    assert f"<b>{int(metrics[(RELEASE, 'partition', 'mix.items')])}</b>" in report and part[1] == str(
        int(metrics[(RELEASE, "partition", "mix.items")])
    )
    checks = _md_rows(card, "check | severity")[1:]
    assert {r[0] for r in checks} >= {
        "synthetic_ratio_within_cap",
        "diversity_above_thresholds",
        "unique_keys_and_text",
        "funnel_accounts_for_every_row",
    }
    assert all(r[2] == "passed" for r in checks if r[1] == "ERROR"), (
        "a release never ships past a failed blocking check"
    )
    assert "as recorded by Dagster in run" in card, "in a run of the graph the card quotes Dagster's own check results"
    assert "offline backend" in card and "Lineage of this release" in card


def test_release_is_reproducible_and_refuses_a_stale_report(released, tmp_path):
    from synth_pipeline.release import ReleaseBlocked, build_release
    from synth_pipeline.storage.warehouse import Warehouse

    home = tmp_path / "copy"
    shutil.copytree(released, home, ignore=shutil.ignore_patterns("*.lock"))
    before = json.loads((home / "releases" / RELEASE / "manifest.json").read_text())
    settings = synth_settings(home, **ENV)
    with Warehouse(settings.warehouse_path).connect() as con:
        again = build_release(con, RELEASE, settings)
        assert [f["sha256"] for f in again.files if f["format"] != "markdown"] == [
            f["sha256"] for f in before["files"] if f["format"] != "markdown"
        ], "the same mix gives byte-identical shards"
        con.execute(
            "DELETE FROM synth.deduplicated_mix WHERE item_id = (SELECT min(item_id) FROM synth.deduplicated_mix)"
        )
        with pytest.raises(ReleaseBlocked, match="changed after the quality report"):
            build_release(con, RELEASE, settings)
        con.execute(
            "UPDATE synth.quality_metrics SET value = 1 WHERE metric IN ('checks.failed', "
            "'checks.failed_blocking') "
            "AND partition_date = ?",
            [FIRST],
        )
        with pytest.raises(ReleaseBlocked, match="blocking checks failed"):
            build_release(con, RELEASE, settings)
    # A refused release leaves the previous one in place.
    assert json.loads((home / "releases" / RELEASE / "manifest.json").read_text())["rows"] == before["rows"]


def test_a_blocking_check_stops_the_release(tmp_path):
    result = run_graph(tmp_path, RELEASE, SYNTH_DOCS_PER_PARTITION="60", SYNTH_MAX_SYNTHETIC_RATIO="0.01")
    assert not checks_by_name(result)["synthetic_ratio_within_cap"].passed
    assert not [m for m in result.get_asset_materialization_events() if m.asset_key.path[-1] == "dataset_release"]
    assert not (tmp_path / "releases" / RELEASE).exists()
