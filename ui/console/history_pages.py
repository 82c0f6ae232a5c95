"""The console's history pages: an entry's versions with a readable diff and a rollback form per
version, an entry as it was at a KB version (where a logged turn's transcript links), and the
KB's versions with a whole-KB rollback form. Plain HTML; viewers read, editors roll back; each
page is one `chatbot.kb_history_services` call, the one the CLI and the staff API make.

    GET  /admin/entries/{entry_id}/history               versions, newest first, with their diffs
    POST /admin/entries/{entry_id}/rollback              to_version, reason, csrf_token -> 303 to the history
    GET  /admin/entries/{entry_id}/at/{kb_version}       the entry as it was at that KB version
    GET  /admin/kb/versions                              the KB's versions
    POST /admin/kb/rollback                              kb_version, reason, csrf_token -> 303 to the versions
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response

from chatbot.errors import InvalidInput, UnknownItem
from chatbot.staff.roles import role_allows
from ui.console.auth import staff_gate
from ui.console.history_html import HISTORY_STYLE, diff_html, entry_html, message_html, rollback_form, when
from ui.console.html import HEADERS, esc, page, staff_header

if TYPE_CHECKING:
    from chatbot.kb_history_services import EntryHistory, HistoryItem
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

VERSIONS_PAGE = 100


def history_path(entry_id: str) -> str:
    """The history page of `entry_id` (the editor pages and transcripts link here)."""
    return f"/admin/entries/{quote(entry_id, safe='')}/history"


def entry_at_path(entry_id: str, kb_version: int) -> str:
    """The page of `entry_id` as it was at `kb_version` (a logged turn's version)."""
    return f"/admin/entries/{quote(entry_id, safe='')}/at/{int(kb_version)}"


def _crumbs(*parts: str) -> str:
    return f'<p class="crumbs"><a href="/admin">Console</a> › {" › ".join(parts)}</p>'


def _rolled_back_notice(version: int | None) -> str:
    if version is None:
        return ""
    return (f"Rolled back: the change is KB version {version}, and the bot answers with it now." if version
            else "Nothing to roll back: it already says that.")


def _item_html(history: "EntryHistory", item: "HistoryItem", newest: bool, session: "StaffSession") -> str:
    revision = item.revision
    author = esc(revision.author) if revision.author else '<span class="muted">unknown</span>'
    head = (f'<div class="vhead"><span class="badge b-{esc(item.change)}">{esc(item.change)}</span>'
            f'<strong>Version {revision.kb_version}</strong>'
            + (f'<span class="muted">back to what version {item.same_as} said</span>' if item.same_as else "")
            + f'<span class="when">{esc(when(revision.created_at))}</span>'
            f'<span>by <strong>{author}</strong></span>{" <span class=muted>(now)</span>" if newest else ""}</div>')
    reason = f'<p class="reason">Reason: {esc(revision.reason)}</p>' if revision.reason else ""
    if revision.deleted:
        body = '<p class="muted">The entry was deleted; it said what the version before shows.</p>'
    elif item.change in ("created", "recorded"):  # nothing to compare with: the entry as it was
        body = entry_html(revision.entry)
    else:
        body = diff_html(item.fields) or '<p class="muted">No field changed.</p>'

    links = f'<p class="links"><a href="{entry_at_path(history.entry_id, revision.kb_version)}">The whole entry as it was</a></p>'
    form = ""
    if not newest and role_allows(session.user.role, "editor"):
        form = rollback_form(f"/admin/entries/{quote(history.entry_id, safe='')}/rollback", session, "to_version",
                             revision.kb_version, "Roll back to this version")
    return f'<div class="card">{head}{reason}{body}{links}{form}</div>'


def _history_page(services: "Services", session: "StaffSession", entry_id: str, notice: str = "",
                  error: str = "", status: int = 200) -> Response:
    try:
        history = services.entry_history(entry_id)
    except UnknownItem as missing:
        return _problem(session, "Entry history", str(missing), 404)
    current = history.current
    state = (f'Live now at version {current.version}: <a href="/admin/entries/{quote(entry_id, safe="")}">edit it</a>.'
             if current else "Deleted now; roll it back to a version below to bring it back.")
    begins = (f'<p class="muted">Its history was recorded from KB version {history.begins} on; what it said '
              'before is not known.</p>' if history.begins else "")
    items = "".join(_item_html(history, item, index == 0, session) for index, item in enumerate(history.items))
    body = (f'{HISTORY_STYLE}{_crumbs("<a href=/admin/kb/versions>KB versions</a>", f"<code>{esc(entry_id)}</code>")}'
            f'<div class="card"><h2>History of <code>{esc(entry_id)}</code></h2>{message_html(notice, error)}'
            f'<p>{len(history.items)} version{"s" if len(history.items) != 1 else ""}, the newest first. {state}</p>'
            f'{begins}</div>{items}')
    return page(f"History of {entry_id} · staff console", body, status, header=staff_header(session, "/admin/entries"))


def _problem(session: "StaffSession", title: str, message: str, status: int) -> Response:
    body = f'{HISTORY_STYLE}{_crumbs(esc(title))}<div class="card"><h2>{esc(title)}</h2>{message_html(error=message)}</div>'
    return page(f"{title} · staff console", body, status, header=staff_header(session, "/admin/entries"))


def _entry_at_page(services: "Services", session: "StaffSession", entry_id: str, kb_version: int) -> Response:
    history_link = f'<a href="{history_path(entry_id)}">History of <code>{esc(entry_id)}</code></a>'
    try:
        entry = services.entry_at(entry_id, kb_version)
    except UnknownItem as missing:
        body = (f'{HISTORY_STYLE}{_crumbs(history_link, f"version {kb_version}")}<div class="card">'
                f'<h2><code>{esc(entry_id)}</code> at KB version {kb_version}</h2>{message_html(error=str(missing))}</div>')
        return page(f"{entry_id} at version {kb_version} · staff console", body, 404, header=staff_header(session, "/admin/entries"))
    since = ("" if entry.version == kb_version else f" (its content since version {entry.version})")
    body = (f'{HISTORY_STYLE}{_crumbs(history_link, f"version {kb_version}")}<div class="card">'
            f'<h2><code>{esc(entry_id)}</code> at KB version {kb_version}</h2>'
            f'<p class="muted">What the entry said when the knowledge base was at version {kb_version}{esc(since)}; '
            f'written {esc(when(entry.updated_at))}.</p>{entry_html(entry)}</div>')
    return page(f"{entry_id} at version {kb_version} · staff console", body, header=staff_header(session, "/admin/entries"))


def _entry_links(entry_ids: tuple[str, ...], shown: int = 6) -> str:
    """Links to the histories of the entries a version changed (the first `shown` of them)."""
    if not entry_ids:
        return ""
    links = "".join(f'<a href="{history_path(i)}"><code>{esc(i)}</code></a>' for i in entry_ids[:shown])
    more = f'<span class="muted">and {len(entry_ids) - shown} more</span>' if len(entry_ids) > shown else ""
    return f'<div class="ids">{links}{more}</div>'


def _versions_page(services: "Services", session: "StaffSession", offset: int, notice: str = "",
                   error: str = "", status: int = 200) -> Response:
    versions = services.kb_versions(VERSIONS_PAGE + 1, offset)
    more, versions = len(versions) > VERSIONS_PAGE, versions[:VERSIONS_PAGE]
    editor = role_allows(session.user.role, "editor")
    rows = "".join(
        f'<tr><td class="num"><strong>{v.version}</strong></td><td>{esc(when(v.created_at))}</td>'
        f'<td>{esc(v.author) if v.author else "<span class=muted>unknown</span>"}</td><td class="what">{esc(v.summary)}'
        f'{f"<br><em>{esc(v.reason)}</em>" if v.reason else ""}{_entry_links(v.entry_ids)}</td><td class="act">'
        + (f'<details class="rollback"><summary>Roll back to {v.version}…</summary>'
           + rollback_form("/admin/kb/rollback", session, "kb_version", v.version, "Roll the whole KB back to this")
           + "</details>" if editor and not (offset == 0 and index == 0) else "")
        + "</td></tr>" for index, v in enumerate(versions))
    older = (f'<p><a href="/admin/kb/versions?offset={offset + VERSIONS_PAGE}">Older versions</a></p>' if more else "")
    body = (f'{HISTORY_STYLE}{_crumbs("KB versions")}<div class="card"><h2>Knowledge-base versions</h2>'
            f'{message_html(notice, error)}<p class="muted">Every change of the knowledge base, the newest first. '
            'Rolling the whole knowledge base back deletes the entries created since, revives the deleted ones '
            'and restores the changed ones, as one new version. Each entry links to its own history.</p>'
            f'<div class="scroll"><table class="versions"><tr><th>Version</th><th>When</th><th>By</th><th>What changed</th><th></th></tr>'
            f'{rows}</table></div>{older}</div>')
    return page("KB versions · staff console", body, status, header=staff_header(session, "/admin/entries"))


def history_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)
    viewer, editor = Depends(require_role("viewer")), Depends(require_role("editor"))

    @router.get("/admin/entries/{entry_id}/history")
    def entry_history(entry_id: str, rolled_back: int | None = None, session: "StaffSession" = viewer) -> Response:
        """An entry's versions with what each changed, and a rollback form per version."""
        return _history_page(services, session, entry_id, _rolled_back_notice(rolled_back))

    @router.post("/admin/entries/{entry_id}/rollback")
    def rollback_entry(entry_id: str, to_version: int = Form(...), reason: str = Form(""),
                       session: "StaffSession" = editor) -> Response:
        """Roll an entry back to a version (the history page's form)."""
        try:
            result = services.rollback_entry(entry_id, to_version, session.user.name, reason)
        except (UnknownItem, InvalidInput) as refused:
            return _history_page(services, session, entry_id, error=str(refused),
                                 status=404 if isinstance(refused, UnknownItem) else 422)
        return RedirectResponse(f"{history_path(entry_id)}?rolled_back={result.version or 0}", status_code=303,
                                headers=HEADERS)

    @router.get("/admin/entries/{entry_id}/at/{kb_version}")
    def entry_at(entry_id: str, kb_version: int, session: "StaffSession" = viewer) -> Response:
        """An entry as it was at a KB version."""
        return _entry_at_page(services, session, entry_id, kb_version)

    @router.get("/admin/kb/versions")
    def kb_versions(offset: int = 0, rolled_back: int | None = None, session: "StaffSession" = viewer) -> Response:
        """The knowledge base's versions, with a whole-KB rollback form per version."""
        return _versions_page(services, session, max(0, offset), _rolled_back_notice(rolled_back))

    @router.post("/admin/kb/rollback")
    def rollback_kb(kb_version: int = Form(...), reason: str = Form(""), session: "StaffSession" = editor) -> Response:
        """Roll the whole knowledge base back to a version (the versions page's form)."""
        try:
            result = services.rollback_kb(kb_version, session.user.name, reason)
        except (UnknownItem, InvalidInput) as refused:
            return _versions_page(services, session, 0, error=str(refused),
                                  status=404 if isinstance(refused, UnknownItem) else 422)
        return RedirectResponse(f"/admin/kb/versions?rolled_back={result.version or 0}", status_code=303,
                                headers=HEADERS)

    return router
