"""The console's pages: the sign-in form (`/admin/login`), signing out (`POST /admin/logout`) and
the landing page (`/admin`: who is signed in, what the knowledge base and the queue hold, the
staff API their role may call). Plain HTML forms over the same services as the staff API.

    GET  /admin/login?next=/admin      the form (a double-submit CSRF token in a cookie and a field)
    POST /admin/login                  name, password, csrf_token -> 303 to `next`, session cookie set
    POST /admin/logout                 csrf_token -> 303 to the form, session ended
    GET  /admin                        signed in: the landing page; anonymous: 303 to the form
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from chatbot.errors import LoginRefused, TooManyAttempts
from chatbot.staff.roles import role_allows
from ui.console.auth import (CSRF_FIELD, LOGIN_COOKIE, LOGIN_PATH, SESSION_COOKIE, SignInFirst, clear_session_cookie,
                             login_token_matches, safe_next, set_login_cookie, set_session_cookie, staff_gate,
                             staff_routes)
from ui.console.html import HEADERS, esc, page

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

EXPIRED_FORM = "The sign-in form had expired. Please sign in again."


def _login_form(request: Request, next_path: str, message: str = "", status: int = 200,
                headers: dict[str, str] | None = None, name: str = "") -> Response:
    error = f'<div class="error" role="alert">{esc(message)}</div>' if message else ""
    token = secrets.token_urlsafe(32)  # the form's double-submit CSRF token (auth.set_login_cookie)
    body = (f'<div class="card narrow"><h2>Sign in</h2>{error}'
            f'<form method="post" action="{LOGIN_PATH}">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(token)}">'
            f'<input type="hidden" name="next" value="{esc(next_path)}">'
            '<label for="name">Name</label><input type="text" id="name" name="name" autocomplete="username" '
            f'value="{esc(name)}" required{"" if name else " autofocus"}>'
            '<label for="password">Password</label><input type="password" id="password" name="password" '
            f'autocomplete="current-password" required{" autofocus" if name else ""}>'
            '<button type="submit">Sign in</button></form>'
            '<p class="muted">No account yet? An operator creates one with '
            '<code>chatbot user add NAME --role admin|editor|viewer</code>.</p></div>')
    response = page("Sign in · staff console", body, status, headers=headers)
    set_login_cookie(response, request, token)
    return response


def _breakable(path: str) -> str:
    # A long path may wrap after a slash on a phone, not in the middle of a word.
    return esc(path).replace("/", "/<wbr>")


def staff_header(session: "StaffSession") -> str:
    """The top bar's right side on every signed-in page: who, their role, and signing out."""
    user = session.user
    sign_out = (f'<form method="post" action="/admin/logout"><input type="hidden" name="{CSRF_FIELD}" '
                f'value="{esc(session.csrf_token)}"><button type="submit">Sign out</button></form>')
    return f'<span>{esc(user.name)} <span class="role">{esc(user.role)}</span></span>{sign_out}'


def _landing(request: Request, services: "Services", session: "StaffSession") -> Response:
    user = session.user
    entries = services.find_entries(limit=0).total
    waiting = len(services.waiting_conversations())
    rows = "".join(f"<tr><td><code>{esc(m)}</code></td><td><code>{_breakable(p)}</code></td><td>{esc(s)}</td></tr>"
                   for m, p, needed, s in staff_routes(request.app)
                   if p.startswith("/api/") and (needed is None or role_allows(user.role, needed)))
    header = staff_header(session)
    body = (f'<div class="card"><h2>Welcome, {esc(user.name)}</h2>'
            f'<p>You are signed in as <strong>{esc(user.name)}</strong> with the role '
            f'<span class="role">{esc(user.role)}</span>. Your session ends at '
            f'{esc(session.expires_at.strftime("%Y-%m-%d %H:%M"))} UTC.</p>'
            f'<p>The knowledge base holds <strong>{entries}</strong> entries; '
            f'<strong>{waiting}</strong> conversation{"s" if waiting != 1 else ""} wait for a human.</p>'
            '<p class="muted">The editor pages come next; until then, the staff API below does every '
            'change (documented in <a href="/openapi.json">/openapi.json</a>). '
            '<a href="/">Open the customer chat</a>. <a href="/admin/analytics">Analytics</a>: '
            'conversations, resolution, feedback and latency over a date range.</p></div>'
            f'<div class="card"><h2>Staff API for your role</h2><div class="scroll"><table><tr><th>Method</th><th>Path</th>'
            f'<th>What it does</th></tr>{rows}</table></div></div>')
    return page("Staff console", body, header=header)


def console_pages(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (not in the OpenAPI document: they are pages)."""
    router = APIRouter(include_in_schema=False)
    require_role = staff_gate(services)

    @router.get(LOGIN_PATH)
    def login_form(request: Request, next: str = "/admin") -> Response:
        if services.staff_session(request.cookies.get(SESSION_COOKIE)) is not None:
            return RedirectResponse(safe_next(next), status_code=303, headers=HEADERS)
        return _login_form(request, safe_next(next))

    @router.post(LOGIN_PATH)
    def login(request: Request, name: str = Form(""), password: str = Form(""), csrf_token: str = Form(""),
              next: str = Form("/admin")) -> Response:
        target = safe_next(next)
        if not login_token_matches(request, csrf_token):
            return _login_form(request, target, EXPIRED_FORM, status=403)
        address = request.client.host if request.client else ""
        try:
            session = services.sign_in(name, password, address)
        except TooManyAttempts as error:
            return _login_form(request, target, str(error), status=429,
                               headers={"Retry-After": str(error.retry_after_s)}, name=name[:64])
        except LoginRefused as error:
            return _login_form(request, target, str(error), status=401, name=name[:64])
        response = RedirectResponse(target, status_code=303, headers=HEADERS)
        set_session_cookie(response, request, session, services.settings.staff_session_ttl_s)
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, httponly=True, samesite="strict")
        return response

    @router.post("/admin/logout")
    def logout(request: Request, session: "StaffSession" = Depends(require_role("viewer"))) -> Response:
        services.sign_out(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(LOGIN_PATH, status_code=303, headers=HEADERS)
        clear_session_cookie(response, request)
        return response

    @router.get("/admin")
    def landing(request: Request, session: "StaffSession" = Depends(require_role("viewer"))) -> Response:
        return _landing(request, services, session)

    return router


def add_console_handlers(app: FastAPI) -> None:
    """A page asked for without a session redirects to the sign-in form."""

    async def sign_in_first(request: Request, error: SignInFirst) -> Response:
        return RedirectResponse(error.location, status_code=303, headers=HEADERS)

    app.add_exception_handler(SignInFirst, sign_in_first)
