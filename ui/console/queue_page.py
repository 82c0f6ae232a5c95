"""The console's unanswered queue (`/admin/unanswered`): the groups of similar unanswered
questions, the most asked first, with their dates and languages; editors turn a group into a new
entry or add it to an existing one with one form (the questions they untick stay in the queue).
Plain HTML, no script; the form posts back with the session's CSRF token. Each action is one
service call (`chatbot.staff.queue_services`), the same as the staff API's and the CLI's.

    GET  /admin/unanswered?since=2026-12-01        viewer: the groups (editors also see the forms)
    POST /admin/unanswered/{group}/promote          editor: the form -> 303 back, with what was done
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from chatbot.errors import Conflict, InvalidInput, UnknownItem
from chatbot.staff.roles import role_allows
from ui.console.auth import CSRF_FIELD, staff_gate
from ui.console.html import HEADERS, esc, page, staff_header
from ui.console.queue_routes import since_date

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession
    from chatbot.staff.unanswered import UnansweredGroup

PATH = "/admin/unanswered"
SHOWN_GROUPS = 50  # the page lists the most asked groups; the API and CLI list them all
REASONS = {"abstain": "abstained", "clarify": "clarified", "thumbs_down": "thumbs down", "handoff": "handed off"}
STYLE = """<style>
.group h3{font-size:16px;margin:0 0 4px;overflow-wrap:anywhere}
.count{display:inline-block;min-width:2.2em;text-align:center;background:#fef3c7;color:#92400e;border-radius:999px;
padding:0 8px;margin-right:6px;font-weight:600}
.group ul{margin:8px 0;padding-left:0;list-style:none}
.group li{padding:2px 0;overflow-wrap:anywhere}
.choices{display:grid;grid-template-columns:1fr 1fr;gap:12px 20px;margin-top:8px}
@media (max-width:600px){.choices{grid-template-columns:1fr}}
.choices fieldset{border:1px solid #e5e7eb;border-radius:8px;padding:6px 14px 12px;margin:0;min-width:0}
legend{font-weight:600;font-size:14px;padding:0 4px}
summary{cursor:pointer;color:#1d4ed8;font-weight:600;margin:4px 0}
.choices button{margin-top:10px}
textarea{width:100%;min-height:64px;padding:8px 10px;border:1px solid #d1d5db;border-radius:6px;font:inherit}
.done{background:#ecfdf5;border:1px solid #a7f3d0;color:#065f46;padding:10px 12px;border-radius:6px;margin-bottom:12px}
.filter{display:flex;gap:10px;align-items:end;flex-wrap:wrap}.filter label{margin:0 0 4px}
.filter button{margin:0}input[type=date]{padding:7px 9px;border:1px solid #d1d5db;border-radius:6px;font:inherit}
</style>"""


def _header(session: "StaffSession") -> str:
    return staff_header(session, "/admin/unanswered")


def _form(group: "UnansweredGroup", session: "StaffSession", since: str) -> str:
    """One form, two buttons: add the ticked questions to an existing entry, or make a new one."""
    boxes = "".join(f'<li><label style="font-weight:400;margin:0"><input type="checkbox" name="questions" '
                    f'value="{esc(q)}" checked> {esc(q)}</label></li>' for q in group.questions)
    g = esc(group.group)
    return (f'<form method="post" action="{PATH}/{g}/promote">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(session.csrf_token)}">'
            f'<input type="hidden" name="since" value="{esc(since)}"><ul>{boxes}</ul>'
            '<details><summary>Add to an entry, or make a new one</summary><div class="choices">'
            f'<fieldset><legend>Add to an existing entry</legend><label for="e-{g}">Entry id</label>'
            f'<input type="text" id="e-{g}" name="entry_id" maxlength="128" placeholder="e.g. refunds">'
            '<button type="submit" name="action" value="existing">Add as alternates</button></fieldset>'
            f'<fieldset><legend>Make a new entry</legend><label for="n-{g}">New id</label>'
            f'<input type="text" id="n-{g}" name="new_id" maxlength="128" placeholder="e.g. pay-in-yen">'
            f'<label for="a-{g}">Answer</label><textarea id="a-{g}" name="answer" maxlength="20000"></textarea>'
            '<button type="submit" name="action" value="new">Create the entry</button></fieldset></div></details></form>')


def _group_card(group: "UnansweredGroup", editor: bool, session: "StaffSession", since: str) -> str:
    reasons = ", ".join(f"{n} {REASONS.get(r, r)}" for r, n in sorted(group.reasons.items(), key=lambda x: -x[1]))
    dates = (group.first_seen.strftime("%Y-%m-%d") if group.first_seen.date() == group.last_seen.date()
             else f'{group.first_seen.strftime("%Y-%m-%d")} – {group.last_seen.strftime("%Y-%m-%d")}')
    meta = (f'<p class="muted">asked {group.count}× · {esc(", ".join(group.languages) or "language unknown")} · '
            f'{esc(dates)} · {esc(reasons)} · group <code>{esc(group.group)}</code></p>')
    title = f'<h3><span class="count">{group.count}</span>{esc(group.examples[0])}</h3>'
    if editor:
        return f'<div class="card group">{title}{meta}{_form(group, session, since)}</div>'
    shown = "".join(f"<li>{esc(q)}</li>" for q in group.questions[:10])
    return f'<div class="card group">{title}{meta}<ul>{shown}</ul></div>'


def queue_page(services: "Services", session: "StaffSession", since: str = "", message: str = "",
               error: str = "", status: int = 200) -> Response:
    """The page: a date filter, what the last action did (or why it failed), the groups."""
    groups = services.unanswered_groups(since=since_date(since) if since else None)
    editor = role_allows(session.user.role, "editor")
    notice = (f'<div class="done" role="status">{esc(message)}</div>' if message else "") + \
        (f'<div class="error" role="alert">{esc(error)}</div>' if error else "")
    asked = sum(g.count for g in groups)
    intro = (f'<div class="card">'
             f'<h2>Unanswered questions</h2>{notice}'
             f'<p>{len(groups)} group{"s" if len(groups) != 1 else ""} of similar questions, asked {asked}× in all: '
             'abstained, clarified, given a thumbs down or handed to a human, and not yet labelled. '
             + ("Tick the questions that belong together, then add them to an entry or make a new one; "
                "the bot answers them from then on." if editor else "Editors can turn a group into an entry.")
             + f'</p><form method="get" action="{PATH}" class="filter"><div><label for="since">Since</label>'
             f'<input type="date" id="since" name="since" value="{esc(since)}"></div>'
             '<button type="submit">Filter</button></form></div>')
    cards = "".join(_group_card(g, editor, session, since) for g in groups[:SHOWN_GROUPS])
    if not groups:
        cards = '<div class="card"><p>Nothing waits: every question was answered or labelled.</p></div>'
    return page("Unanswered questions · staff console", STYLE + intro + cards, status, header=_header(session))


def queue_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)

    @router.get(PATH)
    def unanswered(session: "StaffSession" = Depends(require_role("viewer")), since: str = "",
                   promoted: str = "", added: int = 0, labelled: int = 0, created: bool = False) -> Response:
        """The unanswered queue: groups of similar questions, the most asked first."""
        message = (f"Entry {promoted[:128]} {'created' if created else 'updated'}: {added} new phrasings, "
                   f"{labelled} turns labelled." if promoted else "")
        try:
            return queue_page(services, session, since[:40], message)
        except InvalidInput as error:
            return queue_page(services, session, "", error=str(error), status=422)

    @router.post(PATH + "/{group}/promote")
    async def promote(group: str, request: Request,
                      session: "StaffSession" = Depends(require_role("editor"))) -> Response:
        """Promote a group from the page's form, then show the queue again."""
        form = await request.form()
        since = str(form.get("since") or "")[:40]
        action = str(form.get("action") or "")
        questions = [str(q) for q in form.getlist("questions")]
        target = {"entry_id": str(form.get("entry_id") or "").strip() or None} if action == "existing" else \
            {"new_id": str(form.get("new_id") or "").strip() or None, "answer": str(form.get("answer") or "")}
        try:
            if not questions:
                raise InvalidInput("Tick at least one question of the group.")
            if not any(target.values()):
                raise InvalidInput("Give the entry's id." if action == "existing" else "Give the new entry's id.")
            done = await _run(services.promote_group, group, author=session.user.name, questions=questions,
                              since=since_date(since), **target)
        except (InvalidInput, UnknownItem, Conflict) as error:
            status = 404 if isinstance(error, UnknownItem) else 409 if isinstance(error, Conflict) else 422
            return await _run(queue_page, services, session, since, error=str(error), status=status)
        query = urlencode({"since": since, "promoted": done.entry.id, "added": len(done.added),
                           "labelled": done.labelled_turns, "created": done.created})
        return RedirectResponse(f"{PATH}?{query}", status_code=303, headers=HEADERS)

    return router


async def _run(function, *args, **kwargs):
    """A service call off the event loop (it embeds and writes the index)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args, **kwargs)
