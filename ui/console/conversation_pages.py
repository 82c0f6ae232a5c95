"""The console's conversation log pages: the searchable list with its export links, one transcript
with each answer's trace, and privacy deletions (plain HTML, no script; each one service call).

    GET  /admin/conversations?action=handoff&…           filter form, table, CSV/JSONL export links
    GET  /admin/conversations/{id}                       who said what and when; under each answer its
                                                         trace (entries and scores, decision, generator,
                                                         KB version, grounding) and the feedback
    POST /admin/conversations/{id}/delete-visitor-data   admin: reason -> 303 to the record
    GET  /admin/privacy-deletions                        admin: who deleted what, when and why
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from chatbot.conversations.search import ACTIONS, FEEDBACK_CHOICES
from chatbot.conversations.handoff import STATES
from chatbot.errors import InvalidInput
from chatbot.staff.roles import role_allows
from ui.console.auth import staff_gate
from ui.console.html import HEADERS, esc, page
from ui.console.log_look import csrf_field, entry_link, message_block, staff_bar, state_label, tabs, when

if TYPE_CHECKING:
    from chatbot.conversations.feedback import Feedback
    from chatbot.conversations.records import StoredMessage
    from chatbot.conversations.search import ConversationDetail, ConversationListing
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

PAGE_SIZE = 50
FILTERS = ("date_from", "date_to", "language", "channel", "action", "feedback", "text", "state")


def _select(name: str, label: str, choices: list[str] | tuple[str, ...], chosen: str) -> str:
    options = "".join(f'<option value="{esc(c)}"{" selected" if c == chosen else ""}>{esc(c)}</option>' for c in choices)
    return (f'<div><label for="{name}">{esc(label)}</label><select id="{name}" name="{name}">'
            f'<option value="">any</option>{options}</select></div>')


def _filter_form(values: dict[str, str], facets: dict[str, list[str]]) -> str:
    return ('<form method="get" action="/admin/conversations" class="filters">'
            f'<div><label for="date_from">From</label><input type="date" id="date_from" name="date_from" '
            f'value="{esc(values["date_from"])}"></div>'
            f'<div><label for="date_to">To</label><input type="date" id="date_to" name="date_to" '
            f'value="{esc(values["date_to"])}"></div>'
            + _select("language", "Language", facets.get("language", []), values["language"])
            + _select("channel", "Channel", facets.get("channel", []), values["channel"])
            + _select("action", "Action", ACTIONS, values["action"])
            + _select("feedback", "Feedback", FEEDBACK_CHOICES, values["feedback"])
            + _select("state", "State", STATES, values["state"])
            + f'<div><label for="text">Text</label><input type="search" id="text" name="text" maxlength="200" '
              f'value="{esc(values["text"])}"></div>'
            '<div><button type="submit">Filter</button></div></form>')


def _row(c: "ConversationListing") -> str:
    pills = "".join(f'<span class="pill {esc(a)}">{esc(a)}</span>' for a in c.actions)
    state = state_label(c.state, c.held_by)
    votes = (f'<span class="pill up">▲ {c.thumbs_up}</span>' if c.thumbs_up else "") + (
        f'<span class="pill down">▼ {c.thumbs_down}</span>' if c.thumbs_down else "")
    question = esc(c.first_question[:140]) or '<span class="muted">(no question)</span>'
    return (f'<tr><td class="t">{esc(when(c.created_at)[:16])}</td><td class="q"><a href="/admin/conversations/{esc(c.id)}">'
            f'{question}</a></td><td>{state}</td><td>{esc(c.channel)}</td><td>{esc(c.language or "-")}</td>'
            f'<td>{c.turns}</td><td>{pills}</td><td>{votes}</td></tr>')


def _list_page(services: "Services", session: "StaffSession", values: dict[str, str], offset: int) -> Response:
    body = tabs("/admin/conversations", session)
    try:
        criteria = services.conversation_filter(*(values[name] for name in FILTERS))
    except InvalidInput as error:
        body += f'<div class="card"><div class="error" role="alert">{esc(error)}</div>'
        body += _filter_form(values, services.conversation_facets()) + "</div>"
        return page("Conversations · staff console", body, 422, header=staff_bar(session, "/admin/conversations"))
    found = services.search_conversations(criteria, PAGE_SIZE, offset)
    query = {k: v for k, v in values.items() if v}
    exports = " · ".join(f'<a href="/api/admin/conversations/export?{esc(urlencode({**query, "format": f}))}" '
                         f'download>Export {f.upper()}</a>' for f in ("csv", "jsonl"))
    rows = "".join(_row(c) for c in found.conversations)
    table = (f'<div class="scroll"><table class="wide"><tr><th>Started (UTC)</th><th>First question</th><th>State</th>'
             f'<th>Channel</th><th>Lang</th><th>Turns</th><th>Actions</th><th>Feedback</th></tr>{rows}</table></div>'
             if rows else '<p class="muted">No conversation matches these filters.</p>')
    pager = ""
    if found.total > PAGE_SIZE:
        link = lambda at, label: f'<a href="/admin/conversations?{esc(urlencode({**query, "offset": at}))}">{label}</a>'  # noqa: E731
        pager = (f'<div class="pager"><span>{link(max(0, offset - PAGE_SIZE), "← Newer") if offset else ""}</span>'
                 f'<span>{link(offset + PAGE_SIZE, "Older →") if offset + PAGE_SIZE < found.total else ""}</span></div>')
    shown = f"{offset + 1}–{offset + len(found.conversations)} of {found.total}" if found.conversations else "0"
    body += (f'<div class="card"><h2>Conversations</h2>{_filter_form(values, services.conversation_facets())}</div>'
             f'<div class="card"><div class="actions" style="margin:0 0 8px"><strong>{shown}</strong>'
             f'<span class="muted">newest first · one row per turn in exports:</span> {exports}</div>{table}{pager}</div>')
    return page("Conversations · staff console", body, header=staff_bar(session, "/admin/conversations"))


def _trace_block(message: "StoredMessage", feedback: "Feedback | None") -> str:
    trace = message.trace
    if trace is None or message.role != "assistant":
        return ""
    entries = "".join(f"<li>{entry_link(i, trace.kb_version, float(s))}</li>" for i, s in zip(trace.entry_ids, trace.scores))
    grounded = {None: "nothing generated", True: "grounded"}.get(
        trace.grounded, "not grounded: " + "; ".join(trace.grounding_reasons or ["replaced"]))
    said = ""
    if feedback is not None:
        comment = f" “{esc(feedback.comment)}”" if feedback.comment else ""
        said = f'<div>Feedback: <span class="pill {esc(feedback.rating)}">{esc(feedback.rating)}</span>{comment}</div>'
    return (f'<div class="trace"><div><span class="pill {esc(trace.decision)}">{esc(trace.decision)}</span> '
            f'generator {esc(trace.generator or "-")} · KB v{trace.kb_version} · {trace.latency_ms:.0f} ms · {esc(grounded)}</div>'
            f'<div class="muted">searched for: {esc(trace.query) or "-"} ({esc(trace.language or "?")})</div>'
            + (f"<ol>{entries}</ol>" if entries else '<div class="muted">no entries</div>') + said + "</div>")


def _transcript_page(detail: "ConversationDetail", session: "StaffSession") -> Response:
    c = detail.conversation
    messages = "".join(message_block(m.author, m.content, m.created_at,
                                     _trace_block(m, detail.feedback.get(m.trace.id) if m.trace else None))
                       for m in detail.messages)
    facts = (f'<p>Started {esc(when(c.created_at))} UTC · channel {esc(c.channel)} · language {esc(c.language or "-")} · '
             f'{state_label(c.state, c.held_by)} · {c.turns} turn{"" if c.turns == 1 else "s"}{" · contact " + esc(detail.contact_email) if detail.contact_email else ""}'
             f' · <a href="/admin/inbox/{esc(c.id)}">open in the inbox</a></p>')
    delete = ""
    if role_allows(session.user.role, "admin"):
        delete = (f'<div class="card"><h2>Delete this visitor\'s data</h2><p>Deletes this conversation and the same '
                  'visitor\'s other conversations from every table, for good; a record keeps who, when, why and '
                  'how much (never the content).</p>'
                  f'<form method="post" action="/admin/conversations/{esc(c.id)}/delete-visitor-data">{csrf_field(session)}'
                  '<label for="reason">Reason (e.g. the customer\'s request and its date)</label>'
                  '<input type="text" id="reason" name="reason" maxlength="500" required>'
                  '<button type="submit" class="danger">Delete for good</button></form></div>')
    body = (tabs("/admin/conversations", session) + f'<div class="card"><h2>Conversation <code>{esc(c.id)}</code></h2>'
            f'{facts}{messages or "<p class=muted>No messages.</p>"}</div>{delete}')
    return page("Transcript · staff console", body, header=staff_bar(session, "/admin/conversations"))


def _deletions_page(services: "Services", session: "StaffSession") -> Response:
    rows = "".join(f"<tr><td>{esc(when(d.deleted_at))}</td><td>{esc(d.deleted_by)}</td><td>{esc(d.reason)}</td>"
                   f"<td>{esc(d.selected_by)}</td><td>{d.conversations}</td><td>{d.messages}</td><td>{d.turns}</td>"
                   f"<td><code>{esc(d.content_sha256[:16])}…</code></td></tr>" for d in services.privacy_deletions())
    table = (f'<div class="scroll"><table><tr><th>When (UTC)</th><th>By</th><th>Reason</th><th>Selected by</th>'
             f'<th>Conversations</th><th>Messages</th><th>Turns</th><th>SHA-256 of the rows</th></tr>{rows}</table></div>'
             if rows else '<p class="muted">No deletion yet.</p>')
    body = tabs("/admin/privacy-deletions", session) + f'<div class="card"><h2>Privacy deletions</h2>{table}</div>'
    return page("Privacy deletions · staff console", body, header=staff_bar(session, "/admin/conversations"))


def conversation_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)
    viewer, admin = Depends(require_role("viewer")), Depends(require_role("admin"))

    @router.get("/admin/conversations")
    def conversations(request: Request, session: "StaffSession" = viewer) -> Response:
        """Search and filter the logged conversations (page)."""
        params = request.query_params
        values = {name: params.get(name, "")[:200] for name in FILTERS}
        offset = int(params["offset"]) if params.get("offset", "").isdigit() else 0
        return _list_page(services, session, values, offset)

    @router.get("/admin/conversations/{conversation_id}")
    def transcript(conversation_id: str, session: "StaffSession" = viewer) -> Response:
        """One conversation with each answer's trace (page)."""
        return _transcript_page(services.conversation_detail(conversation_id), session)

    @router.post("/admin/conversations/{conversation_id}/delete-visitor-data")
    def delete_visitor_data(conversation_id: str, reason: str = Form(""), session: "StaffSession" = admin) -> Response:
        """Delete the visitor's conversations for good, recorded (form)."""
        services.delete_visitor_data(session.user.name, reason, conversation_id=conversation_id)
        return RedirectResponse("/admin/privacy-deletions", status_code=303, headers=HEADERS)

    @router.get("/admin/privacy-deletions")
    def privacy_deletions(session: "StaffSession" = admin) -> Response:
        """Who deleted which visitor data, when and why (page)."""
        return _deletions_page(services, session)

    return router


def conversation_console(services: "Services") -> APIRouter:
    """Everything of the conversation log in the console, to include in the app in one line: the
    staff API (`conversation_api`), these pages and the inbox's (`inbox_pages`)."""
    from ui.console.conversation_api import conversation_api_router
    from ui.console.inbox_pages import inbox_pages

    router = APIRouter()
    for part in (conversation_api_router(services), conversation_pages(services), inbox_pages(services)):
        router.include_router(part)
    return router
