"""Every test says what kind it is, so a reader (and ``pytest -m``) can pick a kind.

* ``unit``: one module or function on real inputs (real files, real DuckDB, a loopback
  server in-process); no Dagster run.
* ``graph``: a real Dagster run, sensor tick or automation evaluation of the real graph.
* ``browser``: ``dagster dev`` or the report driven by headless Chromium.
* ``service``: starts real servers (Postgres, Redis, an S3-protocol server, Celery workers).

A test with none or more than one of these is a collection error.
"""

from __future__ import annotations

import pytest

KINDS = ("unit", "graph", "browser", "service")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        kinds = {m.name for m in item.iter_markers() if m.name in KINDS}
        if len(kinds) != 1:
            wrong.append(f"{item.nodeid}: {sorted(kinds) or 'no kind'}")
    if wrong:
        raise pytest.UsageError(
            "mark each test with exactly one of " + ", ".join(f"@pytest.mark.{k}" for k in KINDS) + " (a module-level "
            "`pytestmark` counts):\n  " + "\n  ".join(wrong)
        )
