"""The conversation log: every turn with its provenance, PII redacted, on SQLite or PostgreSQL.

    >>> store = ConversationStore(create_db_engine(url))   # schema made by upgrade_database(url)
    >>> cid = store.ensure_conversation(None, channel="web")
    >>> store.log_turn(cid, "Where is my parcel?", reply)  # -> the turn's trace id
    >>> store.history(cid, limit_turns=3)                  # -> [ChatMessage(...), ...]
    >>> store.label_turn(trace_id, "shipping-time", review="approved")
    >>> store.labelled_turns(reviews={"approved", "corrected"})  # -> [LabelledTurn(...), ...]

Conversation ids are issued here (`chatbot.conversations.ids`); an id the store did not issue
is an `InvalidConversation`. The driver's errors surface as the typed errors of `chatbot.errors`
(`DatabaseUnavailable`, `DatabaseBusy` after a few retries, `InvalidInput`).

Every text written here passes the one text boundary, `knowledge_base.storable`, after PII
redaction: a lone surrogate or a NUL in a customer's message is logged as U+FFFD, the same on
SQLite and PostgreSQL, and never refuses the turn. Only a value over its column's size (checked
here, so that both databases say the same) is an `InvalidInput`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql import Subquery

from chatbot.conversations.database import check_writable, database_errors, retry_when_busy
from chatbot.conversations.feed import ConversationFeed
from chatbot.conversations.feedback import FeedbackStore
from chatbot.conversations.handoff import HandoffDesk, enter_waiting
from chatbot.conversations.inbox import Inbox
from chatbot.conversations.privacy import PrivacyDesk
from chatbot.conversations.search import ConversationSearch
from chatbot.conversations.visitors import VisitorBindings
from chatbot.conversations.unanswered import UnansweredLog
from chatbot.conversations.ids import check_conversation_id, new_conversation_id, unknown_message
from chatbot.conversations.tables import (CHANNEL_CHARS, GENERATOR_CHARS, LANGUAGE_CHARS, ConversationRow,
                                          MessageRow, TurnTraceRow)
from chatbot.errors import InvalidConversation, InvalidInput
from chatbot.messages import ChatMessage, Reply
from chatbot.conversations.redaction import redact_pii
from chatbot.conversations.labels import (
    LabelledTurn,
    LoggedTurn,
    TurnLabel,
    TurnLabelRow,
    UnknownTurn,
    check_label,
    label_of,
)
from knowledge_base.db_models import utcnow
from knowledge_base.storable import length_problem, storable, storable_value
# The records the store hands out, in a module of their own (re-exported: callers import them here).
from chatbot.conversations.records import (  # noqa: F401
    ConversationSummary,
    KeyedTurn,
    LastTurn,
    StoredMessage,
    Transcript,
    TurnAlreadyLogged,
    TurnTrace,
    as_utc,
    summary_of,
    trace_of,
)

def _decision(reply: Reply) -> str:
    """The trace's decision: "rejected", else the reply's action (answer, abstain, clarify,
    smalltalk, handoff)."""
    return "rejected" if reply.rejected else reply.kind


def _traced_entries(reply: Reply) -> tuple[list[str], list[float]]:
    """The entries a turn names, with their scores: the sources of an answer, or the options
    of a clarification (so that the customer's choice can be checked against them)."""
    if reply.citations:
        return [c.entry_id for c in reply.citations], [float(c.score) for c in reply.citations]
    scores = {hit.entry.id: float(hit.score) for hit in reply.hits}
    return [o.entry_id for o in reply.options], [scores.get(o.entry_id, 0.0) for o in reply.options]


def _turn_counts() -> Subquery:
    """Conversation id -> number of logged turns."""
    return (
        select(TurnTraceRow.conversation_id, func.count(TurnTraceRow.id).label("turns"))
        .group_by(TurnTraceRow.conversation_id)
        .subquery()
    )


def _logged_question(user_text: str) -> str:
    """A customer's message as the log keeps it: PII redacted, then storable."""
    return storable(redact_pii(user_text))


def _fitted(field: str, text: str, limit: int) -> str:
    """`text` made storable, after checking it fits its column; `InvalidInput` naming the field
    and its limit if not."""
    text = storable(text)
    problem = length_problem(field, text, limit)
    if problem:
        raise InvalidInput(f"The turn cannot be stored: its {problem}.")
    return text


def _trace_row(conversation_id: str, user: MessageRow, assistant: MessageRow, reply: Reply,
               now: datetime) -> TurnTraceRow:
    """The trace of a turn, every text in it storable; the query is PII-redacted first."""
    grounding = reply.grounding
    entry_ids, scores = _traced_entries(reply)
    return TurnTraceRow(
        conversation_id=conversation_id, user_message_id=user.id, assistant_message_id=assistant.id,
        query=storable(redact_pii(reply.query)), language=_fitted("language", reply.language, LANGUAGE_CHARS),
        decision=_decision(reply), entry_ids=storable_value(entry_ids),
        scores=scores,
        generator=_fitted("generator", reply.generator, GENERATOR_CHARS), kb_version=int(reply.kb_version),
        latency_ms=float(reply.latency_ms),
        timings={storable(name): float(ms) for name, ms in reply.timings_ms.items()}, created_at=now,
        grounded=grounding.grounded if grounding else None,
        grounding_reasons=storable_value(list(grounding.reasons)) if grounding else [],
        # As given, like the answers: staff review it for what exactly the model made up.
        replaced_answer=storable(reply.replaced_answer),
    )


class ConversationStore:
    """Conversations, their messages and turn traces, in the product database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # The parts of the log that people add to (issue 12): hand-off and staff replies, the
        # customer's feed of messages, feedback, and which visitor a conversation is bound to.
        self.handoff = HandoffDesk(engine)
        self.feed = ConversationFeed(engine)
        self.feedback = FeedbackStore(engine)
        self.visitors = VisitorBindings(engine)
        # The staff's view of the log (issue 15): search and export, the inbox, privacy deletions.
        self.search = ConversationSearch(engine)
        self.inbox = Inbox(engine)
        self.privacy = PrivacyDesk(engine)
        self.unanswered = UnansweredLog(engine)  # the unanswered queue's turns (chatbot.staff.unanswered)

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with database_errors(self._engine), Session(self._engine) as session:
            yield session

    @retry_when_busy
    def start_conversation(self, channel: str = "web") -> str:
        """Create a conversation and return its new, unguessable id (`new_conversation_id`)."""
        conversation_id = new_conversation_id()
        channel = _fitted("channel", channel, CHANNEL_CHARS)
        with self._session() as session, session.begin():
            session.add(ConversationRow(id=conversation_id, channel=channel))
        return conversation_id

    def ensure_conversation(self, conversation_id: str | None, channel: str = "web") -> str:
        """Start a conversation when `conversation_id` is None, else return the stored one's id.

        Ids are issued by the server only: a malformed id, or a well-formed one that names no
        stored conversation, raises `InvalidConversation` (its message says to leave the id out
        to start a new conversation); it is never adopted.
        """
        if conversation_id is None:
            return self.start_conversation(channel)
        check_conversation_id(conversation_id)
        if not self._is_stored(conversation_id):
            raise InvalidConversation(unknown_message(conversation_id))
        return conversation_id

    @retry_when_busy
    def _is_stored(self, conversation_id: str) -> bool:
        with self._session() as session:
            return session.get(ConversationRow, conversation_id) is not None

    @retry_when_busy
    def check_reachable(self) -> None:
        """Raise `DatabaseUnavailable`, or `DatabaseBusy` after retries, unless the database can
        be written now (`check_writable`): a turn is not worked on when it could not be logged."""
        check_writable(self._engine)

    @retry_when_busy
    def log_turn(self, conversation_id: str, user_text: str, reply: Reply, channel: str = "unknown",
                 turn_key: str | None = None, visitor_hash: str | None = None) -> int:
        """Store the user message (PII redacted), the reply and its trace in one transaction.

        The conversation is created with the turn (on `channel`) if it is not stored yet, so that
        a conversation never exists without a turn and a turn is never lost. Every text is made
        storable (lone surrogates and NUL become U+FFFD) after redaction. Returns the trace id.
        `InvalidInput` only for a value over its column's size. `turn_key`: the client's
        idempotency key (checked by `check_turn_key`), unique over the log; `TurnAlreadyLogged`
        when another attempt of the turn took it first (nothing of this one is written). A new
        conversation is bound to `visitor_hash` (`chatbot.conversations.visitors`; None: to no
        visitor); a hand-off reply makes the conversation wait for a human
        (`chatbot.conversations.handoff`).
        """
        channel = _fitted("channel", channel, CHANNEL_CHARS)
        try:
            return self._write_turn(conversation_id, user_text, reply, channel, turn_key, visitor_hash)
        except IntegrityError as error:
            if turn_key is not None and self.find_turn(turn_key, user_text) is not None:
                raise TurnAlreadyLogged(turn_key) from error
            raise

    def _write_turn(self, conversation_id: str, user_text: str, reply: Reply, channel: str,
                    turn_key: str | None, visitor_hash: str | None) -> int:
        with self._session() as session, session.begin():
            now = utcnow()
            conversation = session.get(ConversationRow, conversation_id)
            if conversation is None:
                conversation = ConversationRow(id=conversation_id, channel=channel, created_at=now,
                                               visitor_hash=visitor_hash)
                session.add(conversation)
            conversation.updated_at = now
            if reply.action == "handoff":
                enter_waiting(conversation, now)
            conversation.language = _fitted("language", reply.language, LANGUAGE_CHARS) or conversation.language
            user = MessageRow(conversation_id=conversation_id, role="user",
                              content=_logged_question(user_text), created_at=now)
            # The answer is stored as given: it quotes the knowledge base (support phone numbers).
            assistant = MessageRow(conversation_id=conversation_id, role="assistant",
                                   content=storable(reply.answer), created_at=now)
            session.add_all([user, assistant])
            session.flush()
            trace = _trace_row(conversation_id, user, assistant, reply, now)
            trace.turn_key = turn_key
            session.add(trace)
            session.flush()
            return trace.id

    @retry_when_busy
    def find_turn(self, turn_key: str, user_text: str) -> KeyedTurn | None:
        """The turn logged under `turn_key`, or None. `InvalidInput` when it was logged for
        another message than `user_text` (a key reused for a new message is the client's bug;
        answering it with another question's answer would be wrong)."""
        user, assistant = aliased(MessageRow), aliased(MessageRow)
        query = (
            select(TurnTraceRow, user.content, assistant.content)
            .join(user, TurnTraceRow.user_message_id == user.id)
            .join(assistant, TurnTraceRow.assistant_message_id == assistant.id)
            .where(TurnTraceRow.turn_key == turn_key)
        )
        with self._session() as session:
            found = session.execute(query).first()
        if found is None:
            return None
        trace, question, answer = found
        if question != _logged_question(user_text):
            raise InvalidInput(f"The turn key {turn_key!r} was already used for another message: "
                               "send a new key with each new message, and the same key only to retry one.")
        with self._session() as session:
            first = session.scalar(select(func.min(TurnTraceRow.id))
                                   .where(TurnTraceRow.conversation_id == trace.conversation_id))
        return KeyedTurn(trace.conversation_id, question, answer, trace_of(trace), first == trace.id)

    @retry_when_busy
    def history(self, conversation_id: str, limit_turns: int) -> list[ChatMessage]:
        """The last `limit_turns` turns as user/assistant messages, oldest first.

        Rejected turns are left out: a refused message must not reach the generator this way.
        """
        if limit_turns <= 0:
            return []
        user, assistant = aliased(MessageRow), aliased(MessageRow)
        query = (
            select(user.content, assistant.content)
            .select_from(TurnTraceRow)
            .join(user, TurnTraceRow.user_message_id == user.id)
            .join(assistant, TurnTraceRow.assistant_message_id == assistant.id)
            .where(TurnTraceRow.conversation_id == conversation_id, TurnTraceRow.decision != "rejected")
            .order_by(TurnTraceRow.id.desc())
            .limit(limit_turns)
        )
        with self._session() as session:
            rows = session.execute(query).all()
        messages: list[ChatMessage] = []
        for question, answer in reversed(rows):
            messages += [ChatMessage("user", question), ChatMessage("assistant", answer)]
        return messages

    @retry_when_busy
    def last_turn(self, conversation_id: str, decision: str | None = None) -> LastTurn | None:
        """The conversation's latest turn, or its latest of `decision` ("clarify", ...); None if
        it has none."""
        query = select(TurnTraceRow).where(TurnTraceRow.conversation_id == conversation_id)
        if decision is not None:
            query = query.where(TurnTraceRow.decision == decision)
        with self._session() as session:
            row = session.scalars(query.order_by(TurnTraceRow.id.desc()).limit(1)).first()
            if row is None:
                return None
            return LastTurn(row.id, row.decision, list(row.entry_ids or []), [float(x) for x in row.scores or []],
                            row.query, row.language)

    def list_conversations(self, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
        """Conversations, most recently active first, with their number of turns."""
        counts = _turn_counts()
        query = (
            select(ConversationRow, func.coalesce(counts.c.turns, 0))
            .outerjoin(counts, counts.c.conversation_id == ConversationRow.id)
            .order_by(ConversationRow.updated_at.desc(), ConversationRow.id)
            .limit(limit)
            .offset(offset)
        )
        with self._session() as session:
            return [summary_of(row, turns) for row, turns in session.execute(query).all()]

    def get_transcript(self, conversation_id: str) -> Transcript | None:
        """Every message of a conversation with its turn's trace, oldest first; None if unknown."""
        with self._session() as session:
            conversation = session.get(ConversationRow, conversation_id)
            if conversation is None:
                return None
            traces = session.scalars(
                select(TurnTraceRow).where(TurnTraceRow.conversation_id == conversation_id)
            ).all()
            by_message: dict[int, TurnTrace] = {}
            for row in traces:
                by_message[row.user_message_id] = by_message[row.assistant_message_id] = trace_of(row)
            rows = session.scalars(
                select(MessageRow)
                .where(MessageRow.conversation_id == conversation_id)
                .order_by(MessageRow.id)
            ).all()
            messages = [
                StoredMessage(m.id, m.role, m.content, as_utc(m.created_at), by_message.get(m.id), m.author)
                for m in rows
            ]
            return Transcript(summary_of(conversation, len(traces)), messages)

    def count_turns(self) -> int:
        """How many turns are logged, over all conversations."""
        with self._session() as session:
            return session.scalar(select(func.count(TurnTraceRow.id))) or 0

    # -- staff labels (chatbot.conversations.labels) ------------------------------------------------------
    def label_turn(self, turn_id: int, expected_id: str | None, review: str | None = None,
                   corrected_answer: str | None = None, labelled_by: str = "") -> TurnLabel:
        """Label a logged turn, replacing any earlier label: `expected_id` is the entry that should
        have answered it (None: out of scope); `review` is "approved", or "corrected" with the
        `corrected_answer`, or None. Raises `UnknownTurn` for an unknown id, `LabelError` for a
        review that does not fit or a field over its column's size. Every text is made storable
        (`knowledge_base.storable`). The entry id is not checked here (the KB lives in another
        package): `Services.label_turn` checks it.
        """
        expected_id, corrected, labelled_by = check_label(expected_id, review, corrected_answer, labelled_by)
        with self._session() as session, session.begin():
            if session.get(TurnTraceRow, turn_id) is None:
                raise UnknownTurn(f"no logged turn has id {turn_id} (see `chatbot logs list`)")
            row = session.get(TurnLabelRow, turn_id)
            if row is None:
                row = TurnLabelRow(turn_id=turn_id)
                session.add(row)
            row.expected_entry_id, row.review, row.corrected_answer = expected_id, review, corrected
            row.labelled_by, row.labelled_at = labelled_by, utcnow()
            session.flush()
            return label_of(row)

    def labelled_turns(self, reviews: Collection[str] | None = None,
                       limit: int | None = None) -> list[LabelledTurn]:
        """Labelled turns, oldest first; `reviews` keeps those reviewed so (e.g. {"approved",
        "corrected"} for fine-tuning), None keeps all."""
        user, assistant = aliased(MessageRow), aliased(MessageRow)
        query = (
            select(TurnTraceRow, TurnLabelRow, user.content, assistant.content)
            .join(TurnLabelRow, TurnLabelRow.turn_id == TurnTraceRow.id)
            .join(user, TurnTraceRow.user_message_id == user.id)
            .join(assistant, TurnTraceRow.assistant_message_id == assistant.id)
            .order_by(TurnTraceRow.id)
            .limit(limit)
        )
        if reviews is not None:
            query = query.where(TurnLabelRow.review.in_(list(reviews)))
        with self._session() as session:
            return [
                LabelledTurn(trace.id, trace.conversation_id, trace.query, question, answer, trace.language,
                             trace.decision, list(trace.entry_ids or []), label_of(label))
                for trace, label, question, answer in session.execute(query).all()
            ]

    def recent_turns(self, limit: int = 20) -> list[LoggedTurn]:
        """The latest `limit` turns over all conversations, newest first, with their labels."""
        user = aliased(MessageRow)
        query = (
            select(TurnTraceRow, user.content, TurnLabelRow)
            .join(user, TurnTraceRow.user_message_id == user.id)
            .outerjoin(TurnLabelRow, TurnLabelRow.turn_id == TurnTraceRow.id)
            .order_by(TurnTraceRow.id.desc())
            .limit(limit)
        )
        with self._session() as session:
            turns = []
            for trace, question, label in session.execute(query).all():
                cited, scores = list(trace.entry_ids or []), list(trace.scores or [])
                turns.append(LoggedTurn(
                    trace.id, trace.conversation_id, as_utc(trace.created_at), question, trace.decision,
                    cited[0] if cited else None, float(scores[0]) if scores else None,
                    label_of(label) if label is not None else None,
                ))
            return turns
