"""The visitor token over HTTP: read from a request, set on a response (DESIGN.md "Conversations
with people in them"; the token's rules are `chatbot.conversations.visitors`').

Browsers carry it as the `chatbot_visitor` cookie (HttpOnly, so page scripts cannot read it;
SameSite=Lax, so other sites' requests do not carry it; Secure over HTTPS), set by `POST /api/ask`
on the first answer of a request that had none. Server-side clients send it as the
`X-Visitor-Token` header instead, which wins when both come.

    >>> token = presented_token(request)     # None, or a well-formed token
    >>> set_visitor_cookie(response, new_visitor_token(), request)
"""

from __future__ import annotations

from fastapi import Request, Response

from chatbot.conversations.visitors import check_visitor_token, is_visitor_token

VISITOR_COOKIE = "chatbot_visitor"
VISITOR_HEADER = "X-Visitor-Token"
# A year: the conversations of a returning visitor stay theirs (the cookie is the only key to them).
COOKIE_MAX_AGE_S = 365 * 24 * 3600


def presented_token(request: Request) -> str | None:
    """The visitor token the request presents: a widget visitor's verified identity's
    (`ui.widget.access`, which checked it), else the `X-Visitor-Token` header (a malformed one is
    `InvalidInput`, a 422: the client sent it on purpose), else the cookie (a malformed cookie is
    ignored, as if absent: a browser may hold a stale one), else None."""
    identified = getattr(request.state, "widget_visitor", None)
    if identified is not None:
        return identified
    header = request.headers.get(VISITOR_HEADER)
    if header is not None:
        return check_visitor_token(header)
    cookie = request.cookies.get(VISITOR_COOKIE)
    return cookie if is_visitor_token(cookie) else None


def set_visitor_cookie(response: Response, token: str, request: Request) -> None:
    """Hand `token` to the browser: HttpOnly, SameSite=Lax, Path=/, Secure when served over HTTPS."""
    response.set_cookie(VISITOR_COOKIE, token, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
