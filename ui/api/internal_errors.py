"""The last net: no exception reaches the HTTP server.

An unexpected exception (a bug, a driver error no store translated) is answered as a JSON 500 in
the shape of the door it came through, with an `error_id` that is also in the log, next to the
traceback, logged once. Nothing is re-raised: uvicorn closes a keep-alive connection when the
application raises, even after the response was sent, and in a connection pool shared by many
customers that costs other customers' requests a read error.

Starlette's own `ServerErrorMiddleware` answers a 500 and then raises the error again on purpose
(so that servers log it); `protect` therefore wraps an app's whole middleware stack, outside it:

    >>> protect(app, api_error_body)       # the main app: /api, the chat page, everything mounted
    >>> app.mount("/v1", ErrorNet(openai_app, openai_error_body))

When the response had already started, the net ends it cleanly: a server-sent-event stream gets
an error event and `data: [DONE]`, any other body just ends.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable

from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

UNEXPECTED = "The server failed to answer; the error is logged."
INTERNAL_ERROR = "internal_error"  # the `code` of every such 500
_MARK = "_chatbot_error_id"  # set on an exception once it is logged (and answered)

ErrorBody = Callable[[str, str, str], dict]  # (path, message, error id) -> the JSON body


def logged_error_id(error: BaseException) -> str:
    """The error id of an unexpected `error`: logged with its traceback the first time it is
    met, the same id (and no second log) every later time."""
    found = getattr(error, _MARK, None)
    if found:
        return found
    error_id = uuid.uuid4().hex[:16]
    log.error("unexpected error %s while answering", error_id, exc_info=error)
    mark_answered(error, error_id)
    return error_id


def mark_answered(error: BaseException, error_id: str = "-") -> None:
    """Note that `error` was answered and logged already (a typed error answered as a 503, or an
    unexpected one with its id), so that the net does not log it again when Starlette re-raises it."""
    try:
        setattr(error, _MARK, error_id)
    except AttributeError:  # an exception type with __slots__: logged twice at worst
        pass


def internal_error_body(path: str, message: str, error_id: str) -> dict:
    """The default 500 body, for paths outside /api and /v1 (the chat page's)."""
    return {"error": {"message": message, "code": INTERNAL_ERROR, "error_id": error_id}}


def _sse(data: dict | str) -> bytes:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


class ErrorNet:
    """Pure ASGI: run `app`; an exception it raises is answered by `body(path, message, id)` as a
    500, or ends a started response cleanly; never re-raised."""

    def __init__(self, app: ASGIApp, body: ErrorBody = internal_error_body) -> None:
        self.app, self.body = app, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = ended = event_stream = False

        async def watched(message: Message) -> None:
            nonlocal started, ended, event_stream
            if message["type"] == "http.response.start":
                started = True
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                event_stream = content_type.startswith(b"text/event-stream")
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:  # noqa: BLE001 - the point: nothing reaches the server
            error_id = logged_error_id(error)
            body = self.body(scope.get("path", ""), UNEXPECTED, error_id)
            try:
                if not started:
                    await JSONResponse(body, status_code=500)(scope, receive, send)
                elif not ended:
                    tail = _sse(body) + _sse("[DONE]") if event_stream else b""
                    await send({"type": "http.response.body", "body": tail, "more_body": False})
            except Exception:  # noqa: BLE001 - the client is gone: nothing left to tell it
                log.info("could not send the answer to error %s: the connection is closed", error_id)


def protect(app: Starlette, body: ErrorBody = internal_error_body) -> None:
    """Put an `ErrorNet` around `app`'s whole middleware stack (outside Starlette's
    `ServerErrorMiddleware`, which re-raises), built when the app first serves."""
    build = app.build_middleware_stack

    def build_protected() -> ASGIApp:
        return ErrorNet(build(), body)

    app.build_middleware_stack = build_protected  # type: ignore[method-assign]


def answer_unexpected_errors(app: Starlette, body: ErrorBody = internal_error_body) -> None:
    """Make `app`'s own 500 (Starlette's is plain text) the JSON `body` with a logged error id:
    for a mounted app (the chat page's Gradio app), whose errors its own `ServerErrorMiddleware`
    answers before any outer net sees them."""

    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(body(request.url.path, UNEXPECTED, logged_error_id(error)), status_code=500)

    app.add_exception_handler(Exception, unexpected)
