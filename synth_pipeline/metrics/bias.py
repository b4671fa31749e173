"""Representation drift of term groups between synthetic and real text.

Synthetic data is known to amplify the generator's skews (e.g. default "he" for a
doctor). For each group of terms (by default gendered pronouns and nouns; users pass
their own ``{group: [terms]}``) we count how often its terms occur in each corpus:

``count_*``
    occurrences of the group's terms, project tokenisation (lower-cased ``\\w+``
    words); a multi-word term (``"single mother"``) matches its word sequence inside a
    document. Terms are matched case-insensitively and each occurrence of a term counts
    once per group it belongs to.
``share_*``
    ``count / number of words`` of that corpus.
``ratio``
    ``share_synthetic / share_real`` with a 0.5 pseudo-count on both counts
    (Haldane-Anscombe correction) so that a group absent from one corpus still has a
    finite ratio: ``((c_s + 0.5) / n_s) / ((c_r + 0.5) / n_r)``. 1 means no drift;
    exactly 1 when the group occurs in neither corpus.
``log_ratio``
    natural log of ``ratio``; symmetric (x2 and x0.5 are +-0.69).
``support``
    ``count_synthetic + count_real``.

:func:`term_group_summary` reduces the table to ``max_abs_log_ratio`` over groups with
enough support (default 100 occurrences in both corpora together: with about 50 per side
the standard error of a log ratio is sqrt(1/50 + 1/50) = 0.2, so the warning level
ln 1.5 = 0.405 is two standard errors; below that a ratio is mostly noise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TypedDict

import numpy as np
import polars as pl

from ._tokens import explode_tokens, word_lists

DEFAULT_TERM_GROUPS: dict[str, list[str]] = {
    "female": [
        "she",
        "her",
        "hers",
        "herself",
        "woman",
        "women",
        "girl",
        "girls",
        "lady",
        "ladies",
        "female",
        "females",
        "mother",
        "mothers",
        "daughter",
        "daughters",
        "sister",
        "sisters",
        "wife",
        "wives",
        "aunt",
        "aunts",
        "niece",
        "nieces",
        "grandmother",
        "grandmothers",
        "queen",
        "queens",
        "mrs",
        "madam",
        "actress",
        "actresses",
        "waitress",
        "businesswoman",
        "businesswomen",
        "chairwoman",
        "spokeswoman",
        "policewoman",
    ],
    "male": [
        "he",
        "him",
        "his",
        "himself",
        "man",
        "men",
        "boy",
        "boys",
        "gentleman",
        "gentlemen",
        "male",
        "males",
        "father",
        "fathers",
        "son",
        "sons",
        "brother",
        "brothers",
        "husband",
        "husbands",
        "uncle",
        "uncles",
        "nephew",
        "nephews",
        "grandfather",
        "grandfathers",
        "king",
        "kings",
        "mr",
        "sir",
        "actor",
        "actors",
        "waiter",
        "businessman",
        "businessmen",
        "chairman",
        "spokesman",
        "policeman",
    ],
    "neutral": [
        "they",
        "them",
        "their",
        "theirs",
        "themself",
        "themselves",
        "person",
        "persons",
        "people",
        "child",
        "children",
        "kid",
        "kids",
        "parent",
        "parents",
        "sibling",
        "siblings",
        "spouse",
        "spouses",
        "partner",
        "partners",
        "grandparent",
        "grandparents",
        "mx",
        "chairperson",
        "spokesperson",
        "police officer",
        "firefighter",
    ],
}

_SCHEMA = {
    "group": pl.String,
    "count_synthetic": pl.Int64,
    "count_real": pl.Int64,
    "share_synthetic": pl.Float64,
    "share_real": pl.Float64,
    "ratio": pl.Float64,
    "log_ratio": pl.Float64,
    "support": pl.Int64,
}


def _term_tuples(terms: Sequence[str]) -> set[tuple[str, ...]]:
    out = set()
    for term in terms:
        toks = tuple(word_lists([term])[0].to_list())
        if toks:
            out.add(toks)
    return out


def _count_terms(texts: Sequence[str], groups: Mapping[str, set[tuple[str, ...]]]) -> tuple[dict[str, int], int]:
    df = explode_tokens(word_lists(texts))
    n_words = df.height
    counts = {g: 0 for g in groups}
    if n_words == 0:
        return counts, 0
    lengths = sorted({len(t) for ts in groups.values() for t in ts})
    for length in lengths:
        wanted = {t for ts in groups.values() for t in ts if len(t) == length}
        found: dict[tuple[str, ...], int]
        if length == 1:
            vc = df.filter(pl.col("tok").is_in([t[0] for t in wanted])).group_by("tok").len()
            found = {(r[0],): r[1] for r in vc.iter_rows()}
        else:
            cols = [pl.col("tok").shift(-i).alias(f"t{i}") for i in range(length)]
            same_doc = pl.col("doc").shift(-(length - 1)) == pl.col("doc")
            firsts = list({t[0] for t in wanted})
            grams = (
                df.with_row_index("pos")
                .select(pl.col("tok").is_in(firsts).alias("first"), same_doc.fill_null(False).alias("ok"), *cols)
                .filter(pl.col("first") & pl.col("ok"))
                .group_by([f"t{i}" for i in range(length)])
                .len()
            )
            found = {tuple(r[:-1]): r[-1] for r in grams.iter_rows()}
        for g, ts in groups.items():
            counts[g] += sum(found.get(t, 0) for t in ts if len(t) == length)
    return counts, n_words


def term_group_drift(
    synthetic: Sequence[str],
    real: Sequence[str],
    groups: Mapping[str, Sequence[str]] | None = None,
) -> pl.DataFrame:
    """One row per group: counts, shares, smoothed ratio, log ratio, support."""
    groups = DEFAULT_TERM_GROUPS if groups is None else groups
    tuples = {g: _term_tuples(ts) for g, ts in groups.items()}
    c_s, n_s = _count_terms(synthetic, tuples)
    c_r, n_r = _count_terms(real, tuples)
    return _table(groups, c_s, n_s, c_r, n_r)


def term_group_drift_from_frame(
    df: pl.DataFrame, vocab: pl.Series, groups: Mapping[str, Sequence[str]] | None = None
) -> pl.DataFrame:
    """:func:`term_group_drift` of both corpora from their joint word ids (``drift._joint_frame``:
    ``doc`` numbered across corpora, ``id`` with ``vocab[id]`` its word, ``corpus`` 0/1).

    Same counts as tokenising each corpus again: a term is its id sequence, and an
    n-gram never crosses a document, so it never crosses the two corpora either.
    """
    groups = DEFAULT_TERM_GROUPS if groups is None else groups
    tuples = {g: _term_tuples(ts) for g, ts in groups.items()}
    words = sorted({w for ts in tuples.values() for t in ts for w in t})
    known = (
        pl.DataFrame({"tok": vocab.cast(pl.String)})
        .with_row_index("id")
        .filter(pl.col("tok").is_in(pl.Series(words, dtype=pl.String).implode()))
    )
    word_id = dict(zip(known["tok"].to_list(), known["id"].to_list(), strict=True))
    corpus = df["corpus"].to_numpy()
    n_r = int(corpus.sum(dtype=np.int64))
    n_s = df.height - n_r
    counts: list[dict[str, int]] = [{g: 0 for g in groups}, {g: 0 for g in groups}]
    if df.height:
        # Only positions whose word starts some term are looked at: a few per cent of
        # the words, so no shifted copy of the whole id column is built.
        ids = df["id"].to_numpy()
        doc = df["doc"].to_numpy()
        starts = {word_id[t[0]] for ts in tuples.values() for t in ts if t[0] in word_id}
        at = np.flatnonzero(np.isin(ids, np.fromiter(starts, dtype=ids.dtype, count=len(starts))))
        for length in sorted({len(t) for ts in tuples.values() for t in ts}):
            wanted = {t for ts in tuples.values() for t in ts if len(t) == length and all(w in word_id for w in t)}
            if not wanted:
                continue
            pos = at[at + length - 1 < len(ids)]
            pos = pos[doc[pos + length - 1] == doc[pos]]  # inside one document
            grams = (
                pl.DataFrame({"corpus": corpus[pos], **{f"t{i}": ids[pos + i] for i in range(length)}})
                .group_by(["corpus", *[f"t{i}" for i in range(length)]])
                .len()
            )
            found = {tuple(int(v) for v in r[:-1]): r[-1] for r in grams.iter_rows()}
            for g, ts in tuples.items():
                for t in ts:
                    if len(t) == length and t in wanted:
                        key = tuple(int(word_id[w]) for w in t)
                        counts[0][g] += found.get((0, *key), 0)
                        counts[1][g] += found.get((1, *key), 0)
    return _table(groups, counts[0], n_s, counts[1], n_r)


def _table(groups, c_s: dict[str, int], n_s: int, c_r: dict[str, int], n_r: int) -> pl.DataFrame:
    rows = []
    for g in groups:
        share_s = c_s[g] / n_s if n_s else float("nan")
        share_r = c_r[g] / n_r if n_r else float("nan")
        if n_s and n_r and c_s[g] + c_r[g] == 0:
            ratio, log_ratio = 1.0, 0.0  # no occurrence anywhere: no evidence of drift
        elif n_s and n_r:
            ratio = ((c_s[g] + 0.5) / n_s) / ((c_r[g] + 0.5) / n_r)
            log_ratio = math.log(ratio)
        else:
            ratio = log_ratio = float("nan")
        rows.append((g, c_s[g], c_r[g], share_s, share_r, ratio, log_ratio, c_s[g] + c_r[g]))
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row")


class TermGroupSummary(TypedDict):
    max_abs_log_ratio: float
    max_abs_log_ratio_group: str | None


def term_group_summary(table: pl.DataFrame, *, min_support: int = 100) -> TermGroupSummary:
    """``max_abs_log_ratio`` (0.0 when no group has enough support) and the group it
    comes from (``max_abs_log_ratio_group``, None when none qualifies)."""
    ok = table.filter((pl.col("support") >= min_support) & pl.col("log_ratio").is_not_nan())
    if ok.height == 0:
        return {"max_abs_log_ratio": 0.0, "max_abs_log_ratio_group": None}
    row = ok.with_columns(a=pl.col("log_ratio").abs()).sort(["a", "group"], descending=[True, False]).row(0, named=True)
    return {"max_abs_log_ratio": float(row["a"]), "max_abs_log_ratio_group": row["group"]}
