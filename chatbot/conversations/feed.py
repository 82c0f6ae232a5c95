"""A conversation's messages as its customer's page polls them, and the contact email a customer
leaves when nobody answered in time.

The page asks for the messages after the last one it has (a cursor: that message's id), so a
staff reply appears without a reload (DESIGN.md allows polling with a cursor instead of
server-sent events). The feed says the conversation's state and whether the customer has waited
for a human past the hand-off timeout, when the page offers to leave an email instead.

    >>> feed = ConversationFeed(engine).messages_after(cid, after=0, timeout_s=300)
    >>> [(m.author, m.text) for m in feed.messages], feed.state, feed.cursor, feed.contact_offer
    >>> ConversationFeed(engine).leave_contact(cid, "ana@example.com")
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.handoff import aware, author_parts
from chatbot.conversations.ids import check_conversation_id, unknown_message
from chatbot.conversations.tables import EMAIL_CHARS, WAITING, ConversationRow, MessageRow, TurnTraceRow
from chatbot.errors import InvalidConversation, InvalidInput
from knowledge_base.db_models import utcnow

FEED_LIMIT = 200  # messages per poll at most; the cursor fetches the rest
# A pragmatic address check (what a contact form needs, not RFC 5322's every corner): a local part
# without spaces, quotes or brackets, "@", and a domain of dot-separated labels with a 2+ letter
# top level. Unicode letters pass (internationalised addresses).
_LOCAL = re.compile(r"[^\s@\"<>()\[\],;:\\\x00-\x1f\x7f\ud800-\udfff\ufffd]{1,64}")
_LABEL = re.compile(r"(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?", re.UNICODE)
_TOP_LEVEL = re.compile(r"(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{1,59})", re.UNICODE)


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One message as the customer's page shows it."""

    id: int  # also the cursor: ask for the messages after it
    author: str  # "customer" | "bot" | "staff"
    name: str | None  # the staff member's name, for "staff"
    role: str  # "user" | "assistant"
    text: str
    time: datetime
    turn_id: int | None = None  # a bot answer's turn, for feedback
    sources: tuple[str, ...] = ()  # the entries a bot answer cited (ids), for its "Sources" line


@dataclass(frozen=True, slots=True)
class Feed:
    """The messages after a cursor and where the conversation stands."""

    conversation_id: str
    state: str  # "bot" | "waiting" | "human"
    held_by: str | None
    cursor: int  # the last message id returned, or the cursor asked with when none is new
    contact_offer: bool  # waiting for a human past the timeout: the page may ask for an email
    contact_left: bool  # the customer has left an email
    messages: list[FeedMessage] = field(default_factory=list)


def check_email(text: str) -> str:
    """`text` trimmed if it looks like an email address, else `InvalidInput` saying so."""
    email = text.strip() if isinstance(text, str) else ""
    local, at, domain = email.rpartition("@")
    labels = domain.rstrip(".").split(".") if domain else []
    if (at and len(email) <= EMAIL_CHARS and _LOCAL.fullmatch(local) and not local.startswith(".")
            and ".." not in local and len(labels) >= 2 and all(_LABEL.fullmatch(lab) for lab in labels)
            and _TOP_LEVEL.fullmatch(labels[-1])):
        return email
    shown = email[:80] if email else "(empty)"
    raise InvalidInput(f"{shown!r} is not an email address: write it like name@example.com.")


class ConversationFeed:
    """Reads a conversation's messages after a cursor; stores a customer's contact email."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def messages_after(self, conversation_id: str, after: int, timeout_s: float,
                       limit: int = FEED_LIMIT, now: datetime | None = None) -> Feed:
        """The conversation's messages with an id above `after` (0: from the start), oldest first,
        at most `limit`; `contact_offer` is true once it has waited `timeout_s` for a human.
        `InvalidConversation` for an unknown id."""
        check_conversation_id(conversation_id)
        query = (
            select(MessageRow, TurnTraceRow.id, TurnTraceRow.decision, TurnTraceRow.entry_ids)
            .outerjoin(TurnTraceRow, TurnTraceRow.assistant_message_id == MessageRow.id)
            .where(MessageRow.conversation_id == conversation_id, MessageRow.id > after)
            .order_by(MessageRow.id)
            .limit(limit)
        )
        with database_errors(self._engine), Session(self._engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None:
                raise InvalidConversation(unknown_message(conversation_id))
            # A clarification's entry ids are its options, not sources.
            messages = [FeedMessage(m.id, *author_parts(m.author), m.role, m.content, aware(m.created_at), turn,
                                    tuple(cited or ()) if decision == "answer" else ())
                        for m, turn, decision, cited in session.execute(query).all()]
            waited = (now or utcnow()) - aware(row.waiting_since) if row.waiting_since else None
            offer = row.state == WAITING and waited is not None and waited >= timedelta(seconds=timeout_s)
            return Feed(row.id, row.state, row.held_by, messages[-1].id if messages else after, offer,
                        row.contact_email is not None, messages)

    @retry_when_busy
    def leave_contact(self, conversation_id: str, email: str) -> str:
        """Store the customer's email on the conversation for staff to write back (replacing one
        left before); returns it. `InvalidInput` if it is not an email address."""
        email = check_email(email)
        check_conversation_id(conversation_id)
        with transaction(self._engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None:
                raise InvalidConversation(unknown_message(conversation_id))
            row.contact_email = email
        return email
