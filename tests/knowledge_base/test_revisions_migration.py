"""Migration 0008 on SQLite and PostgreSQL: a knowledge base written before it gets one revision
per entry at its version (tombstones included, author unknown, marked where history begins);
edits after it are versioned; down to 0007 drops the revisions and keeps every entry."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from chatbot.conversations.database import create_db_engine, downgrade_database, upgrade_database
from knowledge_base.entries import Entry
from knowledge_base.repository import KnowledgeBaseRepository
from knowledge_base.revisions import UnknownVersion

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
# (id, version, deleted, answer): the rows an 0007 knowledge base holds after three versions.
ROWS = [("ship", 3, False, "Two days."), ("returns", 1, False, "Within 30 days."), ("gone", 2, True, "Old.")]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chatbot.db'}"
    return request.getfixturevalue("postgres_db_url")


def _write_0007_kb(engine) -> None:
    """Three KB versions and their entries, with the columns of the 0007 schema (plain SQL)."""
    with engine.begin() as connection:
        for _ in range(3):  # numbered by the database (1, 2, 3), as the repository's are
            connection.execute(text("INSERT INTO kb_versions (created_at, summary) VALUES (:now, 'x')"), {"now": NOW})
        for entry_id, version, deleted, answer in ROWS:
            connection.execute(text(
                "INSERT INTO kb_entries (id, question, alternates, answer, category, language, tags, url, version, "
                "deleted, created_at, updated_at) VALUES (:id, :q, '[\"alt\"]', :a, '', 'en', '[]', '', :v, :d, "
                ":now, :now)"), {"id": entry_id, "q": f"{entry_id}?", "a": answer, "v": version, "d": deleted,
                                 "now": NOW})


def test_existing_entries_get_one_revision_each_and_history_begins_there(database_url: str) -> None:
    upgrade_database(database_url, "0007")
    engine = create_db_engine(database_url)
    try:
        _write_0007_kb(engine)
        upgrade_database(database_url, "0008")
        kb = KnowledgeBaseRepository(engine)
        [ship] = kb.history("ship")
        assert (ship.kb_version, ship.author, ship.backfilled, ship.entry.answer, ship.entry.alternates) == (
            3, "", True, "Two days.", ["alt"])
        assert [(r.kb_version, r.deleted) for r in kb.history("gone")] == [(2, True)]
        assert [e.id for e in kb.entries_at(3)] == ["returns", "ship"]
        assert (kb.history_begins(), kb.history_begins("returns"), kb.history_begins("ship")) == (3, 1, 3)
        assert [(v.version, v.author, v.reason) for v in kb.versions()][-1] == (1, "", "")
        with pytest.raises(UnknownVersion, match="recorded from KB version 3"):
            kb.rollback_kb(2)  # what "ship" said at 2 was never recorded
        with pytest.raises(UnknownVersion, match="recorded from KB version 3"):
            kb.rollback_entry("ship", 2)
        kb.upsert([Entry("ship", "ship?", "Three days.", ["alt"], language="en")], author="eddie", reason="slower")
        assert [(r.kb_version, r.author) for r in kb.history("ship")] == [(3, ""), (4, "eddie")]
        assert kb.rollback_kb(3, author="ada").restored == ["ship"] and kb.get("ship").answer == "Two days."

        downgrade_database(database_url, "0007")
        tables = set(inspect(engine).get_table_names())
        assert "kb_entry_revisions" not in tables
        assert not {c["name"] for c in inspect(engine).get_columns("kb_versions")} & {"author", "reason"}
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM kb_entries")).scalar_one() == 3
            assert connection.execute(text("SELECT answer FROM kb_entries WHERE id = 'ship'")).scalar_one() == "Two days."
        upgrade_database(database_url)  # and up again: history begins anew at each entry's version
        assert [r.kb_version for r in KnowledgeBaseRepository(engine).history("ship")] == [5]
    finally:
        engine.dispose()
