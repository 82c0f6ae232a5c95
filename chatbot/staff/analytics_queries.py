"""The SQL behind the analytics (`chatbot.staff.analytics`): every count is aggregated in the
database, on SQLite and PostgreSQL alike; Python only receives the grouped rows.

Two things differ between the databases and are settled here once:
- the day of a timestamp: stored times are UTC (SQLite keeps them as naive UTC text; PostgreSQL
  as timestamptz, whose day depends on the session's time zone unless it is made UTC first);
- percentiles: SQLite has no `percentile_cont`, so both number the sorted latencies
  (`row_number() OVER (ORDER BY latency_ms)`), read the two values around each rank and
  interpolate linearly, which is exactly what PostgreSQL's `percentile_cont` does (and numpy's
  default percentile).

Grouping always happens over a labelled subquery: PostgreSQL refuses a GROUP BY whose expression
carries its own bound parameters (a JSON index, a date format) unless it is the selected column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, Select, case, exists, func, literal, or_, select
from sqlalchemy.engine import Connection

from chatbot.conversations.labels import TurnLabelRow
from chatbot.conversations.tables import (BOT, STAFF_PREFIX, ConversationRow, FeedbackRow, MessageRow,
                                          TurnTraceRow)

# Latency histogram buckets: upper edges in milliseconds (the last bucket is open).
LATENCY_EDGES_MS = (100, 250, 500, 1000, 2000, 5000)


@dataclass(frozen=True, slots=True)
class Window:
    """The rows analytics count: created from `start` 00:00 UTC to the end of `end` (both
    inclusive days), of conversations on `channel` (None: every channel)."""

    start: date
    end: date
    channel: str | None = None

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=timezone.utc)

    @property
    def until(self) -> datetime:  # exclusive
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=timezone.utc)


def day_of(column: ColumnElement, dialect: str) -> ColumnElement[str]:
    """The UTC day of a timestamp column as 'YYYY-MM-DD' text, on SQLite or PostgreSQL."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", column)


def _turns(window: Window, *columns: ColumnElement) -> Select:
    """SELECT `columns` FROM the turns in `window` (joined to their conversation for the channel)."""
    query = select(*columns).select_from(TurnTraceRow).where(TurnTraceRow.created_at >= window.since, TurnTraceRow.created_at < window.until)
    if window.channel is not None:
        query = query.join(ConversationRow, ConversationRow.id == TurnTraceRow.conversation_id).where(
            ConversationRow.channel == window.channel)
    return query


def _conversations(window: Window, *columns: ColumnElement) -> Select:
    query = select(*columns).select_from(ConversationRow).where(
        ConversationRow.created_at >= window.since, ConversationRow.created_at < window.until)
    if window.channel is not None:
        query = query.where(ConversationRow.channel == window.channel)
    return query


def _grouped(inner: Select, *keys: str, limit: int | None = None) -> Select:
    """SELECT keys..., count(*) FROM (inner) GROUP BY keys, the most frequent first."""
    sub = inner.subquery()
    columns = [sub.c[key] for key in keys]
    count = func.count().label("n")
    query = select(*columns, count).group_by(*columns).order_by(count.desc(), *columns)
    return query.limit(limit) if limit is not None else query


def conversations_per_day(connection: Connection, window: Window) -> dict[date, int]:
    day = day_of(ConversationRow.created_at, connection.dialect.name).label("day")
    rows = connection.execute(_grouped(_conversations(window, day), "day")).all()
    return {date.fromisoformat(d): n for d, n in rows}


def turns_per_day(connection: Connection, window: Window) -> dict[date, dict[str, int]]:
    """Day -> decision -> number of turns."""
    day = day_of(TurnTraceRow.created_at, connection.dialect.name).label("day")
    found: dict[date, dict[str, int]] = {}
    for d, decision, n in connection.execute(_grouped(_turns(window, day, TurnTraceRow.decision), "day", "decision")):
        found.setdefault(date.fromisoformat(d), {})[decision] = n
    return found


def clarifications_chosen(connection: Connection, window: Window) -> int:
    """Clarify turns in `window` whose customer chose one of the options (the engine stores the
    choice as the turn's label, by "customer", naming the entry)."""
    query = _turns(window, func.count()).join(TurnLabelRow, TurnLabelRow.turn_id == TurnTraceRow.id).where(
        TurnTraceRow.decision == "clarify", TurnLabelRow.labelled_by == "customer",
        TurnLabelRow.expected_entry_id.is_not(None))
    return connection.execute(query).scalar_one()


def conversations_reaching_a_human(connection: Connection, window: Window) -> tuple[int, int]:
    """(conversations in `window`, those that reached a human): a hand-off turn, a staff
    message, or a state other than the bot's (waiting or held)."""
    handed_off = exists().where(TurnTraceRow.conversation_id == ConversationRow.id, TurnTraceRow.decision == "handoff")
    staff_wrote = exists().where(MessageRow.conversation_id == ConversationRow.id,
                                 MessageRow.author.startswith(STAFF_PREFIX))
    human = or_(ConversationRow.state != BOT, handed_off, staff_wrote)
    query = _conversations(window, func.count(), func.coalesce(func.sum(case((human, 1), else_=0)), 0))
    total, reached = connection.execute(query).one()
    return int(total), int(reached)


def feedback_counts(connection: Connection, window: Window) -> dict[str, int]:
    """Rating ("up", "down") -> count, over feedback on the turns in `window`."""
    inner = _turns(window, FeedbackRow.rating.label("rating")).join(FeedbackRow, FeedbackRow.turn_id == TurnTraceRow.id)
    return {rating: n for rating, n in connection.execute(_grouped(inner, "rating"))}


def top_answered_entries(connection: Connection, window: Window, limit: int) -> list[tuple[str, int]]:
    """(entry id, answers) of the entries most often cited first by an answer."""
    first = TurnTraceRow.entry_ids[0].as_string()
    inner = _turns(window, first.label("entry_id")).where(TurnTraceRow.decision == "answer", first.is_not(None))
    return [(e, n) for e, n in connection.execute(_grouped(inner, "entry_id", limit=limit))]


def top_unanswered_texts(connection: Connection, window: Window, decisions: tuple[str, ...],
                         limit: int) -> list[tuple[str, str, int]]:
    """(normalised question, one of its phrasings as asked, turns) of the questions most often
    abstained on, clarified or handed off: grouped by the logged query, lower-cased and trimmed,
    in the database."""
    text = func.lower(func.trim(TurnTraceRow.query)).label("text")
    inner = _turns(window, text, func.trim(TurnTraceRow.query).label("asked")).where(
        TurnTraceRow.decision.in_(decisions), func.trim(TurnTraceRow.query) != "").subquery()
    count = func.count().label("n")
    query = (select(inner.c.text, func.min(inner.c.asked), count).group_by(inner.c.text)
             .order_by(count.desc(), inner.c.text).limit(limit))
    return [(t, asked, n) for t, asked, n in connection.execute(query)]


def language_counts(connection: Connection, window: Window) -> list[tuple[str, int]]:
    """(language, turns), the most frequent first; "" where none was detected."""
    inner = _turns(window, func.coalesce(TurnTraceRow.language, literal("")).label("language"))
    return [(lang, n) for lang, n in connection.execute(_grouped(inner, "language"))]


def latency_percentiles(connection: Connection, window: Window, turns: int, quantiles: tuple[float, ...]
                        ) -> list[float | None]:
    """The latency in ms at each quantile over the `turns` turns in `window` (None when there
    are none): linear interpolation between the two closest ranks, like PostgreSQL's
    `percentile_cont`. One sort in the database numbers the rows; only the rows at those ranks
    come back, never the whole column."""
    if turns == 0:
        return [None] * len(quantiles)
    ranks = [q * (turns - 1) for q in quantiles]
    wanted = {n for rank in ranks for n in (math.floor(rank) + 1, min(math.floor(rank) + 2, turns))}  # 1-based
    numbered = _turns(window, TurnTraceRow.latency_ms.label("ms"),
                      func.row_number().over(order_by=TurnTraceRow.latency_ms).label("n")).subquery()
    value = dict(connection.execute(select(numbered.c.n, numbered.c.ms).where(numbered.c.n.in_(sorted(wanted)))).all())
    found: list[float | None] = []
    for rank in ranks:
        low = math.floor(rank)
        below, above = float(value[low + 1]), float(value[min(low + 2, turns)])
        found.append(below + (above - below) * (rank - low))
    return found


def latency_histogram(connection: Connection, window: Window) -> list[int]:
    """Turns per latency bucket (`LATENCY_EDGES_MS`, then the open bucket above the last)."""
    latency = TurnTraceRow.latency_ms
    bucket = case(*[(latency < edge, i) for i, edge in enumerate(LATENCY_EDGES_MS)],
                  else_=len(LATENCY_EDGES_MS)).label("bucket")
    counts = dict(connection.execute(_grouped(_turns(window, bucket), "bucket")).all())
    return [int(counts.get(i, 0)) for i in range(len(LATENCY_EDGES_MS) + 1)]


def channels(connection: Connection) -> list[str]:
    """Every channel that has a conversation, by name."""
    query = select(ConversationRow.channel).distinct().order_by(ConversationRow.channel)
    return [c for c in connection.execute(query).scalars() if c]

