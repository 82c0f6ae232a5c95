"""Create, update, delete and read knowledge-base entries; every change is a new KB version,
with its author and reason, and every changed entry a revision (`knowledge_base.revisions`), so
any entry or the whole knowledge base can be read, and rolled back, as it was at any version.

    >>> kb = KnowledgeBaseRepository(engine)
    >>> kb.upsert([Entry(id="ship-1", question="How long is shipping?", answer="3-5 days.")], author="alice")
    UpsertResult(created=1, updated=0, unchanged=0, version=1)
    >>> kb.rollback_entry("ship-1", 1, author="bob", reason="the new answer was wrong")
    RollbackResult(version=3, restored=['ship-1'], deleted=[])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from knowledge_base.db_models import EntryRow, KBVersionRow, utcnow
from knowledge_base.entries import Entry
from knowledge_base.revisions import (CONTENT_FIELDS, KBVersion, Revision, RollbackResult, UnknownVersion,
                                      changed_entries, clean_note, history_begins, history_rows, insert_revisions,
                                      latest_revisions, revision_entry, revision_values, same_content,
                                      to_revision)
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
_CONTENT_FIELDS = CONTENT_FIELDS


class KnowledgeBaseRepository:
    """The knowledge base as stored in the database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def current_version(self) -> int:
        """The latest KB version (0 for a knowledge base that never changed)."""
        with Session(self._engine) as session:
            return session.scalar(select(func.max(KBVersionRow.version))) or 0

    @staticmethod
    def _new_version(session: Session, summary: str, author: str = "", reason: str = "") -> KBVersionRow:
        # The summary names a file, whose name may hold what UTF-8 cannot encode.
        row = KBVersionRow(summary=storable(summary)[:500], author=author, reason=reason)
        session.add(row)
        session.flush()
        return row

    def upsert(self, entries: Iterable[Entry], summary: str = "upsert",
               progress: Callable[[int], None] | None = None, *, author: str = "",
               reason: str = "") -> UpsertResult:
        """Insert new entries and update changed ones by id, all in one transaction and one new
        version: all of them are stored, or (on any error) none. Each changed entry gets a
        revision naming `author` ("" for unknown) and `reason`, in the same transaction.

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
        author, reason = clean_note(author, reason)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        with Session(self._engine) as session, session.begin():
            version_row: KBVersionRow | None = None  # made at the first change: no change, no version
            for start in range(0, len(batches), UPSERT_BATCH):
                batch = batches[start:start + UPSERT_BATCH]
                # One lookup per batch keeps the IN list under every database's parameter limit.
                existing = {row.id: row for row in session.scalars(
                    select(EntryRow).where(EntryRow.id.in_([e.id for e in batch])))}
                revisions: list[dict] = []
                for entry in batch:
                    row = existing.get(entry.id)
                    if row is not None and not row.deleted and all(
                        getattr(row, f) == getattr(entry, f) for f in _CONTENT_FIELDS
                    ):
                        counts["unchanged"] += 1
                        continue
                    if version_row is None:
                        version_row = self._new_version(session, summary, author, reason)
                    self._write(session, entry, row, version_row.version)
                    revisions.append(revision_values(entry.id, version_row.version, entry, False, author, reason))
                    counts["created" if row is None else "updated"] += 1
                session.flush()
                insert_revisions(session, revisions)
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

    def delete(self, entry_ids: Iterable[str], *, author: str = "", reason: str = "") -> int:
        """Delete entries by id (kept as tombstones for the index, and as a revision each);
        returns how many existed."""
        ids = list(dict.fromkeys(entry_ids))
        author, reason = clean_note(author, reason)
        with Session(self._engine) as session, session.begin():
            rows = list(session.scalars(
                select(EntryRow).where(EntryRow.id.in_(ids), EntryRow.deleted.is_(False))
            ))
            if not rows:
                return 0
            version = self._new_version(session, f"delete: {len(rows)} entries", author, reason).version
            insert_revisions(session, [self._tombstone(row, version, author, reason) for row in rows])
            return len(rows)

    @staticmethod
    def _tombstone(row: EntryRow, version: int, author: str, reason: str) -> dict:
        """Mark `row` deleted at `version`; returns its revision's values."""
        row.deleted = True
        row.version = version
        row.updated_at = utcnow()
        return revision_values(row.id, version, row, True, author, reason)

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

    # -- history and rollback (knowledge_base.revisions) --------------------------------------
    def history(self, entry_id: str) -> list[Revision]:
        """Every recorded change of `entry_id`, the oldest first ([] for an unknown id)."""
        with Session(self._engine) as session:
            return [to_revision(row) for row in history_rows(session, entry_id)]

    def entry_at(self, entry_id: str, kb_version: int) -> Entry | None:
        """What `entry_id` said at `kb_version` (its `version`: the KB version of that content);
        None if it did not exist then or was deleted."""
        with Session(self._engine) as session:
            row = latest_revisions(session, kb_version, [entry_id]).get(entry_id)
        return None if row is None or row.deleted else revision_entry(row)

    def entries_at(self, kb_version: int) -> list[Entry]:
        """The whole knowledge base as it was at `kb_version`: its live entries then, by id."""
        with Session(self._engine) as session:
            rows = latest_revisions(session, kb_version)
        return [revision_entry(rows[i]) for i in sorted(rows) if not rows[i].deleted]

    def history_begins(self, entry_id: str | None = None) -> int:
        """The first KB version from which `entry_id` (or the whole KB) is known at every version:
        what an entry said before migration 0008 recorded it was never kept. 0: from the start."""
        with Session(self._engine) as session:
            return history_begins(session, entry_id)

    def versions(self, limit: int = 50, offset: int = 0) -> list[KBVersion]:
        """The KB's versions, the newest first, each with the ids of the entries it changed."""
        with Session(self._engine) as session:
            rows = list(session.scalars(select(KBVersionRow).order_by(KBVersionRow.version.desc())
                                        .limit(limit).offset(offset)))
            changed = changed_entries(session, [r.version for r in rows])
            return [KBVersion(r.version, r.created_at, r.summary, r.author, r.reason, tuple(changed.get(r.version, ())))
                    for r in rows]

    def rollback_entry(self, entry_id: str, to_kb_version: int, author: str = "", reason: str = "") -> RollbackResult:
        """Make `entry_id` say what it said at `to_kb_version` (deleting it if it did not exist
        or was deleted then) as one new KB version; nothing changes, and no version is made, when
        it says that already. Raises `UnknownVersion` for a version that does not exist or that
        is before the entry's history was recorded."""
        with Session(self._engine) as session, session.begin():
            self._check_version(session, to_kb_version, history_begins(session, entry_id))
            row = session.get(EntryRow, entry_id)
            return self._restore(session, {entry_id: row} if row else {},
                                 latest_revisions(session, to_kb_version, [entry_id]),
                                 f"rolled back {entry_id} to version {to_kb_version}", author, reason)

    def rollback_kb(self, kb_version: int, author: str = "", reason: str = "") -> RollbackResult:
        """Make the whole knowledge base what it was at `kb_version`, as one new KB version:
        entries created since are deleted, deleted ones revived, changed ones restored (a no-op
        makes no version). Raises `UnknownVersion` as `rollback_entry` does."""
        with Session(self._engine) as session, session.begin():
            self._check_version(session, kb_version, history_begins(session))
            current = {row.id: row for row in session.scalars(select(EntryRow))}
            return self._restore(session, current, latest_revisions(session, kb_version),
                                 f"rolled back the knowledge base to version {kb_version}", author, reason)

    def _check_version(self, session: Session, kb_version: int, begins: int) -> None:
        latest = self._max_version(session)
        if not 1 <= kb_version <= latest:
            raise UnknownVersion(f"there is no KB version {kb_version}: versions run from 1 to {latest}")
        if kb_version < begins:
            raise UnknownVersion(f"history was recorded from KB version {begins} on: what was stored at "
                                 f"version {kb_version} is not known")

    def _restore(self, session: Session, current: dict[str, EntryRow], target: dict, summary: str,
                 author: str, reason: str) -> RollbackResult:
        """Write `target` (revisions by id) over `current` (rows by id) as one new version."""
        author, reason = clean_note(author, reason)
        restored: list[str] = []
        deleted: list[str] = []
        for entry_id in sorted(set(current) | set(target)):
            row, then = current.get(entry_id), target.get(entry_id)
            live_now, live_then = row is not None and not row.deleted, then is not None and not then.deleted
            if live_then and not (live_now and same_content(row, then)):
                restored.append(entry_id)
            elif live_now and not live_then:
                deleted.append(entry_id)
        if not restored and not deleted:
            return RollbackResult(None, [], [])
        changed = len(restored) + len(deleted)
        version = self._new_version(session, f"{summary}: {changed} entries" if changed > 1 else summary,
                                    author, reason).version
        revisions = []
        for entry_id in restored:
            entry = revision_entry(target[entry_id])
            self._write(session, entry, current.get(entry_id), version)
            revisions.append(revision_values(entry_id, version, entry, False, author, reason))
        revisions += [self._tombstone(current[entry_id], version, author, reason) for entry_id in deleted]
        session.flush()
        insert_revisions(session, revisions)
        return RollbackResult(version, restored, deleted)
