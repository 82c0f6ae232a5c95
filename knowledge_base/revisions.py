"""Entry revisions: every change of an entry kept whole, and the knowledge base read back as it
was at any version (the repository writes them, in the transaction of the change).

The entry as it was at KB version V is its revision with the greatest `kb_version` <= V: none, or a
deletion, means it was not live then. History begins at migration 0008, which recorded each
entry once, at its version of the time (`backfilled`): before that revision nothing is known of
the entry, so `history_begins` says from which version a rollback can be trusted.

    >>> latest_revisions(session, 7)["returns"].answer      # what "returns" said at version 7
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Protocol

from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from knowledge_base.db_models import EntryRevisionRow, utcnow
from knowledge_base.entries import Entry
from knowledge_base.storable import storable

CONTENT_FIELDS = ("question", "answer", "alternates", "category", "language", "tags", "url")
MAX_AUTHOR_CHARS = 128  # the column's size; a staff name is at most 64
MAX_REASON_CHARS = 500  # a line or two: why the change was made, not the change itself


class UnknownVersion(LookupError):
    """A KB version that does not exist (yet), or one before the history was recorded."""


class Content(Protocol):
    """Anything with an entry's content fields: an `Entry`, an `EntryRow`, an `EntryRevisionRow`."""

    question: str
    answer: str
    alternates: list
    category: str
    language: str
    tags: list
    url: str


@dataclass(frozen=True)
class Revision:
    """One change of an entry: its content after the change (for a deletion, what it said last),
    who made it, when and why. `author` "" is unknown (changes recorded before history began)."""

    entry_id: str
    kb_version: int
    entry: Entry
    deleted: bool
    author: str
    reason: str
    created_at: datetime
    backfilled: bool = False


@dataclass(frozen=True)
class KBVersion:
    """One version of the whole knowledge base: what changed (`summary`), who, when and why."""

    version: int
    created_at: datetime
    summary: str
    author: str
    reason: str
    entry_ids: tuple[str, ...] = ()  # the entries it changed (by id), as far as revisions recorded them


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback changed: the new KB version (None when nothing differed: no version is
    made), the entries written back (changed or revived) and the entries deleted."""

    version: int | None
    restored: list[str]
    deleted: list[str]


def same_content(a: Content, b: Content) -> bool:
    """Whether two entries (or rows) say the same thing, field by field."""
    return all(getattr(a, f) == getattr(b, f) for f in CONTENT_FIELDS)


def clean_note(author: str, reason: str) -> tuple[str, str]:
    """`author` and `reason` made storable and cut to their columns."""
    return storable(author.strip())[:MAX_AUTHOR_CHARS], storable(reason.strip())[:MAX_REASON_CHARS]


def revision_values(entry_id: str, kb_version: int, content: Content, deleted: bool, author: str,
                    reason: str) -> dict:
    """The row of `entry_id`'s revision at `kb_version`, for `insert_revisions`."""
    return {"entry_id": entry_id, "kb_version": kb_version, "deleted": deleted, "author": author, "reason": reason,
            "backfilled": False, "created_at": utcnow(),
            **{f: list(getattr(content, f) or []) if f in ("alternates", "tags") else getattr(content, f)
               for f in CONTENT_FIELDS}}


def insert_revisions(session: Session, rows: list[dict]) -> None:
    """Insert revisions in the session's transaction, as one executemany: an ORM object per row
    would more than double the time of a large import."""
    if rows:
        session.execute(insert(EntryRevisionRow), rows)


def revision_entry(row: EntryRevisionRow) -> Entry:
    """The entry a revision holds; its `version` is the revision's KB version."""
    return Entry(id=row.entry_id, question=row.question, answer=row.answer, alternates=list(row.alternates or []),
                 category=row.category or "", language=row.language or "", tags=list(row.tags or []),
                 url=row.url or "", version=row.kb_version, updated_at=row.created_at).with_storable_text()


def to_revision(row: EntryRevisionRow) -> Revision:
    return Revision(row.entry_id, row.kb_version, revision_entry(row), row.deleted, row.author, row.reason,
                    row.created_at, row.backfilled)


def latest_revisions(session: Session, kb_version: int,
                     entry_ids: Iterable[str] | None = None) -> dict[str, EntryRevisionRow]:
    """Each entry's revision in force at `kb_version` (deletions included), by entry id;
    only the entries `entry_ids` when given."""
    in_force = (select(EntryRevisionRow.entry_id, func.max(EntryRevisionRow.kb_version).label("kb_version"))
                .where(EntryRevisionRow.kb_version <= kb_version))
    if entry_ids is not None:
        in_force = in_force.where(EntryRevisionRow.entry_id.in_(list(entry_ids)))
    latest = in_force.group_by(EntryRevisionRow.entry_id).subquery()
    rows = session.scalars(select(EntryRevisionRow).join(latest, and_(
        EntryRevisionRow.entry_id == latest.c.entry_id, EntryRevisionRow.kb_version == latest.c.kb_version)))
    return {row.entry_id: row for row in rows}


def history_rows(session: Session, entry_id: str) -> list[EntryRevisionRow]:
    """Every revision of `entry_id`, the oldest first."""
    return list(session.scalars(select(EntryRevisionRow).where(EntryRevisionRow.entry_id == entry_id)
                                .order_by(EntryRevisionRow.kb_version)))


def history_begins(session: Session, entry_id: str | None = None) -> int:
    """The first KB version from which the entry `entry_id` (or, without one, the whole knowledge
    base) is known at every version: the latest revision recorded when history began, or 0."""
    query = select(func.max(EntryRevisionRow.kb_version)).where(EntryRevisionRow.backfilled.is_(True))
    if entry_id is not None:
        query = query.where(EntryRevisionRow.entry_id == entry_id)
    return session.scalar(query) or 0


def changed_entries(session: Session, versions: Iterable[int]) -> dict[int, list[str]]:
    """The ids of the entries each of `versions` changed, by version (ids sorted)."""
    found: dict[int, list[str]] = {}
    rows = session.execute(select(EntryRevisionRow.kb_version, EntryRevisionRow.entry_id)
                           .where(EntryRevisionRow.kb_version.in_(list(versions)),
                                  EntryRevisionRow.backfilled.is_(False))
                           .order_by(EntryRevisionRow.kb_version, EntryRevisionRow.entry_id))
    for version, entry_id in rows:
        found.setdefault(version, []).append(entry_id)
    return found
