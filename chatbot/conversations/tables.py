"""The tables of the conversation log: conversations, their messages, each turn's trace, and the
customers' feedback on turns.

The column sizes are constants so that the store checks them before writing (SQLite would store
a longer value, PostgreSQL refuse it) and both databases answer alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, mapped_column

from chatbot.conversations.ids import new_conversation_id
from knowledge_base.db_models import Base, utcnow

# Sizes of the String columns that a turn fills.
CHANNEL_CHARS = 32
LANGUAGE_CHARS = 16
GENERATOR_CHARS = 200
STAFF_NAME_CHARS = 64
AUTHOR_CHARS = 80  # "staff:" + a staff member's name
EMAIL_CHARS = 254  # the longest address SMTP carries (RFC 5321's path limit, less the brackets)
VISITOR_HASH_CHARS = 64  # hex SHA-256 of the visitor token (chatbot.conversations.visitors)
SITE_KEY_CHARS = 64  # a site's public key (chatbot.sites.store)
FEEDBACK_COMMENT_CHARS = 2000

# A conversation's hand-off state (chatbot.conversations.handoff): the bot answers; a human was
# asked for and nobody has taken it yet; a named staff member holds it (the bot stays quiet).
BOT, WAITING, HUMAN = "bot", "waiting", "human"
# Who wrote a message: the customer, the bot, or "staff:<name>" (`staff_author`).
CUSTOMER_AUTHOR, BOT_AUTHOR, STAFF_PREFIX = "customer", "bot", "staff:"


def _author_of_role(context: DefaultExecutionContext) -> str:
    # The turn log writes the customer's message and the bot's answer without naming the author:
    # the role says it. Staff messages set theirs (`staff_author`).
    return BOT_AUTHOR if context.get_current_parameters().get("role") == "assistant" else CUSTOMER_AUTHOR


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_conversation_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_CHARS), default="web")  # "web", "cli", "api", ...
    language: Mapped[str] = mapped_column(String(LANGUAGE_CHARS), default="")
    state: Mapped[str] = mapped_column(String(16), default=BOT, server_default=BOT, index=True)
    held_by: Mapped[str | None] = mapped_column(String(STAFF_NAME_CHARS), nullable=True)  # when HUMAN
    waiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # The visitor it is bound to (a hash of their token; None: started without one, e.g. the CLI).
    visitor_hash: Mapped[str | None] = mapped_column(String(VISITOR_HASH_CHARS), nullable=True, index=True)
    contact_email: Mapped[str | None] = mapped_column(String(EMAIL_CHARS), nullable=True)
    # The site whose widget started it (chatbot.sites; None: not the widget), for the console's filter.
    site_key: Mapped[str | None] = mapped_column(String(SITE_KEY_CHARS), nullable=True, index=True)


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "user" | "assistant"
    content: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(AUTHOR_CHARS), default=_author_of_role,
                                        server_default=CUSTOMER_AUTHOR)  # "customer" | "bot" | "staff:<name>"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class TurnTraceRow(Base):
    """How one reply was made: what was retrieved for, the decision, the sources and timings."""

    __tablename__ = "turn_traces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    user_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    assistant_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    query: Mapped[str] = mapped_column(Text, default="")  # the cleaned text retrieved for
    language: Mapped[str] = mapped_column(String(LANGUAGE_CHARS), default="")
    # "answer" | "abstain" | "rejected" | "clarify" | "smalltalk" | "handoff"
    decision: Mapped[str] = mapped_column(String(16))
    entry_ids: Mapped[list] = mapped_column(JSON, default=list)
    scores: Mapped[list] = mapped_column(JSON, default=list)
    generator: Mapped[str] = mapped_column(String(GENERATOR_CHARS), default="")
    kb_version: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    timings: Mapped[dict] = mapped_column(JSON, default=dict)  # step name -> milliseconds
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    # The grounding check: None when nothing was generated (abstained, rejected); False when the
    # generated answer (`replaced_answer`) was replaced by the extractive one, for `grounding_reasons`.
    grounded: Mapped[bool | None] = mapped_column(Boolean, nullable=True, default=None)
    grounding_reasons: Mapped[list] = mapped_column(JSON, default=list)
    replaced_answer: Mapped[str] = mapped_column(Text, default="")
    # The client's idempotency key (`chatbot.conversations.ids.check_turn_key`): a retry of a turn
    # whose answer was lost is answered from this row instead of being logged again.
    turn_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)


class FeedbackRow(Base):
    """A customer's thumbs up or down on one turn, with an optional comment; one per turn (a
    second vote replaces the first); removed with its turn."""

    __tablename__ = "turn_feedback"

    turn_id: Mapped[int] = mapped_column(
        ForeignKey("turn_traces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    rating: Mapped[str] = mapped_column(String(8))  # "up" | "down"
    comment: Mapped[str] = mapped_column(Text, default="", server_default="")
    given_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
