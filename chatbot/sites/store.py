"""The sites that embed the widget, in the database: `chatbot site add|list|remove` and every
widget request go through `SiteStore`.

    >>> added = SiteStore(engine).add(["https://shop.example"], name="Shop")   # key, origins, secret
    >>> SiteStore(engine).get(added.key)             # the Site, or None once removed
    >>> SiteStore(engine).tag_conversation(cid, added.key)   # channel "widget", site_key

The secret is stored as given (HMAC verification needs it); it is never in a `Site`'s repr, so a
logged or printed site does not show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, DateTime, String, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from chatbot.conversations.database import database_errors, retry_when_busy, transaction
from chatbot.conversations.handoff import aware
from chatbot.conversations.tables import SITE_KEY_CHARS, ConversationRow
from chatbot.errors import InvalidInput
from chatbot.sites.rules import new_site_key, new_site_secret, normalise_origin
from knowledge_base.db_models import Base, utcnow
from knowledge_base.storable import length_problem, storable

SITE_NAME_CHARS = 200
WIDGET_CHANNEL = "widget"


class SiteRow(Base):
    __tablename__ = "sites"

    key: Mapped[str] = mapped_column(String(SITE_KEY_CHARS), primary_key=True)
    name: Mapped[str] = mapped_column(String(SITE_NAME_CHARS), default="", server_default="")
    origins: Mapped[list] = mapped_column(JSON)  # normalised, scheme://host[:port]
    secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


@dataclass(frozen=True)
class Site:
    """A site that embeds the widget. `secret` signs its visitors' identities (and its widget
    sessions); it is left out of the repr."""

    key: str
    name: str
    origins: tuple[str, ...]
    created_at: datetime
    secret: str = field(repr=False)

    def allows(self, origin: str | None) -> bool:
        """Whether `origin` (normalised) is one of the site's."""
        return origin is not None and origin in self.origins


def _site(row: SiteRow) -> Site:
    return Site(row.key, row.name, tuple(row.origins), aware(row.created_at), row.secret)  # SQLite drops the zone


def check_origins(origins: list[str]) -> tuple[str, ...]:
    """The origins normalised, duplicates dropped; `InvalidInput` for none or one that is not
    an http(s) origin."""
    if not origins:
        raise InvalidInput("A site needs at least one --origin (e.g. https://shop.example).")
    try:
        return tuple(dict.fromkeys(normalise_origin(origin) for origin in origins))
    except ValueError as error:
        raise InvalidInput(str(error)) from None


class SiteStore:
    """Sites in the database; every method translates driver errors (`chatbot.errors`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @retry_when_busy
    def add(self, origins: list[str], name: str = "") -> Site:
        """A new site allowed on `origins`, with a fresh key and secret."""
        allowed = check_origins(origins)
        name = storable(name.strip())
        problem = length_problem("name", name, SITE_NAME_CHARS)
        if problem:
            raise InvalidInput(problem)
        row = SiteRow(key=new_site_key(), name=name, origins=list(allowed), secret=new_site_secret(), created_at=utcnow())
        with transaction(self._engine) as session:
            session.add(row)
            session.flush()
            return _site(row)

    @retry_when_busy
    def get(self, key: str) -> Site | None:
        """The site of `key`, or None (unknown or removed): looked up on every widget request, so a
        removal takes effect at once."""
        if not isinstance(key, str) or not 0 < len(key) <= SITE_KEY_CHARS:
            return None
        with database_errors(self._engine), Session(self._engine) as session:
            row = session.get(SiteRow, key)
            return None if row is None else _site(row)

    @retry_when_busy
    def list(self) -> list[Site]:
        """Every site, the oldest first."""
        with database_errors(self._engine), Session(self._engine) as session:
            return [_site(row) for row in session.scalars(select(SiteRow).order_by(SiteRow.created_at, SiteRow.key))]

    @retry_when_busy
    def remove(self, key: str) -> bool:
        """Remove the site of `key`; False if there was none. Its conversations keep their key."""
        with transaction(self._engine) as session:
            return session.execute(delete(SiteRow).where(SiteRow.key == key)).rowcount > 0

    @retry_when_busy
    def tag_conversation(self, conversation_id: str, key: str) -> None:
        """Mark a conversation the site's widget started: channel "widget" and the site's key (a
        conversation already tagged keeps its first site)."""
        with transaction(self._engine) as session:
            session.execute(update(ConversationRow)
                            .where(ConversationRow.id == conversation_id, ConversationRow.site_key.is_(None))
                            .values(channel=WIDGET_CHANNEL, site_key=key))
