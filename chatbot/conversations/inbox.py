"""The hand-off inbox: conversations that wait for a human (the longest waiting first), then those
a staff member holds, each with the customer's question and what the bot found for it.

    >>> [(i.id, i.state, i.question, i.found) for i in Inbox(engine).items()]

"What the bot found" is the entries (with their scores) of the conversation's latest turn that
retrieved any: the turn that hands off asks for a person and retrieves nothing itself, so the
question the bot could not settle is the one before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from chatbot.conversations.database import database_errors, retry_when_busy
from chatbot.conversations.handoff import aware
from chatbot.conversations.tables import CUSTOMER_AUTHOR, HUMAN, WAITING, ConversationRow, MessageRow, TurnTraceRow

INBOX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class InboxItem:
    """A conversation in the inbox."""

    id: str
    state: str  # "waiting" | "human"
    held_by: str | None
    since: datetime  # waiting since, or (held) last active
    channel: str
    language: str
    question: str  # the customer's latest message (PII redacted)
    found_for: str  # the query of the turn whose entries `found` lists ("" if none)
    found: tuple[tuple[str, float], ...]  # (entry id, score), best first
    kb_version: int | None  # the version `found` was retrieved from
    contact_email: str | None


class Inbox:
    """Reads the inbox from the conversation log."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def items(self, limit: int = INBOX_LIMIT) -> list[InboxItem]:
        """Waiting conversations, the longest waiting first, then held ones, the longest held first."""
        waiting_first = case((ConversationRow.state == WAITING, 0), else_=1)
        query = (select(ConversationRow).where(ConversationRow.state.in_([WAITING, HUMAN]))
                 .order_by(waiting_first, ConversationRow.waiting_since, ConversationRow.updated_at, ConversationRow.id)
                 .limit(limit))
        with database_errors(self._engine), Session(self._engine) as session:
            rows = session.scalars(query).all()
            ids = [row.id for row in rows]
            # Three queries for the whole inbox, not two per conversation: it refreshes every few seconds.
            latest = (select(func.max(MessageRow.id)).where(MessageRow.conversation_id.in_(ids),
                                                            MessageRow.author == CUSTOMER_AUTHOR)
                      .group_by(MessageRow.conversation_id))
            questions = dict(session.execute(select(MessageRow.conversation_id, MessageRow.content)
                                             .where(MessageRow.id.in_(latest))).all())
            searched: dict[str, tuple] = {}
            for cid, entry_ids, scores, found_for, version in session.execute(
                    select(TurnTraceRow.conversation_id, TurnTraceRow.entry_ids, TurnTraceRow.scores,
                           TurnTraceRow.query, TurnTraceRow.kb_version)
                    .where(TurnTraceRow.conversation_id.in_(ids)).order_by(TurnTraceRow.id.desc())):
                if entry_ids and cid not in searched:
                    searched[cid] = (tuple(zip(entry_ids, (float(x) for x in scores))), found_for, version)
            return [_item(row, questions.get(row.id, ""), searched.get(row.id)) for row in rows]


def _item(row: ConversationRow, question: str, searched: tuple | None) -> InboxItem:
    found, found_for, version = searched or ((), "", None)
    since = row.waiting_since if row.state == WAITING and row.waiting_since else row.updated_at
    return InboxItem(row.id, row.state, row.held_by, aware(since), row.channel, row.language, question, found_for,
                     found, version, row.contact_email)
