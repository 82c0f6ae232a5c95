"""Gradio's routes that the chat page does not use and that must not be open to anyone.

Gradio serves, for every app, an upload endpoint that accepts files from anyone and a file route
that serves them back (and the files of any allowed path): with no file input on the chat page,
they would only make the help center an anonymous file host. They are answered 404 before Gradio
sees the request, as are its reverse proxy (for Hugging Face Spaces), microphone recordings and
media streams, which the page has no component for either. The chat itself (the page, its
assets and fonts under /static and /assets, the queue and the `/chat` API) is untouched.

    >>> app.add_middleware(ClosedGradioRoutes)   # what ui.server does
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# Prefixes of paths under the chat page's mount ("/"), as Gradio 6 routes them (gradio.routes).
CLOSED_PREFIXES = (
    "/gradio_api/upload",             # POST /upload and GET /upload_progress: anyone's files in
    "/gradio_api/file=",              # uploaded files (and allowed paths) out
    "/gradio_api/file/",
    "/gradio_api/proxy=",             # a reverse proxy to Hugging Face Spaces
    "/gradio_api/process_recording",  # audio uploads from a microphone component
    "/gradio_api/stream/",            # media streams in and out (webcam, HLS playlists)
)


def is_closed(path: str) -> bool:
    """Whether `path` is one of the Gradio routes the server does not serve."""
    return path.startswith(CLOSED_PREFIXES)


class ClosedGradioRoutes:
    """Pure ASGI: answer the paths of `CLOSED_PREFIXES` with a JSON 404, whatever the method."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_closed(scope["path"]):
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)
