"""``make bench`` runs every benchmark script, as the README says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def test_make_bench_runs_every_benchmark_script():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^bench:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "no bench target"
    run = set(re.findall(r"benchmarks/(\w+\.py)", recipe.group(1)))
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py") if 'if __name__ == "__main__":' in p.read_text()}
    assert scripts, "no benchmark scripts found"
    assert scripts - run == set(), "benchmarks missing from `make bench`"
