"""Analytics in the console: the page /admin/analytics (charts, each with its table) and its API
twin GET /api/admin/analytics, both for viewers and up, both one call of `services.analytics`.

    GET /admin/analytics?start=2026-11-01&end=2026-11-30&channel=web     the page (a GET form)
    GET /api/admin/analytics?start=2026-11-01&end=2026-11-30&channel=web  the same numbers as JSON

Dates are UTC days, both included; left out, the range is the last 30 days. The charts are PNG
`data:` URIs drawn by `ui.console.charts` (no script: the console's CSP has none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from chatbot.errors import InvalidInput
from chatbot.staff.analytics import DECISIONS, Analytics, Ranked, parse_day
from ui.console import charts
from ui.console.auth import staff_gate
from ui.console.html import esc, page, staff_header

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

DECISION_NAMES = {"answer": "Answered", "clarify": "Clarified", "abstain": "Abstained", "handoff": "Handed off",
                  "smalltalk": "Small talk", "rejected": "Refused"}
# On a phone a chart keeps 600 px (its labels stay readable) and scrolls sideways in its box.
STYLE = """<style>
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-end}.filters label{margin:0 0 4px}
.filters input,.filters select{height:40px;padding:0 10px;border:1px solid #d1d5db;border-radius:6px;font:inherit;background:#fff}
.filters button{margin:0;height:40px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:20px}
.tile{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:14px 16px}
.tile b{display:block;font-size:24px;font-weight:600}.tile span{color:#6b7280;font-size:13px}
.chart{width:100%;height:auto;display:block}.chart-box{overflow-x:auto}
@media (max-width:600px){.chart{width:600px;max-width:none}}
details{margin-top:8px}summary{cursor:pointer;color:#2563eb;font-size:14px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
</style>"""


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def _table(head: list[str], rows: list[list[object]], caption: str) -> str:
    """The chart's numbers as a table (first column text, the others numbers), folded away."""
    if not rows:
        return '<p class="muted">No data in this range.</p>'
    th = "".join(f'<th{"" if i == 0 else " class=n"}>{esc(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td{"" if i == 0 else " class=n"}>{esc(v)}</td>' for i, v in enumerate(row))
                   + "</tr>" for row in rows)
    return (f'<details><summary>Table: {esc(caption)}</summary><div class="scroll"><table>'
            f"<caption hidden>{esc(caption)}</caption><tr>{th}</tr>{body}</table></div></details>")


def _card(title: str, image: str, alt: str, table: str, note: str = "") -> str:
    note = f'<p class="muted">{note}</p>' if note else ""
    return (f'<div class="card"><h2>{esc(title)}</h2>{note}'
            f'<div class="chart-box"><img class="chart" src="{image}" alt="{esc(alt)}"></div>{table}</div>')


def _ranked_card(title: str, ranked: list[Ranked], what: str, note: str = "") -> str:
    image = charts.ranked_chart([r.label for r in ranked], [r.count for r in ranked], [r.key for r in ranked])
    alt = f"{title}: " + ("; ".join(f"{r.label}, {r.count}" for r in ranked) or "no data")
    rows = [[r.label if r.label == r.key else f"{r.label} ({r.key})", r.count] for r in ranked]
    return _card(title, image, alt, _table([what, "Count"], rows, title), note)


def _tiles(report: Analytics) -> str:
    r, d, f, lat = report.resolution, report.deflection, report.feedback, report.latency
    tiles = [(f"{d.conversations:,}", "conversations"), (_percent(r.rate), f"resolved ({r.answered} of {r.questions} questions)"),
             (_percent(d.rate), f"deflected ({d.conversations - d.reached_human} never reached a human)"),
             (_percent(f.ratio), f"thumbs up ({f.up} up, {f.down} down)"),
             (_ms(lat.p50_ms), f"median reply (p95 {_ms(lat.p95_ms)})")]
    return '<div class="tiles">' + "".join(f'<div class="tile"><b>{esc(v)}</b><span>{esc(t)}</span></div>'
                                           for v, t in tiles) + "</div>"


def _filters(report: Analytics | None, start: str, end: str, channel: str, channels: list[str]) -> str:
    if report is not None:
        start, end, channel = report.start.isoformat(), report.end.isoformat(), report.channel or ""
    choices = [("", "All channels"), *((c, c) for c in channels)]
    options = "".join(f'<option value="{esc(v)}"{" selected" if v == channel else ""}>{esc(t)}</option>'
                      for v, t in choices)
    return ('<div class="card"><h2>Analytics</h2><form class="filters" method="get" action="/admin/analytics">'
            f'<div><label for="start">From</label><input type="date" id="start" name="start" value="{esc(start)}"></div>'
            f'<div><label for="end">To</label><input type="date" id="end" name="end" value="{esc(end)}"></div>'
            f'<div><label for="channel">Channel</label><select id="channel" name="channel">{options}</select></div>'
            '<div><button type="submit">Show</button></div></form>'
            '<p class="muted">UTC days, both included. The same numbers as JSON: '
            '<code>GET /api/admin/analytics?start=&amp;end=&amp;channel=</code>.</p></div>')


def analytics_body(report: Analytics) -> str:
    """The charts and tables of `report` (below the filter form)."""
    days = [d.day.strftime("%b %d") for d in report.days]
    iso = [d.day.isoformat() for d in report.days]
    per_day = charts.bar_chart(days, {"Conversations": [d.conversations for d in report.days]})
    by_decision = {DECISION_NAMES[k]: [d.turns[k] for d in report.days] for k in DECISIONS}
    shown = {name: values for name, values in by_decision.items() if any(values)}
    r, lat = report.resolution, report.latency
    outcomes = [Ranked("answer", "Answered (at once or from a chosen option)", r.answered),
                Ranked("clarify", "Clarified, no option chosen", r.clarified - r.clarified_chosen),
                Ranked("abstain", "Abstained", r.abstained), Ranked("handoff", "Handed off", r.handed_off)]
    buckets = [f"< {e:,}" for e in lat.edges_ms] + [f"≥ {lat.edges_ms[-1]:,}"]
    marks = {"p50": lat.p50_ms, "p95": lat.p95_ms}
    return "".join([
        _tiles(report),
        _card("Conversations per day", per_day, "Conversations started per day, as bars",
              _table(["Day", "Conversations"], [[i, d.conversations] for i, d in zip(iso, report.days)],
                     "Conversations per day")),
        _card("Turns per day, by what the bot did", charts.bar_chart(days, shown),
              ("Turns per day stacked by decision: " + ", ".join(shown)) if shown else "No turns in this range",
              _table(["Day", *shown], [[i, *(shown[n][k] for n in shown)] for k, i in enumerate(iso)] if shown else [],
                     "Turns per day by decision")),
        _ranked_card("Questions by outcome", outcomes, "Outcome",
                     f"Resolution rate {_percent(r.rate)}: answered at once or after the customer chose one of a "
                     f"clarification's options. Deflection rate {_percent(report.deflection.rate)}: "
                     "conversations that never reached a human."),
        _ranked_card("Feedback", [Ranked("up", "Thumbs up", report.feedback.up),
                                  Ranked("down", "Thumbs down", report.feedback.down)], "Vote",
                     f"{_percent(report.feedback.ratio)} of the votes on this range's answers were thumbs up."),
        _ranked_card("Top answered entries", report.top_entries, "Entry"),
        _ranked_card("Top unanswered questions", report.top_unanswered, "Question",
                     "Abstained, clarified or handed off, grouped by their text (case and spaces aside)."),
        _ranked_card("Languages", report.languages, "Language"),
        _card(f"Reply latency (p50 {_ms(lat.p50_ms)}, p95 {_ms(lat.p95_ms)})",
              charts.histogram_chart(buckets, lat.histogram, marks, lat.edges_ms),
              f"Turns per reply-time bucket in milliseconds; p50 {_ms(lat.p50_ms)}, p95 {_ms(lat.p95_ms)}",
              _table(["Milliseconds", "Turns"], [[b, n] for b, n in zip(buckets, lat.histogram)] if lat.turns else [],
                     "Turns per latency bucket")),
    ])


def analytics_router(services: "Services") -> APIRouter:
    """GET /admin/analytics (the page) and GET /api/admin/analytics (JSON), viewers and up."""
    router = APIRouter()
    viewer = Depends(staff_gate(services)("viewer"))

    @router.get("/admin/analytics", include_in_schema=False)
    async def analytics_page(request: Request, start: str = "", end: str = "", channel: str = "",
                             session: "StaffSession" = viewer) -> Response:
        def render() -> Response:
            channels = services.analytics_channels()
            try:
                report = services.analytics(parse_day(start, "start"), parse_day(end, "end"), channel)
            except InvalidInput as error:
                body = _filters(None, start, end, channel, channels)
                return page("Analytics · staff console", STYLE + body + f'<div class="error" role="alert">{esc(error)}</div>',
                            status=400, header=staff_header(session, "/admin/analytics"))
            return page("Analytics · staff console", STYLE + _filters(report, start, end, channel, channels)
                        + analytics_body(report), header=staff_header(session, "/admin/analytics"))

        # The queries and the drawing take a while: off the event loop.
        return await run_in_threadpool(render)

    @router.get("/api/admin/analytics", tags=["staff"])
    def analytics_json(session: "StaffSession" = viewer,
                       start: str = Query("", max_length=40, description="First day, e.g. 2026-11-01 (UTC)."),
                       end: str = Query("", max_length=40, description="Last day, included; default today."),
                       channel: str = Query("", max_length=64, description="web, api, widget, ...; empty: all")) -> dict:
        """Analytics for a date range (default: the last 30 days): conversations and turns per day,
        resolution and deflection rates, feedback ratio, top entries and unanswered questions,
        languages, latency p50/p95."""
        return services.analytics(parse_day(start, "start"), parse_day(end, "end"), channel).to_dict()

    return router

