"""The chat page hands each new visitor their token: a `chatbot_visitor` cookie set on the page
itself, so that the page's turns (Gradio's queue requests carry the cookie) bind the
conversations to the visitor and a reload finds them again (`ui.chat.handlers`).

    >>> app.add_middleware(VisitorCookie)   # what ui.server does

The cookie is the one `POST /api/ask` sets (`ui.api.visitors`): HttpOnly, SameSite=Lax, Path=/,
Secure over HTTPS. A page request that already carries a well-formed one is left alone.
"""

from __future__ import annotations

from fastapi import Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatbot.conversations.visitors import is_visitor_token, new_visitor_token
from ui.api.visitors import VISITOR_COOKIE, set_visitor_cookie

PAGE_PATHS = ("/",)  # the chat page; its assets and API calls need no cookie of their own


class VisitorCookie:
    """Pure ASGI: a GET of the chat page without a valid visitor cookie gets a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in PAGE_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if is_visitor_token(request.cookies.get(VISITOR_COOKIE)):
            await self.app(scope, receive, send)
            return
        carrier = Response()
        set_visitor_cookie(carrier, new_visitor_token(), request)
        cookie = carrier.headers["set-cookie"]

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
