"""A wheel install works outside the checkout: the SQL models ship inside it, the tests do not."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.graph

REPO = Path(__file__).resolve().parent.parent

RUN_GRAPH = r"""
import json, sys
import synth_pipeline
from dagster import DagsterInstance, materialize
from synth_pipeline.definitions import load_defs
defs = load_defs()
result = materialize(list(defs.assets), partition_key="2026-03-02", resources=defs.resources,
                     instance=DagsterInstance.ephemeral(), raise_on_error=False)
print(json.dumps({
    "package": synth_pipeline.__file__,
    "success": result.success,
    "materialised": sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}),
}))
"""


def test_the_wheel_installed_elsewhere_materialises_the_whole_graph(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", str(REPO), "-w", str(dist)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("synth_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "dbt_like_sql/deduplicated_mix.sql" in names and "dbt_like_sql/mix_exclusions.sql" in names
    assert "dbt_like_sql/queries/mix_shares.sql" in names, "the named queries ship with the models"
    assert not [n for n in names if n.startswith("synth_pipeline_tests/")], "tests are not part of the product"

    # A fresh environment whose only synth_pipeline is the wheel; its dependencies are borrowed from
    # this environment's site-packages (a .pth path: the checkout's editable hook there is not run).
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(purelib) / "borrowed_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SYNTH_HOME": str(tmp_path / "home"),
        "SYNTH_DOCS_PER_PARTITION": "40",
    }
    run = subprocess.run([python, "-c", RUN_GRAPH], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=540)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["package"].startswith(str(env_dir)), "imported from the wheel, not the checkout"
    assert outcome["success"]
    assert {"deduplicated_mix", "mix_exclusions", "quality_report", "dataset_release"} <= set(outcome["materialised"])
