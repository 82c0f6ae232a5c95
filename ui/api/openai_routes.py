"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`, answered by the
whole engine (guard, retrieval, decision, generation, logging), so that any OpenAI client or
chat front-end can talk to the bot.

    >>> app.mount("/v1", create_openai_app(services))          # what ui.server does

    $ curl -s localhost:7860/v1/chat/completions -H 'content-type: application/json' \\
           -d '{"model": "support-chatbot", "messages": [{"role": "user", "content": "Where is my order?"}]}'

The last message is the customer's turn. A conversation named by the `X-Conversation-Id` header
(or the `user` field) is continued with its stored history; without one, the request's earlier
messages are the history and a new conversation is logged, its id in the `X-Conversation-Id`
response header and the `conversation_id` field. Conversation ids are issued by the server: an id
of another form is a 400 (`invalid_conversation_id`), one it never issued a 404.
Visitors (`ui.api.visitors`): a conversation started with an `X-Visitor-Token` header (or the
`chatbot_visitor` cookie) is bound to that token, and continuing it without the token is the
404 of an unknown id, as on /api; one started without a token is bound to none and, as before,
continued by its id alone (the id is unguessable, and server-side OpenAI clients hold no cookie). Errors come in
OpenAI's error shape (set in `ui.api.errors`): 400 for a request that makes no turn, 413 for a
message over `CHATBOT_MAX_MESSAGE_CHARS` (the guard's own check) or a body over the size limit,
503 when the database is down or busy. An `Idempotency-Key` header makes a retry safe, as on
`/api/ask` (`ui.api.routes`). Any text is answered: a lone surrogate or a NUL is logged
as U+FFFD (the conversation store's boundary).

A separate FastAPI app, mounted at /v1, so that its errors keep OpenAI's shape while /api keeps
its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from itertools import chain
from typing import TYPE_CHECKING

from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from chatbot.conversations.ids import is_conversation_id, malformed_message, new_conversation_id
from chatbot.conversations.visitors import visitor_hash
from chatbot.messages import Reply
from chatbot.stages.guard import check_message
from chatbot.stages.prompts import estimate_tokens
from ui.api.errors import APIError, add_openai_error_handlers, openai_error_json
from ui.api.visitors import presented_token
from ui.api.openai_schema import (
    MODEL_ID,
    ChatCompletionRequest,
    ChunkWriter,
    TurnError,
    completion_json,
    reply_fields,
    server_sent_event,
    split_turn,
    usage,
)

if TYPE_CHECKING:
    from chatbot.services import Services


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
    def chat_completions(body: ChatCompletionRequest, request: Request, x_conversation_id: str | None = Header(default=None),
                         idempotency_key: str | None = Header(default=None)) -> JSONResponse | StreamingResponse:
        """Answer the last message as one customer turn (see the module's docstring)."""
        try:
            text, history = split_turn(body.messages)
        except TurnError as error:
            raise APIError(400, str(error), error.param) from None
        checked = check_message(text, services.settings.max_message_chars)
        if checked.problem == "too_long":  # the guard decides; OpenAI clients expect a 413 for it
            raise APIError(413, f"The last message is too long: {checked.detail}. Send a shorter message.",
                           f"messages.{len(body.messages) - 1}.content", "message_too_long")
        given, param = (x_conversation_id, "X-Conversation-Id") if x_conversation_id else (body.user, "user")
        if given and not is_conversation_id(given):
            raise APIError(400, malformed_message(given), param, "invalid_conversation_id")
        token = presented_token(request)
        if given:  # bound to a visitor: theirs only; bound to none: by its id, as before
            services.conversation_for_visitor(given, token, allow_unbound=True)
        # A conversation of the caller's continues with its stored history; else the request's,
        # in a new conversation whose id is issued here so that it can head the (streamed)
        # answer. Its row is written with the turn's log: a turn that fails leaves none behind.
        bound = visitor_hash(token) if token else None
        logged = idempotency_key and services.engine.logged_turn(idempotency_key, given or None, text, bound)
        if logged:  # a retry of a turn whose answer was lost: its conversation may be a new one
            conversation_id, events = logged.conversation_id, iter([logged.answer, logged])
        else:
            conversation_id = given or new_conversation_id()
            events = services.engine.stream(given or None, text, None if given else history, new_id=conversation_id,
                                            turn_key=idempotency_key, visitor_hash=bound,
                                            choice=body.choice)
        first = next(events)  # an unknown id or a database down is raised here
        headers = {"X-Conversation-Id": conversation_id}
        prompt_tokens = sum(estimate_tokens(m.text) for m in body.messages)
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_chunks(chain([first], events), prompt_tokens, include_usage),
                                     media_type="text/event-stream",
                                     headers={**headers, "Cache-Control": "no-cache"})
        reply = next(event for event in chain([first], events) if isinstance(event, Reply))
        return JSONResponse(completion_json(reply, prompt_tokens), headers=headers)

    add_openai_error_handlers(app)
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
    except Exception as error:  # noqa: BLE001 - the headers are sent: the error goes in the stream
        yield server_sent_event(openai_error_json(error)[1])  # then [DONE]: the stream ends cleanly
    yield server_sent_event("[DONE]")
