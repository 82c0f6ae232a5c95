"""The knowledge base through the services: whatever a KB file or an older version stored, the
bot starts and answers; deletions catch the index up; database failures arrive typed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from chatbot.conversations.labels import UnknownEntry
from chatbot.errors import DatabaseBusy, DatabaseUnavailable
from chatbot.services import build_services
from chatbot.settings import Settings
from knowledge_base.db_models import EntryRow, KBVersionRow

FAQ = ("id,question,answer\n"
       "ship-time,How long does shipping take?,Standard shipping takes 3-5 business days.\n"
       "returns,Can I return an item?,You can return items within 30 days.\n")
# Issue 11: this file imported, then every index write failed, and `chatbot serve` with it.
POISON = '[{"id":"poison","question":"Is this poisoned?","answer":"Yes.","tags":["\\ud800"]}]'


def test_a_poisoned_file_imports_and_the_bot_starts_and_answers(chatbot_home: Path, make_services) -> None:
    services = make_services(FAQ)
    path = chatbot_home.parent / "poison.json"
    path.write_text(POISON, encoding="utf-8")
    [report] = services.import_files([path])
    assert (report.created, report.errors, report.refused) == (1, [], "")
    assert services.knowledge_base.get("poison").tags == ["\ufffd"]
    assert services.index_store.read_manifest().entry_count == 3

    # Start-up as `chatbot serve` does it: fresh services over the same home, warmed up.
    started = build_services(Settings(home=chatbot_home, generator="extractive"))
    started.warm_up()
    reply = started.engine.respond(None, "Is this poisoned?")
    assert reply.answer == "Yes." and reply.citations[0].entry_id == "poison"
    assert started.sync_index(full=True).entry_count == 3  # `chatbot index rebuild`


def test_a_row_an_older_version_stored_with_a_lone_surrogate_cannot_stop_start_up(
        chatbot_home: Path, make_services) -> None:
    services = make_services(FAQ)
    with Session(services.database) as session, session.begin():
        session.add(KBVersionRow(version=2, summary="written by an older version"))
        session.add(EntryRow(id="poison", question="Is this poisoned?", answer="Yes.",
                             alternates=["poisoned \ud800"], tags=["\ud800"], version=2))
    started = build_services(Settings(home=chatbot_home, generator="extractive"))
    started.warm_up()  # the incremental index update reads the row
    assert started.index_store.read_manifest().kb_version == 2
    assert started.engine.respond(None, "Is this poisoned?").answer == "Yes."
    assert started.export_kb(chatbot_home.parent / "kb.json") == 3  # exports are written as UTF-8 too


def test_delete_entries_catches_the_index_up_and_refuses_unknown_ids(make_services) -> None:
    services = make_services(FAQ)
    with pytest.raises(UnknownEntry, match=r"no knowledge-base entry has id 'nope'.*nothing was deleted"):
        services.delete_entries(["returns", "nope"])
    assert services.knowledge_base.get("returns") is not None
    assert services.delete_entries(["returns", "returns"]) == ["returns"]
    manifest = services.index_store.read_manifest()
    assert (manifest.kb_version, manifest.entry_count) == (2, 1)
    reply = services.engine.respond(None, "Can I return an item?")
    assert "returns" not in [c.entry_id for c in reply.citations]


def test_an_import_into_a_database_that_cannot_be_opened_is_typed(chatbot_home: Path, make_services) -> None:
    services = make_services(FAQ)
    services.database.dispose()
    database = chatbot_home / "chatbot.db"
    for leftover in chatbot_home.glob("chatbot.db-*"):
        leftover.unlink()
    database.unlink()
    database.mkdir()  # where the file was, SQLite can open nothing
    path = chatbot_home.parent / "more.csv"
    path.write_text("id,question,answer\nmore,More?,Yes.\n", encoding="utf-8")
    with pytest.raises(DatabaseUnavailable, match="Database unavailable: .*unable to open database file"):
        services.import_files([path])
    with pytest.raises(DatabaseUnavailable):
        services.delete_entries(["returns"])


def test_an_import_into_a_locked_database_is_busy(chatbot_home: Path, make_services) -> None:
    services = make_services(FAQ)
    path = chatbot_home.parent / "more.csv"
    path.write_text("id,question,answer\nmore,More?,Yes.\n", encoding="utf-8")
    locker = sqlite3.connect(chatbot_home / "chatbot.db")
    try:
        locker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DatabaseBusy, match="database is locked"):
            services.import_files([path])  # waits the busy timeout, then gives up
    finally:
        locker.rollback()
        locker.close()
    assert services.knowledge_base.get("more") is None
    [report] = services.import_files([path])  # once the lock is gone, the same file imports
    assert report.created == 1
