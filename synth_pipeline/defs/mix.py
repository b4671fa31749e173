"""``mix_candidates``: exact, near-duplicate and contamination removal before assembly.

The step also writes ``mix_signatures`` (a declared output): the MinHash signatures of the
partition's *within-partition* survivors (deduplicated against its own items only), which
later partitions' near-duplicate search reads. Because they never depend on earlier
partitions, a partition's mix is a function of its own data and earlier partitions' own
data, whatever order the partitions ran in (non-recursive rule, docs/dedup.md).

The set-based assembly itself (ratio cap, stratification) is the SQL model
``dbt_like_sql/deduplicated_mix.sql``.
"""

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetOut, AssetSpec, MetadataValue, Nothing, multi_asset

from synth_pipeline.dedup import _arrays, decontamination, near_duplicates, shingles
from synth_pipeline.defs.outputs import declared_output, frame_output
from synth_pipeline.defs.partitions import daily_partitions
from synth_pipeline.defs.resources import SynthResource
from synth_pipeline.defs.tables import write_table
from synth_pipeline.defs.versioning import pipeline_version, source_version
from synth_pipeline.mix import candidates
from synth_pipeline.report.markdown import md_table
from synth_pipeline.storage.warehouse import read_partitions_before

CODE_VERSION = source_version(candidates, near_duplicates, decontamination, shingles, _arrays)
SIGNATURES_TABLE = "mix_signatures"


@multi_asset(
    outs={
        "mix_candidates": AssetOut(
            code_version=CODE_VERSION,
            description="Every real document and synthetic sample of the partition, eligible or excluded with a "
            "reason.",
        ),
        SIGNATURES_TABLE: AssetOut.from_spec(
            AssetSpec(
                SIGNATURES_TABLE,
                code_version=CODE_VERSION,
                kinds={"duckdb"},
                description="MinHash signatures (and band keys) of the partition's items that survived "
                "deduplication within the partition (not against earlier ones, so the index is order-independent): "
                "what later partitions' near-duplicate search compares against.",
            ),
            dagster_type=Nothing,
        ),
    },
    internal_asset_deps={
        "mix_candidates": {AssetKey("raw_corpus"), AssetKey("generated_samples"), AssetKey("graded_samples")},
        SIGNATURES_TABLE: {AssetKey("mix_candidates")},
    },
    partitions_def=daily_partitions,
    group_name="synth",
    # A run selecting mix_candidates still writes the signatures (see defs.outputs).
    can_subset=True,
)
def mix_candidates(
    context: AssetExecutionContext,
    synth: SynthResource,
    raw_corpus: pl.DataFrame,
    generated_samples: pl.DataFrame,
    graded_samples: pl.DataFrame,
):
    settings = synth.settings()
    warehouse = synth.warehouse()
    frame = candidates.build_candidates(raw_corpus, generated_samples, graded_samples)
    # Within-partition pass first, against nothing earlier: its survivors are what this
    # partition contributes to later ones, so those signatures depend only on this
    # partition's own data and never on which earlier partitions existed when it ran.
    own_eligible = frame.filter(pl.col("exclusion_reason").is_null()).select("item_id", "origin", "text")
    own = near_duplicates.find_near_duplicates(
        own_eligible, threshold=settings.near_dup_threshold, shingle_size=settings.shingle_size
    )
    own_removed = own.removals.get_column("item_id")
    own_survivors = own_eligible.filter(~pl.col("item_id").is_in(own_removed.implode())).get_column("item_id")
    signatures = own.signatures.filter(pl.col("item_id").is_in(own_survivors.implode()))
    del own, own_eligible
    with warehouse.connect() as con:
        earlier = read_partitions_before(con, SIGNATURES_TABLE, context.partition_key)
    if earlier is not None and earlier.height:
        # Ids are content hashes: an item already indexed by an earlier partition (a corpus
        # that cycles, a re-sent document) is the same item, not a new one.
        frame = candidates.apply_removals(frame, candidates.already_in_mix(frame, earlier.get_column("item_id")))
    eligible = frame.filter(pl.col("exclusion_reason").is_null()).select("item_id", "origin", "text")
    found = near_duplicates.find_near_duplicates(
        eligible, threshold=settings.near_dup_threshold, shingle_size=settings.shingle_size, earlier=earlier
    )
    frame = candidates.apply_removals(frame, found.removals)
    unread: list[tuple[str, int, str]] = []
    if settings.decontamination_paths:
        evaluation = decontamination.load_evaluation_set(settings.decontamination_paths, unread)
        if unread:
            context.log.warning(
                f"{len(unread)} evaluation-set lines could not be read and do not guard the mix: "
                + "; ".join(f"{f}:{line} {why}" for f, line, why in unread[:5])
            )
        still = frame.filter(pl.col("exclusion_reason").is_null()).select("item_id", "origin", "text")
        frame = candidates.apply_removals(frame, decontamination.find_contaminated(still, evaluation))

    with warehouse.connect() as con:
        signatures_metadata = write_table(con, SIGNATURES_TABLE, context.partition_key, signatures, upstream=())
    del signatures

    synthetic = frame.filter(pl.col("origin") == "synthetic")
    near = synthetic.filter(
        pl.col("exclusion_reason").str.starts_with("near_duplicate")
        | (pl.col("exclusion_reason") == "synthetic_copies_real")
    )
    reasons = (
        frame.filter(pl.col("exclusion_reason").is_not_null())
        .group_by("origin", "exclusion_reason")
        .len()
        .sort("len", descending=True)
    )
    metadata = {
        "candidates": frame.height,
        "eligible": int(frame.get_column("exclusion_reason").is_null().sum()),
        "synthetic_near_dup_rate": near.height / max(1, synthetic.height),
        "exclusions": MetadataValue.md(md_table(reasons)),
        **(
            {
                "evaluation_lines_unread": len(unread),
                "evaluation_unread": MetadataValue.md(
                    md_table(pl.DataFrame(unread, schema=["file", "line", "reason"], orient="row"))
                ),
            }
            if unread
            else {}
        ),
    }
    frame = frame.with_columns(pl.lit(pipeline_version(CODE_VERSION)).alias("pipeline_version"))
    yield from frame_output(context, warehouse, "mix_candidates", frame, metadata)
    yield from declared_output(context, SIGNATURES_TABLE, signatures_metadata)
