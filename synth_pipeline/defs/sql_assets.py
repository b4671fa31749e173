"""The SQL models of ``dbt_like_sql/`` as assets, with the checks that run in their steps."""

from synth_pipeline.defs.checks import EXCLUSION_CHECK_SPECS, MIX_CHECK_SPECS, funnel_checks, mix_checks
from synth_pipeline.defs.sql_models import ModelHooks, build_sql_asset, discover_models

SQL_HOOKS = {
    "deduplicated_mix": ModelHooks(check_specs=MIX_CHECK_SPECS, checks=mix_checks),
    "mix_exclusions": ModelHooks(check_specs=EXCLUSION_CHECK_SPECS, checks=funnel_checks),
}
sql_assets = [build_sql_asset(model, SQL_HOOKS.get(model.name)) for model in discover_models()]
