"""The layering of docs/architecture.md holds: the domain never imports dagster, and the
code location loads from its defs folder, in a checkout as in an installed wheel."""

from __future__ import annotations

import subprocess
import sys

import pytest

from synth_pipeline.defs.groups import RECORD_TABLES, STAGES

pytestmark = pytest.mark.unit

DOMAIN = [
    "corpus",
    "prompts",
    "tasks",
    "llm",
    "dedup",
    "mix",
    "metrics",
    "report",
    "release",
    "storage",
    "text",
    "probe",
]


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_package_imports_no_dagster(package: str) -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        f"root = importlib.import_module('synth_pipeline.{package}')\n"
        "for info in pkgutil.walk_packages(root.__path__, root.__name__ + '.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"synth_pipeline.{package} imports dagster: {out.strip()[:200]}"


def test_every_definition_comes_from_the_defs_folder() -> None:
    from synth_pipeline.definitions import load_defs

    defs = load_defs()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert set(STAGES) <= keys
    groups = {spec.key.to_user_string(): spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert {k for k, g in groups.items() if g == "synth_tables"} == set(RECORD_TABLES)
    assert {k for k, g in groups.items() if g == "synth"} >= set(STAGES)
    # "Materialize all" on the pipeline's group needs nothing from outside it that a step could write.
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        if groups[key.to_user_string()] == "synth":
            outside = [p.to_user_string() for p in graph.get(key).parent_keys if groups[p.to_user_string()] != "synth"]
            assert set(outside) <= {"check_results"}, (key, outside)
    assert {j.name for j in defs.jobs or []} >= {"synth_pipeline_job", "synth_backfill_job"}
    assert {"synth", "io_manager"} <= set(defs.resources or {})
