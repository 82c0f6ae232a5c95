"""Customers' feedback on answers: thumbs up or down with an optional comment, stored with the
turn (keyed by its trace id, the `turn_id` of `Reply` and of `/api/ask`'s answer). A second vote
on a turn replaces the first.

    >>> feedback = FeedbackStore(engine)
    >>> feedback.give(turn_id, "down", "It did not answer my question")
    >>> feedback.of_turn(turn_id).rating
    'down'

Who may give it (the conversation's visitor) is `chatbot.services`' check; this store only
stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.handoff import aware
from chatbot.conversations.tables import FEEDBACK_COMMENT_CHARS, FeedbackRow, TurnTraceRow
from chatbot.errors import InvalidConversation, InvalidInput
from knowledge_base.db_models import utcnow
from knowledge_base.storable import length_problem, storable

UP, DOWN = "up", "down"
RATINGS = (UP, DOWN)


@dataclass(frozen=True, slots=True)
class Feedback:
    """A customer's verdict on one turn's answer."""

    turn_id: int
    rating: str  # "up" | "down"
    comment: str
    given_at: datetime


def unknown_turn(turn_id: int) -> InvalidConversation:
    """The error for a turn that is not there, or not the asker's to rate: both read alike, so
    that a stranger learns nothing (not even which conversation a turn belongs to)."""
    return InvalidConversation(f"No turn has the id {turn_id}: give feedback on an answer of your conversation.")


def check_feedback(rating: str, comment: str | None) -> tuple[str, str]:
    """The rating and the comment made storable (trimmed); `InvalidInput` for a rating other than
    up/down or a comment over `FEEDBACK_COMMENT_CHARS`."""
    if rating not in RATINGS:
        raise InvalidInput(f"The rating {str(rating)[:20]!r} is not one of {', '.join(RATINGS)}.")
    comment = storable(comment or "").strip()
    problem = length_problem("comment", comment, FEEDBACK_COMMENT_CHARS)
    if problem:
        raise InvalidInput(f"The feedback cannot be stored: its {problem}.")
    return rating, comment


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(row.turn_id, row.rating, row.comment, aware(row.given_at))


class FeedbackStore:
    """Feedback on logged turns, in the product database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def turn_conversation(self, turn_id: int) -> str | None:
        """The id of the conversation that `turn_id` belongs to, or None if no turn has it."""
        with database_errors(self._engine), Session(self._engine) as session:
            trace = session.get(TurnTraceRow, turn_id)
            return None if trace is None else trace.conversation_id

    def give(self, turn_id: int, rating: str, comment: str | None = None) -> Feedback:
        """Store `rating` ("up" | "down") and `comment` on the turn, replacing earlier feedback;
        `InvalidConversation` (`unknown_turn`) if no turn has the id."""
        rating, comment = check_feedback(rating, comment)
        try:
            return self._write(turn_id, rating, comment)
        except IntegrityError:
            # Two first votes at once (a double click): the other inserted the row first; this
            # one replaces it, as a second vote does.
            return self._write(turn_id, rating, comment)

    @retry_when_busy
    def _write(self, turn_id: int, rating: str, comment: str) -> Feedback:
        with transaction(self._engine) as session:
            if session.get(TurnTraceRow, turn_id) is None:
                raise unknown_turn(turn_id)
            row = session.get(FeedbackRow, turn_id)
            if row is None:
                row = FeedbackRow(turn_id=turn_id)
                session.add(row)
            row.rating, row.comment, row.given_at = rating, comment, utcnow()
            session.flush()
            return _feedback(row)

    @retry_when_busy
    def of_turn(self, turn_id: int) -> Feedback | None:
        """The feedback on a turn, or None."""
        with database_errors(self._engine), Session(self._engine) as session:
            row = session.get(FeedbackRow, turn_id)
            return None if row is None else _feedback(row)
