"""Uploads of knowledge-base files (the import page and POST /api/admin/imports): the size limit,
checked on the declared length before anything is read, and the files of a multipart form.

The limit is `CHATBOT_MAX_UPLOAD_BYTES` for all the files of one import (the service counts the
bytes again as it saves them). An upload over it is refused at once: the API with a JSON 413,
the page with a page that says the limit. `upload_gate` must come before `require_role` in a
route's parameters: the CSRF check reads the form, and an upload must not be read to be refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from chatbot.import_jobs import MAX_FILES, Upload, readable_size
from ui.console.html import esc, page

if TYPE_CHECKING:
    from chatbot.services import Services

# Room for the multipart framing and the form's other fields, on top of the files' bytes.
FORM_OVERHEAD_BYTES = 64 * 1024
FILES_FIELD = "files"
# The routes that take uploads: the app-wide body limit of /api leaves them to `upload_gate`.
UPLOAD_PATHS = frozenset({"/admin/imports", "/api/admin/imports"})


class UploadRefused(Exception):
    """An upload refused before it was read: too large, or sent without its length."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def upload_gate(services: "Services") -> Callable[[Request], None]:
    """The dependency that refuses an upload over the limit, from its Content-Length."""

    def within_limit(request: Request) -> None:
        limit = services.settings.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if not declared.isdigit():
            if "transfer-encoding" in request.headers:  # a body of unknown length: it might be any size
                raise UploadRefused("Send the upload with its Content-Length (browsers and HTTP clients do).", 411)
            return  # no body at all
        if int(declared) > limit + FORM_OVERHEAD_BYTES:
            raise UploadRefused(f"The upload is {readable_size(int(declared))}, over the {readable_size(limit)} limit of "
                                f"one import: import fewer or smaller files at a time.", 413)

    return within_limit


async def uploaded_files(request: Request) -> list[Upload]:
    """The files of the request's multipart form (field `files`, any number); a file input left
    empty is no file. Up to `MAX_FILES` + 1 are read, so the service can say there are too many."""
    form = await request.form(max_files=MAX_FILES + 1)
    return [Upload(item.filename or "", item.file) for item in form.getlist(FILES_FIELD)
            if isinstance(item, UploadFile) and (item.filename or item.size)]


def add_upload_handlers(app: FastAPI) -> None:
    """A refused upload: JSON under /api, a page that says why elsewhere."""

    async def refused(request: Request, error: UploadRefused) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(error)}, status_code=error.status)
        body = (f'<div class="card"><h2>Upload refused</h2><div class="error" role="alert">{esc(error)}</div>'
                '<p><a href="/admin/imports">Back to the import form</a></p></div>')
        return page("Upload refused · staff console", body, error.status)

    app.add_exception_handler(UploadRefused, refused)
