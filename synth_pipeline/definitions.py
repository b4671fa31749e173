"""The code location: every Dagster object under ``synth_pipeline/defs/``, found by Dagster.

The layout Dagster's own scaffold uses: ``load_from_defs_folder`` imports each module of
the ``defs`` package (located through ``synth_pipeline/dg.toml``) and merges what it
defines: assets, checks, jobs, schedules, sensors, and ``defs/resources.py``'s resources
and executor. Asset groups (``defs/groups.py``), automation conditions and the freshness
policy (``defs/automation.py``) are applied here, in one place.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

from dagster import Definitions, definitions, load_from_defs_folder

from synth_pipeline.defs.automation import with_automation
from synth_pipeline.defs.groups import grouped


@functools.cache
def load_defs() -> Definitions:
    """The definitions, built once per process (the CLI, tests and benchmarks call this)."""
    found = load_from_defs_folder(path_within_project=Path(__file__).parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # map_asset_specs is marked preview in Dagster 1.13
        return found.map_asset_specs(func=lambda spec: with_automation(grouped(spec)))


@definitions
def defs() -> Definitions:
    return load_defs()
