"""SQL files become assets: upstream from the tables read, bound parameters, hash versions."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from synth_pipeline.defs.sql_models import bind_parameters, discover_models, load_model, run_model
from synth_pipeline.settings import Settings

pytestmark = pytest.mark.unit


def test_models_find_their_upstream_assets_and_parameters():
    models = {m.name: m for m in discover_models()}
    assert models["deduplicated_mix"].upstream == ("mix_candidates",)
    assert set(models["mix_exclusions"].upstream) == {"deduplicated_mix", "mix_candidates"}
    assert models["deduplicated_mix"].parameters == ("partition_date", "target_synthetic_ratio")


def test_parameters_are_bound_not_pasted(tmp_path):
    path = tmp_path / "m.sql"
    path.write_text(
        "SELECT * FROM synth.raw_corpus WHERE partition_date = $partition_date AND n_words > $passage_words"
    )
    model = load_model(path)
    values = bind_parameters(model, "2026-02-03", Settings())
    assert values == {"partition_date": dt.date(2026, 2, 3), "passage_words": Settings().passage_words}


def test_a_value_that_would_break_pasted_sql_is_bound_as_a_literal(tmp_path):
    """A setting holding a quote and a statement: pasted into the text it would end the string and
    drop the table; bound, it is a value that matches one row."""
    hostile = "it's'; DROP TABLE synth.raw_corpus; --"
    path = tmp_path / "picked.sql"
    path.write_text("SELECT doc_id FROM synth.raw_corpus WHERE partition_date = $partition_date AND source = $corpus")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("CREATE SCHEMA synth")
        con.execute("CREATE TABLE synth.raw_corpus (doc_id VARCHAR, source VARCHAR, partition_date DATE)")
        con.execute(
            "INSERT INTO synth.raw_corpus VALUES ('a', ?, DATE '2026-02-03'), ('b', 'other', DATE '2026-02-03'), "
            "('c', ?, DATE '2026-02-04')",
            [hostile, hostile],
        )
        run_model(con, load_model(path), "2026-02-03", Settings(corpus=hostile))
        assert con.execute("SELECT doc_id, partition_date FROM synth.picked").fetchall() == [("a", dt.date(2026, 2, 3))]
        assert con.execute("SELECT count(*) FROM synth.raw_corpus").fetchone() == (3,)


def test_unknown_parameter_and_foreign_table_are_errors(tmp_path):
    bad_param = tmp_path / "a.sql"
    bad_param.write_text("SELECT * FROM synth.raw_corpus WHERE x = $nope")
    with pytest.raises(ValueError, match="nope"):
        bind_parameters(load_model(bad_param), "2026-01-01", Settings())
    foreign = tmp_path / "b.sql"
    foreign.write_text("SELECT * FROM main.elsewhere")
    with pytest.raises(ValueError, match="outside schema"):
        load_model(foreign)


def test_editing_the_sql_changes_the_code_version(tmp_path):
    path = tmp_path / "m.sql"
    path.write_text("SELECT 1 AS x FROM synth.raw_corpus")
    before = load_model(path).code_version
    path.write_text("SELECT 2 AS x FROM synth.raw_corpus")
    assert load_model(path).code_version != before
