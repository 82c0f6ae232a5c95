"""Entry revisions on SQLite and PostgreSQL: every change (upsert, delete, rollback) is a revision
with its author and reason, written in the change's transaction; the KB reads back as it was at
any version; rollbacks of one entry or of the whole KB are new versions, and no-ops make none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatbot.conversations.database import create_db_engine, upgrade_database
from knowledge_base.entries import Entry
from knowledge_base.repository import KnowledgeBaseRepository
from knowledge_base.revisions import RollbackResult, UnknownVersion


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def kb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeBaseRepository]:
    """A repository on an upgraded SQLite file, and on a fresh PostgreSQL database."""
    url = (f"sqlite:///{tmp_path / 'chatbot.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_db_url"))
    upgrade_database(url)
    engine = create_db_engine(url)
    yield KnowledgeBaseRepository(engine)
    engine.dispose()


SHIP = Entry("ship", "How long does shipping take?", "Orders arrive in 3-5 business days.", ["delivery time"],
             category="orders", tags=["shipping"])
RETURNS = Entry("returns", "Can I return an item?", "Within 30 days.")


def edited(entry: Entry, **fields: object) -> Entry:
    return Entry(**{**entry.to_dict(), **fields})


def test_every_change_is_a_revision_with_author_and_reason(kb: KnowledgeBaseRepository) -> None:
    assert kb.upsert([SHIP, RETURNS], author="alice").version == 1
    kb.upsert([SHIP, RETURNS], author="bob")  # unchanged: no version, no revision
    kb.upsert([edited(SHIP, answer="Orders arrive in 2-4 business days.")], author="bob", reason="new carrier")
    kb.delete(["ship"], author="carol", reason="we stopped shipping")
    history = kb.history("ship")
    assert [(r.kb_version, r.author, r.reason, r.deleted) for r in history] == [
        (1, "alice", "", False), (2, "bob", "new carrier", False), (3, "carol", "we stopped shipping", True)]
    assert history[1].entry.answer == "Orders arrive in 2-4 business days."
    assert history[2].entry.answer == history[1].entry.answer  # a deletion keeps what it said last
    assert history[0].entry.alternates == ["delivery time"] and history[0].entry.tags == ["shipping"]
    assert [(v.version, v.author, v.reason) for v in kb.versions()] == [
        (3, "carol", "we stopped shipping"), (2, "bob", "new carrier"), (1, "alice", "")]
    assert kb.history("nothing") == [] and kb.history_begins() == 0


def test_the_kb_reads_back_as_it_was_at_any_version(kb: KnowledgeBaseRepository) -> None:
    kb.upsert([SHIP])
    kb.upsert([RETURNS])
    kb.upsert([edited(SHIP, answer="Two days.")])
    kb.delete(["returns"])
    assert [(e.id, e.answer, e.version) for e in kb.entries_at(1)] == [("ship", SHIP.answer, 1)]
    assert [(e.id, e.answer) for e in kb.entries_at(2)] == [("returns", RETURNS.answer), ("ship", SHIP.answer)]
    assert [(e.id, e.answer, e.version) for e in kb.entries_at(3)] == [("returns", RETURNS.answer, 2),
                                                                         ("ship", "Two days.", 3)]
    assert [e.id for e in kb.entries_at(4)] == ["ship"] == [e.id for e in kb.list_entries()]
    assert kb.entries_at(0) == []
    assert kb.entry_at("ship", 2).answer == SHIP.answer and kb.entry_at("ship", 99).answer == "Two days."
    assert kb.entry_at("returns", 1) is None and kb.entry_at("returns", 4) is None  # before it, after its deletion
    assert kb.entry_at("returns", 3).question == RETURNS.question


def test_an_entry_rolls_back_as_a_new_version_and_the_index_sees_it(kb: KnowledgeBaseRepository) -> None:
    kb.upsert([SHIP, RETURNS])
    kb.upsert([edited(SHIP, answer="Two days.", alternates=[])], author="bob")
    result = kb.rollback_entry("ship", 1, author="alice", reason="the carrier deal fell through")
    assert result == RollbackResult(3, ["ship"], [])
    now = kb.get("ship")
    assert (now.answer, now.alternates, now.version) == (SHIP.answer, ["delivery time"], 3)
    assert kb.history("ship")[-1].author == "alice" and kb.versions()[0].reason == "the carrier deal fell through"
    changes = kb.changes_since(2)  # what the index re-embeds
    assert [e.id for e in changes.upserted] == ["ship"] and changes.version == 3
    assert kb.rollback_entry("ship", 1, author="alice") == RollbackResult(None, [], [])  # says that already
    assert kb.current_version() == 3
    assert kb.rollback_entry("ship", 2).restored == ["ship"] and kb.get("ship").answer == "Two days."


def test_rolling_an_entry_back_to_before_it_existed_or_to_its_deletion(kb: KnowledgeBaseRepository) -> None:
    kb.upsert([SHIP])
    kb.upsert([RETURNS])
    kb.delete(["returns"])
    assert kb.rollback_entry("returns", 2) == RollbackResult(4, ["returns"], [])  # revived
    assert kb.get("returns").answer == RETURNS.answer
    assert kb.rollback_entry("returns", 1) == RollbackResult(5, [], ["returns"])  # it did not exist at 1
    assert kb.get("returns") is None and kb.changes_since(4).deleted_ids == ["returns"]


def test_the_whole_kb_rolls_back_as_one_version(kb: KnowledgeBaseRepository) -> None:
    kb.upsert([SHIP, RETURNS])  # 1
    kb.upsert([edited(SHIP, answer="Two days.")])  # 2
    kb.delete(["returns"])  # 3
    kb.upsert([Entry("gift", "Do you gift wrap?", "Yes.")])  # 4
    result = kb.rollback_kb(1, author="alice", reason="bad week")
    assert result == RollbackResult(5, ["returns", "ship"], ["gift"])
    assert [(e.id, e.answer) for e in kb.list_entries()] == [("returns", RETURNS.answer), ("ship", SHIP.answer)]
    assert kb.versions()[0].summary == "rolled back the knowledge base to version 1: 3 entries"
    assert {r.kb_version for r in (kb.history("ship")[-1], kb.history("returns")[-1], kb.history("gift")[-1])} == {5}
    assert kb.rollback_kb(5) == RollbackResult(None, [], []) and kb.current_version() == 5
    assert kb.rollback_kb(4).restored == ["gift", "ship"]  # and forward again
    assert [e.id for e in kb.list_entries()] == ["gift", "ship"]


def test_unknown_versions_are_refused(kb: KnowledgeBaseRepository) -> None:
    kb.upsert([SHIP])
    for version in (0, 2, -1):
        with pytest.raises(UnknownVersion, match="versions run from 1 to 1"):
            kb.rollback_kb(version)
        with pytest.raises(UnknownVersion):
            kb.rollback_entry("ship", version)
    assert kb.current_version() == 1


def test_author_and_reason_are_stored_safely(kb: KnowledgeBaseRepository) -> None:
    kb.upsert([SHIP], author="  eddie\x00 ", reason="x" * 600 + "\ud800")
    revision = kb.history("ship")[0]
    assert revision.author == "eddie\ufffd" and len(revision.reason) == 500
