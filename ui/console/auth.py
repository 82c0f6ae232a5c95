"""Who is signed in to the console, and may they: the session cookie, the role check every staff
route depends on, and CSRF.

    require_role = staff_gate(services)
    @router.get("/entries")
    def entries(staff: StaffSession = Depends(require_role("viewer"))): ...

The session cookie holds a random token (the store keeps its hash, `chatbot.staff.sessions`):
HttpOnly (page scripts never see it), SameSite=Strict (no other site's request carries it),
Path=/, expiring with the session, Secure when served over HTTPS.

CSRF: every request that is not GET/HEAD/OPTIONS must carry the session's CSRF token, in the
`X-CSRF-Token` header (API) or the `csrf_token` field of a form (pages), compared in constant
time. The sign-in form, which has no session yet, uses a double-submit cookie of its own.
Refusals: an API call without a live session is a 401 (`LoginRefused`), a page one a redirect
to the sign-in form (`SignInFirst`); a role that may not, or a missing CSRF token, is a 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from starlette.concurrency import run_in_threadpool

from chatbot.errors import Forbidden, LoginRefused
from chatbot.staff.roles import ROLES, role_allows

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.staff.sessions import StaffSession

SESSION_COOKIE = "chatbot_staff"
LOGIN_COOKIE = "chatbot_staff_login"  # the sign-in form's double-submit CSRF token
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOGIN_PATH = "/admin/login"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_SESSION = "Sign in first: this needs a staff session (POST /api/admin/login, or the form at /admin/login)."
NO_CSRF = (f"This request needs the session's CSRF token: send it in the {CSRF_HEADER} header "
           "(GET /api/admin/session gives it) or the form's csrf_token field.")


class SignInFirst(Exception):
    """A page asked for without a live session: answered with a redirect to the sign-in form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.location = f"{LOGIN_PATH}?next={quote(next_path, safe='/')}"  # "?", "&", "=" escaped too


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console path, never another site ("//evil", "https://…")."""
    if path and path.startswith("/admin") and not path.startswith("//") and "\\" not in path:
        return path
    return "/admin"


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, session: "StaffSession", max_age_s: int) -> None:
    """Hand the session's token to the browser (see the module's docstring for its attributes)."""
    response.set_cookie(SESSION_COOKIE, session.token, max_age=max_age_s, path="/", httponly=True,
                        samesite="strict", secure=is_secure(request))


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=is_secure(request))


def set_login_cookie(response: Response, request: Request, token: str) -> None:
    """Put the sign-in form's token (also in its hidden field) in its cookie, for an hour."""
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, path=LOGIN_PATH, httponly=True, samesite="strict",
                        secure=is_secure(request))


def login_token_matches(request: Request, presented: str | None) -> bool:
    """Whether the sign-in form's field matches its cookie (constant time)."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    return bool(cookie and presented) and hmac.compare_digest(cookie.encode(), presented.encode())


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token a request carries: the header, else a form's `csrf_token` field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def staff_gate(services: "Services") -> Callable[[str], Callable[[Request], Awaitable["StaffSession"]]]:
    """`require_role`, bound to `services`: `require_role("editor")` is the dependency of a route
    that editors and admins may use. It gives the route the live `StaffSession`."""

    def require_role(role: str) -> Callable[[Request], Awaitable["StaffSession"]]:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")  # a programming error, met at start-up

        async def signed_in_as(request: Request) -> "StaffSession":
            # A database call: off the event loop, as FastAPI runs a sync dependency.
            session = await run_in_threadpool(services.staff_session, request.cookies.get(SESSION_COOKIE))
            is_api = request.url.path.startswith("/api/")
            if session is None:
                if is_api:
                    raise LoginRefused(NO_SESSION)
                # Back to the same page after signing in, its query (a page's filters) included.
                query = request.url.query
                raise SignInFirst(request.url.path + (f"?{query}" if query else ""))
            if not role_allows(session.user.role, role):
                raise Forbidden(f"Your role ({session.user.role}) may not do this: it needs {role} or above.")
            if request.method not in SAFE_METHODS and not session.csrf_matches(await presented_csrf(request)):
                raise Forbidden(NO_CSRF)
            return session

        signed_in_as.required_role = role  # type: ignore[attr-defined]  (read by the route table's test)
        return signed_in_as

    return require_role


def staff_routes(app: FastAPI) -> list[tuple[str, str, str | None, str]]:
    """Every route of `app` under /admin and /api/admin as (method, path, the role its
    `require_role` dependency asks for or None for a public one, its summary): what the landing
    page lists and what the tests check, read from the app itself."""
    found = []
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if not (path == "/admin" or path.startswith(("/admin/", "/api/admin/"))):
            continue
        dependant = getattr(context.original_route, "dependant", None)
        roles = [getattr(d.call, "required_role") for d in (dependant.dependencies if dependant else [])
                 if hasattr(d.call, "required_role")]
        # The docstring's first paragraph, on one line.
        doc = " ".join((getattr(context.endpoint, "__doc__", None) or "").strip().split("\n\n")[0].split())
        for method in sorted(context.methods or ()):
            if method != "HEAD":
                found.append((method, path, roles[0] if roles else None, doc))
    return found
