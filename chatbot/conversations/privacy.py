"""Deleting a visitor's conversations on request (privacy), and the record that it was done.

A request names one conversation (the visitor's other conversations, bound to the same visitor
token, go with it), the visitor token itself (what a server-side client sends as
`X-Visitor-Token`), or the contact email the customer left. Everything of those conversations is
deleted in one transaction from every table that refers to them, found from the schema's
metadata, not from a list kept by hand: messages, turn traces, feedback, labels, turn keys and
any table added later with a foreign key to one of them (or a `conversation_id` column). What
stays is a `privacy_deletions` row: who, when, why, how many conversations, messages and turns,
and a SHA-256 of the deleted rows (proof of what was deleted without keeping any of it).

    >>> desk = PrivacyDesk(engine)
    >>> done = desk.delete(by="ada", reason="Ticket 4411: customer asked", conversation_id=cid)
    >>> done.conversations, done.turns, done.content_sha256
    >>> desk.records()                                   # newest first

On SQLite the freed pages are overwritten (`secure_delete`) and the write-ahead log is folded
back into the file afterwards, so the text does not linger in the database file either.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Table, Text, func, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.handoff import aware, check_staff_name
from chatbot.conversations.ids import check_conversation_id, unknown_message
from chatbot.conversations.visitors import check_visitor_token, visitor_hash
from chatbot.conversations.tables import EMAIL_CHARS, STAFF_NAME_CHARS, ConversationRow
from chatbot.errors import InvalidConversation, InvalidInput
from knowledge_base.db_models import Base, utcnow
from knowledge_base.storable import length_problem, storable

REASON_CHARS = 500
BY_CONVERSATION, BY_VISITOR, BY_EMAIL = "conversation", "visitor", "email"


class PrivacyDeletionRow(Base):
    """That a visitor's data was deleted, by whom and why: never what it was."""

    __tablename__ = "privacy_deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deleted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    deleted_by: Mapped[str] = mapped_column(String(STAFF_NAME_CHARS))
    reason: Mapped[str] = mapped_column(Text, default="")
    selected_by: Mapped[str] = mapped_column(String(16))  # "conversation" | "visitor" | "email"
    conversations: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    turns: Mapped[int] = mapped_column(Integer, default=0)
    content_sha256: Mapped[str] = mapped_column(String(64))  # of the deleted rows (`_rows_digest`)


@dataclass(frozen=True, slots=True)
class PrivacyDeletion:
    """A done deletion, as its record keeps it."""

    id: int
    deleted_at: datetime
    deleted_by: str
    reason: str
    selected_by: str
    conversations: int
    messages: int
    turns: int
    content_sha256: str


def _record(row: PrivacyDeletionRow) -> PrivacyDeletion:
    return PrivacyDeletion(row.id, aware(row.deleted_at), row.deleted_by, row.reason, row.selected_by,
                           row.conversations, row.messages, row.turns, row.content_sha256)


def _check_reason(reason: str) -> str:
    reason = " ".join(storable(reason or "").split())
    if not reason:
        raise InvalidInput("Say why the data is deleted (e.g. the customer's request and its date): "
                           "the record keeps the reason.")
    problem = length_problem("reason", reason, REASON_CHARS)
    if problem:
        raise InvalidInput(f"The reason cannot be stored: its {problem}.")
    return reason


def dependent_tables(ids: list[str]) -> list[tuple[Table, ColumnElement[bool]]]:
    """Every table holding rows of the conversations `ids`, children first (the order to delete
    in), each with the condition that selects those rows: the conversations themselves, tables
    with a foreign key to a selected table (recursively), and tables with a `conversation_id`
    column even without a foreign key."""
    conversations = ConversationRow.__table__
    conditions: dict[Table, ColumnElement[bool]] = {conversations: conversations.c.id.in_(ids)}
    for table in Base.metadata.sorted_tables:  # parents before children
        if table is conversations:
            continue
        parts = [fk.parent.in_(select(fk.column).where(conditions[fk.column.table]))
                 for fk in table.foreign_keys if fk.column.table in conditions]
        if "conversation_id" in table.c and not parts:
            parts.append(table.c.conversation_id.in_(ids))
        if parts:
            conditions[table] = or_(*parts)
    return [(table, conditions[table]) for table in reversed(Base.metadata.sorted_tables) if table in conditions]


def _rows_digest(session: Session, doomed: list[tuple[Table, ColumnElement[bool]]]) -> tuple[str, dict[str, int]]:
    """SHA-256 over the rows about to be deleted (table by table, by primary key, as JSON) and
    the number of rows per table."""
    digest, counts = hashlib.sha256(), {}
    for table, condition in sorted(doomed, key=lambda pair: pair[0].name):
        rows = session.execute(select(table).where(condition).order_by(*table.primary_key.columns)).all()
        counts[table.name] = len(rows)
        digest.update(table.name.encode())
        for row in rows:
            digest.update(json.dumps(list(row), default=str, ensure_ascii=False).encode())
    return digest.hexdigest(), counts


class PrivacyDesk:
    """Privacy deletions and their records, in the product database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _selected(self, session: Session, conversation_id: str | None, email: str | None,
                  visitor_token: str | None) -> tuple[str, list[str]]:
        if sum(x is not None for x in (conversation_id, email, visitor_token)) != 1:
            raise InvalidInput("Name one of: a conversation, the visitor token, or the contact email whose "
                               "conversations to delete.")
        if visitor_token is not None:
            found = list(session.scalars(select(ConversationRow.id).where(
                ConversationRow.visitor_hash == visitor_hash(check_visitor_token(visitor_token)))))
            if not found:
                raise InvalidConversation("No conversation is bound to this visitor token: nothing to delete.")
            return BY_VISITOR, found
        if conversation_id is not None:
            check_conversation_id(conversation_id)
            row = session.get(ConversationRow, conversation_id)
            if row is None:
                raise InvalidConversation(unknown_message(conversation_id))
            if row.visitor_hash is None:
                return BY_CONVERSATION, [row.id]
            return BY_CONVERSATION, list(session.scalars(
                select(ConversationRow.id).where(ConversationRow.visitor_hash == row.visitor_hash)))
        address = storable(email or "").strip()
        if not address or length_problem("email", address, EMAIL_CHARS):
            raise InvalidInput("Give the contact email the customer left (an address of at most 254 characters).")
        found = list(session.scalars(select(ConversationRow.id)
                                     .where(func.lower(ConversationRow.contact_email) == address.lower())))
        if not found:
            raise InvalidConversation(f"No conversation left the contact email {address!r}: nothing to delete.")
        return BY_EMAIL, found

    @retry_when_busy
    def delete(self, by: str, reason: str, conversation_id: str | None = None, email: str | None = None,
               visitor_token: str | None = None) -> PrivacyDeletion:
        """Delete the visitor's conversations (see the module's docstring) as staff member `by`,
        for `reason` (required), and record it. `InvalidConversation` for an unknown conversation,
        or a token or email no conversation has; `InvalidInput` for a missing reason, not exactly
        one selector, or a malformed token."""
        by, reason = check_staff_name(by), _check_reason(reason)
        with transaction(self._engine) as session:
            if self._engine.dialect.name == "sqlite":  # freed pages are zeroed, not left readable
                session.execute(text("PRAGMA secure_delete = ON"))
            selected_by, ids = self._selected(session, conversation_id, email, visitor_token)
            doomed = dependent_tables(ids)
            digest, counts = _rows_digest(session, doomed)
            for table, condition in doomed:  # children first
                session.execute(table.delete().where(condition))
            row = PrivacyDeletionRow(deleted_at=utcnow(), deleted_by=by, reason=reason, selected_by=selected_by,
                                     conversations=counts.get("conversations", 0), messages=counts.get("messages", 0),
                                     turns=counts.get("turn_traces", 0), content_sha256=digest)
            session.add(row)
            session.flush()
            done = _record(row)
        self._fold_log()
        return done

    def _fold_log(self) -> None:
        # SQLite keeps the old pages in the write-ahead log until a checkpoint: fold it back now
        # (a reader in the middle of a read may keep some of it until the next checkpoint).
        if self._engine.dialect.name == "sqlite":
            with database_errors(self._engine), self._engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    @retry_when_busy
    def records(self, limit: int = 200) -> list[PrivacyDeletion]:
        """The deletions done, newest first."""
        with database_errors(self._engine), Session(self._engine) as session:
            return [_record(row) for row in session.scalars(
                select(PrivacyDeletionRow).order_by(PrivacyDeletionRow.id.desc()).limit(limit))]
