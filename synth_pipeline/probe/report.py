"""Table and SVG chart of a probe result (SVG written by hand: no plotting dependency)."""

from __future__ import annotations

import math
from html import escape

from .collapse import DIVERSITY_GATES, PPL_DEGRADATION, REGIMES, SHARE_GATES, ProbeResult

COLOURS = {"replace": "#d62728", "accumulate": "#1f77b4", "gated": "#2ca02c"}
PANELS = (
    ("perplexity_ratio", "held-out real perplexity / gen 0"),
    ("tail_mass", "tail mass (mean P of rare held-out bigrams)"),
    ("distinct_2", "distinct-2 of the sample"),
    ("vendi_ngram", "Vendi (n-gram count vectors)"),
)


def _fmt(x: float, spec: str) -> str:
    return "nan" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def table(result: ProbeResult) -> str:
    """Markdown table: one row per regime and generation."""
    head = (
        "| regime | gen | train tokens | syn. share | held-out PPL | PPL / gen 0 | tail mass | distinct-2 | "
        "rel. distinct-2 | rel. gzip ratio | Vendi n-gram | Vendi emb. | gates failed |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in result.rows:
        failed = r.diversity_failed + r.shares_failed
        note = ", ".join(failed) or "-"
        if r.regime == "gated" and not r.accepted:
            note += " (sample dropped)"
        lines.append(
            f"| {r.regime} | {r.generation} | {r.train_tokens} | {r.synthetic_token_share:.3f} | "
            f"{r.perplexity:.1f} | {r.perplexity_ratio:.3f} | {_fmt(r.tail_mass, '.4f')} | {r.distinct_2:.3f} | "
            f"{r.relative_distinct_2:.3f} | {r.relative_compression_ratio:.3f} | {_fmt(r.vendi_ngram, '.1f')} | "
            f"{_fmt(r.vendi_embedding, '.1f')} | {note} |"
        )
    return "\n".join(lines)


def first_failure_table(result: ProbeResult) -> str:
    """Markdown table: first generation at which each gate fails, per regime ('never' if none)."""
    marks = result.first_failures()
    cols = [*DIVERSITY_GATES, *SHARE_GATES, "perplexity+10%"]
    lines = ["| regime | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for regime in REGIMES:
        cells = ["never" if marks[regime][c] is None else str(marks[regime][c]) for c in cols]
        lines.append(f"| {regime} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict(result: ProbeResult) -> str:
    """Whether the gates fail on ``replace`` no later than its held-out perplexity is 10 % worse."""
    m = result.first_failures()["replace"]
    ppl = m["perplexity+10%"]
    div = m["any_diversity_gate"]
    share = min((g for g in (m[s] for s in SHARE_GATES) if g is not None), default=None)
    if ppl is None:
        return f"replace never reached {PPL_DEGRADATION:.2f}x generation-0 perplexity: nothing to catch."

    def on_time(g: int | None) -> str:
        return "never" if g is None else f"generation {g} ({'in time' if g <= ppl else 'LATE'})"

    return (
        f"replace: perplexity +10 % at generation {ppl}; diversity gates first fail: {on_time(div)}; "
        f"synthetic-share cap first fails: {on_time(share)}."
    )


def svg_chart(result: ProbeResult, width: int = 960, height: int = 640) -> str:
    """Four panels (perplexity ratio, tail mass, distinct-2, n-gram Vendi) against generation,
    one line per regime; dashed verticals mark where replace's first gate and +10 % perplexity fall."""
    pw, ph = width // 2, (height - 40) // 2
    ml, mr, mt, mb = 60, 20, 30, 40
    gens = sorted({r.generation for r in result.rows})
    gmax = max(gens) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    marks = result.first_failures()["replace"]
    share = min((g for g in (marks[s] for s in SHARE_GATES) if g is not None), default=None)
    verticals = [
        (marks["perplexity+10%"], "#555", "replace PPL +10%"),
        (share, "#d62728", "replace: share cap fails"),
        (marks["any_diversity_gate"], "#9467bd", "replace: diversity gate fails"),
    ]
    for p, (key, title) in enumerate(PANELS):
        ox, oy = (p % 2) * pw, (p // 2) * ph
        values = [getattr(r, key) for r in result.rows if not math.isnan(getattr(r, key))]
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.08
        lo, hi = lo - pad, hi + pad

        def x(g: float, ox: int = ox) -> float:
            return ox + ml + (pw - ml - mr) * g / gmax

        def y(v: float, oy: int = oy, lo: float = lo, hi: float = hi) -> float:
            return oy + mt + (ph - mt - mb) * (1 - (v - lo) / (hi - lo))

        out.append(f'<text x="{ox + ml}" y="{oy + 18}" font-weight="bold">{escape(title)}</text>')
        out.append(
            f'<rect x="{ox + ml}" y="{oy + mt}" width="{pw - ml - mr}" height="{ph - mt - mb}" '
            'fill="none" stroke="#999"/>'
        )
        for i in range(5):
            v = lo + (hi - lo) * i / 4
            out.append(f'<text x="{ox + ml - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
        for g in gens:
            out.append(f'<text x="{x(g):.1f}" y="{oy + ph - mb + 14}" text-anchor="middle">{g}</text>')
        out.append(
            f'<text x="{ox + ml + (pw - ml - mr) / 2}" y="{oy + ph - mb + 28}" text-anchor="middle">generation</text>'
        )
        for mark, colour, _label in verticals:
            if mark is not None:
                out.append(
                    f'<line x1="{x(mark):.1f}" y1="{oy + mt}" x2="{x(mark):.1f}" y2="{oy + ph - mb}" '
                    f'stroke="{colour}" stroke-dasharray="4,3"/>'
                )
        for regime in REGIMES:
            pts = [(r.generation, getattr(r, key)) for r in result.rows if r.regime == regime]
            pts = [(g, v) for g, v in pts if not math.isnan(v)]
            if pts:
                path = " ".join(f"{x(g):.1f},{y(v):.1f}" for g, v in pts)
                out.append(f'<polyline points="{path}" fill="none" stroke="{COLOURS[regime]}" stroke-width="2"/>')
                out += [f'<circle cx="{x(g):.1f}" cy="{y(v):.1f}" r="3" fill="{COLOURS[regime]}"/>' for g, v in pts]
    ly = height - 14
    lx = 60
    for regime in REGIMES:
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="14" height="4" fill="{COLOURS[regime]}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly - 4}">{regime}</text>')
        lx += 100
    for mark, colour, label in verticals:
        if mark is not None:
            out.append(
                f'<line x1="{lx}" y1="{ly - 7}" x2="{lx + 14}" y2="{ly - 7}" stroke="{colour}" stroke-dasharray="4,3"/>'
            )
            out.append(f'<text x="{lx + 18}" y="{ly - 4}">{escape(label)} (gen {mark})</text>')
            lx += 210
    out.append("</svg>")
    return "\n".join(out)
