"""The /api routes of a visitor's own conversation: its messages since a cursor (polled by the
page, so staff replies appear without a reload), a contact email, and feedback on answers.

    $ curl -s 'localhost:7860/api/conversations/3f2a…/messages?after=41' -b 'chatbot_visitor=…'
    {"conversation_id": "3f2a…", "state": "human", "held_by": "Alice", "cursor": 44,
     "contact_offer": false, "contact_left": false,
     "messages": [{"id": 44, "author": "staff", "name": "Alice", "role": "assistant", "text": "…", ...}]}
    $ curl -s localhost:7860/api/feedback -b 'chatbot_visitor=…' -H 'content-type: application/json' \\
           -d '{"turn_id": 17, "rating": "down", "comment": "Not what I asked"}'

Only the holder of the conversation's visitor token (the `chatbot_visitor` cookie or the
`X-Visitor-Token` header, `ui.api.visitors`) gets an answer; anyone else gets the 404 of an
unknown conversation or turn. The routes only call `Services`; errors are mapped in `ui.api.errors`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ui.api.visitors import presented_token

if TYPE_CHECKING:
    from chatbot.conversations.feed import Feed
    from chatbot.services import Services


class CitedEntry(BaseModel):
    id: str
    question: str
    score: float


class FeedMessage(BaseModel):
    id: int = Field(description="The message's id: send it as `after` to get the messages after it.")
    author: str = Field(description="customer | bot | staff")
    name: str | None = Field(description="The staff member's name, for author staff.")
    role: str = Field(description="user | assistant")
    text: str
    time: str = Field(description="When it was written, ISO 8601 in UTC.")
    turn_id: int | None = Field(description="A bot answer's turn, for POST /api/feedback.")
    sources: list[CitedEntry] = Field(description="The entries a bot answer cited, as in /api/ask's `sources` "
                                              "(score 0: not kept).")


class FeedResponse(BaseModel):
    """A conversation's messages after the cursor, and where it stands."""

    conversation_id: str
    state: str = Field(description="bot | waiting (for a human) | human (a staff member holds it)")
    held_by: str | None
    cursor: int = Field(description="The last message id returned (or the one asked with): the next `after`.")
    contact_offer: bool = Field(description="Waiting for a human past CHATBOT_HANDOFF_TIMEOUT_S: offer to leave "
                                            "an email (POST .../contact).")
    contact_left: bool
    messages: list[FeedMessage]


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(description="Where staff may write back.")


class ContactResponse(BaseModel):
    conversation_id: str
    contact_email: str


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn_id: int = Field(description="The `turn_id` of the answer (from /api/ask or the messages feed).")
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, description="Optional, up to 2,000 characters.")


class FeedbackResponse(BaseModel):
    turn_id: int
    rating: str
    comment: str


def feed_to_json(feed: "Feed", services: "Services") -> dict:
    """The `FeedResponse` object of a `Feed`, a bot answer's sources named by `services`."""
    return {
        "conversation_id": feed.conversation_id, "state": feed.state, "held_by": feed.held_by,
        "cursor": feed.cursor, "contact_offer": feed.contact_offer, "contact_left": feed.contact_left,
        "messages": [{"id": m.id, "author": m.author, "name": m.name, "role": m.role, "text": m.text,
                      "time": m.time.isoformat(), "turn_id": m.turn_id,
                      "sources": [{"id": c.entry_id, "question": c.question, "score": 0.0}
                                  for c in services.citations_of(m.sources)]} for m in feed.messages],
    }


def conversation_router(services: "Services") -> APIRouter:
    """The routes above, bound to `services` (included in `ui.api.routes.api_router`, under /api)."""
    router = APIRouter()

    @router.get("/conversations/{conversation_id}/messages", response_model=FeedResponse)
    def messages(conversation_id: str, request: Request, response: Response,
                 after: int = Query(0, ge=0, description="The last message id the page has; 0: all.")) -> dict:
        """The conversation's messages after `after`, oldest first (at most 200: poll again with
        the returned cursor), its state and whether to offer a contact email."""
        feed = services.messages_for_visitor(conversation_id, presented_token(request), after)
        response.headers["Cache-Control"] = "no-store"  # a poll must reach the server every time
        return feed_to_json(feed, services)

    @router.post("/conversations/{conversation_id}/contact", response_model=ContactResponse)
    def contact(conversation_id: str, body: ContactRequest, request: Request) -> dict:
        """Leave an email to be contacted when nobody answered in time (a 422 if it is not one)."""
        email = services.leave_contact_email(conversation_id, presented_token(request), body.email)
        return {"conversation_id": conversation_id, "contact_email": email}

    @router.post("/feedback", response_model=FeedbackResponse)
    def feedback(body: FeedbackRequest, request: Request) -> dict:
        """Thumbs up or down (and a comment) on an answer of the visitor's conversation; a second
        vote replaces the first."""
        given = services.give_feedback(body.turn_id, body.rating, body.comment, presented_token(request))
        return {"turn_id": given.turn_id, "rating": given.rating, "comment": given.comment}

    return router
