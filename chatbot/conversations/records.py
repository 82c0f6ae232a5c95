"""The records the conversation store hands out (`chatbot.conversations.store`): conversations,
their messages and turn traces, as frozen dataclasses made from the table rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from chatbot.conversations.tables import ConversationRow, TurnTraceRow


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    id: str
    channel: str
    language: str
    created_at: datetime
    updated_at: datetime
    turns: int


@dataclass(frozen=True, slots=True)
class TurnTrace:
    id: int
    query: str
    language: str
    decision: str
    entry_ids: list[str]
    scores: list[float]
    generator: str
    kb_version: int
    latency_ms: float
    timings: dict[str, float]
    created_at: datetime
    grounded: bool | None = None  # None: nothing generated; False: `replaced_answer` was replaced
    grounding_reasons: list[str] = field(default_factory=list)
    replaced_answer: str = ""


@dataclass(frozen=True, slots=True)
class KeyedTurn:
    """A logged turn found by its turn key: what a retry of it is answered with."""

    conversation_id: str
    question: str  # as logged (PII redacted)
    answer: str
    trace: TurnTrace
    first: bool  # the first turn of its conversation (the one that started it)


class TurnAlreadyLogged(Exception):
    """`log_turn` found its turn key taken: another attempt of the same turn was logged first
    (two attempts in flight at once). Not an error for the customer: answer from `find_turn`."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A logged message; `trace` is that of the turn it belongs to (shared by user and assistant)."""

    id: int
    role: str
    content: str
    created_at: datetime
    trace: TurnTrace | None
    author: str = ""  # "customer" | "bot" | "staff:<name>" (chatbot.conversations.handoff)


@dataclass(frozen=True, slots=True)
class Transcript:
    conversation: ConversationSummary
    messages: list[StoredMessage]  # oldest first


def as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class LastTurn:
    """The latest turn of a conversation (of one decision, when asked for): what the next turn
    needs of it (was a human offered? which options did a clarification show?)."""

    turn_id: int
    decision: str
    entry_ids: list[str]
    scores: list[float]
    query: str
    language: str


def trace_of(row: TurnTraceRow) -> TurnTrace:
    return TurnTrace(
        id=row.id, query=row.query, language=row.language, decision=row.decision,
        entry_ids=list(row.entry_ids or []), scores=list(row.scores or []), generator=row.generator,
        kb_version=row.kb_version, latency_ms=row.latency_ms, timings=dict(row.timings or {}),
        created_at=as_utc(row.created_at), grounded=row.grounded,
        grounding_reasons=list(row.grounding_reasons or []), replaced_answer=row.replaced_answer or "",
    )


def summary_of(row: ConversationRow, turns: int) -> ConversationSummary:
    return ConversationSummary(
        id=row.id, channel=row.channel, language=row.language,
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at), turns=turns,
    )


