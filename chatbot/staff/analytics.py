"""Analytics of the conversation log for a date range (and optionally one channel): what the
console's /admin/analytics page draws and GET /api/admin/analytics returns. Services, no HTTP;
the SQL is in `chatbot.staff.analytics_queries` and aggregates in the database.

    >>> report = services.analytics(date(2026, 11, 1), date(2026, 11, 30), channel="web")
    >>> report.resolution.rate, report.deflection.rate, report.latency.p95_ms
    (0.82, 0.93, 412.0)
    >>> report.to_dict()                      # JSON-ready, dates as ISO text

What is counted (days are UTC days; `start` and `end` both included):
- a *question* is a turn the bot answered, clarified, abstained on or handed off (small talk and
  messages refused by the input guard are counted per day, not as questions);
- the *resolution rate* is the share of questions resolved: answered at once, or clarified and
  then answered from the option the customer chose. A chosen option is logged as an answer turn
  of its own, so the clarification it resolves is left out of the questions (it would count the
  one question twice): rate = answered / (questions - clarifications chosen);
- the *deflection rate* is the share of conversations started in the range that never reached a
  human: no hand-off turn, no staff message, and not waiting for or held by staff now;
- the *feedback ratio* is the share of thumbs up among the votes on turns of the range;
- *top unanswered questions* are the most frequent abstained, clarified or handed-off questions,
  by their lower-cased, trimmed text (see `HOOK(unanswered groups)` below).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from chatbot.conversations.database import database_errors, retry_when_busy
from chatbot.conversations.tables import CHANNEL_CHARS
from chatbot.errors import InvalidInput
from chatbot.staff import analytics_queries as sql
from chatbot.staff.analytics_queries import LATENCY_EDGES_MS, Window

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from knowledge_base.repository import KnowledgeBaseRepository

DECISIONS = ("answer", "clarify", "abstain", "handoff", "smalltalk", "rejected")
UNANSWERED = ("abstain", "clarify", "handoff")
DEFAULT_DAYS = 30
MAX_DAYS = 366  # a year and a day: a chart of more days has no room for its bars
TOP = 10


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True)
class Day:
    """One day of the range: conversations started, and turns by decision (every decision of
    `DECISIONS` present, 0 when none)."""

    day: date
    conversations: int
    turns: dict[str, int]


@dataclass(frozen=True, slots=True)
class Resolution:
    """Questions and how they ended (see the module's docstring for the rate)."""

    answered: int
    clarified: int
    clarified_chosen: int
    abstained: int
    handed_off: int

    @property
    def questions(self) -> int:
        """Questions asked: answers, abstentions, hand-offs and the clarifications nobody chose."""
        return self.answered + self.clarified - self.clarified_chosen + self.abstained + self.handed_off

    @property
    def rate(self) -> float | None:
        """Share of questions answered (at once or from a chosen option); None without questions."""
        return _share(self.answered, self.questions)


@dataclass(frozen=True, slots=True)
class Deflection:
    conversations: int
    reached_human: int

    @property
    def rate(self) -> float | None:
        """Share of conversations that never reached a human; None without conversations."""
        return _share(self.conversations - self.reached_human, self.conversations)


@dataclass(frozen=True, slots=True)
class FeedbackTally:
    up: int
    down: int

    @property
    def ratio(self) -> float | None:
        """Share of thumbs up among the votes; None without votes."""
        return _share(self.up, self.up + self.down)


@dataclass(frozen=True, slots=True)
class Ranked:
    """One row of a top list: `key` (an entry id, a text, a language code), what to show, count."""

    key: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class Latency:
    """Reply latency over the range's turns, in milliseconds (None without turns); `histogram`
    counts turns below each of `LATENCY_EDGES_MS` (and the last entry those above)."""

    turns: int
    p50_ms: float | None
    p95_ms: float | None
    histogram: list[int]
    edges_ms: tuple[int, ...] = LATENCY_EDGES_MS


@dataclass(frozen=True, slots=True)
class Analytics:
    start: date
    end: date
    channel: str | None
    days: list[Day]
    resolution: Resolution
    deflection: Deflection
    feedback: FeedbackTally
    top_entries: list[Ranked]
    top_unanswered: list[Ranked]
    languages: list[Ranked]
    latency: Latency

    @property
    def empty(self) -> bool:
        """Nothing was logged in the range."""
        return self.latency.turns == 0 and self.deflection.conversations == 0

    def to_dict(self) -> dict:
        """JSON-ready: dates as ISO text, the rates beside their counts."""
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["days"] = [{**d, "day": d["day"].isoformat()} for d in data["days"]]
        data["resolution"].update(questions=self.resolution.questions, rate=self.resolution.rate)
        data["deflection"]["rate"] = self.deflection.rate
        data["feedback"]["ratio"] = self.feedback.ratio
        data["latency"]["edges_ms"] = list(LATENCY_EDGES_MS)
        return data


def parse_day(value: str | None, name: str) -> date | None:
    """A day given as text ("2026-11-01"); None for empty; `InvalidInput` naming `name` else."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"The {name} date must be a day like 2026-11-01, not {value[:40]!r}.") from None


def analytics_window(start: date | None, end: date | None, channel: str | None,
                     today: date | None = None) -> Window:
    """The checked range: `end` defaults to today (UTC), `start` to `DEFAULT_DAYS` days before
    it ending at `end`; `InvalidInput` for a start after the end, over `MAX_DAYS` days, or a
    channel name longer than a channel can be. An empty channel means every channel."""
    end = end or today or datetime.now(timezone.utc).date()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise InvalidInput(f"The range starts ({start}) after it ends ({end}): swap the dates.")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"The range covers {(end - start).days + 1} days; choose at most {MAX_DAYS}.")
    channel = (channel or "").strip() or None
    if channel is not None and len(channel) > CHANNEL_CHARS:
        raise InvalidInput(f"A channel name has at most {CHANNEL_CHARS} characters.")
    return Window(start, end, channel)


class ConversationAnalytics:
    """The analytics queries over the product database (conversations and knowledge base)."""

    def __init__(self, engine: "Engine", knowledge_base: "KnowledgeBaseRepository") -> None:
        self._engine = engine
        self._knowledge_base = knowledge_base

    @retry_when_busy
    def report(self, window: Window) -> Analytics:
        with database_errors(self._engine), self._engine.connect() as connection:
            per_day = sql.turns_per_day(connection, window)
            conversations = sql.conversations_per_day(connection, window)
            days = []
            for offset in range((window.end - window.start).days + 1):
                day = window.start + timedelta(days=offset)
                turns = per_day.get(day, {})
                days.append(Day(day, conversations.get(day, 0), {d: turns.get(d, 0) for d in DECISIONS}))
            totals = {d: sum(day.turns[d] for day in days) for d in DECISIONS}
            resolution = Resolution(totals["answer"], totals["clarify"], sql.clarifications_chosen(connection, window),
                                    totals["abstain"], totals["handoff"])
            deflection = Deflection(*sql.conversations_reaching_a_human(connection, window))
            votes = sql.feedback_counts(connection, window)
            entries = sql.top_answered_entries(connection, window, TOP)
            unanswered = self.top_unanswered(connection, window)
            languages = [Ranked(lang or "unknown", lang or "unknown", n) for lang, n in sql.language_counts(connection, window)]
            turns = sum(sum(counts.values()) for counts in per_day.values())  # every decision's
            p50, p95 = sql.latency_percentiles(connection, window, turns, (0.5, 0.95))
            histogram = sql.latency_histogram(connection, window)
        return Analytics(window.start, window.end, window.channel, days, resolution, deflection,
                         FeedbackTally(votes.get("up", 0), votes.get("down", 0)), self._entry_labels(entries),
                         unanswered, languages,
                         Latency(turns, _rounded(p50), _rounded(p95), histogram))

    @staticmethod
    def top_unanswered(connection: "Connection", window: Window) -> list[Ranked]:
        """The most frequent unanswered questions by normalised text.

        HOOK(unanswered groups): `chatbot.staff.unanswered` (service `unanswered_groups`) groups
        similar unanswered questions by meaning; once it lands, return its top groups here
        (label: the group's representative question, count: its size) and this text grouping
        goes. The page and the API read only `Ranked` rows, so neither changes.
        """
        found = sql.top_unanswered_texts(connection, window, UNANSWERED, TOP)
        return [Ranked(text, asked, n) for text, asked, n in found]

    def _entry_labels(self, ranked: list[tuple[str, int]]) -> list[Ranked]:
        """Each entry id with its question (or a note that the entry has since been deleted)."""
        labelled = []
        for entry_id, count in ranked:
            entry = self._knowledge_base.get(entry_id)
            labelled.append(Ranked(entry_id, entry.question if entry else f"{entry_id} (deleted)", count))
        return labelled

    def channels(self) -> list[str]:
        with database_errors(self._engine), self._engine.connect() as connection:
            return sql.channels(connection)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class AnalyticsServices:
    """Mixed into `Services`, whose `database` and `knowledge_base` these use."""

    database: "Engine"
    knowledge_base: "KnowledgeBaseRepository"

    def analytics(self, start: date | None = None, end: date | None = None, channel: str | None = None) -> Analytics:
        """The analytics of the days `start`..`end` (UTC, both included; default: the last
        `DEFAULT_DAYS` days to today) of `channel`'s conversations (None or "": every channel).
        `InvalidInput` for a range that is reversed or over `MAX_DAYS` days."""
        window = analytics_window(start, end, channel)
        return ConversationAnalytics(self.database, self.knowledge_base).report(window)

    def analytics_channels(self) -> list[str]:
        """The channels that have conversations (the page's filter choices)."""
        return ConversationAnalytics(self.database, self.knowledge_base).channels()
