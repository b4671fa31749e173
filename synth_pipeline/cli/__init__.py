"""``synth``: run the whole graph for one partition from a terminal and print the headline.

``synth run`` is what ``make run`` calls: it materialises every asset for one daily
partition in-process, with the Dagster instance kept under ``$SYNTH_HOME/dagster`` so
the runs also show in ``dagster dev`` when it uses that ``DAGSTER_HOME``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import AssetsDefinition


def _instance(settings):
    from dagster import DagsterInstance

    home = Path(os.environ.setdefault("DAGSTER_HOME", str((settings.home / "dagster").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text("telemetry:\n  enabled: false\n")
    return DagsterInstance.get()


def _synth():
    """The ``synth`` resource as a run started from this shell sets it up (settings from the environment)."""
    from synth_pipeline.defs.resources import synth_resources

    return synth_resources()["synth"]


def _latest_partition(partitions) -> str:
    """The newest partition key (today's) of ``partitions``."""
    key = partitions.get_last_partition_key()
    if key is None:
        raise SystemExit("no partition yet: the partitions start in the future")
    return key


def _assets(defs) -> list[AssetsDefinition]:
    """The graph's assets; every one is an ``AssetsDefinition`` (decorated functions, SQL models)."""
    from dagster import AssetsDefinition

    assets = list(defs.assets or ())
    defined = [a for a in assets if isinstance(a, AssetsDefinition)]
    if len(defined) != len(assets):
        raise TypeError(f"not an AssetsDefinition: {[a for a in assets if not isinstance(a, AssetsDefinition)]}")
    return defined


def pipeline_job():
    """The whole graph's job, rebuilt by name wherever the run executes (``reconstructable``)."""
    from synth_pipeline.definitions import load_defs
    from synth_pipeline.defs.automation import pipeline_job as job

    defs = load_defs()

    return defs.resolve_job_def(job.name)


def run(partition: str | None) -> int:
    """Run the whole graph for one partition in this process.

    ``execute_job`` rather than ``materialize``: the latter keeps every step's returned frame
    in memory until the run ends (output capture), while each step reloads its inputs from
    DuckDB anyway; at 100k documents that held about 770 MiB for nothing.
    """
    from dagster import execute_job, reconstructable

    from synth_pipeline.defs.partitions import daily_partitions
    from synth_pipeline.defs.report import report_path

    synth = _synth()
    settings = synth.settings()
    partition = partition or _latest_partition(daily_partitions)
    started = time.perf_counter()
    tags = {"dagster/partition": partition, "synth/trigger": "cli"}
    with execute_job(reconstructable(pipeline_job), instance=_instance(settings), tags=tags) as result:
        success = result.success
        checks = result.get_asset_check_evaluations()
        materialised = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key}
    wall = time.perf_counter() - started
    failed = [c for c in checks if not c.passed]
    print(
        f"\npartition {partition}: run {'succeeded' if success else 'FAILED'} in {wall:.1f}s "
        f"(backend {settings.llm_backend}; warehouse {synth.warehouse().path})"
    )
    print(f"checks: {len(checks) - len(failed)} passed, {len(failed)} failed")
    for check in failed:
        values = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
        print(f"  FAILED {check.asset_key.to_user_string()}.{check.check_name} [{check.severity.value}]: {values}")
    path = report_path(settings, partition)
    warehouse = synth.warehouse()
    reported = "quality_report" in materialised
    if reported and path.exists():
        rows = warehouse.query(
            "SELECT metric, value FROM synth.quality_metrics WHERE partition_date = ? AND scope = 'partition'",
            [partition],
        )
        m = dict(rows.iter_rows())
        print(f"quality report: {path.resolve()}")
        if settings.llm_backend == "offline":
            print("  (offline backend: extractive generator and heuristic judge, no language model)")
        print(f"  quality score:                                {m['score.headline']:.0f}/100")
        print(
            f"  items in mix:                                 {m['mix.items']:.0f} ({m['mix.real_items']:.0f} real, "
            f"{m['mix.synthetic_items']:.0f} synthetic)"
        )
        print(
            f"  synthetic share (items):                      {m['mix.synthetic_item_share']:.3f} (cap "
            f"{settings.max_synthetic_item_ratio})"
        )
        print(
            f"  synthetic share (tokens):                     {m['mix.synthetic_token_share']:.3f} (cap "
            f"{settings.max_synthetic_ratio})"
        )
        print(f"  acceptance rate:                              {m['grading.acceptance_rate']:.3f}")
        for key in ("distinct_2", "compression_ratio", "self_bleu"):
            if f"synthetic.{key}" in m:
                label = f"{key} (synthetic / real, ratio):"
                print(
                    f"  {label:46}{m[f'synthetic.{key}']:.3f} / {m[f'real.{key}']:.3f}, "
                    f"{m.get(f'relative.{key}', float('nan')):.3f}"
                )
        print(
            "  checks passed/failed/warnings:                "
            f"{m['checks.passed']:.0f}/{m['checks.failed']:.0f}/{m['checks.warnings']:.0f}"
        )
    else:
        print("quality report: not materialised in this run (a blocking check failed or a step failed; see above)")
    return 0 if success and not any(c.severity.value == "ERROR" for c in failed) else 1


def trace(item_id: str | None, doc_id: str | None, partition: str | None, random_item: bool) -> int:
    """Print a mix item's chain back to its source file, or everything derived from a document."""
    from synth_pipeline.storage import lineage

    warehouse = _synth().warehouse()
    with warehouse.connect() as con:
        if not lineage.ensure_views(con):
            print(
                f"the warehouse {warehouse.path} has no complete partition yet: run `synth run` first", file=sys.stderr
            )
            return 1
        if random_item:
            where, params = ("WHERE partition_date = ?", [partition]) if partition else ("", [])
            row = con.execute(
                f"SELECT item_id FROM synth.deduplicated_mix {where} ORDER BY random() LIMIT 1", params
            ).fetchone()
            if row is None:
                print("the mix is empty", file=sys.stderr)
                return 1
            item_id = row[0]
        if doc_id:
            rows = lineage.trace_document(con, doc_id)
            print(lineage.format_document(doc_id, rows))
        elif item_id is None:
            print("name an item, a document or --random", file=sys.stderr)
            return 2
        else:
            rows = lineage.trace_item(con, item_id, partition)
            print(lineage.format_item(rows))
    return 0 if rows else 1


def stale(partition: str | None) -> int:
    """Print each asset's status for one partition (FRESH, STALE with its causes, MISSING), as the UI does."""
    from synth_pipeline.definitions import load_defs

    defs = load_defs()
    from synth_pipeline.cli.staleness import stale_status
    from synth_pipeline.defs.partitions import daily_partitions

    partition = partition or _latest_partition(daily_partitions)
    statuses = stale_status(_instance(_synth().settings()), _assets(defs), partition)
    for s in statuses.values():
        print(f"{s.asset:<20} {partition}  {s.status}" + (f"  ({'; '.join(s.causes)})" if s.causes else ""))
    return 1 if any(s.status == "STALE" for s in statuses.values()) else 0


def probe(args: argparse.Namespace) -> int:
    """Collapse probe (``synth_pipeline/probe``): exit 1 when the gates fire later than replace degrades."""
    from synth_pipeline.probe import ProbeConfig, run_and_write
    from synth_pipeline.settings import load_settings

    settings = load_settings()
    config = ProbeConfig(generations=args.generations, seed=args.seed if args.seed is not None else settings.seed)
    out = Path(args.out) if args.out else settings.reports_dir / "collapse_probe"
    result = run_and_write(settings, config, out, partition=args.partition, docs=args.docs)
    marks = result.first_failures()["replace"]
    fired = [g for k, g in marks.items() if k != "perplexity+10%" and g is not None]
    late = marks["perplexity+10%"] is not None and (not fired or min(fired) > marks["perplexity+10%"])
    return 1 if late else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synth", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="materialise the whole graph for one partition")
    run_parser.add_argument("--partition", help="YYYY-MM-DD (default: the latest daily partition)")
    trace_parser = sub.add_parser(
        "trace", help="trace a mix item to its grade, sample, prompt, document and source file (or --doc: the reverse)"
    )
    trace_parser.add_argument("item_id", nargs="?", help="a synth.deduplicated_mix item_id")
    trace_parser.add_argument("--doc", dest="doc_id", help="a raw_corpus doc_id: print everything derived from it")
    trace_parser.add_argument("--random", action="store_true", help="trace a random mix item")
    trace_parser.add_argument("--partition", help="YYYY-MM-DD: only this partition")
    stale_parser = sub.add_parser("stale", help="which assets of a partition are stale after a code change, and why")
    stale_parser.add_argument("--partition", help="YYYY-MM-DD (default: the latest daily partition)")
    probe_parser = sub.add_parser(
        "probe", help="collapse probe: retrain a trigram LM on its own samples (replace/accumulate/gated) vs the gates"
    )
    probe_parser.add_argument("--partition", help="YYYY-MM-DD: that partition's synth.raw_corpus (default: built-in)")
    probe_parser.add_argument("--docs", type=int, default=1000, help="built-in corpus documents (default 1000)")
    probe_parser.add_argument("--generations", type=int, default=6, help="retraining rounds after gen 0 (default 6)")
    probe_parser.add_argument("--seed", type=int, help="sampling seed (default SYNTH_SEED)")
    probe_parser.add_argument("--out", help="output folder (default $SYNTH_HOME/reports/collapse_probe)")
    args = parser.parse_args(argv)
    if args.command == "probe":
        return probe(args)
    if args.command == "stale":
        return stale(args.partition)
    if args.command == "run":
        return run(args.partition)
    if args.command == "trace":
        if sum(bool(x) for x in (args.item_id, args.doc_id, args.random)) != 1:
            parser.error("trace takes exactly one of ITEM_ID, --doc DOC_ID, --random")
        return trace(args.item_id, args.doc_id, args.partition, args.random)
    return 2


if __name__ == "__main__":
    sys.exit(main())
