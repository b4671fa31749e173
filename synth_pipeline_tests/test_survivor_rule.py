"""Which item of a near-duplicate cluster survives: real over synthetic, then the higher grade,
then the earlier (lower) item id, whatever order the rows arrive in.

The rows are given in the order that would mislead a rule that follows row order: the
synthetic copy first, the lower grade first, the later id first. The candidates are built
and deduplicated as ``mix_candidates`` does (build_candidates, then find_near_duplicates on
the eligible rows in priority order, then apply_removals).
"""

from __future__ import annotations

import importlib

import polars as pl
import pytest

from synth_pipeline.dedup.near_duplicates import REASON_NEAR, REASON_SYNTH_REAL, find_near_duplicates
from synth_pipeline.mix.candidates import apply_removals, build_candidates

pytestmark = pytest.mark.unit

BASE = " ".join(importlib.import_module("argparse").__doc__.split()[:130])


def edit(text: str, position: int, word: str) -> str:
    """One word replaced: Jaccard of 5-shingles stays far above 0.8 for 130 words."""
    words = text.split()
    words[position] = word
    return " ".join(words)


def _documents(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": [d for d, _ in rows],
            "text": [t for _, t in rows],
            "n_tokens": [len(t.split()) for _, t in rows],
        }
    )


def _samples(rows: list[tuple[str, str, float]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    samples = pl.DataFrame(
        {
            "sample_id": [s for s, _, _ in rows],
            "text": [t for _, t, _ in rows],
            "n_tokens": [len(t.split()) for _, t, _ in rows],
            "doc_id": ["source-doc"] * len(rows),
            "prompt_id": [f"prompt-{s}" for s, _, _ in rows],
            "task": ["explain"] * len(rows),
            "audience": ["student"] * len(rows),
            "template_version": ["explain@1"] * len(rows),
            "model": ["offline-extractive"] * len(rows),
        }
    )
    grades = pl.DataFrame(
        {
            "sample_id": [s for s, _, _ in rows],
            "score": [g for _, _, g in rows],
            "accepted": [True] * len(rows),
            "rejection_reason": [None] * len(rows),
        },
        schema_overrides={"rejection_reason": pl.Utf8},
    )
    return samples, grades


def _deduplicate(documents: pl.DataFrame, samples: pl.DataFrame, grades: pl.DataFrame) -> dict[str, tuple]:
    """{item_id: (exclusion_reason, duplicate_of)} for every candidate, as mix_candidates decides."""
    frame = build_candidates(documents, samples, grades)
    eligible = frame.filter(pl.col("exclusion_reason").is_null()).select("item_id", "origin", "text")
    frame = apply_removals(frame, find_near_duplicates(eligible, threshold=0.8, shingle_size=5).removals)
    return {r["item_id"]: (r["exclusion_reason"], r["duplicate_of"]) for r in frame.iter_rows(named=True)}


def test_real_survives_a_synthetic_copy_that_comes_first_with_a_perfect_grade():
    samples, grades = _samples([("s-first", edit(BASE, 30, "zebra"), 10.0)])
    got = _deduplicate(_documents([("zz-real", BASE)]), samples, grades)
    assert got == {
        "real:zz-real": (None, None),
        "synthetic:s-first": (REASON_SYNTH_REAL, "real:zz-real"),
    }


def test_the_higher_grade_survives_though_it_comes_last_and_has_the_later_id():
    samples, grades = _samples(
        [
            ("a-low", edit(BASE, 30, "zebra"), 7.5),
            ("b-mid", edit(BASE, 60, "lion"), 8.0),
            ("z-high", edit(BASE, 90, "tiger"), 9.5),
        ]
    )
    got = _deduplicate(_documents([]), samples, grades)
    assert got == {
        "synthetic:z-high": (None, None),
        "synthetic:a-low": (REASON_NEAR, "synthetic:z-high"),
        "synthetic:b-mid": (REASON_NEAR, "synthetic:z-high"),
    }


def test_with_equal_grades_the_lower_item_id_survives_though_it_comes_last():
    samples, grades = _samples([("z-later", edit(BASE, 30, "zebra"), 8.0), ("a-earlier", edit(BASE, 60, "lion"), 8.0)])
    got = _deduplicate(_documents([]), samples, grades)
    assert got == {
        "synthetic:a-earlier": (None, None),
        "synthetic:z-later": (REASON_NEAR, "synthetic:a-earlier"),
    }


def test_between_real_documents_the_lower_id_survives_and_a_synthetic_copy_points_at_it():
    documents = _documents([("d-later", edit(BASE, 30, "zebra")), ("c-earlier", BASE)])
    samples, grades = _samples([("s-1", edit(BASE, 90, "tiger"), 10.0)])
    got = _deduplicate(documents, samples, grades)
    assert got["real:c-earlier"] == (None, None)
    assert got["real:d-later"] == (REASON_NEAR, "real:c-earlier")
    assert got["synthetic:s-1"] == (REASON_SYNTH_REAL, "real:c-earlier")
