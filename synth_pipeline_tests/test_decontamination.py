"""13-gram decontamination against evaluation sets in every supported file format."""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from synth_pipeline.dedup.decontamination import find_contaminated, load_evaluation_set

pytestmark = pytest.mark.unit

# Real text: the opening of the Python tutorial's "whetting your appetite" and a stdlib docstring.
EVAL_A = (
    "If you do much work on computers, eventually you find that there's some task you'd like to "
    "automate. For example, you may wish to perform a search-and-replace over a large number of "
    "text files, or rename and rearrange a bunch of photo files in a complicated way."
)
EVAL_B = (
    "Return a new sorted list from the items in iterable. Has two optional arguments which must be "
    "specified as keyword arguments. key specifies a function of one argument that is used to "
    "extract a comparison key from each element in iterable."
)
WORDS_A = re.findall(r"\w+", EVAL_A)  # the normaliser's words (there's -> there, s)
WORDS_B = re.findall(r"\w+", EVAL_B)


def candidates(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"item_id": pl.String, "text": pl.String}, orient="row")


def test_13_gram_overlap_found_12_gram_ignored():
    thirteen = " ".join(WORDS_A[3:16])  # 13 consecutive words of the evaluation text
    twelve = " ".join(WORDS_A[3:15])
    rows = [
        ("has13", f"Our own sentence first. {thirteen} and then something else entirely."),
        ("has12", f"Our own sentence first. {twelve} and then something else entirely."),
        ("clean", "A generated answer about sorting lists with a key function, in plain words."),
    ]
    got = find_contaminated(candidates(rows), [("a", EVAL_A), ("b", EVAL_B)])
    assert got.columns == ["item_id", "reason", "duplicate_of", "similarity"]
    assert got["item_id"].to_list() == ["has13"]
    assert got.row(0, named=True)["reason"] == "contaminated"
    assert got.row(0, named=True)["duplicate_of"] == "a"


def test_normalisation_and_share_and_best_example():
    # case, punctuation and spacing differences do not hide an overlap
    shouty = EVAL_B.upper().replace(" ", "  ").replace(".", " !")
    partial = " ".join(WORDS_B[:14]) + " " + " ".join(WORDS_A[:20])
    got = find_contaminated(
        candidates([("copy", shouty), ("mixed", partial)]),
        [("a", EVAL_A), ("b", EVAL_B)],
        with_overlap=True,
    ).sort("item_id")
    copy = got.row(0, named=True)
    assert (copy["item_id"], copy["duplicate_of"], copy["similarity"]) == ("copy", "b", 1.0)
    mixed = got.row(1, named=True)
    # 20 words of A give 8 shared 13-grams, 14 words of B give 2: charged to A
    assert (mixed["duplicate_of"], mixed["overlap"]) == ("a", 8)
    n_grams = 14 + 20 - 13 + 1
    assert mixed["similarity"] == pytest.approx(8 / n_grams)


def test_n_is_settable_and_short_texts_never_match():
    rows = [("c", " ".join(WORDS_A[:8]) + " tail words here")]
    assert find_contaminated(candidates(rows), [("a", EVAL_A)]).height == 0
    assert find_contaminated(candidates(rows), [("a", EVAL_A)], n=8)["item_id"].to_list() == ["c"]
    # an evaluation example shorter than n contributes nothing
    assert find_contaminated(candidates([("x", EVAL_A)]), [("tiny", "If you do much work")]).height == 0
    assert find_contaminated(candidates(rows), []).height == 0


def test_load_evaluation_set_all_formats(tmp_path):
    (tmp_path / "a.txt").write_text(EVAL_A + "\n\n" + EVAL_B + "\n")
    (tmp_path / "b.md").write_text("# Title\n\n" + EVAL_B)
    with (tmp_path / "c.jsonl").open("w") as fh:
        fh.write(json.dumps({"id": "q1", "text": EVAL_A}) + "\n")
        fh.write("not json\n")
        fh.write(json.dumps({"question": EVAL_B}) + "\n")
    pl.DataFrame({"id": ["r1"], "text": [EVAL_B]}).write_csv(tmp_path / "d.csv")
    pl.DataFrame({"passage": [EVAL_A]}).write_parquet(tmp_path / "e.parquet")
    got = load_evaluation_set(
        [
            str(tmp_path / "a.txt"),
            str(tmp_path / "b.md"),
            str(tmp_path / "c.jsonl"),
            str(tmp_path / "d.csv"),
            str(tmp_path / "e.parquet"),
        ]
    )
    assert [e for e, _ in got] == [
        "a.txt#0",
        "a.txt#1",
        "b.md#0",
        "b.md#1",
        "c.jsonl:q1",
        "c.jsonl:3",
        "d.csv:r1",
        "e.parquet:0",
    ]
    assert dict(got)["c.jsonl:3"] == EVAL_B and dict(got)["e.parquet:0"] == EVAL_A
    # a directory, a glob and the SYNTH_DECONTAMINATE string form give the same set
    assert load_evaluation_set([str(tmp_path)]) == got
    assert load_evaluation_set(str(tmp_path / "*.txt") + "," + str(tmp_path / "c.jsonl")) == (got[:2] + got[4:6])
    with pytest.raises(FileNotFoundError):
        load_evaluation_set([str(tmp_path / "missing.jsonl")])
    # end to end: a candidate quoting the CSV example is excluded
    hit = find_contaminated(candidates([("s1", "Answer: " + EVAL_B)]), got)
    assert hit["duplicate_of"].to_list() == ["a.txt#1"]


BAD_EVAL_LINES = {
    '{"text": "cut off': "malformed_json",
    "[1, 2]": "not_an_object",
    "42": "not_an_object",
    "{'text': 'python quotes'}": "malformed_json",
    "null": "not_an_object",
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bad_evaluation_records_at_random_positions_are_said_and_every_good_one_kept(tmp_path, seed):
    """Fuzz: good records with bad ones at random lines; every good record loads, and every bad
    one is reported at its own line with its reason (none left out quietly)."""
    import random

    rng = random.Random(seed)
    lines = [json.dumps({"id": i, "text": f"{EVAL_A} variant {i}"}) for i in range(rng.randint(5, 40))]
    bad_at: dict[int, str] = {}
    for _ in range(rng.randint(1, 5)):
        where = rng.randrange(len(lines) + 1)
        lines.insert(where, rng.choice(list(BAD_EVAL_LINES)))
    for line_no, line in enumerate(lines, 1):
        if line in BAD_EVAL_LINES:
            bad_at[line_no] = BAD_EVAL_LINES[line]
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    skipped: list[tuple[str, int, str]] = []
    got = load_evaluation_set([str(path)], skipped)
    good = len(lines) - len(bad_at)
    assert sorted(eid for eid, _ in got) == sorted(f"eval.jsonl:{i}" for i in range(good))
    assert {line: why.split(":")[0] for _, line, why in skipped} == bad_at
    assert all(name == "eval.jsonl" for name, _, _ in skipped)


def test_an_empty_evaluation_file_runs_through_and_matches_nothing(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("", encoding="utf-8")
    skipped: list[tuple[str, int, str]] = []
    evaluation = load_evaluation_set([str(path)], skipped)
    assert evaluation == [] and skipped == []
    assert find_contaminated(candidates([("a", EVAL_A)]), evaluation).height == 0
