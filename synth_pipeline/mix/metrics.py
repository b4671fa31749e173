"""Text metrics of the mix, computed once per materialisation of ``deduplicated_mix``.

The blocking checks and the quality report read the same numbers: they are computed in
the mix step for two scopes, the partition and the cumulative mix (every partition up
to and including this one), and stored long-format in ``synth.mix_metrics`` (a declared
output of the step, beside ``mix_term_groups`` and ``mix_overrepresented_ngrams``).
"""

from __future__ import annotations

import duckdb
import polars as pl

from synth_pipeline.dedup.decontamination import load_evaluation_set
from synth_pipeline.metrics import distinct_n, quality_metrics
from synth_pipeline.settings import Settings
from synth_pipeline.storage.warehouse import _COLUMNS_TABLE as PARTITION_COLUMNS
from synth_pipeline.storage.warehouse import one_row

TABLE = "mix_metrics"
# The report's two tables of the partition, computed here from the drift tokenisation.
TABLE_TABLES = {"bias": "mix_term_groups", "overrepresented": "mix_overrepresented_ngrams"}
TICS_N, TICS_K = 2, 15  # the report's "verbal tics": top 15 over-represented bigrams
SCOPES = {"partition": "m.partition_date = $d", "cumulative": "m.partition_date <= $d"}
# Distinct-n falls as a corpus grows (Heaps' law): the absolute floor is measured on a
# sample of at most this many words so that it means the same at every partition size.
FLOOR_SAMPLE_WORDS = 100_000


def _scope_texts(con: duckdb.DuckDBPyConnection, where: str, partition: str) -> tuple[list[str], list[str], list[str]]:
    synthetic = con.execute(
        f"""SELECT m.text, p.passage FROM synth.deduplicated_mix m
            LEFT JOIN synth.seed_prompts p ON p.prompt_id = m.prompt_id AND p.partition_date = m.partition_date
            WHERE {where} AND m.origin = 'synthetic' ORDER BY m.partition_date, m.item_id""",
        {"d": partition},
    ).fetchall()
    real = con.execute(
        f"SELECT m.text FROM synth.deduplicated_mix m WHERE {where} AND m.origin = 'real' "
        "ORDER BY m.partition_date, m.item_id",
        {"d": partition},
    ).fetchall()
    return [t for t, _ in synthetic], [p or "" for _, p in synthetic], [t for (t,) in real]


def _first_words(texts: list[str], budget: int) -> list[str]:
    out, used = [], 0
    for text in texts:
        if used >= budget:
            break
        out.append(text)
        used += len(text.split())
    return out


def read_texts(con: duckdb.DuckDBPyConnection, partition: str) -> dict[str, tuple[list[str], list[str], list[str]]]:
    """``{scope: (synthetic, their source passages, real)}``: the only part that needs the warehouse.

    With no earlier partition the cumulative scope is the partition itself: the same
    tuple is returned for both instead of a second copy of every text.
    """
    texts = {"partition": _scope_texts(con, SCOPES["partition"], partition)}
    (earlier,) = one_row(
        con.execute("SELECT count(*) FROM synth.deduplicated_mix m WHERE m.partition_date < $d", {"d": partition})
    )
    texts["cumulative"] = texts["partition"] if not earlier else _scope_texts(con, SCOPES["cumulative"], partition)
    return texts


def compute(
    texts: dict[str, tuple[list[str], list[str], list[str]]],
    settings: Settings,
    tables: dict[str, pl.DataFrame] | None = None,
) -> dict[str, dict[str, float]]:
    """``{scope: {metric: value}}``; pure CPU work, run outside the warehouse lock.

    ``tables`` receives the partition's term-group and over-represented bigram tables
    (see ``quality_metrics``), so the report shows them without tokenising again.
    """
    evaluation = None
    if settings.decontamination_paths:
        evaluation = [text for _, text in load_evaluation_set(settings.decontamination_paths)]
    figures: dict[str, dict[str, float]] = {}
    for scope, (synthetic, sources, real) in texts.items():
        same = next((done for done in figures if texts[done] is texts[scope] or texts[done] == texts[scope]), None)
        if same is not None:
            # The first partition's cumulative mix is the partition itself: same texts, same figures.
            figures[scope] = dict(figures[same])
            continue
        values = {"n_synthetic": float(len(synthetic)), "n_real": float(len(real))}
        if synthetic and real:
            values.update(
                quality_metrics(
                    synthetic,
                    real,
                    sources=sources,
                    decontamination=evaluation,
                    seed=settings.seed,
                    tables=tables if scope == "partition" and tables is not None else None,
                    tics_n=TICS_N,
                    tics_k=TICS_K,
                )
            )
            sample = _first_words(synthetic, FLOOR_SAMPLE_WORDS)
            # Only distinct-2 of the sample is used: the other diversity metrics cost more than it.
            values["synthetic.distinct_2_floor_sample"] = float(distinct_n(sample, max_n=2)["distinct_2"])
            values["synthetic.floor_sample_words"] = float(sum(len(t.split()) for t in sample))
        figures[scope] = values
    return figures


def frames(
    figures: dict[str, dict[str, float]], tables: dict[str, pl.DataFrame] | None = None
) -> dict[str, pl.DataFrame]:
    """The partition's rows of ``synth.mix_metrics`` and of the report's two tables, by table name.

    The mix step writes them (declared outputs of ``deduplicated_mix``); the two tables are
    replaced every time, empty when the partition has no synthetic-vs-real metrics.
    """
    rows = [(scope, k, float(v)) for scope, values in figures.items() for k, v in values.items()]
    out = {TABLE: pl.DataFrame(rows, schema={"scope": pl.Utf8, "metric": pl.Utf8, "value": pl.Float64}, orient="row")}
    for name, table in TABLE_TABLES.items():
        stored = (tables or {}).get(name)
        if stored is None:
            stored = pl.DataFrame(schema={"rank": pl.Int64})
        else:
            stored = stored.with_row_index("rank").with_columns(pl.col("rank").cast(pl.Int64))
        out[table] = stored
    return out


def load_tables(con: duckdb.DuckDBPyConnection, partition: str) -> dict[str, pl.DataFrame | None] | None:
    """The tables :func:`frames` made for the partition (in their order; None for one stored
    empty), or None when a table was never written (a warehouse from before they were stored)."""
    out: dict[str, pl.DataFrame | None] = {}
    for name, table in TABLE_TABLES.items():
        (written,) = one_row(
            con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'synth' AND table_name = ?",
                [table],
            )
        )
        if not written:
            return None
        (has,) = one_row(
            con.execute(
                f"SELECT count(*) FROM {PARTITION_COLUMNS} WHERE table_name = ? AND partition_date = ?",
                [table, partition],
            )
        )
        if not has:
            return None
        frame = con.execute(
            f"SELECT * EXCLUDE (partition_date) FROM synth.{table} WHERE partition_date = ? ORDER BY rank", [partition]
        ).pl()
        out[name] = frame.drop("rank") if frame.height else None
    return out


def load(con: duckdb.DuckDBPyConnection, partition: str) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {scope: {} for scope in SCOPES}
    for scope, metric, value in con.execute(
        f"SELECT scope, metric, value FROM synth.{TABLE} WHERE partition_date = ?", [partition]
    ).fetchall():
        figures.setdefault(scope, {})[metric] = value
    return figures
