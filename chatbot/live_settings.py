"""Settings that staff change while the bot runs (issue 14): the answer targets, top-k, the
greeting and the suggested questions. The environment's settings (`chatbot.settings`) are the
defaults; a value stored here overrides its setting of the same name, with who changed it and when.

    >>> live = LiveSettings(settings, engine)
    >>> live.change({"top_k": 3, "greeting_en": "Hello!"}, by="ada")   # validated, one transaction
    ['greeting_en', 'top_k']
    >>> live.current().top_k                                            # settings with the overrides
    3
    >>> live.change({"top_k": None}, by="ada")                          # None: back to the default

Every request path asks `current()`, which reads the table again at most every
`CHECK_EVERY_S` seconds (a handful of rows): several server processes converge within that
time, with no restart and no message between them; the process that changed a value sees it at
once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.handoff import aware
from chatbot.errors import InvalidInput
from chatbot.settings import Settings
from knowledge_base.db_models import Base, utcnow
from knowledge_base.storable import storable

log = logging.getLogger(__name__)

CHECK_EVERY_S = 2.0  # how stale another process's change may be seen: seconds
TARGET_RANGE = (0.01, 0.5)  # a wrong-answer rate staff may aim at: 1 % to 50 % of the answers
TOP_K_RANGE = (1, 20)
GREETING_CHARS = 500  # the widget trims a site's own greeting to the same
QUESTION_CHARS = 200
SUGGESTIONS = 4  # questions a new chat shows; a pinned list holds at most this many
NAME_CHARS = 64


@dataclass(frozen=True)
class LiveSetting:
    """One setting staff may change: its name (that of the `Settings` field it overrides), the
    kind of value and the words the console shows."""

    key: str
    kind: str  # "rate" | "count" | "text" | "questions"
    label: str
    help: str


LIVE_SETTINGS: tuple[LiveSetting, ...] = (
    LiveSetting("clarify_target_wrong_rate", "rate", "Answer target (with clarification)",
                "Share of wrong answers among the answered that the answer line is calibrated to; "
                "the unsure questions between it and the clarify line get a \"Did you mean …?\"."),
    LiveSetting("target_wrong_rate", "rate", "Answer target (without clarification)",
                "The same for the plain answer threshold, which is also the lowest the answer line goes."),
    LiveSetting("top_k", "count", "Entries retrieved (top-k)",
                "How many entries each question is matched against and ranked."),
    LiveSetting("greeting_en", "text", "Greeting (English)",
                "What a new chat says first; **bold** works. Empty: the built-in greeting."),
    LiveSetting("greeting_zh", "text", "Greeting (Chinese)", "The same for Chinese visitors."),
    LiveSetting("suggested_questions_en", "questions", "Suggested questions (English)",
                f"Up to {SUGGESTIONS} questions, one a line, pinned on a new chat. Empty: the most asked."),
    LiveSetting("suggested_questions_zh", "questions", "Suggested questions (Chinese)",
                "The same for Chinese visitors."),
)
BY_KEY = {setting.key: setting for setting in LIVE_SETTINGS}
# Changing one of these moves the answer / clarify / abstain band: the index is recalibrated.
CALIBRATION_KEYS = frozenset({"target_wrong_rate", "clarify_target_wrong_rate"})


class BotSettingRow(Base):
    __tablename__ = "bot_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(NAME_CHARS))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class StoredSetting:
    """A value staff stored, by whom and when."""

    key: str
    value: Any
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class SettingState:
    """One live setting as the console shows it: the value in force, the environment's default,
    and the stored change that overrides it (None: the default is in force)."""

    setting: LiveSetting
    value: Any
    default: Any
    stored: StoredSetting | None


def _number(key: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, str):
        try:
            value = int(value.strip()) if integer else float(value.strip().rstrip("%")) / (100 if "%" in value else 1)
        except ValueError:
            raise InvalidInput(f"{key} must be a {'whole ' if integer else ''}number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and value != int(value)):
        raise InvalidInput(f"{key} must be a {'whole ' if integer else ''}number, not {value!r}")
    if not math.isfinite(value):
        raise InvalidInput(f"{key} must be a finite number")
    return int(value) if integer else float(value)


def check_value(key: str, value: Any) -> Any:
    """`value` as the setting `key` stores it (numbers from text too, text trimmed, a list's
    blank lines and repeats dropped), or `InvalidInput` saying what is wrong."""
    setting = BY_KEY.get(key)
    if setting is None:
        raise InvalidInput(f"{key!r} is not a setting staff may change; these are: {', '.join(BY_KEY)}")
    if setting.kind == "rate":
        rate = _number(key, value, integer=False)
        low, high = TARGET_RANGE
        if not low <= rate <= high:
            raise InvalidInput(f"{key} must be between {low} and {high} (a share of the answers: "
                               f"{low:.0%} to {high:.0%} wrong), not {rate:g}")
        return rate
    if setting.kind == "count":
        count = _number(key, value, integer=True)
        low, high = TOP_K_RANGE
        if not low <= count <= high:
            raise InvalidInput(f"{key} must be from {low} to {high}, not {count}")
        return count
    if setting.kind == "text":
        if not isinstance(value, str):
            raise InvalidInput(f"{key} must be text")
        text = storable(value.strip())
        if len(text) > GREETING_CHARS:
            raise InvalidInput(f"{key} is {len(text)} characters; the limit is {GREETING_CHARS}")
        return text
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, (list, tuple)) or not all(isinstance(q, str) for q in value):
        raise InvalidInput(f"{key} must be a list of questions")
    questions = list(dict.fromkeys(storable(q.strip()) for q in value if q.strip()))
    if len(questions) > SUGGESTIONS:
        raise InvalidInput(f"{key} holds {len(questions)} questions; at most {SUGGESTIONS} are shown")
    for question in questions:
        if len(question) > QUESTION_CHARS:
            raise InvalidInput(f"a question of {key} is {len(question)} characters; the limit is {QUESTION_CHARS}")
    return questions


class LiveSettings:
    """The environment's settings with the stored overrides, read again at most every
    `check_every_s` seconds (see the module's docstring)."""

    def __init__(self, base: Settings, engine: Engine, check_every_s: float = CHECK_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base
        self._engine = engine
        self._check_every_s = check_every_s
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, Any] | None = None
        self._current = base
        self._checked_at = -math.inf

    def current(self) -> Settings:
        """The settings in force: the environment's, each live one overridden by its stored value."""
        now = self._clock()
        if now - self._checked_at < self._check_every_s:
            return self._current
        overrides = {key: stored.value for key, stored in self.stored().items()}
        with self._lock:
            if overrides != self._rows:  # a new Settings only when something changed
                self._rows = overrides
                self._current = self.base.model_copy(update=overrides)
            self._checked_at = now
        return self._current

    def refresh(self) -> None:
        """Read the table again on the next `current()` (after this process changed it)."""
        self._checked_at = -math.inf

    @retry_when_busy
    def stored(self) -> dict[str, StoredSetting]:
        """The stored overrides by key; a row that no longer passes `check_value` (edited by hand,
        or a setting since retired) is logged and left out."""
        found: dict[str, StoredSetting] = {}
        with database_errors(self._engine), Session(self._engine) as session:
            for row in session.scalars(select(BotSettingRow)):
                try:
                    value = check_value(row.key, row.value)
                except InvalidInput as problem:
                    log.warning("stored setting ignored: %s", problem)
                    continue
                found[row.key] = StoredSetting(row.key, value, row.updated_by, aware(row.updated_at))
        return found

    def states(self) -> list[SettingState]:
        """Every live setting: in force, default, and the change that set it."""
        stored = self.stored()
        return [SettingState(s, stored[s.key].value if s.key in stored else getattr(self.base, s.key),
                             getattr(self.base, s.key), stored.get(s.key)) for s in LIVE_SETTINGS]

    def change(self, values: Mapping[str, Any], by: str) -> list[str]:
        """Store `values` (None: back to the environment's default) as changed by `by`, all or
        none (`InvalidInput` for the first that is wrong, nothing stored); returns the keys
        whose value in force changed, sorted. A value equal to the one in force is no change."""
        checked = {key: None if value is None and key in BY_KEY else check_value(key, value)
                   for key, value in values.items()}
        by = storable(by)[:NAME_CHARS]
        changed = self._write(checked, by)
        self.refresh()
        return changed

    @retry_when_busy
    def _write(self, checked: dict[str, Any], by: str) -> list[str]:
        changed: list[str] = []
        with transaction(self._engine) as session:
            for key, value in sorted(checked.items()):
                row = session.get(BotSettingRow, key)
                in_force = row.value if row is not None else getattr(self.base, key)
                if value is None:
                    if row is not None:
                        session.execute(delete(BotSettingRow).where(BotSettingRow.key == key))
                        changed += [key] if row.value != getattr(self.base, key) else []
                    continue
                if value == in_force:
                    continue
                if row is None:
                    session.add(BotSettingRow(key=key, value=value, updated_by=by, updated_at=utcnow()))
                else:
                    row.value, row.updated_by, row.updated_at = value, by, utcnow()
                changed.append(key)
        return changed
