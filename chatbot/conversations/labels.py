"""Staff labels on logged turns: which entry should have answered (or none: out of scope), and
whether the bot's answer was approved or corrected.

The labels feed the answer-threshold calibration (knowledge_base.retrieval.calibration, through
chatbot.services) and fine-tuning (approved and corrected answers). The table and its records
live here; `ConversationStore.label_turn` / `labelled_turns` / `recent_turns` read and write them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from knowledge_base.db_models import Base, utcnow
from knowledge_base.storable import length_problem, storable

APPROVED = "approved"
CORRECTED = "corrected"
REVIEWS = (APPROVED, CORRECTED)
EXPECTED_ID_CHARS = 128  # the columns' sizes, checked before writing (SQLite would not refuse)
LABELLED_BY_CHARS = 64


class LabelError(ValueError):
    """A label that cannot be stored; the message says why."""


class UnknownTurn(LabelError, LookupError):
    """No logged turn has this id."""


class UnknownEntry(LabelError, LookupError):
    """No live knowledge-base entry has this id."""


class TurnLabelRow(Base):
    """One label per turn (labelling again replaces it); the turn's deletion removes it."""

    __tablename__ = "turn_labels"

    turn_id: Mapped[int] = mapped_column(
        ForeignKey("turn_traces.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    # No foreign key to kb_entries: the KB is another package's, and a label outlives its entry.
    expected_entry_id: Mapped[str | None] = mapped_column(String(EXPECTED_ID_CHARS))  # None: out of scope
    review: Mapped[str | None] = mapped_column(String(16))  # "approved" | "corrected" | None
    corrected_answer: Mapped[str | None] = mapped_column(Text)
    labelled_by: Mapped[str] = mapped_column(String(LABELLED_BY_CHARS), default="")
    labelled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


@dataclass(frozen=True, slots=True)
class TurnLabel:
    """What staff said about a turn."""

    expected_id: str | None  # None: out of scope, the bot should have abstained
    review: str | None  # "approved" | "corrected" | None (not reviewed)
    corrected_answer: str | None
    labelled_by: str
    labelled_at: datetime

    @property
    def out_of_scope(self) -> bool:
        return self.expected_id is None


@dataclass(frozen=True, slots=True)
class LabelledTurn:
    """A labelled turn as logged, for calibration and fine-tuning.

    `query` is the text retrieval used (cleaned, PII redacted, a follow-up with its context);
    `question` and `answer` are the customer's message and the bot's reply as logged.
    """

    turn_id: int
    conversation_id: str
    query: str
    question: str
    answer: str
    language: str
    decision: str  # "answer" | "abstain" | "rejected"
    cited_ids: list[str]
    label: TurnLabel

    @property
    def expected_id(self) -> str | None:
        return self.label.expected_id

    @property
    def target_answer(self) -> str | None:
        """The answer staff stand behind: the correction, the approved reply, else None."""
        if self.label.review == CORRECTED:
            return self.label.corrected_answer
        return self.answer if self.label.review == APPROVED else None


@dataclass(frozen=True, slots=True)
class LoggedTurn:
    """A row of `chatbot logs list`: a recent turn, what the bot did, and its label if any."""

    turn_id: int
    conversation_id: str
    created_at: datetime
    question: str
    decision: str
    top_entry_id: str | None  # the first cited entry; None when the bot abstained
    top_score: float | None
    label: TurnLabel | None


def check_review(review: str | None, corrected_answer: str | None) -> str | None:
    """The corrected answer, stripped, after checking it goes with `review`; `LabelError` if not."""
    if review is not None and review not in REVIEWS:
        raise LabelError(f"review must be one of {', '.join(REVIEWS)} or None, not {review!r}")
    text = (corrected_answer or "").strip()
    if review == CORRECTED and not text:
        raise LabelError("a corrected answer needs its text")
    if review != CORRECTED and text:
        raise LabelError("a corrected answer's text goes with review 'corrected' only")
    return storable(text) or None


def check_label(expected_id: str | None, review: str | None, corrected_answer: str | None,
                labelled_by: str) -> tuple[str | None, str | None, str]:
    """The label's texts as they are stored: made storable (`knowledge_base.storable`: a lone
    surrogate or NUL becomes U+FFFD), the corrected answer checked by `check_review`; a
    `LabelError` if the review does not fit or a field is over its column's size."""
    corrected = check_review(review, corrected_answer)
    expected_id = None if expected_id is None else storable(expected_id)
    labelled_by = storable(labelled_by)
    problem = (length_problem("expected entry id", expected_id or "", EXPECTED_ID_CHARS)
               or length_problem("labeller's name", labelled_by, LABELLED_BY_CHARS))
    if problem:
        raise LabelError(f"the label cannot be stored: its {problem}")
    return expected_id, corrected, labelled_by


def label_of(row: TurnLabelRow) -> TurnLabel:
    """The record of a label row."""
    labelled_at = row.labelled_at
    if labelled_at.tzinfo is None:  # SQLite hands back naive datetimes; every stored time is UTC
        labelled_at = labelled_at.replace(tzinfo=timezone.utc)
    return TurnLabel(row.expected_entry_id, row.review, row.corrected_answer, row.labelled_by, labelled_at)
