"""The SQL models of ``dbt_like_sql/`` as assets, with what runs in their steps after the model.

``deduplicated_mix``'s step also writes the tables that describe the mix it just wrote:
``mix_metrics`` (text metrics, partition and cumulative), ``mix_term_groups`` and
``mix_overrepresented_ngrams`` (the report's tables) before its checks, and
``real_item_ledger`` after them (the check compares the mix with what earlier
materialisations recorded). They are declared outputs of the step, with lineage; the
checks only read.
"""

from __future__ import annotations

from dagster import AssetKey, AssetSpec

from synth_pipeline.dedup import decontamination
from synth_pipeline.defs.checks import EXCLUSION_CHECK_SPECS, MIX_CHECK_SPECS, funnel_checks, mix_checks
from synth_pipeline.defs.sql_models import ModelHooks, ModelStepResult, build_sql_asset, discover_models
from synth_pipeline.defs.tables import write_table
from synth_pipeline.defs.versioning import source_version
from synth_pipeline.metrics import _ngram_counts, _tokens, bias, diversity, drift, leakage
from synth_pipeline.mix import ledger
from synth_pipeline.mix import metrics as mix_metrics
from synth_pipeline.settings import Settings
from synth_pipeline.storage import queries
from synth_pipeline.storage.warehouse import Warehouse

MIX = "deduplicated_mix"
METRICS_VERSION = source_version(mix_metrics, decontamination, _ngram_counts, _tokens, bias, diversity, drift, leakage)
LEDGER_VERSION = source_version(ledger, queries.load("real_item_ledger").sql, queries.load("real_items_first_seen").sql)


def _spec(name: str, deps: tuple[str, ...], code_version: str, description: str) -> AssetSpec:
    return AssetSpec(
        name,
        deps=[AssetKey(d) for d in deps],
        code_version=code_version,
        group_name="synth",
        kinds={"duckdb"},
        description=description,
    )


def _mix_outputs() -> list[AssetSpec]:
    """Built on call: the defs loader would take module-level specs for assets of their own."""
    return [
        _spec(
            mix_metrics.TABLE,
            (MIX, "seed_prompts"),
            METRICS_VERSION,
            "Text metrics of the mix, long format (scope 'partition' or 'cumulative', metric, value): diversity, "
            "homogenisation, drift, bias and leakage of synthetic vs real text. Computed once by the mix step; the "
            "blocking checks and the quality report read them.",
        ),
        _spec(
            mix_metrics.TABLE_TABLES["bias"],
            (MIX,),
            METRICS_VERSION,
            "Representation of each term group in synthetic vs real text of the partition (the report's bias table).",
        ),
        _spec(
            mix_metrics.TABLE_TABLES["overrepresented"],
            (MIX,),
            METRICS_VERSION,
            "The bigrams most over-represented in synthetic vs real text of the partition (the report's verbal tics).",
        ),
        _spec(
            ledger.LEDGER_TABLE,
            (MIX,),
            LEDGER_VERSION,
            "Every real item that ever entered a partition's mix and when it was first seen; never shrinks on its own. "
            "The blocking check real_data_accumulates fails while a recorded item is missing from the mix.",
        ),
    ]


def mix_step(warehouse: Warehouse, partition_key: str, settings: Settings) -> ModelStepResult:
    """Metrics, then checks, then the ledger, for the partition of the mix just written.

    The text metrics are CPU work: they run between short connections, so parallel partition
    runs are not queued behind them on the warehouse lock.
    """
    with warehouse.connect() as con:
        texts = mix_metrics.read_texts(con, partition_key)
    tables: dict = {}
    figures = mix_metrics.compute(texts, settings, tables)
    del texts  # the texts of a 100k-document mix: not needed past this point
    outputs = {}
    with warehouse.connect() as con:
        for table, frame in mix_metrics.frames(figures, tables).items():
            outputs[table] = write_table(con, table, partition_key, frame, upstream=(MIX,))
    checks = mix_checks(warehouse, partition_key, settings)
    with warehouse.connect() as con:
        outputs[ledger.LEDGER_TABLE] = write_table(
            con, ledger.LEDGER_TABLE, partition_key, ledger.ledger_partition(con, partition_key), upstream=(MIX,)
        )
    return ModelStepResult(checks=checks, outputs=outputs)


def exclusions_step(warehouse: Warehouse, partition_key: str, settings: Settings) -> ModelStepResult:
    return ModelStepResult(checks=funnel_checks(warehouse, partition_key, settings))


SQL_HOOKS = {
    MIX: ModelHooks(check_specs=MIX_CHECK_SPECS, outputs=_mix_outputs(), step=mix_step),
    "mix_exclusions": ModelHooks(check_specs=EXCLUSION_CHECK_SPECS, step=exclusions_step),
}
sql_assets = [build_sql_asset(model, SQL_HOOKS.get(model.name)) for model in discover_models()]
