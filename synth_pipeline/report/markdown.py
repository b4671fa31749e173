"""Small helpers for Dagster metadata: Markdown tables the UI renders."""

from __future__ import annotations

import polars as pl


def md_table(frame: pl.DataFrame, max_rows: int = 50) -> str:
    """A Markdown table of ``frame`` (first ``max_rows`` rows); floats to 4 significant digits."""

    def cell(v: object) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.head(max_rows).iter_rows()]
    return "\n".join([header, rule, *rows])
