"""The widget's routes: the embed script, the page it frames and that page's files, and the one
API route of its own.

    GET /widget.js                              the embed (static, cacheable, ≤ 20 KB)
    GET /widget/chat?site_key=KEY[&lang&title&greeting&color]
                                                the framed page: 403 unless loaded by a page of
                                                one of the site's origins (its Referer)
    GET /widget/frame.js, /widget/frame.css     the framed page's script and style
    GET /api/widget/conversation                the visitor's latest conversation (widget only)

How a frame load is checked: the browser sends the embedding page's origin as the iframe
request's Referer (`widget.js` sets `referrerpolicy="origin"` on the iframe so that a host page's
own policy cannot drop it); the server refuses an unknown or removed key and any other origin,
and hands an allowed load a widget session signed for that origin (`chatbot.sites.rules`), which
the page's API calls present. Browsers enforce the same origins with the page's
`Content-Security-Policy: frame-ancestors`, so a page elsewhere cannot frame it at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from chatbot.errors import SiteRefused
from chatbot.sites.rules import origin_of
from ui.api.visitors import presented_token
from ui.widget.access import widget_access
from ui.widget.page import frame_config, frame_headers, frame_html, frame_language, refused_html

if TYPE_CHECKING:
    from chatbot.services import Services

STATIC = Path(__file__).resolve().parent / "static"
# Small files, read once at start-up (the app is rebuilt to ship new ones).
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSET_CACHE = "public, max-age=3600"


def _asset(name: str) -> Response:
    path = STATIC / name
    return Response(path.read_bytes(), media_type=_TYPES[path.suffix],
                    headers={"Cache-Control": ASSET_CACHE, "X-Content-Type-Options": "nosniff"})


def widget_router(services: "Services") -> APIRouter:
    """The page routes above (the API route is in `widget_api_router`)."""
    router = APIRouter(tags=["widget"])
    files = {name: _asset(name) for name in ("widget.js", "frame.js", "frame.css")}

    @router.get("/widget.js", include_in_schema=False)
    def embed_script() -> Response:
        return files["widget.js"]

    @router.get("/widget/frame.js", include_in_schema=False)
    def frame_script() -> Response:
        return files["frame.js"]

    @router.get("/widget/frame.css", include_in_schema=False)
    def frame_style() -> Response:
        return files["frame.css"]

    @router.get("/widget/chat", include_in_schema=False)
    def framed_page(request: Request, site_key: str = Query(""), lang: str | None = None,
                    title: str | None = None, greeting: str | None = None, color: str | None = None) -> Response:
        embedding = origin_of(request.headers.get("referer"))
        try:
            site, session = services.open_widget(site_key, embedding)
        except SiteRefused as refused:
            return HTMLResponse(refused_html(refused.customer_message), status_code=403, headers=frame_headers(None))
        language = frame_language(lang, request.headers.get("accept-language"))
        config = frame_config(site.key, session, embedding or "", language, services.suggested_questions(language),
                              services.settings.max_message_chars, title,
                              greeting or services.greeting(language), color)  # the site's, else staff's
        return HTMLResponse(frame_html(config), headers=frame_headers(site.origins))

    return router


def widget_api_router(services: "Services") -> APIRouter:
    """`GET /api/widget/conversation`, included under /api with the widget's checks."""
    router = APIRouter(prefix="/widget", tags=["widget"])

    @router.get("/conversation")
    def latest(request: Request, response: Response) -> dict:
        """The conversation the widget's visitor (or verified user, on any device) was last active
        in, to show again; null for none. Only for the widget (`X-Site-Key`): a 403 otherwise."""
        access = widget_access(request)
        if access is None:
            raise SiteRefused("Only the chat widget may ask this: send its X-Site-Key and session.")
        response.headers["Cache-Control"] = "no-store"
        return {"conversation_id": services.latest_conversation_for_visitor(presented_token(request)),
                "identified": getattr(request.state, "widget_visitor", None) is not None}

    return router
