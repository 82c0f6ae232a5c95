"""A replay's outputs: a summary table for the terminal, the JSON report, and one self-contained
HTML file (no network, no CDN): metric bars old vs new, top-score distributions and a latency
histogram as inline SVG, metrics by language, and the per-turn diff table, changed turns first,
filtered by a small inline script (the console serves the file with a CSP naming its hash,
`REPORT_CSP`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path

import numpy as np

from chatbot.evaluation.report import text_table
from chatbot.evaluation.replay_metrics import DIRECTION

RUN_COLOURS = {"logged": "#9ca3af", "baseline": "#60a5fa", "candidate": "#16a34a"}
RATES = [name for name in DIRECTION if not name.endswith("_ms")]  # shares and scores in [0, 1]
CHANGED_ROW = ' class="changed"'
SHOWN_CHARS = 240  # of an answer in the diff table (the JSON has them whole)

SCRIPT = """
const rows = Array.from(document.querySelectorAll('#turns tbody tr'));
const text = document.getElementById('q'), changed = document.getElementById('changed'),
      action = document.getElementById('action'), count = document.getElementById('count');
function filter() {
  const needle = text.value.toLowerCase();
  let shown = 0;
  for (const row of rows) {
    const ok = (!changed.checked || row.dataset.changed === '1') &&
      (!action.value || row.dataset.action === action.value) &&
      (!needle || row.textContent.toLowerCase().includes(needle));
    row.hidden = !ok;
    if (ok) shown++;
  }
  count.textContent = shown + ' of ' + rows.length + ' turns shown';
}
for (const control of [text, changed, action]) control.addEventListener('input', filter);
filter();
"""
_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
REPORT_CSP = (f"default-src 'none'; script-src 'sha256-{_HASH}'; style-src 'unsafe-inline'; img-src data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f3f4f6;color:#111827}
main{max-width:1200px;margin:0 auto;padding:20px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:16px 20px;margin-bottom:16px;overflow-x:auto}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:0 0 10px}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:4px 8px;border-bottom:1px solid #f3f4f6;vertical-align:top}
.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#6b7280}.up{color:#15803d}.down{color:#b91c1c}
.tag{display:inline-block;border-radius:999px;padding:0 8px;font-size:12px;background:#e5e7eb;margin-right:2px}
.changed{background:#fef3c7}.legend span{margin-right:14px}.charts{display:flex;flex-wrap:wrap;gap:16px}
.controls{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin-bottom:8px}
input,select{font:inherit;padding:4px 6px}td.answer{max-width:320px;overflow-wrap:anywhere}
svg{max-width:100%;height:auto}tr.changed{background:#fffbeb}pre{font-size:13px;overflow-x:auto}
@media (max-width:600px){main{padding:8px}section{padding:12px}pre{font-size:11px}}
"""


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _runs(report: dict) -> list[str]:
    return [name for name in ("logged", "baseline", "candidate") if name in report["metrics"]]


def _change(report: dict, name: str) -> str:
    metrics = report["metrics"]
    old = metrics.get(report["compared_with"], {}).get(name)
    new = metrics["candidate"].get(name)
    return f"{new - old:+.3f}" if isinstance(old, (int, float)) and isinstance(new, (int, float)) else ""


def format_summary(report: dict) -> str:
    """The headline metrics of each run side by side, then what changed, as plain text."""
    runs = _runs(report)
    rows = [[name, *(_fmt(report["metrics"][run].get(name)) for run in runs), _change(report, name)]
            for name in DIRECTION]
    lines = [f"replayed {report['n']} turns in {report['seconds']:.1f} s; candidate: {report['candidate']['label']}",
             *text_table(["metric", *runs, "change"], rows),
             f"{report['changed']} of {report['n']} turns changed against the {report['compared_with']} reply"]
    gate = report.get("gate")
    if gate and (gate["rules"] or gate["max_regression"] is not None):
        lines.append("gate: passed" if gate["passed"] else "gate: FAILED\n  " + "\n  ".join(gate["failures"]))
    return "\n".join(lines)


def write_json(path: Path, report: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _svg(width: float, height: float) -> str:
    # A viewBox lets the chart shrink to a phone's width (the CSS caps it at 100%).
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img">')


def metric_bars_svg(report: dict) -> str:
    """Grouped horizontal bars, one group per rate metric, one bar per run."""
    runs = _runs(report)
    names = [n for n in RATES if any(report["metrics"][r].get(n) is not None for r in runs)]
    bar, gap, left, width = 11, 10, 170, 560
    height = len(names) * (len(runs) * bar + gap) + 10
    parts = [_svg(left + width + 60, height)]
    y = 5
    for name in names:
        parts.append(f'<text x="{left - 8}" y="{y + len(runs) * bar / 2 + 4:.0f}" font-size="12" '
                     f'text-anchor="end">{html.escape(name)}</text>')
        for run in runs:
            value = report["metrics"][run].get(name)
            w = max(0.0, min(1.0, value or 0.0)) * width
            parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 2}" fill="{RUN_COLOURS[run]}">'
                         f'<title>{run}: {_fmt(value)}</title></rect>'
                         f'<text x="{left + w + 4:.1f}" y="{y + bar - 3}" font-size="10">{_fmt(value)}</text>')
            y += bar
        y += gap
    return "".join(parts) + "</svg>"


def histogram_svg(series: dict[str, list[float]], label: str, bins: int = 24, log: bool = False) -> str:
    """Overlaid outline histograms of each run's values (log-spaced bins for latencies)."""
    values = [v for vs in series.values() for v in vs]
    if not values:
        return '<p class="muted">Nothing to draw.</p>'
    low, high = min(values), max(values) + 1e-9
    edges = (np.geomspace(max(low, 0.01), max(high, low + 1e-6, 0.02), bins + 1) if log
             else np.linspace(low, max(high, low + 1e-6), bins + 1))
    counts = {run: np.histogram(vs, edges)[0] for run, vs in series.items()}
    tallest = max(1, max(int(c.max()) for c in counts.values()))
    width, height, pad = 520, 180, 30
    step = (width - 2 * pad) / bins
    parts = [_svg(width, height + 40),
             f'<line x1="{pad}" y1="{height}" x2="{width - pad}" y2="{height}" stroke="#9ca3af"/>']
    for run, count in counts.items():
        points = []
        for i, c in enumerate(count):
            y = height - c / tallest * (height - 20)
            points += [f"{pad + i * step:.1f},{y:.1f}", f"{pad + (i + 1) * step:.1f},{y:.1f}"]
        parts.append(f'<polyline points="{pad},{height} {" ".join(points)} {width - pad},{height}" fill="none" '
                     f'stroke="{RUN_COLOURS[run]}" stroke-width="2"><title>{run}</title></polyline>')
    parts += [f'<text x="{pad}" y="{height + 16}" font-size="11">{edges[0]:.3g}</text>',
              f'<text x="{width - pad}" y="{height + 16}" font-size="11" text-anchor="end">{edges[-1]:.3g}</text>',
              f'<text x="{width / 2}" y="{height + 34}" font-size="12" text-anchor="middle">{html.escape(label)} '
              f'(tallest bin {tallest} turns)</text>', "</svg>"]
    return "".join(parts)


def _outcome_cell(outcome: dict | None) -> str:
    if outcome is None:
        return '<td class="muted">–</td><td class="muted">–</td>'
    entry = ", ".join(outcome["entry_ids"][:3])
    answer = outcome["answer"]
    shown = answer[:SHOWN_CHARS] + ("…" if len(answer) > SHOWN_CHARS else "")
    return (f'<td><span class="tag">{html.escape(outcome["action"])}</span> <code>{html.escape(entry)}</code></td>'
            f'<td class="answer" title="{html.escape(answer)}">{html.escape(shown)}</td>')


def _turn_rows(report: dict) -> str:
    reference = report["compared_with"]
    ordered = sorted(report["turns"], key=lambda t: (not t["changes"], t["created_at"], t["key"]))
    rows = []
    for t in ordered:
        label = t["label"]
        expected = (html.escape(label["expected_id"] or "out of scope") + f' <span class="muted">({html.escape(label["source"])})</span>'
                    if label["labelled"] else '<span class="muted">–</span>')
        changes = " ".join(f'<span class="tag changed">{c}</span>' for c in t["changes"])
        rows.append(
            f'<tr{CHANGED_ROW if t["changes"] else ""} data-changed="{1 if t["changes"] else 0}" data-action="{html.escape(t["candidate"]["action"])}">'
            f'<td>{html.escape(t["question"])}<br><span class="muted">{html.escape(t["key"])}</span></td>'
            f'<td>{expected}</td>{_outcome_cell(t[reference])}{_outcome_cell(t["candidate"])}'
            f'<td>{changes}</td><td class="num">{_fmt(t["similarity"])}</td>'
            f'<td class="num">{t["candidate"]["latency_ms"]:.0f}</td></tr>')
    return "".join(rows)


def _language_rows(report: dict) -> str:
    rows = []
    for language, runs in report["by_language"].items():
        for run, m in runs.items():
            rows.append(f'<tr><td>{html.escape(language)}</td><td>{run}</td>' + "".join(
                f'<td class="num">{_fmt(m.get(name))}</td>' for name in
                ("n", "action_agreement", "top_entry_agreement", "hit@1", "resolved_rate", "wrong_answer_rate",
                 "answer_similarity", "grounded_rate", "p50_ms", "p95_ms")) + "</tr>")
    return "".join(rows)


def _entry_rows(report: dict) -> tuple[str, str]:
    """Per-entry F1 of each run (labelled turns), the entries whose F1 moved most first."""
    runs = [r for r in _runs(report) if report["metrics"][r].get("per_entry")]
    f1 = {r: {e["id"]: e for e in report["metrics"][r]["per_entry"]} for r in runs}
    ids = sorted({i for rows in f1.values() for i in rows})
    last = runs[-1] if runs else ""
    moved = lambda i: -abs(f1[last].get(i, {}).get("f1", 0) - f1[runs[0]].get(i, {}).get("f1", 0))  # noqa: E731
    head = "".join(f'<th class="num">{r} P</th><th class="num">{r} R</th><th class="num">{r} F1</th>' for r in runs)
    rows = "".join(f'<tr><td><code>{html.escape(i)}</code></td>' + "".join(
        f'<td class="num">{_fmt(f1[r].get(i, {}).get(k))}</td>' for r in runs for k in ("precision", "recall", "f1"))
        + "</tr>" for i in sorted(ids, key=lambda i: (moved(i), i)))
    return head, rows


def render_html(report: dict, title: str = "chatbot replay") -> str:
    """The self-contained HTML report (see the module's docstring)."""
    esc = html.escape
    runs = _runs(report)
    legend = "".join(f'<span><span style="color:{RUN_COLOURS[r]}">&#9632;</span> {r}</span>' for r in runs)
    score_series = {r: [t[r]["scores"][0] for t in report["turns"] if t.get(r) and t[r]["scores"]] for r in runs}
    latency_series = {r: [t[r]["latency_ms"] for t in report["turns"] if t.get(r)] for r in runs}
    summary = esc(format_summary(report))
    actions = sorted({t["candidate"]["action"] for t in report["turns"]})
    options = "".join(f'<option value="{esc(a)}">{esc(a)}</option>' for a in actions)
    language_head = "".join(f'<th class="num">{h}</th>' for h in ("turns", "same action", "same entry", "hit@1",
                            "resolved", "wrong", "similarity", "grounded", "p50 ms", "p95 ms"))
    reference = report["compared_with"]
    entry_head, entry_rows = _entry_rows(report)
    entries = (f'<section><h2>Per entry, on labelled turns</h2><table><thead><tr><th>entry</th>{entry_head}</tr>'
               f'</thead><tbody>{entry_rows}</tbody></table></section>' if entry_rows else "")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{esc(title)}</title><style>{STYLE}</style></head>
<body><main>
<section><h1>{esc(title)}</h1><p class="muted">{esc(report['created_at'])} · {report['n']} turns ·
candidate <strong>{esc(report['candidate']['label'])}</strong>{' · baseline <strong>' + esc(report['baseline']['label']) + '</strong>' if report.get('baseline') else ''}
· <strong>{report['changed']}</strong> turns changed against the {reference} reply</p><pre>{summary}</pre></section>
<section><h2>Metrics, old and new</h2><p class="legend">{legend}</p>{metric_bars_svg(report)}</section>
<section><h2>Distributions</h2><p class="legend">{legend}</p><div class="charts">
<div>{histogram_svg(score_series, 'top retrieval score')}</div>
<div>{histogram_svg(latency_series, 'latency per turn, ms (log scale)', log=True)}</div></div></section>
<section><h2>By language</h2><table><thead><tr><th>language</th><th>run</th>{language_head}</tr></thead>
<tbody>{_language_rows(report)}</tbody></table></section>
{entries}
<section><h2>Turn by turn</h2><div class="controls"><input id="q" type="search" placeholder="Filter by text">
<label><input id="changed" type="checkbox"> changed only</label>
<label>candidate action <select id="action"><option value="">any</option>{options}</select></label>
<span id="count" class="muted"></span></div>
<table id="turns"><thead><tr><th>question</th><th>label</th><th>{reference}</th><th>{reference} answer</th>
<th>candidate</th><th>candidate answer</th><th>changed</th><th class="num">similarity</th><th class="num">ms</th></tr></thead>
<tbody>{_turn_rows(report)}</tbody></table></section>
</main><script>{SCRIPT}</script></body></html>
"""


def write_html(path: Path, report: dict, title: str = "chatbot replay") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, title), encoding="utf-8")
    return path
