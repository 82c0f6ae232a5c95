"""The HTTP API under /api: `POST /api/ask` (one customer turn) and `GET /api/health`.

    $ curl -s localhost:7860/api/ask -H 'content-type: application/json' \\
           -d '{"message": "How long does shipping take?"}'
    {"answer": "...", "abstained": false, "language": "en", "sources": [...], "conversation_id": "3f2a…", ...}

Send an `Idempotency-Key` header (16-64 of A-Z a-z 0-9 _ -, new for each message, the same for
each retry of it) and a retry whose answer was lost (a timeout, a restart) gets the logged answer
instead of logging the turn twice; a key reused for another message is a 422.

Conversation ids are issued by the server: leave `conversation_id` out to start a conversation,
and send the id an answer returned to continue it. A malformed id (not 1-64 of A-Z a-z 0-9 _ -)
is a 422, a request validation error on `conversation_id`; a well-formed id the server never
issued (`"1"`) is a 404, and nothing is logged under it. Every
error's status and message is set in `ui.api.errors`; the routes only call `Services`.

A conversation is its visitor's (`ui.api.visitors`): the first answer to a request without a
visitor token sets one in the `chatbot_visitor` cookie, and the conversation is bound to it;
continuing one with another token or none is the 404 of an unknown id. The answer's `turn_id`
names the turn for `POST /api/feedback` (`ui.api.conversation_routes`, included here).

The chat widget calls these routes too, with its `X-Site-Key` and session (`ui.widget.access`
checks them, and the rate limits); a conversation it starts is logged with channel "widget" and
the site's key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chatbot.conversations.ids import is_conversation_id, malformed_message
from chatbot.conversations.visitors import new_visitor_token, visitor_hash
from ui.api.conversation_routes import conversation_router
from ui.api.responses import reply_to_json
from ui.api.visitors import presented_token, set_visitor_cookie
from ui.widget.access import widget_access
from ui.widget.routes import widget_api_router

if TYPE_CHECKING:
    from chatbot.services import Services

# A question is a few hundred bytes; the engine refuses messages over `max_message_chars`
# politely. Bodies past this are refused before they are read into memory.
MAX_BODY_BYTES = 64 * 1024


def _well_formed(value: str) -> str:
    # The one id rule (chatbot.conversations.ids); a ValueError is how pydantic reports it.
    if not is_conversation_id(value):
        raise ValueError(malformed_message(value))
    return value


class AskRequest(BaseModel):
    """One customer turn. Leave `conversation_id` out (or null) to start a conversation."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The customer's message (with a `choice`, may be empty: the chosen "
                                     "option's question is logged).")
    conversation_id: Annotated[str, AfterValidator(_well_formed)] | None = Field(
        default=None, description="The id a previous answer returned (issued by the server).")
    choice: str | None = Field(
        default=None, max_length=128,
        description="The id of an option of the conversation's last clarification (`action: clarify`), "
                    "or \"none\" (none of these: a human is offered); other values are a 422.")


class Source(BaseModel):
    id: str
    question: str
    score: float


class Option(BaseModel):
    id: str
    question: str


class AskResponse(BaseModel):
    """The same object as `chatbot ask --json` (DESIGN.md "Contracts")."""

    answer: str
    abstained: bool
    language: str
    sources: list[Source]
    conversation_id: str
    latency_ms: float
    action: str = Field(description="answer | clarify | abstain | handoff | smalltalk")
    options: list[Option] = Field(description="The choices of a clarify: up to 3 entries.")
    turn_id: int | None = Field(default=None, description="The logged turn, for POST /api/feedback; null when "
                                                          "the message went to a human instead of the bot.")


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
        found = services.health()
        body = HealthResponse(status=found.status, kb_version=found.kb_version, entry_count=found.entry_count,
                              generator=found.generator, detail=found.detail)
        return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)

    @router.post("/ask", response_model=AskResponse)
    def ask(body: AskRequest, request: Request, response: Response, idempotency_key: str | None = Header(
            default=None, description="The same 16-64 characters (A-Z a-z 0-9 _ -) with every attempt of one "
                                      "message: a retry is answered from the log, not logged twice.")) -> dict:
        """Answer one customer turn; the turn is logged under the returned conversation id."""
        token = presented_token(request)
        if body.conversation_id is not None:  # only its visitor may continue it: else a 404
            services.conversation_for_visitor(body.conversation_id, token)
        issued = None if token else new_visitor_token()
        reply = services.engine.respond(body.conversation_id, body.message, turn_key=idempotency_key,
                                        choice=body.choice,
                                        visitor_hash=visitor_hash(token or issued))
        if issued:  # set with the answer only: a refused request leaves no token behind
            set_visitor_cookie(response, issued, request)
        access = widget_access(request)
        if access is not None and body.conversation_id is None:  # the widget started it: channel "widget"
            services.tag_widget_conversation(reply.conversation_id, access.site.key)
        return reply_to_json(reply)

    router.include_router(conversation_router(services))
    router.include_router(widget_api_router(services))
    return router
