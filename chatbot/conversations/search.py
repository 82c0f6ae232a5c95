"""Finding logged conversations for staff: filters, a page of them newest first, the turns of a
selection (for export) and one conversation in full (its transcript, each turn's trace and the
customer's feedback).

    >>> found = ConversationSearch(engine).search(check_filter(action="handoff", feedback="down"))
    >>> found.total, [c.id for c in found.conversations]
    >>> ConversationSearch(engine).detail(cid).messages[1].trace.entry_ids

Every filter narrows the selection (they combine with AND): the day it started (`date_from`,
`date_to`, inclusive, UTC), its language and channel, an action of any of its turns, feedback on
any of its turns ("up", "down" or "any"), a text contained in any of its messages (any case),
and its hand-off state. Bad values are `InvalidInput` saying what a good one is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, exists, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from chatbot.conversations.database import database_errors, retry_when_busy
from chatbot.conversations.feedback import Feedback
from chatbot.conversations.handoff import STATES, aware
from chatbot.conversations.ids import check_conversation_id, unknown_message
from chatbot.conversations.records import StoredMessage, TurnTrace, trace_of
from chatbot.conversations.tables import (CUSTOMER_AUTHOR, ConversationRow, FeedbackRow, MessageRow,
                                          TurnTraceRow)
from chatbot.errors import InvalidConversation, InvalidInput

# The decisions a turn's trace records (chatbot.conversations.store._decision).
ACTIONS = ("answer", "clarify", "abstain", "handoff", "smalltalk", "rejected")
FEEDBACK_CHOICES = ("up", "down", "any")
MAX_TEXT_CHARS = 200  # a search text longer than this is not a search
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class ConversationFilter:
    """Which conversations: every field None keeps all (`check_filter` builds a checked one)."""

    date_from: date | None = None
    date_to: date | None = None
    language: str | None = None
    channel: str | None = None
    action: str | None = None
    feedback: str | None = None
    text: str | None = None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationListing:
    """One conversation in a list: where and when, its hand-off state, what the bot did."""

    id: str
    created_at: datetime
    updated_at: datetime
    channel: str
    language: str
    state: str
    held_by: str | None
    turns: int
    first_question: str  # the customer's first message, as logged (PII redacted)
    actions: tuple[str, ...]  # the decisions of its turns, each once, in order of first use
    thumbs_up: int
    thumbs_down: int


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """A page of a search: `total` conversations match, `conversations` are those from `offset`."""

    total: int
    offset: int
    conversations: list[ConversationListing]


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    """A whole conversation: its listing, every message oldest first (each with its turn's
    trace), the feedback per turn id, and the contact the customer left."""

    conversation: ConversationListing
    messages: list[StoredMessage]
    feedback: dict[int, Feedback] = field(default_factory=dict)
    contact_email: str | None = None
    site_key: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedTurnRow:
    """One turn for an export: the conversation's where, the exchange, the trace, the feedback."""

    conversation_id: str
    channel: str
    question: str
    answer: str
    trace: TurnTrace
    feedback: Feedback | None


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(row.turn_id, row.rating, row.comment, aware(row.given_at))


def _day(value: str | date | None, name: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"The {name} date {value[:40]!r} is not a date: write it as YYYY-MM-DD.") from None


def _choice(value: str | None, name: str, choices: tuple[str, ...]) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if value not in choices:
        raise InvalidInput(f"The {name} {value[:40]!r} is not one of {', '.join(choices)}.")
    return value


def check_filter(date_from: str | date | None = None, date_to: str | date | None = None,
                 language: str | None = None, channel: str | None = None, action: str | None = None,
                 feedback: str | None = None, text: str | None = None,
                 state: str | None = None) -> ConversationFilter:
    """A filter from what a form or a query string gives (empty means "any"); `InvalidInput` for
    a date that is not YYYY-MM-DD, an action, feedback or state not among the known ones, or a
    search text over `MAX_TEXT_CHARS`."""
    text = " ".join((text or "").split())
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidInput(f"The search text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}.")
    start, end = _day(date_from, "from"), _day(date_to, "to")
    if start and end and end < start:
        raise InvalidInput(f"The dates are the wrong way round: {start} is after {end}.")
    return ConversationFilter(start, end, (language or "").strip()[:16] or None, (channel or "").strip()[:32] or None,
                              _choice(action, "action", ACTIONS), _choice(feedback, "feedback", FEEDBACK_CHOICES),
                              text or None, _choice(state, "state", STATES))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def filtered_ids(criteria: ConversationFilter) -> Select:
    """SELECT conversations.id of the conversations `criteria` keeps (a subquery for the others)."""
    query = select(ConversationRow.id)
    if criteria.date_from:
        query = query.where(ConversationRow.created_at >= _midnight(criteria.date_from))
    if criteria.date_to:
        query = query.where(ConversationRow.created_at < _midnight(criteria.date_to + timedelta(days=1)))
    if criteria.language:
        query = query.where(ConversationRow.language == criteria.language)
    if criteria.channel:
        query = query.where(ConversationRow.channel == criteria.channel)
    if criteria.state:
        query = query.where(ConversationRow.state == criteria.state)
    if criteria.action:
        query = query.where(exists().where(TurnTraceRow.conversation_id == ConversationRow.id,
                                           TurnTraceRow.decision == criteria.action))
    if criteria.feedback:
        rated = exists().where(FeedbackRow.turn_id == TurnTraceRow.id, TurnTraceRow.conversation_id == ConversationRow.id)
        if criteria.feedback != "any":
            rated = rated.where(FeedbackRow.rating == criteria.feedback)
        query = query.where(rated)
    if criteria.text:
        query = query.where(exists().where(MessageRow.conversation_id == ConversationRow.id,
                                           MessageRow.content.icontains(criteria.text, autoescape=True)))
    return query


class ConversationSearch:
    """Searches of the conversation log, for the console, its API and exports."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def search(self, criteria: ConversationFilter, limit: int = 50, offset: int = 0) -> ConversationPage:
        """The conversations `criteria` keeps, newest first (by start), `limit` from `offset`."""
        limit, offset = max(0, min(limit, MAX_PAGE)), max(0, offset)
        ids = filtered_ids(criteria).subquery()
        with database_errors(self._engine), Session(self._engine) as session:
            total = session.scalar(select(func.count()).select_from(ids)) or 0
            rows = session.scalars(select(ConversationRow).where(ConversationRow.id.in_(select(ids.c.id)))
                                   .order_by(ConversationRow.created_at.desc(), ConversationRow.id)
                                   .limit(limit).offset(offset)).all()
            return ConversationPage(total, offset, _listings(session, rows))

    @retry_when_busy
    def facets(self) -> dict[str, list[str]]:
        """The channels and languages the log holds, for a filter form's choices."""
        with database_errors(self._engine), Session(self._engine) as session:
            return {name: sorted(v for v in session.scalars(select(column).distinct()) if v)
                    for name, column in (("channel", ConversationRow.channel), ("language", ConversationRow.language))}

    @retry_when_busy
    def detail(self, conversation_id: str) -> ConversationDetail:
        """The conversation in full; `InvalidConversation` for an unknown id."""
        check_conversation_id(conversation_id)
        with database_errors(self._engine), Session(self._engine) as session:
            row = session.get(ConversationRow, conversation_id)
            if row is None:
                raise InvalidConversation(unknown_message(conversation_id))
            traces = session.scalars(select(TurnTraceRow).where(TurnTraceRow.conversation_id == conversation_id)).all()
            by_message: dict[int, TurnTrace] = {}
            for trace in traces:
                by_message[trace.user_message_id] = by_message[trace.assistant_message_id] = trace_of(trace)
            messages = [StoredMessage(m.id, m.role, m.content, aware(m.created_at), by_message.get(m.id), m.author)
                        for m in session.scalars(select(MessageRow).where(MessageRow.conversation_id == conversation_id)
                                                 .order_by(MessageRow.id))]
            feedback = {f.turn_id: _feedback(f) for f in session.scalars(
                select(FeedbackRow).where(FeedbackRow.turn_id.in_([t.id for t in traces])))}
            return ConversationDetail(_listings(session, [row])[0], messages, feedback, row.contact_email,
                                      row.site_key)

    def turns(self, criteria: ConversationFilter, max_turns: int, batch: int = 500) -> Iterator[LoggedTurnRow]:
        """Every turn of the conversations `criteria` keeps, oldest first, at most `max_turns`,
        read `batch` at a time (a large export never sits in memory whole)."""
        after, left = 0, max_turns
        while left > 0:
            size = min(batch, left)
            rows = self._turn_batch(criteria, after, size)
            yield from rows
            left -= len(rows)
            if len(rows) < size:
                return
            after = rows[-1].trace.id

    @retry_when_busy
    def _turn_batch(self, criteria: ConversationFilter, after: int, limit: int) -> list[LoggedTurnRow]:
        user, assistant = aliased(MessageRow), aliased(MessageRow)
        query = (select(TurnTraceRow, ConversationRow.channel, user.content, assistant.content, FeedbackRow)
                 .join(ConversationRow, ConversationRow.id == TurnTraceRow.conversation_id)
                 .join(user, user.id == TurnTraceRow.user_message_id)
                 .join(assistant, assistant.id == TurnTraceRow.assistant_message_id)
                 .outerjoin(FeedbackRow, FeedbackRow.turn_id == TurnTraceRow.id)
                 .where(TurnTraceRow.id > after, TurnTraceRow.conversation_id.in_(filtered_ids(criteria)))
                 .order_by(TurnTraceRow.id).limit(limit))
        with database_errors(self._engine), Session(self._engine) as session:
            return [LoggedTurnRow(trace.conversation_id, channel, question, answer, trace_of(trace),
                                  _feedback(rating) if rating is not None else None)
                    for trace, channel, question, answer, rating in session.execute(query).all()]


def _listings(session: Session, rows: list[ConversationRow]) -> list[ConversationListing]:
    """The listings of `rows`, in their order: three grouped queries for the whole page."""
    ids = [row.id for row in rows]
    if not ids:
        return []
    decisions: dict[str, list[str]] = {}
    for cid, decision in session.execute(select(TurnTraceRow.conversation_id, TurnTraceRow.decision)
                                         .where(TurnTraceRow.conversation_id.in_(ids)).order_by(TurnTraceRow.id)):
        seen = decisions.setdefault(cid, [])
        if decision not in seen:
            seen.append(decision)
    turns = dict(session.execute(select(TurnTraceRow.conversation_id, func.count(TurnTraceRow.id))
                                 .where(TurnTraceRow.conversation_id.in_(ids)).group_by(TurnTraceRow.conversation_id)).all())
    ratings: dict[tuple[str, str], int] = {
        (cid, rating): n for cid, rating, n in session.execute(
            select(TurnTraceRow.conversation_id, FeedbackRow.rating, func.count())
            .join(FeedbackRow, FeedbackRow.turn_id == TurnTraceRow.id)
            .where(TurnTraceRow.conversation_id.in_(ids)).group_by(TurnTraceRow.conversation_id, FeedbackRow.rating))}
    first_ids = (select(func.min(MessageRow.id)).where(MessageRow.conversation_id.in_(ids),
                                                       MessageRow.author == CUSTOMER_AUTHOR)
                 .group_by(MessageRow.conversation_id))
    firsts = dict(session.execute(select(MessageRow.conversation_id, MessageRow.content)
                                  .where(MessageRow.id.in_(first_ids))).all())
    return [ConversationListing(row.id, aware(row.created_at), aware(row.updated_at), row.channel, row.language,
                                row.state, row.held_by, turns.get(row.id, 0), firsts.get(row.id, ""),
                                tuple(decisions.get(row.id, [])), ratings.get((row.id, "up"), 0),
                                ratings.get((row.id, "down"), 0))
            for row in rows]
