"""SQLAlchemy tables of the knowledge base: the database is the source of truth.

Every change makes a new knowledge-base version (a row of `kb_versions`, with its author and
reason); entries carry the version at which they last changed, and deletions are kept as
tombstones, so an index built at version V can catch up by reading what changed after V. Every
change of an entry is also kept whole in `kb_entry_revisions` (written in the same transaction),
so any entry, or the whole knowledge base, can be read and restored as it was at any version.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    """The one metadata of the product's schema (knowledge base and conversation log)."""


class KBVersionRow(Base):
    __tablename__ = "kb_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(128), default="", server_default="")  # "": unknown
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")


class EntryRow(Base):
    __tablename__ = "kb_entries"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    alternates: Mapped[list] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    url: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EntryRevisionRow(Base):
    """An entry as one KB version left it: its whole content (or a deletion), who and why.

    An entry changes at most once per KB version, so (entry_id, kb_version) is unique; the entry
    as it was at version V is its revision with the greatest kb_version <= V. `backfilled` marks
    the revisions recorded when history began (migration 0008): what an entry said before such a
    revision was never recorded.
    """

    __tablename__ = "kb_entry_revisions"
    __table_args__ = (Index("ix_kb_entry_revisions_entry_version", "entry_id", "kb_version", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(128))
    kb_version: Mapped[int] = mapped_column(Integer, index=True)
    question: Mapped[str] = mapped_column(Text)
    alternates: Mapped[list] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    tags: Mapped[list] = mapped_column(JSON, default=list)
    url: Mapped[str] = mapped_column(Text, default="")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(128), default="")  # "": unknown
    reason: Mapped[str] = mapped_column(Text, default="")
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
