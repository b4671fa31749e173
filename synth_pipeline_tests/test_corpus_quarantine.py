"""Bad input is quarantined with a reason; nothing is lost and nothing fails the run."""

from __future__ import annotations

import json

import pytest

from synth_pipeline_tests.conftest import PARTITION, query, run_graph

pytestmark = pytest.mark.graph

GOOD = (
    "The river rose through the night and by morning the old bridge at the edge of the town was under "
    "water. People gathered on the hill to watch the current carry branches and fence posts past the "
    "church, and the baker handed out bread to the families that had left their homes in the dark."
)


def test_bad_files_and_rows_land_in_the_reject_table(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.txt").write_text(GOOD)
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02 binary junk" * 20)
    (corpus / "latin1.txt").write_bytes("caf\xe9 ".encode("latin-1") * 50)
    (corpus / "empty.md").write_text("   \n")
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    lines = [json.dumps({"text": GOOD.replace("river", f"river {i}")}) for i in range(3)]
    lines += ["{not json", json.dumps({"body": "no text field"}), json.dumps({"text": "too short"})]
    (corpus / "rows.jsonl").write_text("\n".join(lines) + "\n")
    (corpus / "table.csv").write_text('id,text\n1,"' + GOOD.replace("river", "stream") + '"\n2,"' + GOOD + '"\n')
    (corpus / "nocol.csv").write_text("id,body\n1,hello\n")

    result = run_graph(
        tmp_path / "home",
        selection=["raw_corpus", "raw_corpus_rejects"],
        SYNTH_CORPUS=str(corpus),
        SYNTH_DOCS_PER_PARTITION="1000",
    )
    assert result.success
    home = tmp_path / "home"
    reasons = dict(
        query(
            home,
            "SELECT reason, count(*) FROM synth.raw_corpus_rejects WHERE partition_date = ? GROUP BY ALL",
            [PARTITION],
        )
    )
    assert reasons["binary_file"] == 1
    assert reasons["broken_encoding"] == 1
    assert reasons["empty_file"] == 1
    assert reasons["unsupported_type"] == 1
    assert reasons["malformed_json"] == 1
    assert reasons["missing_text_field"] == 2  # the jsonl row and the csv without the column
    assert reasons["quality:too_short"] == 1
    assert reasons["exact_duplicate"] == 1  # table.csv row 2 repeats good.txt
    (docs,) = query(home, "SELECT count(*) FROM synth.raw_corpus WHERE partition_date = ?", [PARTITION])[0]
    assert docs == 1 + 3 + 1  # good.txt, three jsonl rows, one new csv row
    # Every record read is accounted for: good.txt, 6 jsonl lines, 2 csv rows, and latin1.txt, a text
    # file being one record (rejected broken_encoding: far more than 0.1 % of it is not UTF-8).
    (row_rejects,) = query(home, "SELECT count(*) FROM synth.raw_corpus_rejects WHERE scope = 'row'")[0]
    assert docs + row_rejects == 1 + 6 + 2 + 1


def test_the_reported_export_324_lines_4_bad_runs_the_whole_graph(tmp_path):
    """The first user's report: one bad line made the whole file a reject and the run fail."""
    from synth_pipeline.corpus.builtin import load_builtin_python_docs

    texts = load_builtin_python_docs(tmp_path / "cache").slice(0, 320).get_column("text").to_list()
    lines = [json.dumps({"id": i, "text": t}).encode() for i, t in enumerate(texts)]
    bad = {
        40: (b'{"id": 900, "text": "cut off', "malformed_json"),
        120: (b'{"id": 901, "text": "caf\xe9 au lait"}', "invalid_utf8"),
        200: (json.dumps({"id": 902, "text": ""}).encode(), "empty_text"),
        300: (json.dumps({"id": 903, "body": "the text is elsewhere"}).encode(), "missing_text_field"),
    }
    for position in sorted(bad):
        lines.insert(position, bad[position][0])
    corpus = tmp_path / "export.jsonl"
    corpus.write_bytes(b"\n".join(lines) + b"\n")
    home = tmp_path / "home"

    result = run_graph(home, SYNTH_CORPUS=str(corpus), SYNTH_DOCS_PER_PARTITION="1000")
    assert result.success
    read_rejects = query(
        home,
        "SELECT source_row, reason FROM synth.raw_corpus_rejects WHERE reason IN "
        "('malformed_json', 'invalid_utf8', 'empty_text', 'missing_text_field') ORDER BY source_row",
    )
    assert read_rejects == [(p + 1, reason) for p, (_, reason) in sorted(bad.items())]
    (docs,) = query(home, "SELECT count(*) FROM synth.raw_corpus")[0]
    (others,) = query(home, "SELECT count(*) FROM synth.raw_corpus_rejects WHERE scope = 'row'")[0]
    assert docs + others == 324 and docs > 250
    (prompts,) = query(home, "SELECT count(*) FROM synth.seed_prompts")[0]
    assert prompts > 0
