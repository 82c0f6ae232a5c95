"""The logged turns that the bot did not answer well and nobody has labelled yet: what the
unanswered queue (`chatbot.staff.unanswered`) groups for staff.

A turn is in the queue when it is not labelled and

- the bot abstained (out of scope, or the customer chose "none of these") or asked to clarify
  (and the customer did not choose: a choice labels the clarified turn), reason "abstain" /
  "clarify";
- the customer gave its answer a thumbs down, reason "thumbs_down";
- the customer asked for a human right after it answered, reason "handoff" (the hand-off
  request itself, "can I talk to a person?", is not a question to answer).

    >>> UnansweredLog(engine).turns(since=datetime(2026, 12, 1, tzinfo=timezone.utc))
    [QueueTurn(turn_id=41, text="can i pay in yen", reason="abstain", ...), ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from chatbot.conversations.database import database_errors, retry_when_busy
from chatbot.conversations.labels import TurnLabelRow
from chatbot.conversations.records import as_utc
from chatbot.conversations.tables import FeedbackRow, MessageRow, TurnTraceRow

# The most recent turns the queue reads at most: grouping compares every pair of them.
MAX_QUEUE_TURNS = 4000
UNANSWERED_DECISIONS = ("abstain", "clarify")


@dataclass(frozen=True, slots=True)
class QueueTurn:
    """An unanswered turn: the question as retrieval saw it (cleaned, PII redacted, a follow-up
    made standalone), why it is in the queue, and when."""

    turn_id: int
    conversation_id: str
    text: str
    language: str
    reason: str  # "abstain" | "clarify" | "thumbs_down" | "handoff"
    created_at: datetime


class UnansweredLog:
    """Reads the unanswered turns of the conversation log."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def turns(self, since: datetime | None = None, until: datetime | None = None,
              limit: int = MAX_QUEUE_TURNS) -> list[QueueTurn]:
        """The unlabelled unanswered turns logged in [since, until), newest first, at most `limit`."""
        def window(query: Select) -> Select:
            query = query.outerjoin(TurnLabelRow, TurnLabelRow.turn_id == TurnTraceRow.id) \
                .where(TurnLabelRow.turn_id.is_(None))
            if since is not None:
                query = query.where(TurnTraceRow.created_at >= since)
            if until is not None:
                query = query.where(TurnTraceRow.created_at < until)
            return query.order_by(TurnTraceRow.id.desc()).limit(limit)

        columns = (TurnTraceRow, MessageRow.content)
        unanswered = window(select(*columns).join(MessageRow, MessageRow.id == TurnTraceRow.user_message_id)
                            .where(TurnTraceRow.decision.in_(UNANSWERED_DECISIONS)))
        disliked = window(select(*columns).join(MessageRow, MessageRow.id == TurnTraceRow.user_message_id)
                          .join(FeedbackRow, FeedbackRow.turn_id == TurnTraceRow.id)
                          .where(TurnTraceRow.decision == "answer", FeedbackRow.rating == "down"))
        with database_errors(self._engine), Session(self._engine) as session:
            found = [_queue_turn(trace, question, trace.decision) for trace, question in session.execute(unanswered)]
            found += [_queue_turn(trace, question, "thumbs_down") for trace, question in session.execute(disliked)]
            found += self._handed_off(session, window, {t.turn_id for t in found})
        found.sort(key=lambda t: t.turn_id, reverse=True)
        return found[:limit]

    @staticmethod
    def _handed_off(session: Session, window, seen: set[int]) -> list[QueueTurn]:
        """The answered turn just before each hand-off request (unlabelled, not already found)."""
        handoffs = session.execute(
            select(TurnTraceRow.conversation_id, TurnTraceRow.id).where(TurnTraceRow.decision == "handoff")
            .order_by(TurnTraceRow.id.desc()).limit(MAX_QUEUE_TURNS)).all()
        if not handoffs:
            return []
        conversations = {cid for cid, _ in handoffs}
        previous = window(select(TurnTraceRow, MessageRow.content)
                          .join(MessageRow, MessageRow.id == TurnTraceRow.user_message_id)
                          .where(TurnTraceRow.conversation_id.in_(conversations),
                                 TurnTraceRow.decision.in_(("answer", "handoff", "smalltalk"))))
        by_conversation: dict[str, list[tuple[TurnTraceRow, str]]] = {}
        for trace, question in session.execute(previous):
            by_conversation.setdefault(trace.conversation_id, []).append((trace, question))
        found: dict[int, QueueTurn] = {}
        for cid, handoff_id in handoffs:
            earlier = [(t, q) for t, q in by_conversation.get(cid, []) if t.id < handoff_id]
            if not earlier:
                continue
            trace, question = max(earlier, key=lambda pair: pair[0].id)
            if trace.decision == "answer" and trace.id not in seen:
                found[trace.id] = _queue_turn(trace, question, "handoff")
        return list(found.values())


def _queue_turn(trace: TurnTraceRow, question: str, reason: str) -> QueueTurn:
    # The query is the standalone question; "none of these" keeps the clarified question's.
    text = " ".join((trace.query or question or "").split())
    return QueueTurn(trace.id, trace.conversation_id, text, trace.language or "", reason, as_utc(trace.created_at))
