"""Every error answer of the HTTP APIs, in one place.

Each typed error of `chatbot.errors` maps once (`error_answer`) to one status, one message and
one code; /api renders it as `{"detail": message}`, /v1 in OpenAI's error shape:

| error | status | /v1 code |
|---|---|---|
| InvalidConversation (unknown id) | 404 | conversation_not_found |
| InvalidInput (cannot be stored, over a limit) | 422 | invalid_input |
| SiteRefused (a widget request its site key does not allow) | 403 | site_refused |
| RateLimited (a widget rate limit) | 429 + Retry-After | rate_limited |
| DatabaseBusy (locked, out of connections; retried first) | 503 + Retry-After | database_busy |
| DatabaseUnavailable (cannot be reached) | 503 | database_unavailable |
| UnknownItem (a staff request's entry or account) | 404 | not_found |
| Conflict (a taken id or name, the last admin) | 409 | conflict |
| LoginRefused (wrong name or password; no live session) | 401 | login_refused |
| Forbidden (the role may not; no CSRF token) | 403 | forbidden |
| TooManyAttempts (failed sign-ins) | 429 + Retry-After | too_many_attempts |

Anything else is a 500 that says the error is logged, with the `error_id` that the log gives its
traceback (code `internal_error`), unless it is a database driver's error that escaped a store:
`typed_database_error` names its type, and it is answered as that type. Whatever still escapes
(a failure inside a started stream, a mounted app's error) is caught by `ui.api.internal_errors`:
no exception reaches the HTTP server.

    >>> add_api_error_handlers(app, MAX_BODY_BYTES)      # what ui.server does for /api
    >>> add_openai_error_handlers(openai_app)            # what ui.api.openai_routes does for /v1
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from chatbot.conversations.database import typed_database_error
from chatbot.errors import (ChatbotError, Conflict, DatabaseBusy, DatabaseUnavailable, Forbidden, InvalidConversation,
                            InvalidInput, LoginRefused, RateLimited, SiteRefused, TooManyAttempts, UnknownItem)
from ui.api.internal_errors import INTERNAL_ERROR, UNEXPECTED, internal_error_body, logged_error_id, mark_answered
from ui.api.openai_schema import error_json

log = logging.getLogger(__name__)
# Most specific first: DatabaseBusy is a DatabaseUnavailable.
_MAPPING: list[tuple[type[ChatbotError], int, str]] = [
    (InvalidConversation, 404, "conversation_not_found"),
    (InvalidInput, 422, "invalid_input"),
    (SiteRefused, 403, "site_refused"),
    (RateLimited, 429, "rate_limited"),
    (DatabaseBusy, 503, "database_busy"),
    (DatabaseUnavailable, 503, "database_unavailable"),
    (UnknownItem, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (LoginRefused, 401, "login_refused"),
    (Forbidden, 403, "forbidden"),
    (TooManyAttempts, 429, "too_many_attempts"),
]


@dataclass(frozen=True)
class ErrorAnswer:
    """How a front door over HTTP answers one error."""

    status: int
    message: str
    code: str
    headers: dict[str, str] = field(default_factory=dict)
    error_id: str = ""  # an unexpected error's id in the log; "" for the typed errors

    @property
    def kind(self) -> str:
        """OpenAI's error `type`."""
        return "server_error" if self.status >= 500 else "invalid_request_error"


def error_answer(error: BaseException) -> ErrorAnswer:
    """The one status, message and code for `error`; logs what the operator must see, once."""
    typed = typed_database_error(error)
    for kind, status, code in _MAPPING:
        if isinstance(typed, kind):
            if status >= 500:  # the operator's message names the database; the client's does not
                log.error("%s: %s", type(typed).__name__, typed)
            mark_answered(error)
            headers = {"Retry-After": str(DatabaseBusy.RETRY_AFTER_S)} if code == "database_busy" else {}
            if isinstance(typed, (TooManyAttempts, RateLimited)):
                headers = {"Retry-After": str(typed.retry_after_s)}
            return ErrorAnswer(status, typed.customer_message, code, headers)
    return ErrorAnswer(500, UNEXPECTED, INTERNAL_ERROR, error_id=logged_error_id(error))


def api_error_body(path: str, message: str, error_id: str) -> dict:
    """/api's shape for an unexpected error, `{"detail", "error_id"}`; the chat page's paths get
    `internal_error_body`'s."""
    if path.startswith("/api/"):
        return {"detail": message, "error_id": error_id}
    return internal_error_body(path, message, error_id)


def openai_error_body(path: str, message: str, error_id: str) -> dict:
    """/v1's shape (OpenAI's error object) for an unexpected error, with its `error_id`."""
    body = error_json(message, "server_error", None, INTERNAL_ERROR)
    body["error"]["error_id"] = error_id
    return body


def too_large_message(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes. Send a shorter message."


class ContentLengthLimit:
    """Refuse requests under `prefix` whose declared body is over `max_bytes` with a JSON 413,
    unread. FastAPI's own `max_body_size` also counts bodies sent without a length, but answers
    in plain text; this answers the common case in the API's format."""

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/api/",
                 error_body: Callable[[str], dict] = lambda message: {"detail": message},
                 own_limits: frozenset[str] = frozenset()) -> None:
        self.app, self.max_bytes, self.prefix, self.error_body = app, max_bytes, prefix, error_body
        self.own_limits = own_limits  # paths that check a limit of their own (uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix) and scope["path"] not in self.own_limits:
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_bytes:
                body = self.error_body(too_large_message(self.max_bytes))
                return await JSONResponse(body, status_code=413)(scope, receive, send)
        await self.app(scope, receive, send)


def add_api_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    """Every error of the /api routes as `{"detail": ...}` with its status."""

    async def typed(request: Request, error: Exception) -> JSONResponse:
        answer = error_answer(error)
        body = api_error_body(request.url.path, answer.message, answer.error_id) if answer.error_id else \
            {"detail": answer.message}
        return JSONResponse(body, status_code=answer.status, headers=answer.headers)

    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each bad input back; a 60 KB message need not travel twice.
        errors = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in error.errors()]
        return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = too_large_message(max_body_bytes) if error.status_code == 413 else error.detail
        return JSONResponse({"detail": detail}, status_code=error.status_code,
                            headers=getattr(error, "headers", None))

    app.add_exception_handler(ChatbotError, typed)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, typed)  # the net: a driver's error, or a bug (500)


class APIError(Exception):
    """An error answer of the /v1 routes: the status and OpenAI's error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.body = status, error_json(message, kind, param, code)


def openai_error_json(error: BaseException) -> tuple[ErrorAnswer, dict]:
    """`error`'s answer and OpenAI's error object for it (also sent inside a started stream)."""
    answer = error_answer(error)
    if answer.error_id:
        return answer, openai_error_body("", answer.message, answer.error_id)
    return answer, error_json(answer.message, answer.kind, None, answer.code)


def add_openai_error_handlers(app: FastAPI) -> None:
    """Every error of the /v1 app in OpenAI's error shape."""

    def answer(status: int, body: dict, headers: dict | None = None) -> JSONResponse:
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(APIError)
    async def api_error(request: Request, error: APIError) -> JSONResponse:
        return answer(error.status, error.body)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        # The first problem, with where it is ("messages.1.role"); inputs are not echoed back.
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            return answer(400, error_json("The body is not valid JSON.", code="invalid_json"))
        param = ".".join(str(part) for part in first["loc"][1:]) or None
        message = f"{param}: {first['msg']}" if param else first["msg"]
        return answer(400, error_json(message, param=param))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        messages = {413: "The request body is too large. Send a shorter message.",
                    404: f"Unknown path {request.url.path}: the API has /v1/chat/completions and /v1/models."}
        body = error_json(messages.get(error.status_code, str(error.detail)), code=f"http_{error.status_code}")
        return answer(error.status_code, body, getattr(error, "headers", None))

    async def typed(request: Request, error: Exception) -> JSONResponse:
        found, body = openai_error_json(error)
        return answer(found.status, body, found.headers)

    app.add_exception_handler(ChatbotError, typed)
    app.add_exception_handler(Exception, typed)  # the net: a driver's error, or a bug (500)
