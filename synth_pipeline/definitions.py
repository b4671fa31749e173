"""The one Definitions object of the synth_pipeline code location."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from synth_pipeline.assets.corpus import raw_corpus
from synth_pipeline.assets.generation import generated_samples, graded_samples
from synth_pipeline.assets.mix import mix_candidates
from synth_pipeline.assets.prompts import seed_prompts
from synth_pipeline.assets.release import dataset_release
from synth_pipeline.assets.report import quality_report
from synth_pipeline.automation import (
    automation_sensor,
    backfill_job,
    daily_schedule,
    mix_freshness_checks,
    mix_freshness_sensor,
    new_corpus_files_sensor,
    pipeline_job,
    with_automation,
)
from synth_pipeline.checks import EXCLUSION_CHECK_SPECS, MIX_CHECK_SPECS, funnel_checks, mix_checks
from synth_pipeline.resources import SynthResource, WarehouseIOManager
from synth_pipeline.sql_models import ModelHooks, build_sql_asset, discover_models

SQL_HOOKS = {
    "deduplicated_mix": ModelHooks(check_specs=MIX_CHECK_SPECS, checks=mix_checks),
    "mix_exclusions": ModelHooks(check_specs=EXCLUSION_CHECK_SPECS, checks=funnel_checks),
}
sql_assets = [build_sql_asset(model, SQL_HOOKS.get(model.name)) for model in discover_models()]

defs = Definitions(
    assets=with_automation(
        [
            raw_corpus,
            seed_prompts,
            generated_samples,
            graded_samples,
            mix_candidates,
            *sql_assets,
            quality_report,
            dataset_release,
        ]
    ),
    asset_checks=[*mix_freshness_checks],
    jobs=[pipeline_job, backfill_job],
    schedules=[daily_schedule],
    sensors=[new_corpus_files_sensor, automation_sensor, mix_freshness_sensor],
    resources={"synth": SynthResource(), "io_manager": WarehouseIOManager()},
    # Steps share one process: the multiprocess executor costs seconds per step on small machines.
    executor=in_process_executor,
)
