"""The knowledge-base editor's pages: search and filter the entries, create, edit and delete one,
export them all. Plain HTML forms (no script), each action one `chatbot` service call, the same
the staff API and the CLI make; the index follows every change before the page answers.

    GET  /admin/entries?text=&category=&language=&tag=&page=   viewer: search, filters, a page of 25
    GET  /admin/entries/export?format=csv|tsv|json|jsonl|xlsx  editor: the whole KB as a download
    GET  /admin/entries/new, POST the same                    editor: the form, then create
    GET  /admin/entries/{entry_id}                            viewer: the entry (editors: its form)
    POST /admin/entries/{entry_id}                            editor: save the form
    POST /admin/entries/{entry_id}/delete                     editor: delete (confirmed in the page)

A form that cannot be saved comes back with what was wrong and everything as typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from chatbot.errors import Conflict, InvalidInput, UnknownItem
from chatbot.staff.roles import role_allows
from ui.console.auth import staff_gate
from ui.console.entry_views import (EDITOR_STYLE, FIELDS, PAGE_SIZE, EntryForm, editor_tools, entries_table,
                                    entry_form, entry_path, search_form)
from ui.console.html import HEADERS, esc, page, staff_header

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

# An entry's form is at most 20,000 characters of answer and a few short fields: far below this.
MAX_FORM_BYTES = 1024 * 1024


def _editor_page(title: str, body: str, session: "StaffSession", status: int = 200) -> Response:
    return page(f"{title} · staff console", EDITOR_STYLE + body, status, header=staff_header(session, "/admin/entries"))


def _see_other(path: str) -> Response:
    return RedirectResponse(path, status_code=303, headers=HEADERS)


async def _typed_form(request: Request) -> EntryForm:
    """The entry form's fields as typed (the CSRF check has read the form already)."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    return EntryForm(text("id"), {name: text(name) for name, *_ in FIELDS}, text("reason"))


def entry_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False, max_body_size=MAX_FORM_BYTES)
    require_role = staff_gate(services)
    viewer, editor = Depends(require_role("viewer")), Depends(require_role("editor"))

    @router.get("/admin/entries")
    def entries(session: "StaffSession" = viewer, text: str = Query("", max_length=200),
                category: str = Query("", max_length=200), language: str = Query("", max_length=16),
                tag: str = Query("", max_length=100), page: int = Query(1, ge=1, le=100_000),
                deleted: str = Query("", max_length=128)) -> Response:
        """Search and filter the entries."""
        filters = {"text": text, "category": category, "language": language, "tag": tag}
        found = services.find_entries(text, category, language, tag, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        tools = editor_tools() if role_allows(session.user.role, "editor") else ""
        notice = f'<div class="notice" role="status">Entry {esc(deleted)} was deleted.</div>' if deleted else ""
        body = (f'<div class="card"><h2>Knowledge base</h2>{notice}{tools}'
                f'{search_form(filters, services.entry_choices())}</div>'
                f'<div class="card">{entries_table(found.entries, found.total, page, filters)}</div>')
        return _editor_page("Knowledge base", body, session)

    @router.get("/admin/entries/export")
    def export(session: "StaffSession" = editor, format: str = Query("csv", max_length=10)) -> Response:
        """Download every entry as CSV, TSV, JSON, JSONL or XLSX (what an import reads back)."""
        exported = services.export_entries(format)
        return Response(exported.content, media_type=exported.media_type,
                        headers={**HEADERS, "Content-Disposition": f'attachment; filename="{exported.name}"'})

    @router.get("/admin/entries/new")
    def new_form(session: "StaffSession" = editor) -> Response:
        """The form for a new entry."""
        return _editor_page("New entry", entry_form(EntryForm(), session.csrf_token, new=True, may_edit=True), session)

    @router.post("/admin/entries/new")
    async def create(request: Request, session: "StaffSession" = editor) -> Response:
        """Create the entry the form describes; the index follows before the answer."""
        form = await _typed_form(request)
        try:
            created = await run_in_threadpool(services.create_entry, form.entry(), author=session.user.name,
                                              reason=form.reason)
        except (InvalidInput, Conflict) as error:
            status = 409 if isinstance(error, Conflict) else 422
            return _editor_page("New entry", entry_form(form, session.csrf_token, new=True, may_edit=True,
                                                        error=str(error)), session, status)
        return _see_other(f"{entry_path(created.id)}?saved=1")

    @router.get("/admin/entries/{entry_id}")
    def show(entry_id: str, session: "StaffSession" = viewer, saved: int = Query(0, ge=0, le=1)) -> Response:
        """One entry: its form for editors, read-only for viewers."""
        try:
            entry = services.entry(entry_id)
        except UnknownItem as error:
            return _missing(entry_id, error, session)
        notice = "Saved. The bot answers with this version from now on." if saved else ""
        body = entry_form(EntryForm.of(entry), session.csrf_token, new=False,
                          may_edit=role_allows(session.user.role, "editor"), notice=notice, version=entry.version)
        return _editor_page(f"Entry {entry_id}", body, session)

    @router.post("/admin/entries/{entry_id}")
    async def save(entry_id: str, request: Request, session: "StaffSession" = editor) -> Response:
        """Save the form over entry `entry_id`; the index follows before the answer."""
        form = await _typed_form(request)
        form.id = entry_id
        try:
            await run_in_threadpool(services.update_entry, entry_id, form.entry(), author=session.user.name,
                                    reason=form.reason)
        except UnknownItem as error:
            return _missing(entry_id, error, session)
        except InvalidInput as error:
            version = (await run_in_threadpool(services.entry, entry_id)).version
            body = entry_form(form, session.csrf_token, new=False, may_edit=True, error=str(error), version=version)
            return _editor_page(f"Entry {entry_id}", body, session, 422)
        return _see_other(f"{entry_path(entry_id)}?saved=1")

    @router.post("/admin/entries/{entry_id}/delete")
    def delete(entry_id: str, session: "StaffSession" = editor) -> Response:
        """Delete entry `entry_id` (the page asked first); the index follows before the answer."""
        try:
            services.delete_entry(entry_id, author=session.user.name)
        except UnknownItem as error:
            return _missing(entry_id, error, session)
        return _see_other(f"/admin/entries?{urlencode({'deleted': entry_id})}")

    return router


def _missing(entry_id: str, error: UnknownItem, session: "StaffSession") -> Response:
    body = (f'<div class="card"><h2>No such entry</h2><div class="error" role="alert">{esc(error)}</div>'
            '<p>It may have been deleted. <a href="/admin/entries">Search the entries</a>.</p></div>')
    return _editor_page("No such entry", body, session, 404)
