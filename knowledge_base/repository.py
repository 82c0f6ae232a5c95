"""Create, update, delete and read knowledge-base entries; every change is a new KB version.

    >>> kb = KnowledgeBaseRepository(engine)
    >>> kb.upsert([Entry(id="ship-1", question="How long is shipping?", answer="3-5 days.")])
    UpsertResult(created=1, updated=0, unchanged=0, version=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from knowledge_base.db_models import EntryRow, KBVersionRow, utcnow
from knowledge_base.entries import Entry
from knowledge_base.storable import storable


@dataclass(frozen=True)
class UpsertResult:
    created: int
    updated: int
    unchanged: int
    version: int


@dataclass(frozen=True)
class Changes:
    """What changed after a version: entries to (re)index and ids to drop."""

    version: int
    upserted: list[Entry]
    deleted_ids: list[str]


def _row_to_entry(row: EntryRow) -> Entry:
    # Rows written by an older version may hold a lone surrogate (in a JSON list, where the
    # driver escapes it); made storable here, no reader of the repository ever meets one.
    return Entry(
        id=row.id,
        question=row.question,
        answer=row.answer,
        alternates=list(row.alternates or []),
        category=row.category or "",
        language=row.language or "",
        tags=list(row.tags or []),
        url=row.url or "",
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    ).with_storable_text()


# Rows are looked up and flushed this many at a time inside an upsert's one transaction.
UPSERT_BATCH = 500
_CONTENT_FIELDS = ("question", "answer", "alternates", "category", "language", "tags", "url")


class KnowledgeBaseRepository:
    """The knowledge base as stored in the database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def current_version(self) -> int:
        """The latest KB version (0 for a knowledge base that never changed)."""
        with Session(self._engine) as session:
            return session.scalar(select(func.max(KBVersionRow.version))) or 0

    def _new_version(self, session: Session, summary: str) -> int:
        row = KBVersionRow(summary=storable(summary)[:500])
        session.add(row)
        session.flush()
        return row.version

    def upsert(self, entries: Iterable[Entry], summary: str = "upsert",
               progress: Callable[[int], None] | None = None) -> UpsertResult:
        """Insert new entries and update changed ones by id, all in one transaction and one new
        version: all of them are stored, or (on any error) none.

        Entries are validated first (`EntryError` names the bad one); unchanged entries do not
        bump their version, so re-importing the same file is a no-op for the index. The work is
        flushed in batches of `UPSERT_BATCH` inside the one transaction, and `progress` is called
        with each batch's size. Database errors are SQLAlchemy's; the caller translates them.
        """
        cleaned: dict[str, Entry] = {}
        for entry in entries:
            valid = entry.validate()
            cleaned[valid.id] = valid  # a later row with the same id wins, as in a spreadsheet
        batches = list(cleaned.values())
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        with Session(self._engine) as session, session.begin():
            version_row: KBVersionRow | None = None  # made at the first change: no change, no version
            for start in range(0, len(batches), UPSERT_BATCH):
                batch = batches[start:start + UPSERT_BATCH]
                # One lookup per batch keeps the IN list under every database's parameter limit.
                existing = {row.id: row for row in session.scalars(
                    select(EntryRow).where(EntryRow.id.in_([e.id for e in batch])))}
                for entry in batch:
                    row = existing.get(entry.id)
                    if row is not None and not row.deleted and all(
                        getattr(row, f) == getattr(entry, f) for f in _CONTENT_FIELDS
                    ):
                        counts["unchanged"] += 1
                        continue
                    if version_row is None:
                        # The summary names a file, whose name may hold what UTF-8 cannot encode.
                        version_row = KBVersionRow(summary=storable(summary)[:500])
                        session.add(version_row)
                        session.flush()
                    self._write(session, entry, row, version_row.version)
                    counts["created" if row is None else "updated"] += 1
                session.flush()
                if progress is not None:
                    progress(len(batch))
            if version_row is None:
                return UpsertResult(0, 0, counts["unchanged"], self._max_version(session))
            changed = counts["created"] + counts["updated"]
            version_row.summary = storable(f"{summary}: {changed} entries")[:500]
            version = version_row.version  # read inside the session: the row expires at commit
        return UpsertResult(counts["created"], counts["updated"], counts["unchanged"], version)

    @staticmethod
    def _write(session: Session, entry: Entry, row: EntryRow | None, version: int) -> None:
        """Store `entry` as a new row, or over `row` (reviving it if it was deleted)."""
        now = utcnow()
        if row is None:
            session.add(EntryRow(id=entry.id, version=version, created_at=now, updated_at=now,
                                 **{f: getattr(entry, f) for f in _CONTENT_FIELDS}))
            return
        for f in _CONTENT_FIELDS:
            setattr(row, f, getattr(entry, f))
        row.deleted = False
        row.version = version
        row.updated_at = now

    @staticmethod
    def _max_version(session: Session) -> int:
        return session.scalar(select(func.max(KBVersionRow.version))) or 0

    def delete(self, entry_ids: Iterable[str]) -> int:
        """Delete entries by id (kept as tombstones for the index); returns how many existed."""
        ids = list(dict.fromkeys(entry_ids))
        with Session(self._engine) as session, session.begin():
            rows = list(session.scalars(
                select(EntryRow).where(EntryRow.id.in_(ids), EntryRow.deleted.is_(False))
            ))
            if not rows:
                return 0
            version = self._new_version(session, f"delete: {len(rows)} entries")
            for row in rows:
                row.deleted = True
                row.version = version
                row.updated_at = utcnow()
            return len(rows)

    def get(self, entry_id: str) -> Entry | None:
        with Session(self._engine) as session:
            row = session.get(EntryRow, entry_id)
            return None if row is None or row.deleted else _row_to_entry(row)

    def list_entries(self) -> list[Entry]:
        """All live entries, ordered by id."""
        with Session(self._engine) as session:
            rows = session.scalars(
                select(EntryRow).where(EntryRow.deleted.is_(False)).order_by(EntryRow.id)
            )
            return [_row_to_entry(r) for r in rows]

    def changes_since(self, version: int) -> Changes:
        """Entries changed and ids deleted after `version`, for an incremental index update."""
        with Session(self._engine) as session:
            rows = list(session.scalars(select(EntryRow).where(EntryRow.version > version)))
            current = self._max_version(session)
        return Changes(
            version=current,
            upserted=[_row_to_entry(r) for r in rows if not r.deleted],
            deleted_ids=[r.id for r in rows if r.deleted],
        )
