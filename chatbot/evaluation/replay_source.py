"""What a replay re-runs: customer turns read from the conversation log (a slice of it), or from
a test set file, each with its logged history, the logged reply and any label.

    >>> turns = logged_turns(database, ReplaySlice(since=datetime(2026, 11, 1), labelled_only=True))
    >>> turns = turns_of_test_set(Path("cases.jsonl"))   # `chatbot eval` lines or {"turns": [...]}

Read-only: this module only SELECTs (the replay must leave the production log as it was).
Labels are the staff's (`turn_labels`), the customers' clarification choices (the same table,
labelled by "customer") and a test set's `expected_id`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from chatbot.conversations.database import database_errors
from chatbot.conversations.labels import TurnLabelRow
from chatbot.conversations.records import as_utc
from chatbot.conversations.tables import ConversationRow, FeedbackRow, MessageRow, TurnTraceRow
from chatbot.evaluation.cases import TestSetError
from chatbot.messages import ACTIONS, ChatMessage, Reply

HISTORY_CAP = 20  # the most turns of history a setting may ask for (`history_turns`' bound)
DECISIONS = (*ACTIONS, "rejected")
FEEDBACK = ("up", "down", "any", "none")


@dataclass(frozen=True, slots=True)
class LoggedReply:
    """What the bot in service did with a turn, as its trace recorded it."""

    answer: str
    action: str  # the trace's decision: answer, clarify, abstain, handoff, smalltalk, rejected
    entry_ids: list[str]  # the sources of an answer, or the options of a clarification
    scores: list[float]
    grounded: bool | None
    latency_ms: float
    language: str
    generator: str
    kb_version: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one engine (logged, baseline or candidate) did with one turn."""

    answer: str
    action: str  # answer | clarify | abstain | handoff | smalltalk | rejected
    entry_ids: list[str]  # an answer's sources, a clarification's options
    ranked_ids: list[str] = field(default_factory=list)  # every entry retrieved, best first
    scores: list[float] = field(default_factory=list)  # their scores
    grounded: bool | None = None
    latency_ms: float = 0.0
    language: str = ""

    @classmethod
    def of_reply(cls, reply: Reply) -> "Outcome":
        cited = [c.entry_id for c in reply.citations] or [o.entry_id for o in reply.options]
        return cls(reply.answer, "rejected" if reply.rejected else reply.kind, cited,
                   [h.entry.id for h in reply.hits], [round(float(h.score), 4) for h in reply.hits],
                   reply.grounding.grounded if reply.grounding else None, reply.latency_ms, reply.language)

    @classmethod
    def of_logged(cls, logged: LoggedReply) -> "Outcome":
        return cls(logged.answer, logged.action, logged.entry_ids, logged.entry_ids, logged.scores,
                   logged.grounded, logged.latency_ms, logged.language)

    @classmethod
    def of_json(cls, data: dict) -> "Outcome":
        return cls(**{name: data[name] for name in cls.__slots__ if name in data})  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ReplayTurn:
    """One customer turn to re-run. `history` is the logged conversation before it (None: the
    candidate's own earlier replies, for a test set's conversation). `labelled` says whether
    `expected_id` is known (None then means out of scope: the bot should abstain)."""

    key: str  # "turn:<trace id>" or "case:<line>.<turn>": the same turn across replays
    conversation_id: str
    question: str
    history: tuple[ChatMessage, ...] | None
    channel: str = ""
    created_at: str = ""
    logged: LoggedReply | None = None
    labelled: bool = False
    expected_id: str | None = None
    label_source: str = ""  # "staff" | "customer" | "test set"
    corrected_answer: str | None = None
    feedback: str | None = None  # "up" | "down"


@dataclass(frozen=True)
class ReplaySlice:
    """Which logged turns to replay; every field left empty selects all. Dates bound the turn's
    time (`until` exclusive); `action` is the logged decision; `feedback` "any"/"none" keeps turns
    with or without a customer's vote; `limit` keeps the latest turns."""

    since: datetime | None = None
    until: datetime | None = None
    conversation_ids: tuple[str, ...] = ()
    language: str | None = None
    channel: str | None = None
    action: str | None = None
    feedback: str | None = None
    labelled_only: bool = False
    limit: int | None = None

    def check(self) -> "ReplaySlice":
        """Raise `ValueError` naming the choices for an unknown action or feedback."""
        if self.action and self.action not in DECISIONS:
            raise ValueError(f"unknown action {self.action!r}: use one of {', '.join(DECISIONS)}")
        if self.feedback and self.feedback not in FEEDBACK:
            raise ValueError(f"unknown feedback {self.feedback!r}: use one of {', '.join(FEEDBACK)}")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("the date range is empty: --until must come after --since")
        return self

    def describe(self) -> dict:
        """The slice as JSON, for the report."""
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None,
                "conversation_ids": list(self.conversation_ids), "language": self.language,
                "channel": self.channel, "action": self.action, "feedback": self.feedback,
                "labelled_only": self.labelled_only, "limit": self.limit}


def _selected(chosen: ReplaySlice, trace: TurnTraceRow, label: TurnLabelRow | None, rating: str | None) -> bool:
    if chosen.since and as_utc(trace.created_at) < as_utc(chosen.since):
        return False
    if chosen.until and as_utc(trace.created_at) >= as_utc(chosen.until):
        return False
    if chosen.language and trace.language != chosen.language:
        return False
    if chosen.action and trace.decision != chosen.action:
        return False
    if chosen.feedback in ("up", "down") and rating != chosen.feedback:
        return False
    if (chosen.feedback == "any" and rating is None) or (chosen.feedback == "none" and rating is not None):
        return False
    return not (chosen.labelled_only and label is None)


def logged_turns(database: Engine, chosen: ReplaySlice = ReplaySlice()) -> list[ReplayTurn]:
    """The logged turns that `chosen` selects, oldest first, each with its conversation's earlier
    turns as history (rejected turns left out, as the store's history leaves them)."""
    chosen.check()
    user, assistant = aliased(MessageRow), aliased(MessageRow)
    query = (
        select(TurnTraceRow, ConversationRow.channel, user.content, assistant.content, TurnLabelRow,
               FeedbackRow.rating)
        .join(ConversationRow, ConversationRow.id == TurnTraceRow.conversation_id)
        .join(user, TurnTraceRow.user_message_id == user.id)
        .join(assistant, TurnTraceRow.assistant_message_id == assistant.id)
        .outerjoin(TurnLabelRow, TurnLabelRow.turn_id == TurnTraceRow.id)
        .outerjoin(FeedbackRow, FeedbackRow.turn_id == TurnTraceRow.id)
        .order_by(TurnTraceRow.conversation_id, TurnTraceRow.id)
    )
    if chosen.conversation_ids:
        query = query.where(TurnTraceRow.conversation_id.in_(list(chosen.conversation_ids)))
    if chosen.channel:
        query = query.where(ConversationRow.channel == chosen.channel)
    turns: list[ReplayTurn] = []
    histories: dict[str, list[ChatMessage]] = {}
    with database_errors(database), Session(database) as session:
        for trace, channel, question, answer, label, rating in session.execute(query):
            history = histories.setdefault(trace.conversation_id, [])
            if _selected(chosen, trace, label, rating):
                turns.append(_replay_turn(trace, channel, question, answer, label, rating, history))
            if trace.decision != "rejected":
                history += [ChatMessage("user", question), ChatMessage("assistant", answer)]
                del history[:-2 * HISTORY_CAP]
    turns.sort(key=lambda t: (t.created_at, t.key))
    return turns[-chosen.limit:] if chosen.limit else turns


def _replay_turn(trace: TurnTraceRow, channel: str, question: str, answer: str, label: TurnLabelRow | None,
                 rating: str | None, history: list[ChatMessage]) -> ReplayTurn:
    logged = LoggedReply(answer, trace.decision, list(trace.entry_ids or []), [float(s) for s in trace.scores or []],
                         trace.grounded, float(trace.latency_ms), trace.language, trace.generator, trace.kb_version)
    source = "" if label is None else ("customer" if label.labelled_by == "customer" else "staff")
    return ReplayTurn(f"turn:{trace.id}", trace.conversation_id, question, tuple(history), channel,
                      as_utc(trace.created_at).isoformat(), logged, label is not None,
                      label.expected_entry_id if label else None, source,
                      label.corrected_answer if label else None, rating)


def turns_of_test_set(path: Path) -> list[ReplayTurn]:
    """A test set's turns: `chatbot eval` lines (`{"query", "expected_id"}`, one turn each) or
    conversations (`{"turns": [{"query", "expected_id"}, ...]}`), both in one file if need be.
    Raises `TestSetError` naming the line for anything else."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TestSetError(f"{path}: cannot read the test set: {exc}") from None
    turns: list[ReplayTurn] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TestSetError(f"{path}:{number}: not valid JSON: {exc.msg}") from None
        steps = item.get("turns", [item]) if isinstance(item, dict) else None
        if not isinstance(steps, list) or not steps:
            raise TestSetError(f"{path}:{number}: expected an object with a 'query', or 'turns': a list of them")
        for index, step in enumerate(steps, start=1):
            if not isinstance(step, dict) or not isinstance(step.get("query"), str) or \
                    not isinstance(step.get("expected_id"), (str, type(None))):
                raise TestSetError(f"{path}:{number}: turn {index} needs a string 'query' and an "
                                   "'expected_id' that is a string or null")
            turns.append(ReplayTurn(f"case:{number}.{index}", f"case:{number}", step["query"], None,
                                    labelled="expected_id" in step, expected_id=step.get("expected_id"),
                                    label_source="test set" if "expected_id" in step else ""))
    if not turns:
        raise TestSetError(f"{path}: the test set has no cases")
    return turns
