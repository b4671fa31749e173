"""Versioning: code versions everywhere, versions on every row, stale after a change, fresh after a re-run.

A real, persistent Dagster instance records each materialisation with its code
version; Dagster's own stale-status resolver (what the UI shows) then judges the same
old partition against the definitions as they are after a SQL model or a template
changed, and again after the stale assets are re-materialised.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, AssetsDefinition, DagsterInstance, evaluate_automation_conditions, materialize

from synth_pipeline.cli.staleness import stale_status, transitions
from synth_pipeline.defs.sql_models import build_sql_asset, discover_models
from synth_pipeline_tests.conftest import query, synth_resources

pytestmark = pytest.mark.graph

P = "2026-03-02"  # an old partition, re-run after a code change
REPO_SQL = Path(__file__).resolve().parent.parent / "dbt_like_sql"
UPSTREAM_OF_MIX = {
    "raw_corpus",
    "raw_corpus_rejects",
    "seed_prompts",
    "generated_samples",
    "graded_samples",
    "mix_candidates",
}


def _assets(sql_dir: Path, seed_prompts: AssetsDefinition | None = None) -> list[AssetsDefinition]:
    """The code location's assets, with the SQL models read from ``sql_dir``."""
    from synth_pipeline.definitions import load_defs
    from synth_pipeline.defs.sql_assets import SQL_HOOKS

    defs = load_defs()
    sql = {m.name: build_sql_asset(m, SQL_HOOKS.get(m.name)) for m in discover_models(sql_dir)}
    out = []
    for a in defs.assets:
        # A model's step is one op named after the model (it may write further declared tables).
        name = a.node_def.name if a.is_executable else None
        if name in sql:
            out.append(sql[name])
        elif name == "seed_prompts" and seed_prompts is not None:
            out.append(seed_prompts)
        else:
            out.append(a)
    return out


def _run(home: Path, instance: DagsterInstance, assets, selection=None):
    result = materialize(
        assets,
        selection=selection,
        partition_key=P,
        resources=synth_resources(home, SYNTH_DOCS_PER_PARTITION="60"),
        instance=instance,
        raise_on_error=False,
    )
    assert result.success
    return result


@pytest.fixture
def home(tmp_path: Path, healthy_run) -> Path:
    # Reuse the parsed built-in corpus of the shared run (a few seconds saved per test).
    shutil.copytree(healthy_run[0] / "cache", tmp_path / "home" / "cache")
    return tmp_path / "home"


def test_every_asset_has_a_code_version_and_every_row_its_versions(healthy_run) -> None:
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        assert graph.get(key).code_version, key
    for model in discover_models(REPO_SQL):
        assert graph.get(AssetKey(model.name)).code_version == model.code_version

    home, _ = healthy_run
    for table in (
        "raw_corpus",
        "seed_prompts",
        "generated_samples",
        "graded_samples",
        "mix_candidates",
        "deduplicated_mix",
    ):
        assert query(home, f"SELECT count(*) FROM synth.{table} WHERE pipeline_version IS NULL")[0][0] == 0, table
    # Synthetic mix items carry the template and model that made them.
    assert (
        query(
            home,
            "SELECT count(*) FROM synth.deduplicated_mix WHERE origin = 'synthetic' "
            "AND (template_version IS NULL OR model IS NULL OR pipeline_version IS NULL)",
        )[0][0]
        == 0
    )


def test_changed_sql_model_marks_old_partition_stale_until_rerun(home: Path, tmp_path: Path) -> None:
    from synth_pipeline.definitions import load_defs

    defs = load_defs()

    sql_dir = tmp_path / "dbt_like_sql"
    shutil.copytree(REPO_SQL, sql_dir)
    log: list[str] = []
    with DagsterInstance.from_config(str(_dagster_home(tmp_path))) as instance:
        v1 = _assets(sql_dir)
        _run(home, instance, v1)
        fresh = stale_status(instance, v1, P)
        assert {s.status for s in fresh.values()} == {"FRESH"}
        tick = evaluate_automation_conditions(defs=defs, instance=instance)

        # Edit the model: its file hash (= code version) changes. Dagster marks the changed
        # asset stale; its children follow once it has new data (see the next step).
        model = sql_dir / "deduplicated_mix.sql"
        model.write_text(model.read_text() + "\n-- reviewed: same logic, new text, new hash\n")
        v2 = _assets(sql_dir)
        assert _code_version(v2, "deduplicated_mix") != _code_version(v1, "deduplicated_mix")
        stale = stale_status(instance, v2, P)
        log += ["after editing deduplicated_mix.sql:"] + transitions(fresh, stale)
        assert stale["deduplicated_mix"].status == "STALE"
        assert any("code version" in c for c in stale["deduplicated_mix"].causes)
        assert {n for n, s in stale.items() if s.status == "STALE"} == {"deduplicated_mix"}

        # "Materialize stale": the model re-runs with its new version; its data version
        # changes, so everything reading it is now stale, for a data reason.
        before = query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = ?", [P])
        _run(home, instance, v2, selection=["deduplicated_mix"])
        moved = stale_status(instance, v2, P)
        log += ["after re-materialising deduplicated_mix:"] + transitions(stale, moved)
        tail = {"mix_exclusions", "quality_report", "dataset_release"}
        assert {n for n, s in moved.items() if s.status == "STALE"} == tail
        for name in tail:
            assert any(c.startswith("deduplicated_mix") for c in moved[name].causes), (name, moved[name].causes)

        # The automation sensor requests exactly that tail (the mix passed its checks) ...
        tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
        assert tick.total_requested == len(tail)
        for name in tail:
            assert tick.get_requested_partitions(AssetKey(name)) == {P}, name
        # ... and once it has run, the old partition is fresh again, with the same rows.
        _run(home, instance, v2, selection=sorted(tail))
        again = stale_status(instance, v2, P)
        log += ["after the automated refresh:"] + transitions(moved, again)
        assert {s.status for s in again.values()} == {"FRESH"}
        assert query(home, "SELECT count(*) FROM synth.deduplicated_mix WHERE partition_date = ?", [P]) == before
    print("\n".join(log))


def test_changed_template_marks_prompts_and_downstream_stale_until_rerun(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    from synth_pipeline.defs import prompts as prompt_assets
    from synth_pipeline.prompts import build, templates

    log: list[str] = []
    with DagsterInstance.from_config(str(_dagster_home(tmp_path))) as instance:
        v1 = _assets(REPO_SQL)
        _run(home, instance, v1)
        fresh = stale_status(instance, v1, P)
        assert {s.status for s in fresh.values()} == {"FRESH"}
        old_versions = {r[0] for r in query(home, "SELECT DISTINCT template_version FROM synth.seed_prompts")}

        # Edit the first task template, as a change to prompts/templates.py would.
        first = templates.TEMPLATES[0]
        edited = templates.TaskTemplate(first.task, first.user + "\nAnswer in complete sentences.")
        monkeypatch.setattr(templates, "TEMPLATES", (edited, *templates.TEMPLATES[1:]))
        monkeypatch.setattr(build, "TEMPLATES", templates.TEMPLATES)
        try:
            reloaded = importlib.reload(prompt_assets)  # recomputes seed_prompts' code version
            v2 = _assets(REPO_SQL, seed_prompts=reloaded.seed_prompts)
            assert _code_version(v2, "seed_prompts") != _code_version(v1, "seed_prompts")
            stale = stale_status(instance, v2, P)
            log += ["after editing a template:"] + transitions(fresh, stale)
            assert {n for n, s in stale.items() if s.status == "STALE"} == {"seed_prompts"}
            assert any("code version" in c for c in stale["seed_prompts"].causes)

            _run(home, instance, v2, selection=["seed_prompts"])
            moved = stale_status(instance, v2, P)
            log += ["after re-materialising seed_prompts:"] + transitions(stale, moved)
            assert moved["seed_prompts"].status == "FRESH"
            assert moved["generated_samples"].status == "STALE"
            assert moved["raw_corpus"].status == "FRESH"

            downstream = [
                "generated_samples",
                "graded_samples",
                "mix_candidates",
                "deduplicated_mix",
                "mix_exclusions",
                "quality_report",
                "dataset_release",
            ]
            _run(home, instance, v2, selection=downstream)
            again = stale_status(instance, v2, P)
            log += ["after re-materialising its downstream:"] + transitions(moved, again)
            assert {s.status for s in again.values()} == {"FRESH"}
            # The rows say which template made them.
            new_versions = {r[0] for r in query(home, "SELECT DISTINCT template_version FROM synth.seed_prompts")}
            assert edited.version in new_versions and first.version not in new_versions
            assert first.version in old_versions
        finally:
            monkeypatch.undo()
            importlib.reload(prompt_assets)
    print("\n".join(log))


def _code_version(assets, name: str) -> str:
    for a in assets:
        for key in a.keys:
            if key.to_user_string() == name:
                return a.code_versions_by_key[key]
    raise KeyError(name)


def _dagster_home(tmp_path: Path) -> Path:
    path = tmp_path / "dagster_home"
    path.mkdir(exist_ok=True)
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path
