"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`, answered by the
whole engine (guard, retrieval, decision, generation, logging), so that any OpenAI client or
chat front-end can talk to the bot.

    >>> app.mount("/v1", create_openai_app(services))          # what ui.server does

    $ curl -s localhost:7860/v1/chat/completions -H 'content-type: application/json' \\
           -d '{"model": "support-chatbot", "messages": [{"role": "user", "content": "Where is my order?"}]}'

The last message is the customer's turn. A conversation named by the `X-Conversation-Id` header
(or the `user` field) is continued with its stored history; without one, the request's earlier
messages are the history and a new conversation is logged, its id in the `X-Conversation-Id`
response header and the `conversation_id` field. Errors come in OpenAI's error shape: 400 for a
request that makes no turn, 413 for a message over `CHATBOT_MAX_MESSAGE_CHARS` or a body over
the size limit, 503 when the database is down.

A separate FastAPI app, mounted at /v1, so that its errors keep OpenAI's shape while /api keeps
its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatbot.conversations.database import DatabaseUnavailable
from chatbot.messages import Reply
from ui.api.openai_schema import (
    MODEL_ID,
    ChatCompletionRequest,
    ChunkWriter,
    TurnError,
    completion_json,
    count_tokens,
    error_json,
    reply_fields,
    server_sent_event,
    split_turn,
    usage,
)
from ui.api.responses import DATABASE_DOWN

if TYPE_CHECKING:
    from chatbot.services import Services

log = logging.getLogger(__name__)

class APIError(Exception):
    """An error answer: the status and OpenAI's error object."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.body = status, error_json(message, kind, param, code)


def create_openai_app(services: "Services", max_body_bytes: int = 64 * 1024) -> FastAPI:
    """The /v1 app bound to `services`. Bodies over `max_body_bytes` get a 413 (the server's
    middleware refuses declared lengths before reading; this limit also counts chunked bodies)."""
    app = FastAPI(title="OpenAI-compatible API", max_body_size=max_body_bytes, docs_url=None, redoc_url=None)
    created = int(time.time())

    @app.get("/models")
    def list_models() -> dict:
        """The one model: the bot itself."""
        return {"object": "list", "data": [_model(created)]}

    @app.get("/models/{model}")
    def get_model(model: str) -> dict:
        if model != MODEL_ID:
            raise APIError(404, f"The model {model!r} does not exist: this server serves {MODEL_ID!r}.",
                           "model", "model_not_found")
        return _model(created)

    @app.post("/chat/completions", response_model=None)
    def chat_completions(body: ChatCompletionRequest,
                         x_conversation_id: str | None = Header(default=None)) -> JSONResponse | StreamingResponse:
        """Answer the last message as one customer turn (see the module's docstring)."""
        try:
            text, history = split_turn(body.messages)
        except TurnError as error:
            raise APIError(400, str(error), error.param) from None
        limit = services.settings.max_message_chars
        if len(text) > limit:
            raise APIError(413, f"The last message has {len(text)} characters; the limit is {limit}. "
                                "Send a shorter message.", f"messages.{len(body.messages) - 1}.content",
                           "message_too_long")
        given, param = (x_conversation_id, "X-Conversation-Id") if x_conversation_id else (body.user, "user")
        # A conversation of the caller's continues with its stored history; else the request's.
        conversation_id = given or uuid.uuid4().hex
        events = services.engine.stream(conversation_id, text, None if given else history)
        try:
            first = next(events)  # opens the conversation: a bad id or a database down is raised here
        except ValueError as error:
            raise APIError(400, str(error), param, "invalid_conversation_id") from None
        headers = {"X-Conversation-Id": conversation_id}
        prompt_tokens = sum(count_tokens(m.text) for m in body.messages)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_chunks(chain([first], events), prompt_tokens, include_usage),
                                     media_type="text/event-stream",
                                     headers={**headers, "Cache-Control": "no-cache"})
        reply = next(event for event in chain([first], events) if isinstance(event, Reply))
        return JSONResponse(completion_json(reply, prompt_tokens), headers=headers)

    _add_error_handlers(app)
    return app


def _model(created: int) -> dict:
    return {"id": MODEL_ID, "object": "model", "created": created, "owned_by": "support-chatbot"}


def _chunks(events: Iterator[str | Reply], prompt_tokens: int, include_usage: bool) -> Iterator[str]:
    """The engine's pieces as `chat.completion.chunk` events; the last carries the bot's fields."""
    writer = ChunkWriter()
    yield writer.event({"role": "assistant", "content": ""})
    try:
        for event in events:
            if isinstance(event, Reply):
                yield writer.event({}, "stop", **reply_fields(event))
                if include_usage:
                    yield writer.event(None, usage=usage(prompt_tokens, event))
            elif event:
                yield writer.event({"content": event})
    except (DatabaseUnavailable, SQLAlchemyError) as error:  # the turn could not be logged
        log.error("database unavailable while streaming a chat completion: %s", error)
        yield server_sent_event(error_json(DATABASE_DOWN, "server_error", None, "database_unavailable"))
        return
    yield server_sent_event("[DONE]")


def _add_error_handlers(app: FastAPI) -> None:
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

    async def database_down(request: Request, error: Exception) -> JSONResponse:
        log.error("database unavailable during %s %s: %s", request.method, request.url.path, error)
        return answer(503, error_json(DATABASE_DOWN, "server_error", code="database_unavailable"))

    for error in (DatabaseUnavailable, OperationalError, InterfaceError):
        app.add_exception_handler(error, database_down)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        return answer(500, error_json("The server failed to answer; the error is logged.", "server_error"))
