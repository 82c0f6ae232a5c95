"""Hand-off to a human (DESIGN.md "Conversations with people in them").

A conversation is `bot` (the bot answers), `waiting` (the customer asked for a human; nobody has
taken it yet) or `human` (held by a named staff member). Logging a turn whose reply is a
hand-off (`Reply.action == "handoff"`) makes it `waiting`, in the turn's own transaction
(`enter_waiting`, called by `ConversationStore.log_turn`). While it is `waiting` or `human` the
bot stays quiet: the engine relays the customer's message to the log (`relay_if_held`) and
generates nothing. Staff see the waiting conversations, take one, reply (which takes it too) and
release it back to the bot.

    >>> desk = HandoffDesk(engine)
    >>> [w.id for w in desk.waiting()]              # oldest first
    >>> desk.staff_reply(cid, "Alice", "Hello, I am looking at your order now.")
    >>> desk.release(cid)                            # the bot answers again

Every message records its author: "customer", "bot" or "staff:<name>" (`staff_author`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.ids import check_conversation_id, unknown_message
from chatbot.conversations.redaction import redact_pii
from chatbot.conversations.tables import (BOT, CUSTOMER_AUTHOR, HUMAN, STAFF_NAME_CHARS, STAFF_PREFIX, WAITING,
                                          ConversationRow, MessageRow)
from chatbot.errors import InvalidConversation, InvalidInput
from knowledge_base.db_models import utcnow
from knowledge_base.storable import length_problem, storable

STATES = (BOT, WAITING, HUMAN)


@dataclass(frozen=True, slots=True)
class HandoffState:
    """Where a conversation stands: `state` is one of STATES; `held_by` names the staff member
    who holds a `human` one."""

    conversation_id: str
    state: str
    held_by: str | None = None


@dataclass(frozen=True, slots=True)
class WaitingConversation:
    """A conversation waiting for a human, for staff to pick from."""

    id: str
    waiting_since: datetime
    channel: str
    language: str
    last_message: str  # the customer's latest message, as logged (PII redacted)
    contact_email: str | None


def aware(moment: datetime) -> datetime:
    """`moment` as an aware UTC time: SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def staff_author(name: str) -> str:
    """The author of a staff member's message: "staff:<name>"."""
    return f"{STAFF_PREFIX}{name}"


def author_parts(author: str) -> tuple[str, str | None]:
    """("customer" | "bot" | "staff", the staff member's name or None) of a stored author."""
    if author.startswith(STAFF_PREFIX):
        return "staff", author.removeprefix(STAFF_PREFIX)
    return author, None


def check_staff_name(name: str) -> str:
    """The staff member's name, trimmed and storable; `InvalidInput` if empty or over its size."""
    name = " ".join(storable(name).split())
    if not name:
        raise InvalidInput("The staff member's name is empty: give one (e.g. --as Alice).")
    problem = length_problem("staff name", name, STAFF_NAME_CHARS)
    if problem:
        raise InvalidInput(f"The staff member's name cannot be stored: its {problem}.")
    return name


def check_staff_text(text: str, max_chars: int) -> str:
    """A staff reply made storable; `InvalidInput` if it is empty or over `max_chars`."""
    text = storable(text).strip()
    if not text:
        raise InvalidInput("The reply is empty: write something for the customer.")
    problem = length_problem("reply", text, max_chars)
    if problem:
        raise InvalidInput(f"The reply cannot be sent: its {problem}.")
    return text


def enter_waiting(conversation: ConversationRow, now: datetime) -> None:
    """A hand-off turn was logged: a conversation of the bot's now waits for a human (from `now`,
    which the contact-email timeout counts from). One already waiting or held stays as it is."""
    if conversation.state in (None, BOT):
        conversation.state, conversation.held_by, conversation.waiting_since = WAITING, None, now


class HandoffDesk:
    """The hand-off state of conversations, and staff messages, in the product database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @staticmethod
    def _conversation(session: Session, conversation_id: str) -> ConversationRow:
        check_conversation_id(conversation_id)
        row = session.get(ConversationRow, conversation_id)
        if row is None:
            raise InvalidConversation(unknown_message(conversation_id))
        return row

    @retry_when_busy
    def state(self, conversation_id: str) -> HandoffState:
        """The conversation's state; `InvalidConversation` for an unknown id."""
        with transaction(self._engine) as session:
            row = self._conversation(session, conversation_id)
            return HandoffState(row.id, row.state, row.held_by)

    @retry_when_busy
    def relay_if_held(self, conversation_id: str, text: str) -> str | None:
        """If a human was asked for or holds the conversation, log the customer's `text` (PII
        redacted, storable) for staff and return the state; None (nothing logged) when the bot
        answers it. One transaction, so a release in between cannot lose the message."""
        with transaction(self._engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None or row.state == BOT:
                return None
            now = utcnow()
            row.updated_at = now
            session.add(MessageRow(conversation_id=conversation_id, role="user", author=CUSTOMER_AUTHOR,
                                   content=storable(redact_pii(text)), created_at=now))
            return row.state

    @retry_when_busy
    def waiting(self, limit: int = 100) -> list[WaitingConversation]:
        """Conversations waiting for a human, the longest waiting first."""
        last_message = (
            select(MessageRow.content)
            .where(MessageRow.conversation_id == ConversationRow.id, MessageRow.author == CUSTOMER_AUTHOR)
            .order_by(MessageRow.id.desc())
            .limit(1)
            .correlate(ConversationRow)
            .scalar_subquery()
        )
        query = (
            select(ConversationRow, last_message)
            .where(ConversationRow.state == WAITING)
            .order_by(ConversationRow.waiting_since, ConversationRow.id)
            .limit(limit)
        )
        with database_errors(self._engine), Session(self._engine) as session:
            return [
                WaitingConversation(row.id, aware(row.waiting_since or row.updated_at), row.channel, row.language,
                                    message or "", row.contact_email)
                for row, message in session.execute(query).all()
            ]

    @retry_when_busy
    def take(self, conversation_id: str, staff: str) -> HandoffState:
        """`staff` holds the conversation from now: the bot stays quiet in it. Taking one that
        another staff member holds hands it over."""
        staff = check_staff_name(staff)
        with transaction(self._engine) as session:
            row = self._conversation(session, conversation_id)
            row.state, row.held_by = HUMAN, staff
            return HandoffState(row.id, row.state, row.held_by)

    @retry_when_busy
    def staff_reply(self, conversation_id: str, staff: str, text: str, max_chars: int) -> int:
        """Log `text` as `staff`'s message to the customer (it reaches their page through the
        messages feed) and take the conversation for `staff`. Returns the message id. The text
        is made storable and must hold something and fit `max_chars` (`InvalidInput`)."""
        staff, text = check_staff_name(staff), check_staff_text(text, max_chars)
        with transaction(self._engine) as session:
            row = self._conversation(session, conversation_id)
            now = utcnow()
            row.state, row.held_by, row.updated_at = HUMAN, staff, now
            # Staff text is stored as written: like the bot's answers, it may quote a support number.
            message = MessageRow(conversation_id=conversation_id, role="assistant", author=staff_author(staff),
                                 content=text, created_at=now)
            session.add(message)
            session.flush()
            return message.id

    @retry_when_busy
    def release(self, conversation_id: str) -> HandoffState:
        """Give the conversation back to the bot: it answers the customer's next message."""
        with transaction(self._engine) as session:
            row = self._conversation(session, conversation_id)
            row.state, row.held_by, row.waiting_since = BOT, None, None
            return HandoffState(row.id, row.state, row.held_by)
