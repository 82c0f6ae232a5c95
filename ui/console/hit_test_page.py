"""The hit-test page (`GET /admin/hit-test?q=…&language=…`, viewer and up): type a question, see
what the bot would do with it — the language, the text retrieved for, the ranked entries with
their scores, the decision and the band it was decided with — without a turn being logged.
One `Services.hit_test` call, the same as `POST /api/admin/hit-test`; a plain GET form (reading
changes nothing, so it needs no CSRF token, and a result can be linked to).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from ui.chat.words import LANGUAGES
from ui.console.auth import staff_gate
from ui.console.html import esc, page, staff_header

if TYPE_CHECKING:
    from chatbot.knowledge_services import HitTestResult
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

PATH = "/admin/hit-test"
LANGUAGE_NAMES = {"": "Detect", "en": "English", "zh": "Chinese"}
# Why the input guard refused a message, in staff's words (chatbot.stages.guard's problems).
REFUSALS = {"empty": "the message is empty", "too_long": "the message is longer than the limit",
            "unreadable": "the message has no readable text",
            "injection": "the message looks like an attempt to override the bot's instructions"}
DECISIONS = {"answer": "Answer", "clarify": "Ask “Did you mean …?”", "abstain": "Abstain and offer a human",
             "refused": "Refused by the input guard"}

STYLE = """<style>
.decision{display:inline-block;border-radius:999px;padding:2px 12px;font-weight:600}
.d-answer{background:#dcfce7;color:#166534}.d-clarify{background:#fef3c7;color:#92400e}
.d-abstain{background:#e5e7eb;color:#374151}.d-refused{background:#fee2e2;color:#991b1b}
.row{display:flex;gap:12px;flex-wrap:wrap;align-items:end}.row .grow{flex:1;min-width:220px}
select{padding:9px 11px;border:1px solid #d1d5db;border-radius:6px;font:inherit;background:#fff}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 16px;margin:12px 0}dt{color:#6b7280}dd{margin:0}
.bar{position:relative;display:inline-block;width:120px;height:10px;background:#f3f4f6;border-radius:5px;
vertical-align:middle;margin-right:8px;overflow:hidden}.bar>span{position:absolute;left:0;top:0;bottom:0}
.z-answer{background:#16a34a}.z-clarify{background:#f59e0b}.z-abstain{background:#9ca3af}
.bar>i{position:absolute;top:0;bottom:0;width:2px;background:#111827}
td.score{white-space:nowrap}td.num{color:#6b7280}
@media (max-width:600px){.bar{width:64px}td.phrasing{display:none}th.phrasing{display:none}}
</style>"""


def _percent(score: float) -> str:
    return f"{max(0.0, min(1.0, score)) * 100:.1f}%"


def _zone(score: float, answer: float, clarify: float) -> str:
    return "answer" if score >= answer else "clarify" if score >= clarify else "abstain"


def _form(text: str, language: str) -> str:
    options = "".join(f'<option value="{code}"{" selected" if code == language else ""}>{esc(name)}</option>'
                      for code, name in LANGUAGE_NAMES.items())
    return (f'<div class="card"><h2>Hit test</h2><p class="muted">What would the bot do with a question? '
            'Nothing is logged and no customer sees it.</p>'
            f'<form method="get" action="{PATH}"><div class="row"><div class="grow">'
            '<label for="q">Question (any language)</label>'
            f'<input type="text" id="q" name="q" value="{esc(text)}" required autofocus></div>'
            f'<div><label for="language">Language</label><select id="language" name="language">{options}</select></div>'
            '<div><button type="submit">Test</button></div></div></form></div>')


def _result(result: "HitTestResult", forced: bool) -> str:
    band = result.band
    named = LANGUAGE_NAMES.get(result.language) if result.language else None
    language = f"{esc(named)} ({esc(result.language)})" if named else f"<code>{esc(result.language)}</code>"
    facts = [("Decision", f'<span class="decision d-{esc(result.action)}">{esc(DECISIONS[result.action])}</span>'),
             ("Language", language + (" — chosen, not detected" if forced else " — detected")),
             ("Retrieved for", f"<code>{esc(result.query or result.text)}</code>"),
             ("Answer line", f"top score ≥ <strong>{band.answer:.3f}</strong>"
                             + (f" and a lead of ≥ {band.margin:.3f} over the next entry" if band.margin else "")),
             ("Clarify line", f"top score ≥ <strong>{band.clarify:.3f}</strong>; below it: abstain")]
    if result.refused:
        facts.insert(1, ("Refused because", esc(REFUSALS.get(result.refused, result.refused))))
    if result.options:
        facts.insert(1, ("Options offered", "<ol>" + "".join(
            f'<li><a href="/admin/entries/{quote(i, safe="")}">{esc(q)}</a></li>' for i, q in result.options) + "</ol>"))
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return f'<div class="card"><h2>What the bot would do</h2><dl>{rows}</dl></div>' + _ranked(result)


def _ranked(result: "HitTestResult") -> str:
    band = result.band
    if not result.hits:
        return '<div class="card"><h2>Ranked entries</h2><p class="muted">No entry was retrieved.</p></div>'
    ticks = f'<i style="left:{_percent(band.clarify)}"></i><i style="left:{_percent(band.answer)}"></i>'
    rows = "".join(
        f'<tr><td class="num">{rank}</td><td><a href="/admin/entries/{quote(entry.id, safe="")}"><code>{esc(entry.id)}'
        f'</code></a><br>{esc(entry.question)}</td><td class="phrasing">{esc(phrasing)}</td>'
        f'<td class="score"><span class="bar" title="the marks: clarify and answer lines"><span class="z-'
        f'{_zone(score, band.answer, band.clarify)}" style="width:{_percent(score)}"></span>{ticks}</span>'
        f"{score:.3f}</td></tr>"
        for rank, (entry, score, phrasing) in enumerate(result.hits, start=1))
    return ('<div class="card"><h2>Ranked entries</h2><div class="scroll"><table><tr><th>#</th><th>Entry</th>'
            f'<th class="phrasing">Matched phrasing</th><th>Score</th></tr>{rows}</table></div>'
            '<p class="muted">The bar’s marks are the clarify and answer lines.</p></div>')


def hit_test_page(services: "Services") -> APIRouter:
    """`GET /admin/hit-test`, bound to `services` (not in the OpenAPI document: a page)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)

    @router.get(PATH)
    def hit_test(request: Request, session: "StaffSession" = Depends(require_role("viewer")),
                 q: str = Query("", max_length=20_000), language: str = Query("", max_length=16)) -> Response:
        """The hit-test form and, for a question, what the bot would do with it."""
        language = language if language in LANGUAGES else ""
        body = STYLE + _form(q, language)
        if q:
            body += _result(services.hit_test(q, language=language or None), forced=bool(language))
        header = staff_header(session, here=PATH)
        return page("Hit test · staff console", body, header=header)

    return router
