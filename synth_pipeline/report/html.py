"""Render the quality report as one self-contained HTML page (inline SVG charts, no network)
and as the Markdown shown in the Dagster UI."""

from __future__ import annotations

import html
import json

import polars as pl

from synth_pipeline.report.collect import SCORED, QualityFigures
from synth_pipeline.report.markdown import md_table

OFFLINE_NOTE = (
    "Backend: offline. The synthetic text was built by a deterministic extractive generator and graded by a "
    "heuristic judge, not by a language model. Figures describe the pipeline, not a model's output."
)


def _esc(value: object) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return html.escape(str(value))


def bar_chart(title: str, labels: list[str], values: list[float], *, width: int = 560, fmt: str = "{:.0f}") -> str:
    """A horizontal bar chart as inline SVG."""
    if not values:
        return f"<p><em>{_esc(title)}: no data</em></p>"
    # NaN (an empty partition's score or rates) draws no bar and reads "n/a", never 0.
    top = max(max((v for v in values if v == v), default=0.0), 1e-12)
    row, label_w = 22, 190
    height = row * len(values) + 30
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 24 + i * row
        w = (width - label_w - 70) * (value / top) if value == value else 0.0
        bars.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="lbl">{_esc(label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" class="bar">'
            f"<title>{_esc(label)}: {_esc(value)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" class="val">'
            f"{fmt.format(value) if value == value else 'n/a'}</text>"
        )
    return (
        f'<figure class="chart"><svg role="img" aria-label="{_esc(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><text x="0" y="14" class="ttl">{_esc(title)}</text>'
        f"{''.join(bars)}</svg></figure>"
    )


def _table(frame: pl.DataFrame | None) -> str:
    if frame is None or frame.is_empty():
        return "<p><em>none</em></p>"
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>" for row in frame.iter_rows())
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#1d2330}
h1{margin-bottom:.2em} .sub{color:#5a6478} .note{background:#fff6d6;border-left:4px solid #e0b000;padding:.6em 1em}
.cards{display:flex;flex-wrap:wrap;gap:.8em} \
.card{border:1px solid #d8dde8;border-radius:8px;padding:.6em 1em;min-width:150px}
.card b{display:block;font-size:1.5em} table{border-collapse:collapse;margin:.5em 0;font-size:13px}
td,th{border:1px solid #d8dde8;padding:3px 8px;text-align:left;vertical-align:top} th{background:#f0f3f8}
.pass{color:#137333;font-weight:600} .fail{color:#b3261e;font-weight:600}
.empty{background:#e8f0fe;border-left:4px solid #4c78a8;padding:.6em 1em;font-size:1.05em}
svg .bar{fill:#4c78a8} svg .lbl,svg .val{font-size:12px;fill:#1d2330} svg .ttl{font-size:13px;font-weight:600}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5em;font-size:12px;max-height:14em;overflow:auto}
"""


def _rounded(value: float, digits: int) -> float | str:
    """Rounded, or "n/a" for a figure with nothing to measure (Markdown would print "nan")."""
    return "n/a" if value != value else round(value, digits)


def score_text(figures: QualityFigures) -> str:
    """ "83/100 (excellent)", or for a partition with nothing to score why there is no score."""
    if figures.status != SCORED:
        what = "empty partition, 0 documents" if figures.metrics["funnel.documents"] == 0 else "no items in the mix"
        return f"n/a ({what})"
    return f"{figures.score:.0f}/100 ({figures.band})"


def headline(figures: QualityFigures) -> dict[str, object]:
    m = figures.metrics
    return {
        "quality score": score_text(figures),
        "documents": int(m["funnel.documents"]),
        "items in mix": int(m["mix.items"]),
        "synthetic share (items)": _rounded(m["mix.synthetic_item_share"], 4),
        "synthetic share (tokens)": _rounded(m["mix.synthetic_token_share"], 4),
        "acceptance rate": _rounded(m["grading.acceptance_rate"], 4),
        "distinct-2 synthetic/real": _rounded(m.get("relative.distinct_2", float("nan")), 3),
        "compression ratio synthetic/real": _rounded(m.get("relative.compression_ratio", float("nan")), 3),
        "checks passed/failed/warnings": (
            f"{int(m['checks.passed'])}/{int(m['checks.failed'])}/{int(m['checks.warnings'])}"
        ),
    }


def _metric_table(m: dict[str, float], prefix: str) -> pl.DataFrame:
    keys = [k for k in m if k.startswith(prefix)]
    return pl.DataFrame(
        {"metric": keys, "value": [float(m[k]) for k in keys]}, schema={"metric": pl.Utf8, "value": pl.Float64}
    )


def _trend_charts(trend: pl.DataFrame | None) -> str:
    if trend is None or trend.is_empty():
        return "<p><em>no earlier partitions</em></p>"
    labels = [str(d) for d in trend.get_column("partition_date").to_list()]
    charts = []
    for column, fmt in (
        ("score.headline", "{:.0f}"),
        ("mix.synthetic_token_share", "{:.3f}"),
        ("relative.distinct_2", "{:.3f}"),
        ("grading.acceptance_rate", "{:.3f}"),
    ):
        if column in trend.columns:
            values = [float("nan") if v is None else float(v) for v in trend.get_column(column).to_list()]
            charts.append(bar_chart(f"{column} by partition", labels, values, fmt=fmt))
    return "".join(charts)


def render_html(figures: QualityFigures) -> str:
    m = figures.metrics
    cards = "".join(f'<div class="card">{_esc(k)}<b>{_esc(v)}</b></div>' for k, v in headline(figures).items())
    note = f'<p class="note">{OFFLINE_NOTE}</p>' if figures.backend == "offline" else ""
    if figures.status != SCORED:
        note += f'<p class="empty" id="empty-partition"><b>{_esc(figures.status_note)}</b></p>'
    verdict = (
        f"<p><b>No quality score: {_esc(figures.band)}.</b> Fit for: {_esc(figures.fit_for)}.</p>"
        if figures.status != SCORED
        else f"<p><b>Quality score {figures.score:.0f}/100: {_esc(figures.band)}.</b> "
        f"Fit for: {_esc(figures.fit_for)}.</p>"
        + bar_chart("subscores (0-100)", list(figures.subscores), list(figures.subscores.values()))
    )
    checks = "".join(
        f"<tr><td>{_esc(c['asset'])}.{_esc(c['check'])} ({_esc(c['severity'])})</td>"
        f'<td class="{"pass" if c["passed"] else "fail"}">{"passed" if c["passed"] else "FAILED"}</td>'
        f"<td><pre>{_esc(json.dumps(c['details'], indent=1, default=str))}</pre></td></tr>"
        for c in figures.checks
    )
    names = [k.split(".", 1)[1] for k in m if k.startswith("synthetic.") and f"real.{k.split('.', 1)[1]}" in m]
    diversity = pl.DataFrame(
        {
            "metric": names,
            "synthetic": [float(m[f"synthetic.{k}"]) for k in names],
            "real": [float(m[f"real.{k}"]) for k in names],
            "synthetic / real (word-matched)": [float(m.get(f"relative.{k}", float("nan"))) for k in names],
        }
    )
    acceptance = "".join(
        f"<h3>acceptance by {_esc(by)}</h3>{_table(frame)}" for by, frame in figures.acceptance_by.items()
    )
    hist = figures.score_histogram
    histogram = (
        bar_chart(
            "judge score distribution",
            [str(s) for s in hist.get_column("score").to_list()],
            [float(v) for v in hist.get_column("samples").to_list()],
        )
        if hist is not None and not hist.is_empty()
        else "<p><em>no grades</em></p>"
    )
    examples = "".join(
        f"<h3>{_esc(kind)}</h3>"
        + "".join(
            f"<p><b>{_esc(e.get('item_id'))}</b> score={_esc(e.get('score'))} "
            f"{_esc(e.get('reason') or e.get('task') or '')}</p>"
            f"<pre>{_esc((e.get('text') or '')[:1200])}</pre>"
            for e in items
        )
        for kind, items in figures.examples.items()
    )
    cumulative = pl.DataFrame(
        {"metric": list(figures.cumulative), "value": [float(v) for v in figures.cumulative.values()]}
    )
    sub = (
        f"partition {figures.partition} &middot; generator {_esc(figures.backend)}:{_esc(figures.generator_model)} "
        f"&middot; judge {_esc(figures.judge_model)}"
    )
    checks_head = "<thead><tr><th>check</th><th>result</th><th>value and threshold</th></tr></thead>"
    funnel = bar_chart("rows at each stage", [f[0] for f in figures.funnel], [float(f[1]) for f in figures.funnel])
    trend = _trend_charts(figures.trend)
    tics = "The generator's verbal tics: most over-represented bigrams in synthetic text"
    drift = _table(_metric_table(m, "drift."))
    title = f"<title>Quality report {figures.partition}</title>"
    head = f'<!doctype html><html lang="en"><head><meta charset="utf-8">{title}'
    return f"""{head}
<style>{_CSS}</style></head><body>
<h1>Synthetic data quality report</h1>
<p class="sub">{sub}</p>
{note}
<section id="headline"><h2>Headline</h2><div class="cards">{cards}</div>
{verdict}</section>
<section id="checks"><h2>Checks</h2><table>{checks_head}<tbody>{checks}</tbody></table></section>
<section id="funnel"><h2>Funnel</h2>{funnel}
<h3>Corpus rejects</h3>{_table(figures.corpus_rejects)}<h3>Exclusions</h3>{_table(figures.exclusions)}</section>
<section id="grading"><h2>Grading</h2>{histogram}{_table(_metric_table(m, "grading."))}{acceptance}</section>
<section id="diversity"><h2>Diversity: synthetic vs real</h2>{_table(diversity)}</section>
<section id="drift"><h2>Drift</h2>{drift}<h3>{tics}</h3>{_table(figures.overrepresented)}</section>
<section id="bias"><h2>Bias: term groups</h2>{_table(figures.bias)}</section>
<section id="leakage"><h2>Leakage</h2>{_table(_metric_table(m, "leakage."))}</section>
<section id="trend"><h2>Trend across partitions</h2>{trend}<h3>Cumulative mix</h3>{_table(cumulative)}</section>
<section id="cost"><h2>Cost</h2>{_table(_metric_table(m, "cost."))}</section>
<section id="examples"><h2>Examples</h2>{examples}</section>
</body></html>"""


def render_markdown(figures: QualityFigures, html_path: str) -> str:
    lines = [
        f"**Quality report {figures.partition}** ({figures.backend}:{figures.generator_model}) — `{html_path}`",
        "",
    ]
    if figures.backend == "offline":
        lines += [f"> {OFFLINE_NOTE}", ""]
    if figures.status != SCORED:
        lines += [f"**{figures.status_note}**", ""]
    lines += ["| headline | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in headline(figures).items()]
    lines += ["", f"Fit for: {figures.fit_for}."]
    lines += ["", "| subscore | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in figures.subscores.items()]
    lines += ["", "| check | severity | passed |", "|---|---|---|"] + [
        f"| {c['asset']}.{c['check']} | {c['severity']} | {c['passed']} |" for c in figures.checks
    ]
    if figures.exclusions is not None and not figures.exclusions.is_empty():
        lines += ["", md_table(figures.exclusions)]
    return "\n".join(lines)
