"""The checks of the widget's API calls: a request with an `X-Site-Key` header is the widget's
(the framed page sends it with every call) and must pass them all before its route runs.

| header | what it is |
|---|---|
| `X-Site-Key` | the site's public key (`data-site-key`) |
| `X-Widget-Session` | the session the framed page was handed when it loaded (`chatbot.sites.rules`) |
| `X-Visitor-Token` | the visitor's token, kept in the frame's own localStorage |
| `X-Widget-User`, `X-Widget-Signature` | an identity the site signed (`SupportChat.identify`) |

An unknown or removed key, a missing, forged or expired session, a session whose origin is no
longer allowed, or an `Origin` header that is neither the framed page's nor one of the site's is
a 403 (`SiteRefused`). A valid identity replaces the visitor token by the identity's; an invalid
one is ignored. Writes (POST) pass the rate limits (`ui.widget.rate_limits`): a 429 otherwise.

    >>> app.include_router(api_router(services), dependencies=[Depends(widget_guard(services))])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import Request

from chatbot.conversations.visitors import is_visitor_token, visitor_hash
from chatbot.sites.rules import origin_of
from ui.widget.rate_limits import WidgetLimits

if TYPE_CHECKING:
    from chatbot.services import Services
    from chatbot.site_services import WidgetAccess

SITE_HEADER = "X-Site-Key"
SESSION_HEADER = "X-Widget-Session"
USER_HEADER = "X-Widget-User"
SIGNATURE_HEADER = "X-Widget-Signature"


def own_origin(request: Request) -> str:
    """The origin this server is reached at (the framed page's, hence its calls' Origin)."""
    return origin_of(f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}") or ""


def widget_access(request: Request) -> "WidgetAccess | None":
    """The checked widget access of this request (`widget_guard` set it), or None: not the widget."""
    return getattr(request.state, "widget", None)


def widget_guard(services: "Services", limits: WidgetLimits | None = None) -> Callable[[Request], None]:
    """A FastAPI dependency for the /api routes: the checks above, for requests with `X-Site-Key`;
    other requests pass untouched. `limits`: by default from the settings, made at the first
    widget request (an app that never serves the widget needs none)."""
    made: list[WidgetLimits] = [limits] if limits is not None else []

    def guard(request: Request) -> None:
        key = request.headers.get(SITE_HEADER)
        if key is None:
            return
        access = services.widget_access(key, request.headers.get(SESSION_HEADER),
                                        origin_of(request.headers.get("origin")), own_origin(request))
        request.state.widget = access
        user = request.headers.get(USER_HEADER)
        identity = services.widget_visitor(access.site, user, request.headers.get(SIGNATURE_HEADER)) if user else None
        if identity is not None:
            request.state.widget_visitor = identity  # read by ui.api.visitors.presented_token
        if request.method == "POST":
            token = identity or request.headers.get("X-Visitor-Token")
            address = request.client.host if request.client else "unknown"
            visitor = visitor_hash(token) if is_visitor_token(token) else f"address:{address}"
            if not made:
                made.append(WidgetLimits.from_settings(services.settings))
            made[0].hit(visitor=visitor, address=address, site=access.site.key)

    return guard
