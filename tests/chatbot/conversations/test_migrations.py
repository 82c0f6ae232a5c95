"""Migrations: empty database -> head -> base on SQLite and PostgreSQL; models and migrations agree."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from chatbot.conversations.store import ConversationStore  # registers every conversation table
from chatbot.staff.accounts import StaffAccounts  # registers the staff tables
from chatbot.sites.store import SiteStore  # registers the sites table
from chatbot.live_settings import LiveSettings  # registers the live settings' table
from chatbot.conversations.database import (
    alembic_config,
    check_database,
    create_db_engine,
    downgrade_database,
    migrations_folder,
    upgrade_database,
)
from chatbot.messages import Reply
from knowledge_base.db_models import Base

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
TABLES = {"kb_versions", "kb_entries", "conversations", "messages", "turn_traces", "turn_labels", "turn_feedback",
          "staff_users", "staff_sessions", "sites", "kb_entry_revisions", "bot_settings", "privacy_deletions"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'chatbot.db'}"
    return request.getfixturevalue("postgres_db_url")


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_empty_database_to_head_and_back_to_base(database_url: str) -> None:
    assert _tables(database_url) == set()
    upgrade_database(database_url)
    assert _tables(database_url) == TABLES
    upgrade_database(database_url)  # already at head: nothing to do
    downgrade_database(database_url, "base")
    assert _tables(database_url) == set()
    upgrade_database(database_url)
    assert _tables(database_url) == TABLES


def test_later_migrations_keep_the_log_both_ways(database_url: str) -> None:
    """head -> 0003 -> head -> 0002 -> head on a database with a logged, keyed, labelled turn: each
    step down drops only what it added (the turn key at 0003, the labels at 0002), never the
    turn, and no step cascades a deletion (SQLite's batch mode copies and drops tables)."""
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    try:
        store = ConversationStore(engine)
        cid = store.start_conversation()
        turn = store.log_turn(cid, "Where is my parcel?", Reply("", "It ships in 3 days.", False, "en", [],
                                                                  0.9, "extractive", 1), turn_key="k" * 16)
        store.label_turn(turn, None, review="corrected", corrected_answer="We cannot track parcels.")
        downgrade_database(database_url, "0003")
        assert "turn_key" not in _columns(database_url, "turn_traces")
        assert _count(engine, "turn_labels") == 1  # the ORM knows head's schema only: plain SQL here
        upgrade_database(database_url)  # SQLite copies turn_traces: its labels must survive the copy
        assert [t.turn_id for t in store.labelled_turns()] == [turn]
        downgrade_database(database_url, "0002")
        assert "turn_labels" not in _tables(database_url)
        assert _count(engine, "turn_traces") == 1 and _count(engine, "messages") == 2
        upgrade_database(database_url)
        assert store.count_turns() == 1 and store.get_transcript(cid).conversation.turns == 1
        assert store.find_turn("k" * 16, "Where is my parcel?") is None  # keys went with 0004
        assert store.labelled_turns() == []
    finally:
        engine.dispose()


def _log_turn_by_sql(engine, conversation_id: str = "c1") -> int:
    """A conversation with one turn, written with the columns every schema since 0002 has (today's
    ORM would write columns an older schema lacks); returns the turn's id."""
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO conversations (id, created_at, updated_at, channel, language) "
                                "VALUES (:id, :now, :now, 'web', 'en')"), {"id": conversation_id, "now": NOW})
        for role, content in (("user", "Where is my parcel?"), ("assistant", "It ships in 3 days.")):
            connection.execute(text("INSERT INTO messages (conversation_id, role, content, created_at) "
                                    "VALUES (:c, :role, :content, :now)"),
                               {"c": conversation_id, "role": role, "content": content, "now": NOW})
        user, assistant = connection.execute(text("SELECT id FROM messages WHERE conversation_id = :c ORDER BY id"),
                                             {"c": conversation_id}).scalars().all()
        connection.execute(text(
            "INSERT INTO turn_traces (conversation_id, user_message_id, assistant_message_id, query, language, "
            "decision, entry_ids, scores, generator, kb_version, latency_ms, timings, created_at) VALUES "
            "(:c, :u, :a, 'Where is my parcel?', 'en', 'answer', '[]', '[]', 'extractive', 1, 1.0, '{}', :now)"),
            {"c": conversation_id, "u": user, "a": assistant, "now": NOW})
        return connection.execute(text("SELECT id FROM turn_traces WHERE conversation_id = :c"),
                                  {"c": conversation_id}).scalar_one()


def _count(engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_labels_migration_keeps_the_log_both_ways(database_url: str) -> None:
    """0002 -> 0003 on a database with a logged turn: the turn can be labelled; going back to
    0002 drops the labels and only them (0002 is the schema the turn was logged with)."""
    upgrade_database(database_url, "0002")
    engine = create_db_engine(database_url)
    try:
        turn = _log_turn_by_sql(engine)
        upgrade_database(database_url, "0003")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO turn_labels (turn_id, expected_entry_id, review, corrected_answer, "
                                    "labelled_by, labelled_at) VALUES (:turn, NULL, 'corrected', "
                                    "'We cannot track parcels.', 'cli', :now)"), {"turn": turn, "now": NOW})
        assert _count(engine, "turn_labels") == 1
        downgrade_database(database_url, "0002")
        assert "turn_labels" not in _tables(database_url)
        assert _count(engine, "turn_traces") == 1 and _count(engine, "messages") == 2
    finally:
        engine.dispose()


def test_handoff_migration_gives_old_rows_authors_and_states_both_ways(database_url: str) -> None:
    """0004 -> 0005 on a logged turn: the conversation is the bot's and bound to no visitor, its
    messages are the customer's and the bot's by role, and the turn takes feedback; back to 0004
    drops the new columns and the feedback, and keeps the turn."""
    upgrade_database(database_url, "0004")
    engine = create_db_engine(database_url)
    try:
        turn = _log_turn_by_sql(engine)
        upgrade_database(database_url)  # through 0005 (the ORM reads later columns too)
        store = ConversationStore(engine)
        transcript = store.get_transcript("c1")
        assert [m.author for m in transcript.messages] == ["customer", "bot"]
        assert store.handoff.state("c1").state == "bot"
        assert store.visitors.check("c1", None, allow_unbound=True) == "c1"
        store.feedback.give(turn, "down", "Too slow")
        store.handoff.staff_reply("c1", "Alice", "Let me look.", 4000)
        assert [m.author for m in store.get_transcript("c1").messages][-1] == "staff:Alice"
        downgrade_database(database_url, "0004")
        assert "turn_feedback" not in _tables(database_url)
        columns = {c["name"] for c in inspect(engine).get_columns("conversations")}
        assert not columns & {"state", "held_by", "waiting_since", "visitor_hash", "contact_email"}
        assert "author" not in {c["name"] for c in inspect(engine).get_columns("messages")}
        assert _count(engine, "turn_traces") == 1 and _count(engine, "messages") == 3
    finally:
        engine.dispose()


def test_staff_migration_adds_accounts_and_sessions_both_ways(database_url: str) -> None:
    """0005 -> 0006 on a logged turn: accounts and sessions can be stored, and removing an account
    cascades to its sessions; back to 0005 drops both tables and keeps the turn."""
    upgrade_database(database_url, "0005")
    engine = create_db_engine(database_url)
    try:
        _log_turn_by_sql(engine)
        upgrade_database(database_url, "0006")
        user = StaffAccounts(engine).add("alice", "editor", "a long passphrase")
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO staff_sessions (token_hash, user_id, csrf_token, created_at, "
                                    "expires_at) VALUES ('h', :u, 'c', :now, :now)"), {"u": user.id, "now": NOW})
            connection.execute(text("DELETE FROM staff_users"))
        assert _count(engine, "staff_sessions") == 0  # cascaded
        downgrade_database(database_url, "0005")
        assert not _tables(database_url) & {"staff_users", "staff_sessions"}
        assert _count(engine, "turn_traces") == 1
    finally:
        engine.dispose()


def test_sites_migration_keeps_conversations_both_ways(database_url: str) -> None:
    """head -> 0006 -> head on a conversation the widget started: down drops the sites and the
    conversation's site key, never the conversation; up again starts with no site."""
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    try:
        store, sites = ConversationStore(engine), SiteStore(engine)
        cid = store.start_conversation("web")
        store.log_turn(cid, "hi", Reply(cid, "Hello!", False, "en", [], 0.0, "smalltalk", 1))
        sites.tag_conversation(cid, sites.add(["https://shop.example"], "Shop").key)
        downgrade_database(database_url, "0006")
        assert "sites" not in _tables(database_url) and "site_key" not in _columns(database_url, "conversations")
        assert _count(engine, "conversations") == 1 and _count(engine, "turn_traces") == 1
        upgrade_database(database_url)
        assert sites.list() == [] and store.get_transcript(cid).messages
    finally:
        engine.dispose()


def test_privacy_migration_adds_the_deletion_records_both_ways(database_url: str) -> None:
    """head -> the revision before 0010 -> head with a deletion recorded: down drops the records only."""
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    try:
        store = ConversationStore(engine)
        cid = store.start_conversation("web")
        store.log_turn(cid, "hi", Reply(cid, "Hello!", False, "en", [], 0.0, "smalltalk", 1))
        kept = store.start_conversation("web")
        store.log_turn(kept, "bye", Reply(kept, "Bye!", False, "en", [], 0.0, "smalltalk", 1))
        store.privacy.delete(by="ada", reason="asked", conversation_id=cid)
        downgrade_database(database_url, "0010-1")
        assert "privacy_deletions" not in _tables(database_url) and _count(engine, "conversations") == 1
        upgrade_database(database_url)
        assert store.privacy.records() == [] and store.get_transcript(kept).messages
    finally:
        engine.dispose()


def test_bot_settings_migration_goes_down_and_up_again(database_url: str, tmp_path: Path) -> None:
    """head -> the revision before 0009 -> head with a stored setting: down drops the live settings (the environment's
    are in force again), up starts with none stored."""
    from chatbot.settings import Settings

    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    try:
        live = LiveSettings(Settings(home=tmp_path, database_url=database_url), engine)
        live.change({"top_k": 3}, by="ada")
        downgrade_database(database_url, "0009-1")
        assert "bot_settings" not in _tables(database_url)
        upgrade_database(database_url)
        assert live.stored() == {}
    finally:
        engine.dispose()


def _columns(url: str, table: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return {column["name"] for column in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_models_and_migrations_agree(database_url: str) -> None:
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
            assert context.get_current_revision() == _head()
    finally:
        engine.dispose()


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert [rev.revision for rev in script.walk_revisions()][-1] == "0001"


def test_sqlite_uses_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'folder' / 'chatbot.db'}"
    engine = create_db_engine(url)
    try:
        check_database(engine)
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert connection.execute(text("PRAGMA busy_timeout")).scalar() > 0
    finally:
        engine.dispose()
    assert (tmp_path / "new" / "folder" / "chatbot.db").exists()


def test_postgres_engine_pre_pings() -> None:
    engine = create_db_engine("postgresql+psycopg://bot:pw@db.example/chatbot")
    assert engine.pool._pre_ping  # reconnects after a server restart instead of failing once


def test_upgrade_works_from_any_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here
    upgrade_database("sqlite:///relative.db")
    assert _tables(f"sqlite:///{tmp_path / 'relative.db'}") == TABLES
    folder = migrations_folder()
    assert {"env.py", "script.py.mako", "alembic.ini"} <= {p.name for p in folder.iterdir()}


def test_alembic_cli_by_hand(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    ini = migrations_folder() / "alembic.ini"
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={url}", "upgrade", "head"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert _tables(url) == TABLES
