"""The web server: the HTTP API under /api, the OpenAI-compatible API under /v1
(`ui.api.openai_routes`) and the customer chat page at /.

    >>> app = create_app(build_services(load_settings()))   # a FastAPI app; uvicorn serves it
    >>> run_server(services, "127.0.0.1", 7860)              # warm up the models, then serve

    $ curl -s localhost:7860/api/ask -H 'content-type: application/json' \\
           -d '{"message": "How long does shipping take?"}'
    {"answer": "...", "abstained": false, "language": "en", "sources": [...], ...}

Routes only call the application object created at start-up (`Services`); errors a client can
cause get a 4xx with a message that says what to change, a database that is down a 503.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

import gradio as gr
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from chatbot.conversations.database import DatabaseUnavailable, check_database
from ui.chat.app import DEFAULT_TITLE, build_chat_app, chat_theme
from ui.api.openai_routes import create_openai_app
from ui.api.openai_schema import error_json
from ui.api.responses import DATABASE_DOWN, reply_to_json

if TYPE_CHECKING:
    from chatbot.services import Services

log = logging.getLogger(__name__)

# A question is a few hundred bytes; the engine refuses messages over `max_message_chars`
# politely. Bodies past this are refused before they are read into memory.
MAX_BODY_BYTES = 64 * 1024
CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


class AskRequest(BaseModel):
    """One customer turn. Leave `conversation_id` out (or null) to start a conversation."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The customer's message.")
    conversation_id: str | None = Field(default=None, pattern=CONVERSATION_ID_PATTERN,
                                        description="The id a previous answer returned.")


class Source(BaseModel):
    id: str
    question: str
    score: float


class AskResponse(BaseModel):
    """The same object as `chatbot ask --json` (DESIGN.md "Contracts")."""

    answer: str
    abstained: bool
    language: str
    sources: list[Source]
    conversation_id: str
    latency_ms: float


class HealthResponse(BaseModel):
    status: str  # "ok" | "unavailable"
    kb_version: int | None
    entry_count: int | None
    generator: str
    detail: str = ""


def api_router(services: "Services") -> APIRouter:
    """The /api routes, bound to `services`."""
    router = APIRouter(prefix="/api", tags=["api"], max_body_size=MAX_BODY_BYTES)

    @router.get("/health", response_model=HealthResponse)
    def health() -> JSONResponse:
        """Whether the bot can answer: the database is reachable and an index is built."""
        manifest = services.index_store.read_manifest()
        body = HealthResponse(status="ok", kb_version=manifest and manifest.kb_version,
                              entry_count=manifest and manifest.entry_count,
                              generator=services.generator.name)
        try:
            check_database(services.database)
        except DatabaseUnavailable:
            body.status, body.detail = "unavailable", DATABASE_DOWN
        if manifest is None:
            body.status, body.detail = "unavailable", "No search index is built yet: import a knowledge base."
        return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)

    @router.post("/ask", response_model=AskResponse)
    def ask(request: AskRequest) -> dict:
        """Answer one customer turn; the turn is logged under the returned conversation id."""
        try:
            reply = services.engine.respond(request.conversation_id, request.message)
        except ValueError as error:  # a conversation id the store refuses
            raise HTTPException(422, str(error)) from None
        return reply_to_json(reply)

    return router


class ContentLengthLimit:
    """Refuse /api requests whose declared body is over `max_bytes` with a JSON 413, unread.

    FastAPI's own `max_body_size` also counts bodies sent without a length, but answers in
    plain text; this answers the common case in the API's format.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, prefix: str = "/api/",
                 error_body: Callable[[str], dict] = lambda message: {"detail": message}) -> None:
        self.app, self.max_bytes, self.prefix, self.error_body = app, max_bytes, prefix, error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.max_bytes:
                response = JSONResponse(self.error_body(_too_large(self.max_bytes)), status_code=413)
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"Request body too large: the limit is {limit} bytes. Send a shorter message."


async def _database_down(request: Request, error: Exception) -> JSONResponse:
    log.error("database unavailable during %s %s: %s", request.method, request.url.path, error)
    return JSONResponse({"detail": DATABASE_DOWN}, status_code=503)


async def _invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
    # FastAPI's default echoes each bad input back; a 60 KB message need not travel twice.
    errors = [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    detail = _too_large(MAX_BODY_BYTES) if error.status_code == 413 else error.detail
    return JSONResponse({"detail": detail}, status_code=error.status_code,
                        headers=getattr(error, "headers", None))


def create_app(services: "Services", title: str = DEFAULT_TITLE) -> FastAPI:
    """The FastAPI app: /api routes, the OpenAI-compatible API at /v1, then the chat page mounted
    at / (it serves everything else)."""
    app = FastAPI(title=title, summary="Customer-service chatbot API")
    app.include_router(api_router(services))
    openai_app = create_openai_app(services, MAX_BODY_BYTES)
    app.mount("/v1", ContentLengthLimit(openai_app, MAX_BODY_BYTES, prefix="/",
                                        error_body=lambda message: error_json(message, code="request_too_large")))
    app.add_middleware(ContentLengthLimit, max_bytes=MAX_BODY_BYTES)
    for error in (DatabaseUnavailable, OperationalError, InterfaceError):
        app.add_exception_handler(error, _database_down)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Routes registered above take precedence over the mount, which catches every other path.
    return gr.mount_gradio_app(app, build_chat_app(services, title), path="/",
                               footer_links=[], run_history=False, show_error=False,
                               theme=chat_theme())


def run_server(services: "Services", host: str | None = None, port: int | None = None) -> None:
    """Load every model and the index first, then serve until interrupted."""
    import uvicorn

    services.warm_up()
    uvicorn.run(create_app(services), host=host or services.settings.host,
                port=port or services.settings.port)
