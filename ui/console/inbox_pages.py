"""The hand-off inbox pages: conversations waiting for a human (the longest waiting first) with the
customer's question and what the bot found, then those staff hold; one conversation's live
messages, and the forms to take it, reply (the customer's page shows it at its next poll) and
release it to the bot. Viewers see everything and no form; the routes refuse them on the server.

    GET  /admin/inbox                      the queue; refreshes itself every INBOX_REFRESH_S
    GET  /admin/inbox/{id}                 the conversation: live messages (a framed page) and forms
    GET  /admin/inbox/{id}/messages        the framed message list; refreshes every MESSAGES_REFRESH_S
    POST /admin/inbox/{id}/take | reply | release     editor: -> 303 back to the conversation

No script: the pages refresh with <meta http-equiv="refresh">. The reply form sits outside the
refreshing frame, so a reply being typed is never lost to a refresh.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response

from chatbot.errors import InvalidInput
from chatbot.staff.roles import role_allows
from ui.console.auth import staff_gate
from ui.console.html import HEADERS, esc, page
from ui.console.log_look import (FRAMED_HEADERS, FRAMING_CSP, LOG_STYLE, csrf_field, entry_link, message_block,
                                 post_button, staff_bar, state_label, tabs, waited)

if TYPE_CHECKING:
    from chatbot.conversations.inbox import InboxItem
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

INBOX_REFRESH_S = 5
MESSAGES_REFRESH_S = 3
FRAME_MESSAGES = 100  # the newest messages the live frame shows


def _refresh(seconds: int) -> str:
    return f'<meta http-equiv="refresh" content="{seconds}">'


def _found(item: "InboxItem") -> str:
    if not item.found:
        return '<div class="muted">The bot found no entry for this conversation.</div>'
    links = ", ".join(entry_link(i, item.kb_version, s) for i, s in item.found[:3])
    return f'<div>The bot found for <em>{esc(item.found_for)}</em>: {links}</div>'


def _item_card(item: "InboxItem", session: "StaffSession", now: datetime) -> str:
    if item.state == "waiting":
        status = f'<span class="pill waiting">waiting {esc(waited(item.since, now))}</span>'
    else:
        status = f'<span class="pill human">held by {esc(item.held_by or "?")}</span>'
    forms = f'<a href="/admin/inbox/{esc(item.id)}">Open</a>'
    if role_allows(session.user.role, "editor") and item.held_by != session.user.name:
        forms += post_button(f"/admin/inbox/{item.id}/take", "Take", session)
    contact = f" · contact {esc(item.contact_email)}" if item.contact_email else ""
    return (f'<div class="card item"><div>{status} <span class="muted">{esc(item.channel)} · {esc(item.language or "-")}'
            f'{contact}</span></div><div class="quote">{esc(item.question) or "<span class=muted>(no message)</span>"}</div>'
            f'{_found(item)}<div class="actions">{forms}</div></div>')


def _inbox_page(services: "Services", session: "StaffSession") -> Response:
    now = datetime.now(timezone.utc)
    items = services.inbox()
    waiting = [i for i in items if i.state == "waiting"]
    held = [i for i in items if i.state != "waiting"]
    read_only = "" if role_allows(session.user.role, "editor") else (
        '<p class="notice">You are a viewer: you see the inbox, and editors answer.</p>')
    body = (_refresh(INBOX_REFRESH_S) + tabs("/admin/inbox", session) + read_only
            + f"<h2>Waiting for a human ({len(waiting)})</h2>"
            + ("".join(_item_card(i, session, now) for i in waiting) or '<p class="muted">Nobody is waiting.</p>')
            + f"<h2>Held by staff ({len(held)})</h2>"
            + ("".join(_item_card(i, session, now) for i in held) or '<p class="muted">None.</p>'))
    return page("Inbox · staff console", body, header=staff_bar(session, "/admin/inbox"))


def _conversation_page(services: "Services", session: "StaffSession", conversation_id: str,
                       error: str = "", draft: str = "") -> Response:
    detail = services.conversation_detail(conversation_id)  # InvalidConversation: 404
    c = detail.conversation
    forms = ""
    if role_allows(session.user.role, "editor"):
        alert = f'<div class="error" role="alert">{esc(error)}</div>' if error else ""
        take = "" if c.held_by == session.user.name else post_button(f"/admin/inbox/{c.id}/take", "Take", session)
        release = post_button(f"/admin/inbox/{c.id}/release", "Release to the bot", session, "quiet") \
            if c.state != "bot" else ""
        forms = (f'<div class="card">{alert}<form method="post" action="/admin/inbox/{esc(c.id)}/reply" id="reply-form">'
                 f'{csrf_field(session)}<label for="reply">Reply to the customer as {esc(session.user.name)}</label>'
                 f'<textarea id="reply" name="text" maxlength="4000" required>{esc(draft)}</textarea></form>'
                 f'<div class="actions"><button type="submit" form="reply-form">Send</button>{take}{release}</div></div>')
    body = (tabs("/admin/inbox", session)
            + f'<div class="card"><h2>Conversation {state_label(c.state, c.held_by)}</h2>'
            f'<p class="muted">{esc(c.channel)} · {esc(c.language or "-")} · <a href="/admin/conversations/{esc(c.id)}">'
            f'transcript with traces</a></p>'
            f'<iframe class="live" src="/admin/inbox/{esc(c.id)}/messages" title="Messages"></iframe></div>{forms}')
    return page("Inbox · staff console", body, 422 if error else 200, header=staff_bar(session, "/admin/inbox"),
                headers={"Content-Security-Policy": FRAMING_CSP})


def _messages_frame(services: "Services", conversation_id: str) -> Response:
    detail = services.conversation_detail(conversation_id)
    newest_first = "".join(message_block(m.author, m.content, m.created_at)
                           for m in reversed(detail.messages[-FRAME_MESSAGES:]))
    # column-reverse: the newest message (first in the markup) sits at the bottom, and the list
    # opens scrolled to it after every refresh.
    document = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{_refresh(MESSAGES_REFRESH_S)}'
                f'{LOG_STYLE}<style>body{{margin:0;font:14px/1.45 system-ui,sans-serif;color:#111827}}'
                '.list{display:flex;flex-direction:column-reverse;height:100vh;overflow-y:auto;padding:0 10px}</style>'
                f'</head><body><div class="list">{newest_first or "<p>No messages yet.</p>"}</div></body></html>')
    return Response(document, media_type="text/html", headers={**HEADERS, **FRAMED_HEADERS})


def inbox_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)
    viewer, editor = Depends(require_role("viewer")), Depends(require_role("editor"))

    def back(conversation_id: str) -> Response:
        return RedirectResponse(f"/admin/inbox/{conversation_id}", status_code=303, headers=HEADERS)

    @router.get("/admin/inbox")
    def inbox(session: "StaffSession" = viewer) -> Response:
        """Conversations waiting for a human, then held ones (page)."""
        return _inbox_page(services, session)

    @router.get("/admin/inbox/{conversation_id}")
    def conversation(conversation_id: str, session: "StaffSession" = viewer) -> Response:
        """One conversation of the inbox, with its forms for editors (page)."""
        return _conversation_page(services, session, conversation_id)

    @router.get("/admin/inbox/{conversation_id}/messages")
    def messages(conversation_id: str, session: "StaffSession" = viewer) -> Response:
        """The conversation's messages, refreshing themselves (framed page)."""
        return _messages_frame(services, conversation_id)

    @router.post("/admin/inbox/{conversation_id}/take")
    def take(conversation_id: str, session: "StaffSession" = editor) -> Response:
        """Hold the conversation as the signed-in staff member (form)."""
        services.take_conversation(conversation_id, session.user.name)
        return back(conversation_id)

    @router.post("/admin/inbox/{conversation_id}/reply")
    def reply(conversation_id: str, text: str = Form(""), session: "StaffSession" = editor) -> Response:
        """Send a message to the customer (and hold the conversation) (form)."""
        try:
            services.staff_reply(conversation_id, session.user.name, text)
        except InvalidInput as error:  # empty or too long: the form again, with the draft kept
            return _conversation_page(services, session, conversation_id, str(error), text[:4000])
        return back(conversation_id)

    @router.post("/admin/inbox/{conversation_id}/release")
    def release(conversation_id: str, session: "StaffSession" = editor) -> Response:
        """Give the conversation back to the bot (form)."""
        services.release_conversation(conversation_id)
        return RedirectResponse("/admin/inbox", status_code=303, headers=HEADERS)

    return router
