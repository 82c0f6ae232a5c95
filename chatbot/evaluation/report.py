"""`chatbot eval`'s human-readable output: a summary, the worst entries, the confused pairs, the
decision at other thresholds, and an optional self-contained HTML report with charts.

No plotting library is installed with the product, and the charts are simple, so the HTML draws
them itself: per-entry F1 as CSS bars, the top-score histogram as inline SVG (stacked by outcome,
the answer threshold as a line), and the decision's rates against the threshold as SVG lines. The
file needs no script and no network.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from chatbot.evaluation.cases import ABSTAIN, CaseResult
from chatbot.evaluation.tradeoff import tradeoff_curve

WORST_ENTRIES = 10
OUTCOMES = {  # outcome of a case by its top entry, whatever the decision -> chart colour
    "right entry on top": "#2e7d32",
    "wrong entry on top": "#c62828",
    "out of scope": "#f9a825",
}


def text_table(header: list[str], rows: list[list[object]], left_columns: int = 1) -> list[str]:
    """Rows under a header as aligned text lines: the first `left_columns` columns left-aligned
    (names, text), the rest right-aligned (numbers)."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) if i < left_columns else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in cells]


def worst_entries(metrics: dict, count: int = WORST_ENTRIES) -> list[dict]:
    """The labels with the lowest F1 (the most used first among equals)."""
    return sorted(metrics["per_entry"], key=lambda e: (e["f1"], -(e["support"] + e["predicted"]), e["id"]))[:count]


def format_text(metrics: dict) -> str:
    """The summary, the worst entries by F1 and the most confused pairs, as plain-text tables."""
    m = metrics
    lines = [
        f"{m['n']} questions: {m['in_scope']} in scope, {m['out_of_scope']} out of scope; "
        f"answer threshold {m['answer_threshold']:.4f} ({m['threshold_rule']})",
        f"answered {m['answer_rate']:.1%} of all questions; wrong answers {m['wrong_answer_rate']:.1%} "
        f"of the answered ({m['wrong_answers_share_of_all']:.1%} of all)",
        f"in scope: hit@1 {m['hit@1']:.3f}, hit@{m['k']} {m['hit@k']:.3f}, MRR {m['mrr']:.3f}, "
        f"answered correctly {m['answered_accuracy']:.3f}",
        f"out of scope: abstained {m['abstain_recall']:.3f} (abstain precision {m['abstain_precision']:.3f})",
        f"clarification: clarified {m['clarify_rate']:.3f} of in scope ({m['out_of_scope_clarify_rate']:.3f} "
        f"of out of scope); resolved {m['resolved_rate']:.3f} of in scope",
        f"macro precision / recall / F1: {m['macro_precision']:.3f} / {m['macro_recall']:.3f} / {m['macro_f1']:.3f}",
        f"latency per question: p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms",
        "",
        "worst entries by F1",
        *text_table(["entry", "F1", "precision", "recall", "expected", "predicted"],
                [[e["id"], f"{e['f1']:.3f}", f"{e['precision']:.3f}", f"{e['recall']:.3f}", e["support"],
                  e["predicted"]] for e in worst_entries(m)]),
    ]
    if m.get("threshold_tradeoff"):
        lines += ["", "at other thresholds (fitted on this test set, to show the trade-off)",
                  *tradeoff_table(m["threshold_tradeoff"])]
    if m["confused_pairs"]:
        lines += ["", "wrong answers, most frequent (expected -> answered with)",
                  *text_table(["expected", "predicted", "count"],
                          [[p["expected"], p["predicted"], p["count"]] for p in m["confused_pairs"]])]
    return "\n".join(lines)


def tradeoff_table(rows: list[dict]) -> list[str]:
    """`threshold_tradeoff` rows as a text table, the threshold in service marked."""
    def purpose(row: dict) -> str:
        rates = "<= " + ", ".join(f"{t:.0%}" for t in row["targets"]) if row["targets"] else ""
        return ", ".join(part for part in ("in service" if row["in_service"] else "", rates) if part)

    return text_table(["threshold", "for wrong rate", "answered", "wrong of answered", "in scope right",
                   "out of scope abstained"],
                  [[f"{r['threshold']:.4f}", purpose(r), f"{r['answer_rate']:.1%}", f"{r['wrong_answer_rate']:.1%}",
                    f"{r['answered_correctly']:.1%}", f"{r['out_of_scope_abstained']:.1%}"] for r in rows])


def outcome(result: CaseResult) -> str:
    """Which histogram series a case falls in."""
    if result.expected == ABSTAIN:
        return "out of scope"
    return "right entry on top" if result.ranked_ids[:1] == [result.expected] else "wrong entry on top"


def score_histogram_svg(results: list[CaseResult], threshold: float, bins: int = 30) -> str:
    """Top scores by outcome, stacked, with the answer threshold as a dashed line."""
    scores = np.array([r.top_score for r in results] + [threshold], dtype=float)
    edges = np.linspace(scores.min(), scores.max() + 1e-9, bins + 1)
    counts = {name: np.histogram([r.top_score for r in results if outcome(r) == name], edges)[0]
              for name in OUTCOMES}
    width, height, pad = 640, 220, 30
    tallest = max(1, int(sum(counts.values()).max()))
    bar = (width - 2 * pad) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img">']
    for i in range(bins):
        y = height
        for name, colour in OUTCOMES.items():
            h = counts[name][i] / tallest * (height - pad)
            if h:
                parts.append(f'<rect x="{pad + i * bar:.1f}" y="{y - h:.1f}" width="{bar - 1:.1f}" '
                             f'height="{h:.1f}" fill="{colour}"><title>{html.escape(name)}: '
                             f'{counts[name][i]}</title></rect>')
            y -= h
    tx = pad + (threshold - edges[0]) / (edges[-1] - edges[0]) * (width - 2 * pad)
    parts += [
        f'<line x1="{tx:.1f}" y1="10" x2="{tx:.1f}" y2="{height}" stroke="#000" stroke-dasharray="4 3"/>',
        f'<text x="{tx + 4:.1f}" y="20" font-size="12">threshold {threshold:.3f}</text>',
        f'<text x="{pad}" y="{height + 16}" font-size="12">{edges[0]:.3f}</text>',
        f'<text x="{width - pad}" y="{height + 16}" font-size="12" text-anchor="end">{edges[-1]:.3f}</text>',
        f'<text x="{width / 2}" y="{height + 34}" font-size="12" text-anchor="middle">top cosine '
        f'(tallest bar {tallest} questions)</text>',
        "</svg>",
    ]
    return "".join(parts)


CURVES = {  # Operating field -> (label, colour)
    "answered_correctly": ("in-scope answered correctly", "#2e7d32"),
    "wrong_answer_rate": ("wrong, of the answered", "#c62828"),
    "out_of_scope_abstained": ("out of scope abstained", "#f9a825"),
    "answer_rate": ("answered, of all", "#1565c0"),
}


def tradeoff_svg(results: list[CaseResult], threshold: float) -> str:
    """The decision's rates as the threshold moves over the range of top scores (one line each),
    with the threshold in service as a dashed line."""
    curve = tradeoff_curve(results)
    if not curve:
        return "<p>No question got an entry, so there is no trade-off to draw.</p>"
    has_out_of_scope = any(r.case.expected_id is None for r in results)
    has_in_scope = any(r.case.expected_id is not None for r in results)
    width, height, pad = 640, 240, 36
    low, high = curve[0].threshold, max(curve[-1].threshold, curve[0].threshold + 1e-9)
    x = lambda t: pad + (min(max(t, low), high) - low) / (high - low) * (width - 2 * pad)  # noqa: E731
    y = lambda v: height - v * (height - 20)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" role="img">',
             f'<line x1="{pad}" y1="{y(0):.1f}" x2="{width - pad}" y2="{y(0):.1f}" stroke="#999"/>',
             f'<line x1="{pad}" y1="{y(1):.1f}" x2="{width - pad}" y2="{y(1):.1f}" stroke="#eee"/>',
             f'<text x="{pad - 4}" y="{y(1) + 4:.1f}" font-size="11" text-anchor="end">100%</text>',
             f'<text x="{pad - 4}" y="{y(0) + 4:.1f}" font-size="11" text-anchor="end">0%</text>']
    for field, (label, colour) in CURVES.items():
        if (field == "out_of_scope_abstained" and not has_out_of_scope) or \
                (field == "answered_correctly" and not has_in_scope):
            continue
        points = " ".join(f"{x(p.threshold):.1f},{y(getattr(p, field)):.1f}" for p in curve)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2">'
                     f'<title>{html.escape(label)}</title></polyline>')
    tx = x(threshold)
    parts += [
        f'<line x1="{tx:.1f}" y1="10" x2="{tx:.1f}" y2="{height}" stroke="#000" stroke-dasharray="4 3"/>',
        f'<text x="{tx + 4:.1f}" y="20" font-size="12">in service {threshold:.3f}</text>',
        f'<text x="{pad}" y="{height + 16}" font-size="12">{low:.3f}</text>',
        f'<text x="{width - pad}" y="{height + 16}" font-size="12" text-anchor="end">{high:.3f}</text>',
        f'<text x="{width / 2}" y="{height + 34}" font-size="12" text-anchor="middle">answer threshold</text>',
        "</svg>",
    ]
    return "".join(parts)


def write_html_report(path: Path, metrics: dict, results: list[CaseResult], title: str = "chatbot eval") -> Path:
    """Write a self-contained HTML report: the summary, the score histogram, per-entry F1 bars
    (worst first) and the confused pairs."""
    esc = html.escape
    legend = " ".join(f'<span style="color:{c}">&#9632;</span> {esc(n)}' for n, c in OUTCOMES.items())
    entries = sorted(metrics["per_entry"], key=lambda e: (e["f1"], e["id"]))
    bars = "".join(
        f'<tr><td>{esc(e["id"])}</td><td class="num">{e["f1"]:.3f}</td><td class="num">{e["support"]}</td>'
        f'<td class="num">{e["predicted"]}</td><td><div class="bar" style="width:{e["f1"] * 300:.0f}px"></div></td></tr>'
        for e in entries)
    pairs = "".join(f'<tr><td>{esc(p["expected"])}</td><td>{esc(p["predicted"])}</td>'
                    f'<td class="num">{p["count"]}</td></tr>' for p in metrics["confused_pairs"])
    summary = esc(format_text(metrics).split("\n\n")[0])
    curve_legend = " ".join(f'<span style="color:{c}">&#9632;</span> {esc(n)}' for n, c in CURVES.values())
    tradeoff_rows = esc("\n".join(tradeoff_table(metrics.get("threshold_tradeoff") or [])))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}} td,th{{padding:2px 8px;text-align:left}}
.num{{text-align:right}} .bar{{height:10px;background:#1565c0}} pre{{background:#f5f5f5;padding:1em}}</style>
</head><body>
<h1>{esc(title)}</h1>
<pre>{summary}</pre>
<h2>Top score of each question</h2>
<p>{legend}. Questions left of the threshold are abstained on.</p>
{score_histogram_svg(results, float(metrics["answer_threshold"]))}
<h2>At other thresholds</h2>
<p>{curve_legend}. A higher threshold answers fewer questions, and usually a smaller share of them wrongly.</p>
{tradeoff_svg(results, float(metrics["answer_threshold"]))}
<pre>{tradeoff_rows}</pre>
<h2>Per-entry F1 (worst first)</h2>
<table><tr><th>entry</th><th>F1</th><th>expected</th><th>predicted</th><th></th></tr>{bars}</table>
<h2>Wrong answers, most frequent (expected &rarr; answered with)</h2>
<table><tr><th>expected</th><th>predicted</th><th>count</th></tr>{pairs}</table>
</body></html>
"""
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path
