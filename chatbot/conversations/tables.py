"""The tables of the conversation log: conversations, their messages, and each turn's trace.

The column sizes are constants so that the store checks them before writing (SQLite would store
a longer value, PostgreSQL refuse it) and both databases answer alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from chatbot.conversations.ids import new_conversation_id
from knowledge_base.db_models import Base, utcnow

# Sizes of the String columns that a turn fills.
CHANNEL_CHARS = 32
LANGUAGE_CHARS = 16
GENERATOR_CHARS = 200


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_conversation_id)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(CHANNEL_CHARS), default="web")  # "web", "cli", "api", ...
    language: Mapped[str] = mapped_column(String(LANGUAGE_CHARS), default="")


class MessageRow(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "user" | "assistant"
    content: Mapped[str] = mapped_column(Text)
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
